/// The head of a received request (server side: `sluice sink`).
public struct HTTPIncomingRequestHead: Hashable, Sendable {
    public var method: HTTPMethod
    /// The request target as sent (origin-form `/path?query` for a webhook receiver).
    public var target: String
    public var version: HTTPVersion
    /// Whether the client expects the connection to stay open after the response (RFC 9112 §9.3).
    public var keepAlive: Bool
    /// `.length(0)` when the request has neither `Content-Length` nor `Transfer-Encoding`.
    public var framing: HTTPBodyFraming
    /// `Expect: 100-continue` was sent; a server may answer `100 Continue` before reading the body.
    public var expectsContinue: Bool

    public init(
        method: HTTPMethod,
        target: String,
        version: HTTPVersion,
        keepAlive: Bool,
        framing: HTTPBodyFraming,
        expectsContinue: Bool = false
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.keepAlive = keepAlive
        self.framing = framing
        self.expectsContinue = expectsContinue
    }
}

/// Incremental HTTP/1.1 request parser for the server side (the `sluice sink` receiver).
///
/// Same calling pattern as ``HTTPResponseParser``: pass received bytes to ``next(_:)``, act on
/// `.head`, `.body(range)` and `.end`, and pass the unconsumed rest again. Pipelined requests
/// follow each other in the stream: after `.end`, the next bytes are the next request.
///
/// Requests with both `Transfer-Encoding` and `Content-Length`, or with a transfer coding other
/// than a final `chunked`, are refused (request-smuggling guard; RFC 9112 §6.1, §6.3).
/// Not thread-safe; one parser per connection.
public struct HTTPRequestParser: Sendable {
    private var parser: HTTPMessageParser<HTTPRequestInterpreter>

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        parser = HTTPMessageParser(interpreter: HTTPRequestInterpreter(), limits: limits)
    }

    /// Consumes bytes from the start of `bytes` up to the next event.
    /// - Throws: ``HTTPParseError``; answer ``HTTPParseError/suggestedResponseStatus`` and close.
    public mutating func next(_ bytes: Span<UInt8>) throws(HTTPParseError) -> HTTPParseStep<HTTPIncomingRequestHead> {
        try parser.next(bytes)
    }

    /// The client closed its sending side.
    /// - Throws: `truncated` when that happened inside a request.
    public mutating func finish() throws(HTTPParseError) -> HTTPStreamEnd { try parser.finish() }

    /// Forgets everything, for reuse on a new connection.
    public mutating func reset() { parser.reset() }

    public var streamByteOffset: Int { parser.streamByteOffset }
    /// Fields of the latest head (empty before the first head).
    public var headerFields: HTTPReceivedFields { parser.headerFields }
    /// Trailer fields of the latest chunked body (after its `.end`).
    public var trailerFields: HTTPReceivedFields { parser.trailerFields }
}

/// Request-line and framing rules for requests (RFC 9112 §3, §6.3).
struct HTTPRequestInterpreter: HTTPHeadInterpreter {
    mutating func interpret(
        _ block: HTTPHeadBlock
    ) throws(HTTPParseError) -> (head: HTTPIncomingRequestHead, framing: HTTPBodyFraming)? {
        let line = block.storage[block.startLine]
        let lineOffset = block.firstByteStreamOffset + block.startLine.lowerBound
        guard let firstSpace = line.firstIndex(of: HTTPBytes.space),
            let lastSpace = line.lastIndex(of: HTTPBytes.space), firstSpace < lastSpace
        else {
            throw HTTPParseError(code: .invalidStartLine, streamByteOffset: lineOffset, message: "not a request line")
        }
        let methodBytes = line[line.startIndex..<firstSpace]
        guard !methodBytes.isEmpty, methodBytes.allSatisfy(HTTPBytes.isToken) else {
            throw HTTPParseError(code: .invalidMethod, streamByteOffset: lineOffset, message: "method is not a token")
        }
        let targetBytes = line[(firstSpace + 1)..<lastSpace]
        if targetBytes.isEmpty {
            throw HTTPParseError(code: .invalidTarget, streamByteOffset: lineOffset, message: "empty request target")
        }
        if let bad = targetBytes.firstIndex(where: { $0 <= HTTPBytes.space || $0 == 0x7F }) {
            throw HTTPParseError(
                code: .invalidTarget,
                streamByteOffset: lineOffset + bad - line.startIndex,
                message: "space or control byte in the request target"
            )
        }
        guard let version = HTTPVersion.parse(line[(lastSpace + 1)...]) else {
            throw HTTPParseError(
                code: .unsupportedVersion,
                streamByteOffset: lineOffset + lastSpace + 1 - line.startIndex,
                message: "not HTTP/1.0 or 1.1"
            )
        }
        let facts = try HTTPHeadFacts(block)
        let framing = try Self.framing(facts, lineOffset: lineOffset)
        let method =
            HTTPMethod.known.first { HTTPBytes.equalsBytes(methodBytes, $0.rawValue) }
            ?? HTTPMethod(String(decoding: methodBytes, as: UTF8.self))
        let head = HTTPIncomingRequestHead(
            method: method,
            target: String(decoding: targetBytes, as: UTF8.self),
            version: version,
            keepAlive: facts.persists(version: version),
            framing: framing,
            expectsContinue: facts.expectsContinue
        )
        return (head, framing)
    }

    private static func framing(_ facts: HTTPHeadFacts, lineOffset: Int) throws(HTTPParseError) -> HTTPBodyFraming {
        if facts.hasTransferEncoding {
            guard facts.contentLength == nil else {
                throw HTTPParseError(
                    code: .conflictingFraming,
                    streamByteOffset: lineOffset,
                    message: "request has both Transfer-Encoding and Content-Length"
                )
            }
            guard facts.isChunkedLast else {
                throw HTTPParseError(
                    code: .unsupportedTransferEncoding,
                    streamByteOffset: lineOffset,
                    message: "request transfer coding does not end with chunked"
                )
            }
            return .chunked
        }
        return .length(facts.contentLength ?? 0)
    }
}

extension HTTPBytes {
    /// Exact (case-sensitive) comparison of received bytes with a string.
    static func equalsBytes(_ bytes: ArraySlice<UInt8>, _ text: String) -> Bool {
        bytes.elementsEqual(text.utf8)
    }
}
