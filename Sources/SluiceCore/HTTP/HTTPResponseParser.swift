/// The head of a received final response, with what the connection and retry logic need.
public struct HTTPResponseHead: Hashable, Sendable {
    public var version: HTTPVersion
    /// 200...999 (1xx interim responses are skipped by the parser).
    public var statusCode: Int
    /// Whether the connection may carry another request after this response: HTTP/1.1 without
    /// `Connection: close`, HTTP/1.0 with `Connection: keep-alive`, and never after a
    /// close-delimited body or a response with both `Transfer-Encoding` and `Content-Length`.
    public var keepAlive: Bool
    /// How the body is delimited; `.length(0)` for HEAD requests, 204 and 304 (RFC 9112 §6.3).
    public var framing: HTTPBodyFraming
    /// The `Retry-After` field, when present (RFC 9110 §10.2.3).
    public var retryAfter: HTTPRetryAfter?

    public init(
        version: HTTPVersion,
        statusCode: Int,
        keepAlive: Bool,
        framing: HTTPBodyFraming,
        retryAfter: HTTPRetryAfter? = nil
    ) {
        self.version = version
        self.statusCode = statusCode
        self.keepAlive = keepAlive
        self.framing = framing
        self.retryAfter = retryAfter
    }
}

/// Incremental HTTP/1.1 response parser for the delivery client.
///
/// Feed it whatever arrived, in any split (one byte at a time works), and pull events:
///
/// ```swift
/// var rest = received            // a Span<UInt8>
/// while true {
///     let step = try parser.next(rest)
///     switch step.event {
///     case .head(let head): …     // status, keepAlive, retryAfter; fields via parser.headerFields
///     case .body(let range): …    // rest[range] are body bytes (dechunked)
///     case .end: …                // response complete; the connection is free if head.keepAlive
///     case .needMoreBytes: break  // all of `rest` consumed
///     }
///     if step.event == .needMoreBytes { break }
///     rest = rest.extracting(step.consumedByteCount..<rest.count)
/// }
/// ```
///
/// Interim 1xx responses are skipped; `101` is an error (Sluice never asks to upgrade). Call
/// ``expectResponse(to:)`` with `.head` before a HEAD request's response (no body then). At
/// connection close call ``finish()``: it ends a close-delimited body or reports truncation.
/// Header fields of the latest head stay readable until the first byte of the next response.
///
/// Steady state does not allocate: head storage is reserved once (``HTTPParserLimits``).
/// Not thread-safe; one parser per connection, owned by its loop thread.
public struct HTTPResponseParser: Sendable {
    private var parser: HTTPMessageParser<HTTPResponseInterpreter>

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        parser = HTTPMessageParser(interpreter: HTTPResponseInterpreter(), limits: limits)
    }

    /// Declares the method of the request whose response comes next. Only HEAD matters (its
    /// response has no body); it applies to the next final response only.
    public mutating func expectResponse(to method: HTTPMethod) {
        parser.interpreter.nextResponseIsToHEAD = method == .head
    }

    /// Consumes bytes from the start of `bytes` up to the next event.
    /// - Throws: ``HTTPParseError`` naming what is wrong and its stream byte offset; the
    ///   connection must be closed then.
    public mutating func next(_ bytes: Span<UInt8>) throws(HTTPParseError) -> HTTPParseStep<HTTPResponseHead> {
        try parser.next(bytes)
    }

    /// The connection closed (read returned 0).
    /// - Returns: `.messageEnded` when that ended a close-delimited body, else `.betweenMessages`.
    /// - Throws: `truncated` when the close came inside a head or a delimited body.
    public mutating func finish() throws(HTTPParseError) -> HTTPStreamEnd { try parser.finish() }

    /// Forgets everything, for reuse on a new connection (storage is kept).
    public mutating func reset() {
        parser.reset()
        parser.interpreter.nextResponseIsToHEAD = false
    }

    /// Bytes consumed since `init` or ``reset()``.
    public var streamByteOffset: Int { parser.streamByteOffset }

    /// Fields of the latest head (empty before the first head).
    public var headerFields: HTTPReceivedFields { parser.headerFields }

    /// The reason phrase of the latest status line (may be empty).
    public var reasonPhrase: String {
        guard parser.headBlock.isComplete else { return "" }
        let block = parser.headBlock
        let line = block.storage[block.startLine]
        // "HTTP/1.1 200 reason": the phrase starts after the second space.
        guard line.count > 13 else { return "" }
        return String(decoding: line.dropFirst(13), as: UTF8.self)
    }

    /// Trailer fields of the latest chunked body (after its `.end`).
    public var trailerFields: HTTPReceivedFields { parser.trailerFields }
}

/// Status-line and framing rules for responses (RFC 9112 §4, §6.3).
struct HTTPResponseInterpreter: HTTPHeadInterpreter {
    var nextResponseIsToHEAD = false

    mutating func interpret(
        _ block: HTTPHeadBlock
    ) throws(HTTPParseError) -> (head: HTTPResponseHead, framing: HTTPBodyFraming)? {
        let line = block.storage[block.startLine]
        let lineOffset = block.firstByteStreamOffset + block.startLine.lowerBound
        guard line.count >= 12, let space = line.firstIndex(of: HTTPBytes.space) else {
            throw HTTPParseError(code: .invalidStartLine, streamByteOffset: lineOffset, message: "not a status line")
        }
        guard let version = HTTPVersion.parse(line[line.startIndex..<space]) else {
            throw HTTPParseError(
                code: .unsupportedVersion,
                streamByteOffset: lineOffset,
                message: "not HTTP/1.0 or 1.1"
            )
        }
        let codeBytes = line.dropFirst(9).prefix(3)
        guard codeBytes.count == 3, let code = HTTPBytes.parseDecimal(codeBytes), code >= 100,
            line.count == 12 || line[line.startIndex + 12] == HTTPBytes.space
        else {
            throw HTTPParseError(
                code: .invalidStatus,
                streamByteOffset: lineOffset + 9,
                message: "status code is not three digits 100...999"
            )
        }
        let statusCode = Int(code)
        if statusCode == 101 {
            throw HTTPParseError(
                code: .unexpectedUpgrade,
                streamByteOffset: lineOffset + 9,
                message: "101 without an upgrade request"
            )
        }
        if statusCode < 200 { return nil }  // 100 Continue, 103 Early Hints: skipped
        let facts = try HTTPHeadFacts(block)
        let framing: HTTPBodyFraming
        if nextResponseIsToHEAD || statusCode == 204 || statusCode == 304 {
            framing = .length(0)
        } else if facts.hasTransferEncoding {
            framing = facts.isChunkedLast ? .chunked : .untilClose
        } else if let contentLength = facts.contentLength {
            framing = .length(contentLength)
        } else {
            framing = .untilClose
        }
        nextResponseIsToHEAD = false
        let ambiguous = facts.hasTransferEncoding && facts.contentLength != nil
        let keepAlive = facts.persists(version: version) && framing != .untilClose && !ambiguous
        let retryAfter = facts.retryAfterFieldIndex.map { HTTPRetryAfter.parse(block.value(at: $0)) }
        let head = HTTPResponseHead(
            version: version,
            statusCode: statusCode,
            keepAlive: keepAlive,
            framing: framing,
            retryAfter: retryAfter
        )
        return (head, framing)
    }
}
