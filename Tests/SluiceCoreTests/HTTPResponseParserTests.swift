import SluiceCore
import SluiceTestSupport
import Testing

@Suite struct HTTPResponseParserTests {
    typealias Stream = ParsedStream<HTTPResponseHead>

    static func parse(
        _ text: String,
        cuts: [Int] = [],
        close: Bool = true,
        method: HTTPMethod = .post,
        limits: HTTPParserLimits = HTTPParserLimits()
    ) -> Stream {
        var parser = HTTPResponseParser(limits: limits)
        parser.expectResponse(to: method)
        return parseStream(&parser, text.bytes, cuts: cuts, close: close, trailerNames: ["Expires", "X-Checksum"])
    }

    @Test func contentLengthBody() throws {
        let stream = Self.parse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
        #expect(stream.error == nil)
        let message = try #require(stream.messages.first)
        #expect(
            message.head == HTTPResponseHead(version: .http11, statusCode: 200, keepAlive: true, framing: .length(5))
        )
        #expect(
            message.fields == [HTTPHeaderField("Content-Type", "text/plain"), HTTPHeaderField("Content-Length", "5")]
        )
        #expect(message.body == "hello".bytes)
        #expect(message.ended)
        #expect(stream.streamEnd == .betweenMessages)
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() throws {
        let text =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value;quoted=\"a b\"\r\nhello\r\n" + "1 ; ext\r\n \r\n" + "A\r\n0123456789\r\n"
            + "0;last\r\nExpires: never\r\nX-Checksum: abc\r\n\r\n"
        let stream = Self.parse(text)
        #expect(stream.error == nil)
        let message = try #require(stream.messages.first)
        #expect(message.head.framing == .chunked)
        #expect(message.head.keepAlive)
        #expect(message.body == "hello 0123456789".bytes)
        #expect(message.trailers == ["Expires": "never", "X-Checksum": "abc"])
        #expect(message.ended)
    }

    @Test func chunkedWithoutTrailersAndBareLineFeeds() throws {
        let stream = Self.parse("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n")
        #expect(stream.error == nil)
        #expect(stream.messages.first?.body == "abc".bytes)
        #expect(stream.messages.first?.ended == true)
    }

    @Test func closeDelimitedBodyEndsAtFinish() throws {
        let stream = Self.parse("HTTP/1.1 200 OK\r\n\r\nuntil the end")
        #expect(stream.error == nil)
        let message = try #require(stream.messages.first)
        #expect(message.head.framing == .untilClose)
        #expect(!message.head.keepAlive)
        #expect(message.body == "until the end".bytes)
        #expect(stream.streamEnd == .messageEnded)
        #expect(message.ended)
    }

    @Test func interimResponsesAreSkipped() throws {
        let text =
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            + "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
        let stream = Self.parse(text)
        #expect(stream.error == nil)
        #expect(stream.messages.count == 1)
        #expect(stream.messages.first?.head.statusCode == 201)
        #expect(stream.messages.first?.fields == [HTTPHeaderField("Content-Length", "2")])
        #expect(stream.messages.first?.body == "ok".bytes)
    }

    @Test(arguments: [
        ("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", HTTPMethod.post, 204),
        ("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", HTTPMethod.get, 304),
        ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", HTTPMethod.head, 200),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", HTTPMethod.head, 200),
    ])
    func responsesWithoutBody(text: String, method: HTTPMethod, status: Int) throws {
        // A second response follows immediately: the first must not swallow its bytes as a body.
        let stream = Self.parse(text + "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", method: method)
        #expect(stream.error == nil)
        #expect(stream.messages.count == 2)
        #expect(stream.messages.first?.head.statusCode == status)
        #expect(stream.messages.first?.head.framing == .length(0))
        #expect(stream.messages.first?.head.keepAlive == true)
        #expect(stream.messages.first?.body == [])
        #expect(stream.messages.last?.body == "x".bytes)
    }

    @Test func headExpectationAppliesToOneResponse() throws {
        var parser = HTTPResponseParser()
        parser.expectResponse(to: .head)
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
        let stream = parseStream(&parser, text.bytes)
        #expect(stream.error == nil)
        #expect(stream.messages.map(\.body) == [[], "abc".bytes])
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true),
        ("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", true),
        ("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n", false),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", false),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false),
    ])
    func keepAliveRules(text: String, keepAlive: Bool) throws {
        let stream = Self.parse(text)
        #expect(stream.error == nil)
        #expect(stream.messages.first?.head.keepAlive == keepAlive, "\(text)")
    }

    @Test(arguments: [
        ("120", HTTPRetryAfter.seconds(120)),
        ("0", HTTPRetryAfter.seconds(0)),
        ("Sun, 06 Nov 1994 08:49:37 GMT", HTTPRetryAfter.date(Timestamp(secondsSinceEpoch: 784_111_777))),
        ("Sunday, 06-Nov-94 08:49:37 GMT", HTTPRetryAfter.date(Timestamp(secondsSinceEpoch: 784_111_777))),
        ("Sun Nov  6 08:49:37 1994", HTTPRetryAfter.date(Timestamp(secondsSinceEpoch: 784_111_777))),
        ("soon", HTTPRetryAfter.invalid),
        ("-5", HTTPRetryAfter.invalid),
        ("Sun, 31 Feb 1994 08:49:37 GMT", HTTPRetryAfter.invalid),
    ])
    func retryAfter(value: String, expected: HTTPRetryAfter) throws {
        let stream = Self.parse(
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After:  \(value) \r\nContent-Length: 0\r\n\r\n"
        )
        #expect(stream.error == nil)
        #expect(stream.messages.first?.head.retryAfter == expected)
    }

    @Test func retryAfterDelays() {
        let now = Timestamp(secondsSinceEpoch: 784_111_700)
        #expect(HTTPRetryAfter.seconds(3).delayMicroseconds(nowWall: now) == 3_000_000)
        #expect(
            HTTPRetryAfter.date(Timestamp(secondsSinceEpoch: 784_111_777)).delayMicroseconds(nowWall: now) == 77_000_000
        )
        #expect(HTTPRetryAfter.date(Timestamp(secondsSinceEpoch: 1)).delayMicroseconds(nowWall: now) == 0)
        #expect(HTTPRetryAfter.invalid.delayMicroseconds(nowWall: now) == nil)
    }

    @Test func httpDateFormatRoundTrips() {
        #expect(HTTPDate.format(Timestamp(secondsSinceEpoch: 784_111_777)) == "Sun, 06 Nov 1994 08:49:37 GMT")
        for seconds in stride(from: Int64(0), to: 4_000_000_000, by: 86_399 * 37) {
            let text = HTTPDate.format(Timestamp(secondsSinceEpoch: seconds))
            #expect(HTTPDate.parse(Array(text.utf8)[...]) == Timestamp(secondsSinceEpoch: seconds), "\(text)")
        }
    }

    @Test func reasonPhraseAndFieldLookup() throws {
        var parser = HTTPResponseParser()
        let bytes = "HTTP/1.1 503 Service Unavailable\r\nX-A: 1\r\nx-a: 2\r\n\r\n".bytes
        let step = try parser.next(bytes.span)
        guard case .head(let head) = step.event else {
            Issue.record("no head: \(step)")
            return
        }
        #expect(head.statusCode == 503)
        #expect(parser.reasonPhrase == "Service Unavailable")
        #expect(parser.headerFields.value(named: "X-A") == "1")
        #expect(parser.headerFields.valueBytes(named: "x-A").map(Array.init) == "1".bytes)
        #expect(parser.headerFields.values(named: "x-a") == ["1", "2"])
        #expect(parser.headerFields.value(named: "missing") == nil)
        #expect(parser.trailerFields.count == 0)
        #expect(parser.streamByteOffset == bytes.count)
    }

    @Test func pipelinedResponsesInOneBuffer() throws {
        let text =
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
            + "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n"
            + "HTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\nc"
        let stream = Self.parse(text)
        #expect(stream.error == nil)
        #expect(stream.messages.map(\.head.statusCode) == [200, 500, 202])
        #expect(stream.messages.map(\.body) == ["a".bytes, "b".bytes, "c".bytes])
    }

    @Test func closeInsideMessagesIsTruncation() {
        let insideBody = Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")
        #expect(insideBody.error?.code == .truncated)
        #expect(insideBody.error?.streamByteOffset == 41)
        let insideHead = Self.parse("HTTP/1.1 200 OK\r\nContent-")
        #expect(insideHead.error?.code == .truncated)
        let insideChunks = Self.parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
        #expect(insideChunks.error?.code == .truncated)
        let beforeAnything = Self.parse("")
        #expect(beforeAnything.streamEnd == .betweenMessages)
    }

    @Test func resetForgetsTheConnection() throws {
        var parser = HTTPResponseParser()
        _ = try parser.next("HTTP/1.1 200 OK\r\nContent-Le".bytes.span)
        parser.reset()
        let stream = parseStream(&parser, "HTTP/1.1 204 No Content\r\n\r\n".bytes)
        #expect(stream.error == nil)
        #expect(stream.messages.first?.head.statusCode == 204)
    }

    /// Every malformed input yields its code and the offset of the offending byte.
    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", HTTPParseError.Code.invalidLineEnding, 22),
        ("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", .obsoleteLineFolding, 23),
        ("HTTP/1.1 200 OK\r\nA : b\r\n\r\n", .invalidHeaderName, 18),
        ("HTTP/1.1 200 OK\r\n: b\r\n\r\n", .invalidHeaderName, 17),
        ("HTTP/1.1 200 OK\r\nA: b\u{1}c\r\n\r\n", .invalidHeaderValue, 21),
        ("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", .invalidContentLength, 33),
        ("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", .invalidContentLength, 33),
        ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", .invalidContentLength, 52),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", .invalidChunkSize, 47),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", .invalidChunkSize, 49),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 2\r\n", .invalidChunkSize, 49),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n", .invalidChunkSize, 63),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY", .invalidChunkTerminator, 51),
        ("HTTP/1.1 101 Switching Protocols\r\n\r\n", .unexpectedUpgrade, 9),
        ("HTTP/2.0 200 OK\r\n\r\n", .unsupportedVersion, 0),
        ("HTTP/1.1 20 OK\r\n\r\n", .invalidStatus, 9),
        ("HTTP/1.1 099 Low\r\n\r\n", .invalidStatus, 9),
        ("HTTP/1.1 2000 OK\r\n\r\n", .invalidStatus, 9),
        ("nonsense\r\n\r\n", .invalidStartLine, 0),
    ])
    func malformed(text: String, code: HTTPParseError.Code, offset: Int) {
        let stream = Self.parse(text)
        #expect(stream.error?.code == code, "\(text.debugDescription): \(String(describing: stream.error))")
        #expect(
            stream.error?.streamByteOffset == offset,
            "\(text.debugDescription): \(String(describing: stream.error))"
        )
    }

    @Test func limitsNameWhatAndWhere() {
        let limits = HTTPParserLimits(
            headByteCountMax: 64,
            headerFieldCountMax: 2,
            bodyByteCountMax: 10,
            chunkLineByteCountMax: 8,
            trailerByteCountMax: 16
        )
        func failure(_ text: String) -> HTTPParseError? { Self.parse(text, limits: limits).error }
        let longHead = failure("HTTP/1.1 200 OK\r\nX-Long: " + String(repeating: "a", count: 100) + "\r\n\r\n")
        #expect(longHead?.code == .headTooLarge)
        #expect(longHead?.streamByteOffset == 64)
        #expect(longHead?.message.contains("headByteCountMax") == true)
        #expect(longHead?.suggestedResponseStatus == 431)
        #expect(failure("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")?.code == .tooManyHeaderFields)
        let declared = failure("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n")
        #expect(declared?.code == .bodyTooLarge)
        #expect(declared?.streamByteOffset == 39)
        #expect(declared?.message.contains("bodyByteCountMax") == true)
        let chunked = failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\n")
        #expect(chunked?.code == .bodyTooLarge)
        #expect(failure("HTTP/1.1 200 OK\r\n\r\n0123456789A")?.code == .bodyTooLarge)
        #expect(failure("HTTP/1.1 200 OK\r\n\r\n0123456789") == nil)
        let chunkLine = failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;abcdefgh\r\n")
        #expect(chunkLine?.code == .chunkLineTooLong)
        #expect(chunkLine?.streamByteOffset == 55)
        let trailers = failure(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 01234567890123456789\r\n\r\n"
        )
        #expect(trailers?.code == .trailersTooLarge)
        #expect(trailers?.message.contains("trailerByteCountMax") == true)
    }

    static let propertyStreams: [String] = [
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello"
            + "HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "3;a=b\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nExpires: x\r\n\r\n"
            + "HTTP/1.1 204 No Content\r\n\r\n" + "HTTP/1.0 200 OK\r\n\r\nclose-delimited tail",
        "HTTP/1.1 200 OK\nContent-Length: 3\n\nabcHTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naZZ",
    ]

    /// The same bytes split at every single point, byte by byte, and at random points (seeded)
    /// parse to the same messages, errors included.
    @Test(arguments: propertyStreams)
    func everySplitPointParsesTheSame(text: String) {
        expectSameUnderEverySplit(text.bytes) { cuts in Self.parse(text, cuts: cuts) }
    }

    @Test func propertyReferencesAreWhatWeThinkTheyAre() {
        let first = Self.parse(Self.propertyStreams[0])
        #expect(first.error == nil)
        #expect(first.messages.map(\.head.statusCode) == [200, 429, 204, 200])
        #expect(first.messages[1].head.retryAfter == .seconds(7))
        #expect(first.messages[3].body == "close-delimited tail".bytes)
        let third = Self.parse(Self.propertyStreams[2])
        #expect(third.error?.code == .invalidChunkTerminator)
    }
}
