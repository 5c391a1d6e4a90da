import SluiceCore
import SluiceTestSupport
import Testing

@Suite struct HTTPRequestEncoderTests {
    static let webhookHead = HTTPRequestHead(
        method: .post,
        target: "/hooks/infrahub?x=1",
        host: "127.0.0.1:8080",
        headerFields: [
            HTTPHeaderField("Accept", "application/json"),
            HTTPHeaderField("Content-Type", "application/json"),
            HTTPHeaderField("webhook-id", "msg_217b4ebcb84f4736b1ee222182aed371"),
        ]
    )

    @Test func writesHeadersInOrderWithContentLength() throws {
        var encoder = HTTPRequestEncoder()
        try encoder.encode(Self.webhookHead, body: "{}".bytes)
        let expected =
            "POST /hooks/infrahub?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: application/json\r\n"
            + "Content-Type: application/json\r\nwebhook-id: msg_217b4ebcb84f4736b1ee222182aed371\r\n"
            + "Content-Length: 2\r\n\r\n{}"
        #expect(encoder.bytes.utf8String == expected)
    }

    @Test func contentLengthRules() throws {
        var bytes: [UInt8] = []
        try HTTPRequestEncoder.appendHead(
            HTTPRequestHead(method: .get, target: "/", host: "a"),
            bodyByteCount: 0,
            to: &bytes
        )
        #expect(bytes.utf8String == "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        bytes.removeAll()
        try HTTPRequestEncoder.appendHead(
            HTTPRequestHead(method: .post, target: "/", host: "a", keepAlive: false),
            bodyByteCount: 0,
            to: &bytes
        )
        #expect(bytes.utf8String == "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        bytes.removeAll()
        try HTTPRequestEncoder.appendHead(
            HTTPRequestHead(method: HTTPMethod("PROPFIND"), target: "*", host: "a"),
            bodyByteCount: 1_234_567_890,
            to: &bytes
        )
        #expect(bytes.utf8String == "PROPFIND * HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890\r\n\r\n")
    }

    /// Once grown, the buffer keeps its storage: re-encoding the same shape reuses it.
    @Test(arguments: [true, false])
    func signedWebhookRequestIsTheGenericEncodingOfItsFields(keepAlive: Bool) throws {
        let template = try HTTPRequestTemplate(
            HTTPRequestHead(
                method: .post,
                target: "/hooks/a?x=1",
                host: "example.test:8080",
                headerFields: [HTTPHeaderField("content-type", "application/json"), HTTPHeaderField("x-a", "b")],
                keepAlive: keepAlive
            )
        )
        for body in [[], Array(#"{"data":{"é":1}}"#.utf8), [UInt8](repeating: 0x61, count: 10_000)] {
            let signature = "v1,c2lnbmF0dXJl v1,b3RoZXI="
            var encoder = HTTPRequestEncoder()
            try encoder.encode(
                template,
                dynamicHeaderFields: [
                    HTTPHeaderField("webhook-id", "msg_0123"),
                    HTTPHeaderField("webhook-timestamp", "1700000000"),
                    HTTPHeaderField("webhook-signature", signature),
                ],
                body: body
            )
            var signedID: [UInt8] = []
            var signedBody: [UInt8] = []
            let bytes = unsafe HTTPRequestEncoder.signedWebhookRequest(
                template,
                webhookID: "msg_0123",
                timestampSeconds: 1_700_000_000,
                signatureByteCount: signature.utf8.count,
                body: body
            ) { id, signedBytes, target in
                signedID = unsafe Array(id)
                signedBody = unsafe Array(signedBytes)
                unsafe target.copyBytes(from: Array(signature.utf8))
            }
            #expect(bytes == encoder.bytes)
            #expect(bytes.capacity >= bytes.count)
            #expect(signedID == Array("msg_0123".utf8), "the signer gets the id as sent")
            #expect(signedBody == body, "the signer gets the body as sent")
        }
    }

    @Test func takenBytesAreTheRequestsOwn() throws {
        var encoder = HTTPRequestEncoder()
        let head = HTTPRequestHead(method: .post, target: "/", host: "h", headerFields: [])
        try encoder.encode(head, body: [1, 2, 3])
        let first = encoder.takeBytes()
        try encoder.encode(head, body: [4])
        #expect(first.suffix(3) == [1, 2, 3], "encoding the next request leaves a taken one alone")
        #expect(encoder.bytes.last == 4)
    }

    @Test func reusesItsBuffer() throws {
        var encoder = HTTPRequestEncoder(byteCountReserved: 4096)
        let body = [UInt8](repeating: 0x61, count: 1024)
        try encoder.encode(Self.webhookHead, body: body)
        let capacity = encoder.bytes.capacity
        let address = encoder.bytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        for _ in 0..<100 { try encoder.encode(Self.webhookHead, body: body) }
        #expect(encoder.bytes.capacity == capacity)
        #expect(encoder.bytes.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } == address)
    }

    @Test(arguments: [
        (
            HTTPRequestHead(method: HTTPMethod("GE T"), target: "/", host: "a"), HTTPEncodingError.Code.invalidMethod,
            "method", nil
        ),
        (HTTPRequestHead(method: HTTPMethod(""), target: "/", host: "a"), .invalidMethod, "method", nil),
        (HTTPRequestHead(method: .get, target: "x", host: "a"), .invalidTarget, "target", 0),
        (HTTPRequestHead(method: .get, target: "/a b", host: "a"), .invalidTarget, "target", 2),
        (HTTPRequestHead(method: .get, target: "/", host: ""), .invalidHost, "host", nil),
        (HTTPRequestHead(method: .get, target: "/", host: "a\r\nX: y"), .invalidHost, "host", 1),
        (
            HTTPRequestHead(
                method: .get,
                target: "/",
                host: "a",
                headerFields: [HTTPHeaderField("A", "1"), HTTPHeaderField("B c", "2")]
            ),
            .invalidHeaderName, "header[1] B c", 1
        ),
        (
            HTTPRequestHead(method: .get, target: "/", host: "a", headerFields: [HTTPHeaderField("", "2")]),
            .invalidHeaderName, "header[0] (empty name)", nil
        ),
        (
            HTTPRequestHead(
                method: .get,
                target: "/",
                host: "a",
                headerFields: [HTTPHeaderField("X", "ok\r\nInjected: 1")]
            ),
            .invalidHeaderValue, "header[0] X", 2
        ),
        (
            HTTPRequestHead(
                method: .get,
                target: "/",
                host: "a",
                headerFields: [HTTPHeaderField("content-LENGTH", "5")]
            ),
            .reservedHeaderName, "header[0] content-LENGTH", nil
        ),
    ])
    func refusesBadParts(head: HTTPRequestHead, code: HTTPEncodingError.Code, field: String, byteIndex: Int?) {
        var bytes: [UInt8] = "kept".bytes
        #expect(throws: HTTPEncodingError(code: code, field: field, byteIndex: byteIndex)) {
            try HTTPRequestEncoder.appendHead(head, bodyByteCount: 0, to: &bytes)
        }
        #expect(bytes == "kept".bytes)
    }

    /// What the encoder writes, the request parser reads back (fields, order and body).
    @Test func roundTripsThroughTheRequestParser() throws {
        var encoder = HTTPRequestEncoder()
        let body = Array("{\"data\":{},\"id\":\"x\"}".utf8)
        try encoder.encode(Self.webhookHead, body: body)
        var parser = HTTPRequestParser()
        let stream = parseStream(&parser, encoder.bytes)
        #expect(stream.error == nil)
        let message = try #require(stream.messages.first)
        #expect(message.head.method == .post)
        #expect(message.head.target == "/hooks/infrahub?x=1")
        #expect(message.head.keepAlive)
        #expect(message.head.framing == .length(UInt64(body.count)))
        #expect(
            message.fields
                == [HTTPHeaderField("Host", "127.0.0.1:8080")] + Self.webhookHead.headerFields
                + [HTTPHeaderField("Content-Length", "\(body.count)")]
        )
        #expect(message.body == body)
    }

    /// A template plus dynamic fields writes exactly what one head with all fields writes.
    @Test func templateMatchesTheWholeHead() throws {
        let template = try HTTPRequestTemplate(Self.webhookHead)
        let dynamic = [
            HTTPHeaderField("webhook-timestamp", "1740656629"), HTTPHeaderField("webhook-signature", "v1,abc="),
        ]
        var viaTemplate = HTTPRequestEncoder()
        try viaTemplate.encode(template, dynamicHeaderFields: dynamic, body: "{}".bytes)
        var whole = Self.webhookHead
        whole.headerFields += dynamic
        var direct = HTTPRequestEncoder()
        try direct.encode(whole, body: "{}".bytes)
        #expect(viaTemplate.bytes == direct.bytes)
        #expect(
            throws: HTTPEncodingError(code: .invalidHeaderValue, field: "header[4] webhook-signature", byteIndex: 1)
        ) {
            try viaTemplate.encode(
                template,
                dynamicHeaderFields: [dynamic[0], HTTPHeaderField("webhook-signature", "v\n1")],
                body: []
            )
        }
        #expect(throws: HTTPEncodingError(code: .invalidHost, field: "host")) {
            try HTTPRequestTemplate(HTTPRequestHead(method: .post, target: "/", host: ""))
        }
    }

    /// Header names are exactly RFC 9110 tokens: every ASCII byte is checked.
    @Test func headerNamesAreTokens() {
        let tchars = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        for byte in UInt8(0)...UInt8(127) {
            let name = "X" + String(UnicodeScalar(byte))
            let head = HTTPRequestHead(method: .get, target: "/", host: "a", headerFields: [HTTPHeaderField(name, "v")])
            let accepted = (try? HTTPRequestEncoder.validate(head)) != nil
            #expect(accepted == tchars.contains(byte), "byte \(byte)")
        }
    }
}

/// The response encoder the sink answers with: any status from 100 to 999, no reserved header names.
@Suite struct HTTPResponseEncoderTests {
    @Test func responseEncoderRules() throws {
        var bytes: [UInt8] = []
        try HTTPResponseEncoder.appendHead(
            statusCode: 599,
            headerFields: [HTTPHeaderField("X-Fault", "1")],
            bodyByteCount: 3,
            keepAlive: true,
            to: &bytes
        )
        #expect(bytes.utf8String == "HTTP/1.1 599 Status\r\nX-Fault: 1\r\nContent-Length: 3\r\n\r\n")
        #expect(throws: HTTPEncodingError(code: .invalidStatus, field: "status 1000")) {
            try HTTPResponseEncoder.appendHead(statusCode: 1000, bodyByteCount: 0, keepAlive: true, to: &bytes)
        }
        #expect(throws: HTTPEncodingError(code: .reservedHeaderName, field: "header[0] Connection")) {
            try HTTPResponseEncoder.appendHead(
                statusCode: 200,
                headerFields: [HTTPHeaderField("Connection", "x")],
                bodyByteCount: 0,
                keepAlive: true,
                to: &bytes
            )
        }
    }
}
