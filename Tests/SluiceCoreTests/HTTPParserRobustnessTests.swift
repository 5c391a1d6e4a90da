import SluiceCore
import SluiceTestSupport
import Testing

/// Damaged and random input never traps a parser: it either parses or throws an error value whose
/// offset lies inside the bytes fed (rule 2: bad input gets an error value, never a crash).
@Suite struct HTTPParserRobustnessTests {
    static let responses = Array(
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
            + "HTTP/1.1 429 Slow Down\r\nRetry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "3;x=y\r\nabc\r\n0\r\nX: y\r\n\r\nHTTP/1.0 200 OK\r\n\r\ntail").utf8
    )
    static let requests = Array(
        ("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            + "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.0\r\n\r\n").utf8
    )

    static func damage(_ bytes: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var damaged = bytes
        for _ in 0..<(1 + random.next(below: 4)) {
            let position = random.next(below: damaged.count)
            switch random.next(below: 4) {
            case 0: damaged[position] = UInt8(truncatingIfNeeded: random.next())
            case 1: damaged.insert(random.pick([0x0D, 0x0A, 0x20, 0x3A, 0x3B, 0x00, 0x30, 0x46]), at: position)
            case 2: damaged.remove(at: position)
            default: damaged[position] ^= UInt8(1) << UInt8(random.next(below: 8))
            }
        }
        return damaged
    }

    static func cuts(_ count: Int, _ random: inout SplitMix64) -> [Int] {
        (0..<random.next(below: 8)).map { _ in random.next(below: max(count, 1)) }.sorted()
    }

    @Test func damagedStreamsGiveEventsOrErrors() {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        let limits = HTTPParserLimits(headByteCountMax: 256, bodyByteCountMax: 64, trailerByteCountMax: 64)
        for round in 0..<3_000 {
            let response = Self.damage(Self.responses, &random)
            var responseParser = HTTPResponseParser(limits: limits)
            let parsedResponses = parseStream(&responseParser, response, cuts: Self.cuts(response.count, &random))
            if let error = parsedResponses.error {
                #expect(error.streamByteOffset <= response.count, "seed \(seed) round \(round): \(error)")
            }
            let request = Self.damage(Self.requests, &random)
            var requestParser = HTTPRequestParser(limits: limits)
            let parsedRequests = parseStream(&requestParser, request, cuts: Self.cuts(request.count, &random))
            if let error = parsedRequests.error {
                #expect(error.streamByteOffset <= request.count, "seed \(seed) round \(round): \(error)")
            }
        }
    }

    @Test func randomBytesGiveEventsOrErrors() {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        let alphabet = Array(
            "HTTP/1.1 200 OK\r\n:;0123456789abcdefABCDEF chunked Content-Length Transfer-Encoding".utf8
        )
        for round in 0..<2_000 {
            let bytes = (0..<random.next(below: 200)).map { _ in
                random.chance(80) ? random.pick(alphabet) : UInt8(truncatingIfNeeded: random.next())
            }
            var responseParser = HTTPResponseParser()
            let response = parseStream(&responseParser, bytes, cuts: Self.cuts(bytes.count, &random))
            #expect((response.error?.streamByteOffset ?? 0) <= bytes.count, "seed \(seed) round \(round)")
            var requestParser = HTTPRequestParser()
            let request = parseStream(&requestParser, bytes, cuts: Self.cuts(bytes.count, &random))
            #expect((request.error?.streamByteOffset ?? 0) <= bytes.count, "seed \(seed) round \(round)")
        }
    }
}
