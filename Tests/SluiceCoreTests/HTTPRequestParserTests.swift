import SluiceCore
import SluiceTestSupport
import Testing

@Suite struct HTTPRequestParserTests {
    static func parse(
        _ text: String,
        cuts: [Int] = [],
        limits: HTTPParserLimits = HTTPParserLimits()
    ) -> ParsedStream<
        HTTPIncomingRequestHead
    > {
        var parser = HTTPRequestParser(limits: limits)
        return parseStream(&parser, text.bytes, cuts: cuts, trailerNames: ["X-Sum"])
    }

    @Test func contentLengthRequest() throws {
        let stream = Self.parse("POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        #expect(stream.error == nil)
        let message = try #require(stream.messages.first)
        #expect(
            message.head
                == HTTPIncomingRequestHead(
                    method: .post,
                    target: "/hook",
                    version: .http11,
                    keepAlive: true,
                    framing: .length(3)
                )
        )
        #expect(message.body == "abc".bytes)
        #expect(message.ended)
    }

    @Test func chunkedRequestWithTrailers() throws {
        let stream = Self.parse(
            "POST /h HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
                + "2;x=y\r\nab\r\n1\r\nc\r\n0\r\nX-Sum: 3\r\n\r\n"
        )
        #expect(stream.error == nil)
        let message = try #require(stream.messages.first)
        #expect(message.head.framing == .chunked)
        #expect(message.head.expectsContinue)
        #expect(message.body == "abc".bytes)
        #expect(message.trailers == ["X-Sum": "3"])
    }

    @Test func pipelinedRequestsAndLeadingEmptyLines() throws {
        let text =
            "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" + "POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi\r\n"
            + "\r\nDELETE /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + "PURGE /d HTTP/1.0\r\n\r\n"
        let stream = Self.parse(text)
        #expect(stream.error == nil)
        #expect(stream.messages.map(\.head.method) == [.get, .post, .delete, HTTPMethod("PURGE")])
        #expect(stream.messages.map(\.head.target) == ["/a", "/b", "/c", "/d"])
        #expect(stream.messages.map(\.head.keepAlive) == [true, true, true, false])
        #expect(stream.messages.map(\.body) == [[], "hi".bytes, [], []])
        #expect(stream.messages.allSatisfy { $0.ended })
        #expect(stream.streamEnd == .betweenMessages)
    }

    @Test(arguments: [
        (
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            HTTPParseError.Code.conflictingFraming, 0, 400
        ),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", .unsupportedTransferEncoding, 0, 501),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .unsupportedTransferEncoding, 0, 501),
        ("P@ST / HTTP/1.1\r\n\r\n", .invalidMethod, 0, 400),
        ("GET  HTTP/1.1\r\n\r\n", .invalidTarget, 0, 400),
        ("GET /a\u{7F}b HTTP/1.1\r\n\r\n", .invalidTarget, 6, 400),
        ("GET / HTTP/1.2\r\n\r\n", .unsupportedVersion, 6, 400),
        ("GET /\r\n\r\n", .invalidStartLine, 0, 400),
        ("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", .invalidContentLength, 32, 400),
        ("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nA\r\n\r\n", .invalidHeaderName, 44, 400),
    ])
    func malformed(text: String, code: HTTPParseError.Code, offset: Int, status: Int) {
        let stream = Self.parse(text)
        #expect(stream.error?.code == code, "\(text.debugDescription): \(String(describing: stream.error))")
        #expect(
            stream.error?.streamByteOffset == offset,
            "\(text.debugDescription): \(String(describing: stream.error))"
        )
        #expect(stream.error?.suggestedResponseStatus == status)
    }

    @Test func bodyLimit() {
        let limits = HTTPParserLimits(bodyByteCountMax: 4)
        #expect(
            Self.parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", limits: limits).error?.code == .bodyTooLarge
        )
        #expect(Self.parse("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd", limits: limits).error == nil)
        let chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        let error = Self.parse(chunked, limits: limits).error
        #expect(error?.code == .bodyTooLarge)
        #expect(error?.suggestedResponseStatus == 413)
    }

    @Test func truncatedRequest() {
        #expect(Self.parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab").error?.code == .truncated)
    }

    /// Every split point, byte by byte and seeded random splits give the same requests.
    @Test func everySplitPointParsesTheSame() {
        let text =
            "\r\nPOST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nwebhook-id: msg_1\r\nContent-Length: 5\r\n\r\n{\"a\"}"
            + "POST /c HTTP/1.1\nTransfer-Encoding: chunked\n\n4;e\nabcd\n0\nX-Sum: 4\n\n"
            + "GET /x HTTP/1.0\r\n\r\n"
        #expect(Self.parse(text).messages.count == 3)
        expectSameUnderEverySplit(text.bytes) { cuts in Self.parse(text, cuts: cuts) }
    }
}
