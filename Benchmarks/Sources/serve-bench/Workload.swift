// The requests serve-bench sends: generated Infrahub events and GitHub deliveries as HTTP request templates,
// each with the places where a fresh event id is written per request (every id the server sees is new,
// so idempotency never answers `duplicate` and every event is emitted).
import CLinuxEvents
import Foundation
import SluiceTools

/// Writes UUIDs `PPPPPPPP-0000-4000-8000-NNNNNNNNNNNN`: a prefix drawn per load (so two loads on one server
/// never repeat an id) and the number of the event in hex.
struct IDStamp {
    let prefix: UInt32

    init() {
        prefix = UInt32.random(in: 0...UInt32.max)
    }

    static let placeholder = "00000000-0000-4000-8000-000000000000"
    static let byteCount = 36
    private static let hexDigits = Array("0123456789abcdef".utf8)

    func write(_ number: Int, into bytes: inout [UInt8], at offset: Int) {
        bytes.withUnsafeMutableBufferPointer { buffer in
            var value = UInt64(prefix)
            for position in stride(from: 7, through: 0, by: -1) {
                buffer[offset + position] = Self.hexDigits[Int(value & 15)]
                value >>= 4
            }
            value = UInt64(number)
            for position in stride(from: 35, through: 24, by: -1) {
                buffer[offset + position] = Self.hexDigits[Int(value & 15)]
                value >>= 4
            }
        }
    }

    func string(_ number: Int) -> String {
        var bytes = Array(Self.placeholder.utf8)
        write(number, into: &bytes, at: 0)
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Bytes with the offsets of the ids to rewrite, grouped per event (group `k` of request `n` gets the id
/// number `n × groups + k`).
struct Template {
    var bytes: [UInt8]
    var idGroups: [[Int]]

    func make(_ number: Int, stamp: IDStamp) -> [UInt8] {
        var copy = bytes
        for (position, group) in idGroups.enumerated() {
            for offset in group { stamp.write(number * idGroups.count + position, into: &copy, at: offset) }
        }
        return copy
    }

    /// Every offset of `needle` in `haystack`.
    static func offsets(of needle: [UInt8], in haystack: [UInt8]) -> [Int] {
        guard !needle.isEmpty, haystack.count >= needle.count else { return [] }
        var found: [Int] = []
        var index = 0
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0], haystack[index..<(index + needle.count)].elementsEqual(needle) {
                found.append(index)
                index += needle.count
            } else {
                index += 1
            }
        }
        return found
    }

    /// An HTTP/1.1 POST of `body` to `path` (`Host: 127.0.0.1`, so nginx and Sluice get the same bytes); `bodyIDGroups` are offsets in `body`, and a
    /// header whose value is ``IDStamp/placeholder`` becomes one more group (the header's id).
    static func post(
        path: String,
        contentType: String,
        headers: [(String, String)] = [],
        body: [UInt8],
        bodyIDGroups: [[Int]]
    ) -> Template {
        var head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: \(contentType)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\n\r\n"
        let headBytes = Array(head.utf8)
        var groups = bodyIDGroups.map { group in group.map { $0 + headBytes.count } }
        let inHead = offsets(of: Array(IDStamp.placeholder.utf8), in: headBytes)
        if !inHead.isEmpty { groups.append(inHead) }
        return Template(bytes: headBytes + body, idGroups: groups)
    }
}

/// Generated Infrahub events (FixtureGenerator, seed 42), each with the offsets of its id.
struct EventSet {
    var events: [(bytes: [UInt8], idOffsets: [Int])] = []

    init(count: Int) throws {
        var generator = FixtureGenerator(.init(eventCount: count, seed: 42))
        var decoder = EventDecoder()
        var header = EventHeader()
        while let bytes = generator.next() {
            try decoder.decodeHeader(bytes, into: &header)
            let offsets = Template.offsets(of: Array(header.id.description.utf8), in: bytes)
            precondition(!offsets.isEmpty, "a generated event holds its id")
            events.append((bytes, offsets))
        }
    }

    var byteCountMean: Int { events.reduce(0) { $0 + $1.bytes.count } / max(events.count, 1) }

    /// One event per request (`application/json`), one template per event.
    func singles() -> [Template] {
        events.map { event in
            Template.post(
                path: "/api/events",
                contentType: "application/json",
                body: event.bytes,
                bodyIDGroups: [event.idOffsets]
            )
        }
    }

    /// `size` events per request (`application/x-ndjson`, one per line), cycling through the set.
    func batches(size: Int) -> [Template] {
        let batchCount = max(1, events.count / size)
        return (0..<batchCount).map { batch in
            var body: [UInt8] = []
            var groups: [[Int]] = []
            for position in 0..<size {
                let event = events[(batch * size + position) % events.count]
                groups.append(event.idOffsets.map { $0 + body.count })
                body += event.bytes
                body.append(UInt8(ascii: "\n"))
            }
            return Template.post(
                path: "/api/events",
                contentType: "application/x-ndjson",
                body: body,
                bodyIDGroups: groups
            )
        }
    }

    /// The event of the set closest to the mean size, as one request (for wrk's Lua script).
    func typical() -> Template {
        let mean = byteCountMean
        let event = events.min { abs($0.bytes.count - mean) < abs($1.bytes.count - mean) }!
        return Template.post(
            path: "/api/events",
            contentType: "application/json",
            body: event.bytes,
            bodyIDGroups: [event.idOffsets]
        )
    }
}

/// The deliveries of `fixtures/github/`, signed, and the same events as plain ingest requests.
struct GitHubSet {
    /// `POST /github/<source>` with `X-GitHub-Event`, a fresh `X-GitHub-Delivery` and `X-Hub-Signature-256`.
    var deliveries: [Template] = []
    /// `POST /api/events` of the event the receiver makes of the same delivery (same id, same payload).
    var plain: [Template] = []
    var bodyByteCountMean = 0
    var eventByteCountMean = 0

    init(directory: String, source: String, secret: String) throws {
        let signer = GitHubSignatureVerifier(secret: secret)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }
            .sorted()
        guard !files.isEmpty else { throw LoadError(description: "no *.json deliveries in \(directory)") }
        var bodyTotal = 0
        var eventTotal = 0
        for file in files {
            let body = Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(file)")))
            let event = String(file.prefix { $0 != "." })
            deliveries.append(
                Template.post(
                    path: "/github/\(source)",
                    contentType: "application/json",
                    headers: [
                        ("X-GitHub-Event", event), ("X-GitHub-Delivery", IDStamp.placeholder),
                        ("X-GitHub-Hook-ID", "109948940"), ("X-Hub-Signature-256", signer.signature256(body: body)),
                    ],
                    body: body,
                    bodyIDGroups: []
                )
            )
            let delivery = GitHubDelivery(
                event: event,
                deliveryID: IDStamp.placeholder,
                hookID: "109948940",
                body: body,
                receivedAt: Timestamp(secondsSinceEpoch: 1_765_000_000)
            )
            let encoded = try GitHubNormalizer.draft(for: delivery).encoded()
            let offsets = Template.offsets(of: Array(IDStamp.placeholder.utf8), in: encoded)
            precondition(!offsets.isEmpty, "the normalized event holds the delivery id")
            plain.append(
                Template.post(
                    path: "/api/events",
                    contentType: "application/json",
                    body: encoded,
                    bodyIDGroups: [offsets]
                )
            )
            bodyTotal += body.count
            eventTotal += encoded.count
        }
        bodyByteCountMean = bodyTotal / files.count
        eventByteCountMean = eventTotal / files.count
    }
}

/// The verdict on an ingest reply: the `accepted` count at the start of a 200 body, or nil.
func ingestAccepted(status: Int, body: ArraySlice<UInt8>) -> Int? {
    guard status == 200 else { return nil }
    let prefix = Array("{\"accepted\":".utf8)
    guard body.starts(with: prefix) else { return nil }
    var value = 0
    for byte in body.dropFirst(prefix.count) {
        guard byte >= 48, byte <= 57 else { break }
        value = value * 10 + Int(byte - 48)
    }
    // `"duplicates":0,"invalid":0` must follow: every id is new and every event valid.
    let rest = body.dropFirst(prefix.count)
    guard Template.offsets(of: Array(",\"duplicates\":0,\"invalid\":0,".utf8), in: Array(rest.prefix(40))).count == 1
    else { return nil }
    return value
}

/// The verdict on a GitHub receiver reply: 1 when a 200 says `accepted`, else nil.
func gitHubAccepted(status: Int, body: ArraySlice<UInt8>) -> Int? {
    guard status == 200 else { return nil }
    return Template.offsets(of: Array("\"status\":\"accepted\"".utf8), in: Array(body)).isEmpty ? nil : 1
}
