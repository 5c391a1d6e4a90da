/// The head of an HTTP/1.1 request to send: method, origin-form target, `Host` and extra headers.
///
/// The encoder writes `Host` first, then ``headerFields`` in their given order, then
/// `Content-Length` and, when ``keepAlive`` is `false`, `Connection: close`.
public struct HTTPRequestHead: Hashable, Sendable {
    public var method: HTTPMethod
    /// Origin-form target (`/hooks/infrahub?x=1`) or `*`.
    public var target: String
    /// The authority for the `Host` header (`example.com` or `example.com:8443`).
    public var host: String
    /// Extra headers in the order to write them (e.g. `Accept`, `Content-Type`, custom headers,
    /// `webhook-id`/`webhook-timestamp`/`webhook-signature`, spec §c.6).
    public var headerFields: [HTTPHeaderField]
    /// `false` asks the server to close after the response (`Connection: close`).
    public var keepAlive: Bool

    public init(
        method: HTTPMethod,
        target: String,
        host: String,
        headerFields: [HTTPHeaderField] = [],
        keepAlive: Bool = true
    ) {
        self.method = method
        self.target = target
        self.host = host
        self.headerFields = headerFields
        self.keepAlive = keepAlive
    }
}

/// Encodes HTTP/1.1 requests into a reusable byte buffer.
///
/// ```
/// POST /hook HTTP/1.1\r\n
/// Host: 127.0.0.1:8080\r\n
/// <headerFields in order>\r\n
/// Content-Length: 1024\r\n
/// [Connection: close\r\n]
/// \r\n
/// <body>
/// ```
///
/// ``encode(_:body:)`` empties ``bytes`` keeping its capacity, so once the buffer has grown to the
/// largest request it does not allocate again (steady state). Not thread-safe; owned by one loop
/// thread (one encoder per connection or per loop).
public struct HTTPRequestEncoder: Sendable {
    /// The last encoded request (head and body), ready to send.
    public private(set) var bytes: [UInt8]

    /// - Parameter byteCountReserved: initial capacity; the buffer grows if a request is larger.
    public init(byteCountReserved: Int = 4096) {
        bytes = []
        bytes.reserveCapacity(byteCountReserved)
    }

    /// Replaces ``bytes`` with `head` followed by `body`.
    /// - Throws: ``HTTPEncodingError`` (nothing is written then) for a bad method, target, host,
    ///   header name or value, or a custom header the encoder writes itself.
    public mutating func encode(_ head: HTTPRequestHead, body: [UInt8]) throws(HTTPEncodingError) {
        bytes.removeAll(keepingCapacity: true)
        try Self.appendHead(head, bodyByteCount: body.count, to: &bytes)
        bytes.append(contentsOf: body)
    }

    /// Appends the request head for a body of `bodyByteCount` bytes to `target` (the caller
    /// appends the body). `Content-Length` is written when the body is non-empty or the method
    /// conventionally has one (POST, PUT, PATCH).
    /// - Throws: ``HTTPEncodingError``; `target` is unchanged then.
    public static func appendHead(
        _ head: HTTPRequestHead,
        bodyByteCount: Int,
        to target: inout [UInt8]
    ) throws(HTTPEncodingError) {
        precondition(bodyByteCount >= 0, "negative body byte count")
        try validate(head)
        let startCount = target.count
        appendPrefix(head, to: &target)
        appendSuffix(method: head.method, bodyByteCount: bodyByteCount, keepAlive: head.keepAlive, to: &target)
        assert(target.count > startCount + 16, "a request head is at least a request line")
    }

    /// Replaces ``bytes`` with a request built from `template`: its prepared prefix, then
    /// `dynamicHeaderFields` (e.g. `webhook-id`, `webhook-timestamp`, `webhook-signature`), then
    /// `Content-Length`, then `body`. Only the dynamic fields are validated here.
    /// - Throws: ``HTTPEncodingError`` for a bad dynamic field; ``bytes`` is empty then.
    public mutating func encode(
        _ template: HTTPRequestTemplate,
        dynamicHeaderFields: [HTTPHeaderField],
        body: [UInt8]
    ) throws(HTTPEncodingError) {
        bytes.removeAll(keepingCapacity: true)
        for (position, field) in dynamicHeaderFields.enumerated() {
            try Self.validateField(field, position: template.head.headerFields.count + position)
        }
        bytes.append(contentsOf: template.prefix)
        Self.appendFields(dynamicHeaderFields, to: &bytes)
        Self.appendSuffix(
            method: template.head.method,
            bodyByteCount: body.count,
            keepAlive: template.head.keepAlive,
            to: &bytes
        )
        bytes.append(contentsOf: body)
    }

    /// A signed webhook request (spec §c.6) in one array of exactly its size: `template`'s prefix, then
    /// `webhook-id`, `webhook-timestamp` and `webhook-signature`, then `Content-Length`, then `body` — the
    /// bytes ``encode(_:dynamicHeaderFields:body:)`` writes for those three fields, without building them.
    /// `sign` gets the id and the body as they lie in the request and writes the signature header value,
    /// exactly `signatureByteCount` bytes, into the third buffer. `webhookID` must be a valid header value
    /// (it is not checked here: the caller makes it).
    ///
    /// The array is the request's own (one allocation, no copy), so it can be handed to a connection
    /// while the next request is encoded.
    public static func signedWebhookRequest(
        _ template: HTTPRequestTemplate,
        webhookID: String,
        timestampSeconds: UInt64,
        signatureByteCount: Int,
        body: [UInt8],
        sign: (
            _ webhookID: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer,
            _ signature: UnsafeMutableRawBufferPointer
        ) -> Void
    ) -> [UInt8] {
        let keepAlive = template.head.keepAlive
        let contentLength =
            body.count > 0 || template.head.method.conventionallyHasBody
            ? 16 + HTTPBytes.decimalDigitCount(UInt64(body.count)) + 2 : 0
        let byteCount =
            template.prefix.count + 12 + webhookID.utf8.count + 2 + 19
            + HTTPBytes.decimalDigitCount(timestampSeconds) + 2 + 19 + signatureByteCount + 2 + contentLength
            + (keepAlive ? 0 : 19) + 2 + body.count
        var bytes: [UInt8] = []
        bytes.reserveCapacity(byteCount)
        bytes.append(contentsOf: template.prefix)
        bytes.append(contentsOf: "webhook-id: ".utf8)
        let idStart = bytes.count
        bytes.append(contentsOf: webhookID.utf8)
        let idEnd = bytes.count
        bytes.append(contentsOf: "\r\nwebhook-timestamp: ".utf8)
        HTTPBytes.appendDecimal(timestampSeconds, to: &bytes)
        bytes.append(contentsOf: "\r\nwebhook-signature: ".utf8)
        let signatureStart = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: signatureByteCount))
        bytes.append(contentsOf: "\r\n".utf8)
        appendSuffix(method: template.head.method, bodyByteCount: body.count, keepAlive: keepAlive, to: &bytes)
        let bodyStart = bytes.count
        bytes.append(contentsOf: body)
        assert(bytes.count == byteCount, "signed webhook request size")
        unsafe bytes.withUnsafeMutableBytes { raw in
            // Three disjoint ranges of the request: read the id and the body, write the signature.
            let readable = UnsafeRawBufferPointer(raw)
            unsafe sign(
                UnsafeRawBufferPointer(rebasing: readable[idStart..<idEnd]),
                UnsafeRawBufferPointer(rebasing: readable[bodyStart...]),
                UnsafeMutableRawBufferPointer(rebasing: raw[signatureStart..<(signatureStart + signatureByteCount)])
            )
        }
        return bytes
    }

    /// Hands out ``bytes`` as the request's own array and starts the next request in a new buffer (the
    /// encoder's buffer is reused only while nobody else holds it; a request handed to a connection does).
    public mutating func takeBytes() -> [UInt8] {
        let taken = bytes
        bytes = []
        bytes.reserveCapacity(taken.count)
        return taken
    }

    /// Request line, `Host` and the head's header fields.
    static func appendPrefix(_ head: HTTPRequestHead, to target: inout [UInt8]) {
        target.append(contentsOf: head.method.rawValue.utf8)
        target.append(HTTPBytes.space)
        target.append(contentsOf: head.target.utf8)
        target.append(contentsOf: " HTTP/1.1\r\nHost: ".utf8)
        target.append(contentsOf: head.host.utf8)
        target.append(contentsOf: "\r\n".utf8)
        appendFields(head.headerFields, to: &target)
    }

    static func appendFields(_ fields: [HTTPHeaderField], to target: inout [UInt8]) {
        for field in fields {
            target.append(contentsOf: field.name.utf8)
            target.append(contentsOf: ": ".utf8)
            target.append(contentsOf: field.value.utf8)
            target.append(contentsOf: "\r\n".utf8)
        }
    }

    /// `Content-Length`, `Connection: close` and the empty line that ends the head.
    private static func appendSuffix(method: HTTPMethod, bodyByteCount: Int, keepAlive: Bool, to target: inout [UInt8])
    {
        if bodyByteCount > 0 || method.conventionallyHasBody {
            target.append(contentsOf: "Content-Length: ".utf8)
            HTTPBytes.appendDecimal(UInt64(bodyByteCount), to: &target)
            target.append(contentsOf: "\r\n".utf8)
        }
        if !keepAlive { target.append(contentsOf: "Connection: close\r\n".utf8) }
        target.append(contentsOf: "\r\n".utf8)
    }

    /// Headers the encoder writes itself; giving them as custom headers is an error.
    static let reservedHeaderNames = ["host", "content-length", "transfer-encoding", "connection"]

    /// Checks every part of `head` without writing anything (done by every encode; cheap, a byte scan).
    /// - Throws: ``HTTPEncodingError`` naming the part and byte at fault.
    public static func validate(_ head: HTTPRequestHead) throws(HTTPEncodingError) {
        let method = head.method.rawValue.utf8
        if method.isEmpty || !method.allSatisfy(HTTPBytes.isToken) {
            throw HTTPEncodingError(code: .invalidMethod, field: "method")
        }
        let target = head.target.utf8
        if target.first != UInt8(ascii: "/") && head.target != "*" {
            throw HTTPEncodingError(code: .invalidTarget, field: "target", byteIndex: 0)
        }
        if let index = firstIndex(in: target, where: { $0 <= HTTPBytes.space || $0 == 0x7F }) {
            throw HTTPEncodingError(code: .invalidTarget, field: "target", byteIndex: index)
        }
        let host = head.host.utf8
        if host.isEmpty { throw HTTPEncodingError(code: .invalidHost, field: "host") }
        if let index = firstIndex(in: host, where: { $0 <= HTTPBytes.space || $0 == 0x7F }) {
            throw HTTPEncodingError(code: .invalidHost, field: "host", byteIndex: index)
        }
        for (position, field) in head.headerFields.enumerated() {
            try validateField(field, position: position)
        }
    }

    static func validateField(_ field: HTTPHeaderField, position: Int) throws(HTTPEncodingError) {
        let name = field.name.utf8
        if name.isEmpty {
            throw HTTPEncodingError(code: .invalidHeaderName, field: "header[\(position)] (empty name)")
        }
        if let index = firstIndex(in: name, where: { !HTTPBytes.isToken($0) }) {
            throw HTTPEncodingError(
                code: .invalidHeaderName,
                field: "header[\(position)] \(field.name)",
                byteIndex: index
            )
        }
        for reserved in reservedHeaderNames
        where reserved.utf8.count == name.count && HTTPBytes.equalsIgnoringCase(name, reserved) {
            throw HTTPEncodingError(code: .reservedHeaderName, field: "header[\(position)] \(field.name)")
        }
        if let index = firstIndex(in: field.value.utf8, where: { !HTTPBytes.isFieldValueByte($0) }) {
            throw HTTPEncodingError(
                code: .invalidHeaderValue,
                field: "header[\(position)] \(field.name)",
                byteIndex: index
            )
        }
    }

    /// Scans the string's UTF-8 storage directly (a `Span`), not through `String.UTF8View`'s
    /// per-byte iteration, which made validation the larger part of encoding a request.
    private static func firstIndex(in bytes: String.UTF8View, where predicate: (UInt8) -> Bool) -> Int? {
        let span = bytes.span
        for index in span.indices where predicate(span[index]) { return index }
        return nil
    }
}

/// A request head prepared once (per webhook, at configuration time): validated, with its request
/// line, `Host` and static header fields already encoded, so each request only appends its
/// dynamic fields, `Content-Length` and body (``HTTPRequestEncoder/encode(_:dynamicHeaderFields:body:)``).
public struct HTTPRequestTemplate: Hashable, Sendable {
    /// The static part of every request.
    public let head: HTTPRequestHead
    /// `head` encoded up to and including its last static header field.
    public let prefix: [UInt8]

    /// - Throws: ``HTTPEncodingError`` naming the bad part of `head`.
    public init(_ head: HTTPRequestHead) throws(HTTPEncodingError) {
        try HTTPRequestEncoder.validate(head)
        self.head = head
        var prefix: [UInt8] = []
        HTTPRequestEncoder.appendPrefix(head, to: &prefix)
        self.prefix = prefix
    }
}
