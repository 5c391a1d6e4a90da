import SluiceCore
import SluiceTestSupport
import Testing

/// Crashes and broken invariants found by `scripts/fuzz` (docs/fuzzing.md), each kept as a readable case.
/// The raw inputs are in `Fuzz/regressions/<target>/`, which every fuzz run replays first.
@Suite struct FuzzRegressionTests {
    /// `Fuzz/regressions/http/bare-cr-past-head-limit`: a bare CR beyond `headByteCountMax` was reported as
    /// `invalidLineEnding` when it arrived in the same read as the limit, and as `headTooLarge` when the read
    /// ended before it. The limit is now checked byte by byte, so every split gives `headTooLarge` at the
    /// first byte past the limit.
    @Test func headLimitComesFirstInEverySplit() {
        let limits = HTTPParserLimits(headByteCountMax: 64, headerFieldCountMax: 4, bodyByteCountMax: 32)
        let stream =
            Array("HTTP/1.1 200 OK\r\nX-Long: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 60)
            + Array("\r:\r\n\r\n".utf8)
        func parse(_ cuts: [Int]) -> ParsedStream<HTTPResponseHead> {
            var parser = HTTPResponseParser(limits: limits)
            return parseStream(&parser, stream, cuts: cuts)
        }
        let whole = parse([])
        #expect(whole.error?.code == .headTooLarge)
        #expect(whole.error?.streamByteOffset == 64)
        expectSameUnderEverySplit(stream, parse)
    }

    /// The same for a chunked body's trailer section (`trailerByteCountMax`), which shares the head code.
    @Test func trailerLimitComesFirstInEverySplit() {
        let limits = HTTPParserLimits(headByteCountMax: 256, trailerByteCountMax: 32)
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n"
        let stream =
            Array((head + "X-Trailer: ").utf8) + [UInt8](repeating: UInt8(ascii: "b"), count: 40) + [0x0D, 0x3A]
        func parse(_ cuts: [Int]) -> ParsedStream<HTTPResponseHead> {
            var parser = HTTPResponseParser(limits: limits)
            return parseStream(&parser, stream, cuts: cuts)
        }
        let whole = parse([])
        #expect(whole.error?.code == .trailersTooLarge)
        #expect(whole.error?.streamByteOffset == head.utf8.count + 32)
        expectSameUnderEverySplit(stream, parse)
    }

    /// `Fuzz/regressions/http/close-delimited-body-past-limit`: a close-delimited body longer than
    /// `bodyByteCountMax` gave no body and an error at the start of the read when it came in one read, but
    /// body bytes and an error further on when it came in pieces. Now every split gives the body up to the
    /// limit and `bodyTooLarge` at the first byte past it.
    @Test func closeDelimitedBodyLimitIsTheSameInEverySplit() {
        let limits = HTTPParserLimits(bodyByteCountMax: 32)
        let head = "HTTP/1.1 503 Service Unavailable\r\n\r\n"
        let body = [UInt8](repeating: UInt8(ascii: "z"), count: 50)
        let stream = Array(head.utf8) + body
        func parse(_ cuts: [Int]) -> ParsedStream<HTTPResponseHead> {
            var parser = HTTPResponseParser(limits: limits)
            return parseStream(&parser, stream, cuts: cuts)
        }
        let whole = parse([])
        #expect(whole.messages.first?.body == Array(body[0..<32]))
        #expect(whole.error?.code == .bodyTooLarge)
        #expect(whole.error?.streamByteOffset == head.utf8.count + 32)
        expectSameUnderEverySplit(stream, parse)
    }

    /// `Fuzz/regressions/segment/lz4-frame-claims-gigabytes`: a frame header with a matching checksum but an
    /// uncompressed size of gigabytes made the segment reader allocate (and zero) it before LZ4 could refuse
    /// the block: 13 s and 1.3 GB for one 574-byte file. Sizes no writer can produce are now refused by
    /// the header check: more than 255 times the stored size for LZ4, or less than 16 bytes per record.
    @Test(arguments: [
        (FrameCompression.lz4Block, UInt32(1), UInt32(100), UInt32.max),
        (.lz4Block, 1, 100, 25_501),
        (.lz4Block, 7, 100, 111),
        (.none, 7, 111, 111),
        (.none, .max, 4096, 4096),
    ])
    func impossibleFrameSizesAreRefused(
        compression: FrameCompression,
        recordCount: UInt32,
        storedByteCount: UInt32,
        uncompressedByteCount: UInt32
    ) {
        var bytes: [UInt8] = []
        FrameHeader(
            compression: compression,
            recordTypeMask: 0b10,
            firstSequence: 0,
            recordCount: recordCount,
            storedByteCount: storedByteCount,
            uncompressedByteCount: uncompressedByteCount,
            payloadChecksum: 0,
            minTimestampMicroseconds: 0,
            maxTimestampMicroseconds: 0
        ).encode(into: &bytes)
        #expect(throws: FormatError.self) { try FrameHeader.decode(bytes, fileOffset: 64) }
        do {
            _ = try FrameHeader.decode(bytes, fileOffset: 64)
        } catch {
            #expect(error.code == .invalidField && error.message.hasPrefix("frame header sizes are impossible"))
        }
    }

    /// The bounds are tight enough for every frame a writer makes: exactly 255-fold and 16 bytes per record pass.
    @Test func possibleFrameSizesStillDecode() throws {
        for (recordCount, stored, uncompressed) in [(UInt32(1), UInt32(100), UInt32(25_500)), (7, 112, 112)] {
            var bytes: [UInt8] = []
            let header = FrameHeader(
                compression: .lz4Block,
                recordTypeMask: 0b10,
                firstSequence: 0,
                recordCount: recordCount,
                storedByteCount: stored,
                uncompressedByteCount: uncompressed,
                payloadChecksum: 0,
                minTimestampMicroseconds: 0,
                maxTimestampMicroseconds: 0
            )
            header.encode(into: &bytes)
            #expect(try FrameHeader.decode(bytes, fileOffset: 64) == header)
        }
    }
}
