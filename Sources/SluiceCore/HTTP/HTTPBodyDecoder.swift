/// What one call of ``HTTPBodyDecoder/next(_:streamByteOffset:)`` produced.
enum HTTPBodyEvent: Hashable, Sendable {
    /// Every given byte was framing; call again with more.
    case needMoreBytes
    /// Body bytes at this range of the given span.
    case bytes(Range<Int>)
    /// The body (and any trailers) ended.
    case end
}

/// Removes body framing: `Content-Length`, chunked (with extensions and trailers) or close-delimited.
///
/// A pure state machine over received bytes; shared by the request and response parsers.
/// Not thread-safe; part of one parser.
struct HTTPBodyDecoder: Sendable {
    private enum ChunkLinePhase: Hashable, Sendable { case digits, afterDigits, chunkExtension }

    private struct ChunkLine: Hashable, Sendable {
        var size: UInt64 = 0
        var digitCount = 0
        var phase = ChunkLinePhase.digits
        var byteCount = 0
        var pendingCR = false
    }

    private enum State: Hashable, Sendable {
        case idle
        case length(remaining: UInt64)
        case chunkLine(ChunkLine)
        case chunkData(remaining: UInt64)
        case chunkDataEnd(pendingCR: Bool)
        case trailers
        case untilClose
    }

    private var state = State.idle
    /// Decoded body bytes of the current message so far.
    private(set) var bodyByteCount: UInt64 = 0
    private(set) var trailers: HTTPHeadBlock
    let limits: HTTPParserLimits
    private let bodyByteCountMax: UInt64
    private let chunkLineByteCountMax: Int

    init(limits: HTTPParserLimits) {
        self.limits = limits
        bodyByteCountMax = limits.bodyByteCountMax
        chunkLineByteCountMax = limits.chunkLineByteCountMax
        trailers = HTTPHeadBlock(
            hasStartLine: false,
            byteCountMax: limits.trailerByteCountMax,
            fieldCountMax: limits.headerFieldCountMax
        )
    }

    /// Whether a close of the connection now ends the body cleanly.
    var endsAtClose: Bool { state == .untilClose }

    /// Whether a body is being read.
    var isActive: Bool { state != .idle }

    /// Whether a length-delimited body has all its bytes (its `.end` is due).
    var isComplete: Bool { state == .length(remaining: 0) }

    /// Starts a body. - Throws: `bodyTooLarge` when a declared length exceeds the limit.
    mutating func start(_ framing: HTTPBodyFraming, streamByteOffset: Int) throws(HTTPParseError) {
        precondition(state == .idle, "body started while another is being read")
        bodyByteCount = 0
        trailers.reset()
        switch framing {
        case .length(let length):
            guard length <= bodyByteCountMax else {
                throw HTTPParseError(
                    code: .bodyTooLarge,
                    streamByteOffset: streamByteOffset,
                    message: "Content-Length \(length) exceeds \(bodyByteCountMax) bytes (bodyByteCountMax)"
                )
            }
            state = .length(remaining: length)
        case .chunked: state = .chunkLine(ChunkLine())
        case .untilClose: state = .untilClose
        }
    }

    /// Ends a close-delimited body at connection close. - Precondition: ``endsAtClose``.
    mutating func finishAtClose() {
        precondition(state == .untilClose, "finishAtClose in state \(state)")
        state = .idle
    }

    /// Decodes from the start of `bytes` until it has body bytes to report, the body ends, or the
    /// bytes run out.
    mutating func next(
        _ bytes: Span<UInt8>,
        streamByteOffset: Int
    ) throws(HTTPParseError) -> (consumedByteCount: Int, event: HTTPBodyEvent) {
        var index = 0
        while true {
            switch state {
            case .idle:
                preconditionFailure("body decoder asked for bytes while idle")
            case .length(let remaining):
                if remaining == 0 {
                    state = .idle
                    return (index, .end)
                }
                guard index < bytes.count else { return (index, .needMoreBytes) }
                let taken = Int(min(remaining, UInt64(bytes.count - index)))
                state = .length(remaining: remaining - UInt64(taken))
                bodyByteCount += UInt64(taken)
                return (index + taken, .bytes(index..<(index + taken)))
            case .untilClose:
                guard index < bytes.count else { return (index, .needMoreBytes) }
                // Bytes up to the limit, then the error at the first byte past it, however the reads
                // were cut (a whole over-long read once gave no bytes and an error at its start).
                let allowed = bodyByteCountMax - bodyByteCount
                if allowed == 0 { try checkBodyLimit(adding: 1, streamByteOffset: streamByteOffset + index) }
                let taken = Int(min(allowed, UInt64(bytes.count - index)))
                bodyByteCount += UInt64(taken)
                return (index + taken, .bytes(index..<(index + taken)))
            case .chunkData(let remaining):
                guard index < bytes.count else { return (index, .needMoreBytes) }
                let taken = Int(min(remaining, UInt64(bytes.count - index)))
                state =
                    remaining == UInt64(taken)
                    ? .chunkDataEnd(pendingCR: false) : .chunkData(remaining: remaining - UInt64(taken))
                bodyByteCount += UInt64(taken)
                return (index + taken, .bytes(index..<(index + taken)))
            case .chunkLine(var line):
                guard index < bytes.count else { return (index, .needMoreBytes) }
                let lineEnded = try nextChunkLineByte(bytes[index], &line, streamByteOffset: streamByteOffset + index)
                index += 1
                if lineEnded {
                    try endChunkLine(line, streamByteOffset: streamByteOffset + index)
                } else {
                    state = .chunkLine(line)
                }
            case .chunkDataEnd(let pendingCR):
                guard index < bytes.count else { return (index, .needMoreBytes) }
                let byte = bytes[index]
                if byte == HTTPBytes.lf {
                    state = .chunkLine(ChunkLine())
                } else if byte == HTTPBytes.cr && !pendingCR {
                    state = .chunkDataEnd(pendingCR: true)
                } else {
                    throw HTTPParseError(
                        code: .invalidChunkTerminator,
                        streamByteOffset: streamByteOffset + index,
                        message: "chunk data not followed by CRLF"
                    )
                }
                index += 1
            case .trailers:
                guard index < bytes.count else { return (index, .needMoreBytes) }
                index += try trailers.accumulate(
                    bytes.extracting(index..<bytes.count),
                    streamByteOffset: streamByteOffset + index
                )
                if trailers.isComplete {
                    state = .idle
                    return (index, .end)
                }
            }
        }
    }

    /// Advances a chunk-size line by one byte: `1*HEXDIG [BWS] *( ";" chunk-ext ) CRLF`.
    /// - Returns: whether the byte ended the line.
    private func nextChunkLineByte(
        _ byte: UInt8,
        _ line: inout ChunkLine,
        streamByteOffset: Int
    ) throws(HTTPParseError) -> Bool {
        line.byteCount += 1
        guard line.byteCount <= chunkLineByteCountMax else {
            throw HTTPParseError(
                code: .chunkLineTooLong,
                streamByteOffset: streamByteOffset,
                message: "chunk-size line longer than \(chunkLineByteCountMax) bytes (chunkLineByteCountMax)"
            )
        }
        if line.pendingCR {
            guard byte == HTTPBytes.lf else {
                throw HTTPParseError(
                    code: .invalidLineEnding,
                    streamByteOffset: streamByteOffset,
                    message: "CR not followed by LF in a chunk-size line"
                )
            }
            return true
        }
        if byte == HTTPBytes.cr {
            line.pendingCR = true
            return false
        }
        if byte == HTTPBytes.lf { return true }
        switch line.phase {
        case .digits:
            if let digit = Self.hexDigitValue(byte) {
                guard line.digitCount < 16 else {
                    throw HTTPParseError(
                        code: .invalidChunkSize,
                        streamByteOffset: streamByteOffset,
                        message: "chunk size does not fit 64 bits"
                    )
                }
                line.size = line.size << 4 | UInt64(digit)
                line.digitCount += 1
                return false
            }
            guard line.digitCount > 0 else { throw Self.chunkSizeError(byte, streamByteOffset) }
            if HTTPBytes.isWhitespace(byte) {
                line.phase = .afterDigits
            } else if byte == HTTPBytes.semicolon {
                line.phase = .chunkExtension
            } else {
                throw Self.chunkSizeError(byte, streamByteOffset)
            }
        case .afterDigits:
            if byte == HTTPBytes.semicolon {
                line.phase = .chunkExtension
            } else if !HTTPBytes.isWhitespace(byte) {
                throw Self.chunkSizeError(byte, streamByteOffset)
            }
        case .chunkExtension:
            // Extensions (`;name=value`, RFC 9112 §7.1.1) are skipped; they carry nothing we use.
            guard HTTPBytes.isFieldValueByte(byte) else { throw Self.chunkSizeError(byte, streamByteOffset) }
        }
        return false
    }

    private mutating func endChunkLine(_ line: ChunkLine, streamByteOffset: Int) throws(HTTPParseError) {
        guard line.digitCount > 0 else {
            throw HTTPParseError(
                code: .invalidChunkSize,
                streamByteOffset: streamByteOffset,
                message: "empty chunk size"
            )
        }
        if line.size == 0 {
            trailers.reset()
            state = .trailers
            return
        }
        try checkBodyLimit(adding: line.size, streamByteOffset: streamByteOffset)
        state = .chunkData(remaining: line.size)
    }

    private func checkBodyLimit(adding byteCount: some BinaryInteger, streamByteOffset: Int) throws(HTTPParseError) {
        let (total, overflow) = bodyByteCount.addingReportingOverflow(UInt64(byteCount))
        guard !overflow, total <= bodyByteCountMax else {
            throw HTTPParseError(
                code: .bodyTooLarge,
                streamByteOffset: streamByteOffset,
                message: "body longer than \(bodyByteCountMax) bytes (bodyByteCountMax)"
            )
        }
    }

    private static func chunkSizeError(_ byte: UInt8, _ streamByteOffset: Int) -> HTTPParseError {
        HTTPParseError(
            code: .invalidChunkSize,
            streamByteOffset: streamByteOffset,
            message: "unexpected byte \(byte) in a chunk-size line"
        )
    }

    private static func hexDigitValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
