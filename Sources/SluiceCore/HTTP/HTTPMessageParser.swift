/// What a parser reports for one call of `next`.
public enum HTTPParseEvent<Head: Hashable & Sendable>: Hashable, Sendable {
    /// Every given byte was consumed and nothing is ready; call again when more bytes arrive.
    case needMoreBytes
    /// A complete head (final responses only: 1xx interim responses are skipped).
    case head(Head)
    /// Body bytes (framing removed) at this range of the span that was passed in.
    case body(Range<Int>)
    /// The message (body and trailers) is complete. The next byte starts the next message.
    case end
}

/// The result of one `next` call: how many of the given bytes were consumed, and what they made.
///
/// The caller passes the unconsumed rest (`bytes.extracting(step.consumedByteCount..<bytes.count)`)
/// on the next call, until `event` is `.needMoreBytes` (which is returned only when every byte was
/// consumed).
public struct HTTPParseStep<Head: Hashable & Sendable>: Hashable, Sendable {
    public var consumedByteCount: Int
    public var event: HTTPParseEvent<Head>

    public init(consumedByteCount: Int, event: HTTPParseEvent<Head>) {
        self.consumedByteCount = consumedByteCount
        self.event = event
    }
}

/// How a connection's byte stream ended, from ``HTTPResponseParser/finish()`` or
/// ``HTTPRequestParser/finish()``.
public enum HTTPStreamEnd: Hashable, Sendable {
    /// The close came between messages (nothing of a next message had arrived).
    case betweenMessages
    /// The close ended a close-delimited body (or a body that was already complete): `.end`.
    case messageEnded
}

/// Turns a complete head block into a head value and its body framing.
protocol HTTPHeadInterpreter: Sendable {
    associatedtype Head: Hashable & Sendable
    /// - Returns: `nil` for an interim response to skip (1xx).
    mutating func interpret(_ block: HTTPHeadBlock) throws(HTTPParseError) -> (head: Head, framing: HTTPBodyFraming)?
}

/// The incremental engine shared by the request and response parsers: head, then body, repeated
/// (keep-alive and pipelining). Not thread-safe; owned by one connection.
struct HTTPMessageParser<Interpreter: HTTPHeadInterpreter>: Sendable {
    var interpreter: Interpreter
    private(set) var headBlock: HTTPHeadBlock
    private(set) var body: HTTPBodyDecoder
    private(set) var streamByteOffset = 0

    init(interpreter: Interpreter, limits: HTTPParserLimits) {
        limits.validate()
        self.interpreter = interpreter
        headBlock = HTTPHeadBlock(
            hasStartLine: true,
            byteCountMax: limits.headByteCountMax,
            fieldCountMax: limits.headerFieldCountMax
        )
        body = HTTPBodyDecoder(limits: limits)
    }

    mutating func reset() {
        headBlock.reset()
        body = HTTPBodyDecoder(limits: body.limits)
        streamByteOffset = 0
    }

    mutating func next(_ bytes: Span<UInt8>) throws(HTTPParseError) -> HTTPParseStep<Interpreter.Head> {
        var consumed = 0
        while true {
            if body.isActive {
                let (count, event) = try body.next(
                    bytes.extracting(consumed..<bytes.count),
                    streamByteOffset: streamByteOffset
                )
                let start = consumed
                consumed += count
                streamByteOffset += count
                switch event {
                case .needMoreBytes:
                    return HTTPParseStep(consumedByteCount: consumed, event: .needMoreBytes)
                case .bytes(let range):
                    let shifted = (range.lowerBound + start)..<(range.upperBound + start)
                    return HTTPParseStep(consumedByteCount: consumed, event: .body(shifted))
                case .end:
                    return HTTPParseStep(consumedByteCount: consumed, event: .end)
                }
            }
            guard consumed < bytes.count else {
                return HTTPParseStep(consumedByteCount: consumed, event: .needMoreBytes)
            }
            // The previous head stays readable until the first byte of the next message arrives.
            if headBlock.isComplete { headBlock.reset() }
            let count = try headBlock.accumulate(
                bytes.extracting(consumed..<bytes.count),
                streamByteOffset: streamByteOffset
            )
            consumed += count
            streamByteOffset += count
            guard headBlock.isComplete else { return HTTPParseStep(consumedByteCount: consumed, event: .needMoreBytes) }
            if let (head, framing) = try interpreter.interpret(headBlock) {
                try body.start(framing, streamByteOffset: streamByteOffset)
                return HTTPParseStep(consumedByteCount: consumed, event: .head(head))
            }
            headBlock.reset()  // an interim response: skip it and read the next head
        }
    }

    mutating func finish() throws(HTTPParseError) -> HTTPStreamEnd {
        if body.endsAtClose {
            body.finishAtClose()
            return .messageEnded
        }
        if body.isActive {
            if body.isComplete { return .messageEnded }
            throw HTTPParseError(
                code: .truncated,
                streamByteOffset: streamByteOffset,
                message: "connection closed after \(body.bodyByteCount) body bytes, inside the body"
            )
        }
        if headBlock.isEmpty || headBlock.isComplete { return .betweenMessages }
        throw HTTPParseError(
            code: .truncated,
            streamByteOffset: streamByteOffset,
            message: "connection closed inside a message head"
        )
    }
}

extension HTTPMessageParser {
    var headerFields: HTTPReceivedFields { HTTPReceivedFields(headBlock) }
    var trailerFields: HTTPReceivedFields { HTTPReceivedFields(body.trailers) }
}
