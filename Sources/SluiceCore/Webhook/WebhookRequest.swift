/// One webhook request, ready for the HTTP layer to encode: the headers in spec §c.6 merge order and the
/// exact body bytes (which are also the bytes signed). The HTTP layer adds `Host`, `Content-Length` and
/// connection headers; the method is `POST`.
public struct WebhookRequest: Sendable, Equatable {
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public var url: String
    public var headers: [Header]
    public var body: [UInt8]
    /// Verify the peer's certificate and host name (`validate_certificates`, default true).
    public var validateCertificates: Bool

    public init(url: String, headers: [Header], body: [UInt8], validateCertificates: Bool = true) {
        self.url = url
        self.headers = headers
        self.body = body
        self.validateCertificates = validateCertificates
    }

    /// The value of the first header named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }
}

/// The signature headers of one request, computed by the signer over exactly the body sent.
public struct WebhookSignatureHeaders: Sendable, Equatable {
    /// `webhook-id`: stable for an (event, webhook) pair, see `WebhookMessageID`.
    public var webhookID: String
    /// `webhook-timestamp`: whole Unix seconds of this attempt.
    public var timestampSeconds: UInt64
    /// `webhook-signature`: one `v1,<base64>` entry per active key, space-separated.
    public var signature: String

    public init(webhookID: String, timestampSeconds: UInt64, signature: String) {
        self.webhookID = webhookID
        self.timestampSeconds = timestampSeconds
        self.signature = signature
    }
}

extension WebhookDefinition {
    /// The request for `body` (the standard body, or a transform's output) in spec §c.6 order (later wins):
    /// 1. `Accept: application/json`, `Content-Type: application/json`, `User-Agent: sluice/<version>`
    ///    (``SluiceVersion/userAgent``; Infrahub's httpx sends its own `python-httpx/<version>`);
    /// 2. the custom headers (static or from the environment); one named `Accept`, `Content-Type` or
    ///    `User-Agent` (compared case-insensitively) replaces the default in place;
    /// 3. when signing, `webhook-id`, `webhook-timestamp`, `webhook-signature` (load rejects custom headers
    ///    with these names, so nothing can override them).
    public func request(body: [UInt8], signature: WebhookSignatureHeaders?) -> WebhookRequest {
        precondition(signs == (signature != nil), "a signing webhook needs signature headers, and only it")
        var headers = [
            WebhookRequest.Header(name: "Accept", value: "application/json"),
            WebhookRequest.Header(name: "Content-Type", value: "application/json"),
            WebhookRequest.Header(name: "User-Agent", value: SluiceVersion.userAgent),
        ]
        for custom in self.headers {
            let lowered = custom.name.lowercased()
            if let position = headers.firstIndex(where: { $0.name.lowercased() == lowered }) {
                headers[position] = WebhookRequest.Header(name: custom.name, value: custom.value)
            } else {
                headers.append(WebhookRequest.Header(name: custom.name, value: custom.value))
            }
        }
        if let signature {
            headers.append(WebhookRequest.Header(name: "webhook-id", value: signature.webhookID))
            headers.append(WebhookRequest.Header(name: "webhook-timestamp", value: String(signature.timestampSeconds)))
            headers.append(WebhookRequest.Header(name: "webhook-signature", value: signature.signature))
        }
        return WebhookRequest(url: url, headers: headers, body: body, validateCertificates: validateCertificates)
    }
}

extension WebhookDefinition {
    /// Header names whose values are never logged (spec §c.6 redaction, compared case-insensitively).
    public static let sensitiveHeaderNames: Set<String> = [
        "webhook-signature", "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
    ]

    /// `request`'s headers for logs and displays: `***` for `webhook-signature`, credentials
    /// (`Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie`, `X-API-Key`) and every header whose
    /// value came from the environment, as Infrahub redacts them.
    public func redactedHeaders(of request: WebhookRequest) -> [WebhookRequest.Header] {
        let environmentNames = Set(
            headers.compactMap { header -> String? in
                if case .environment = header.source { return header.name.lowercased() }
                return nil
            }
        )
        return request.headers.map { header in
            let lowered = header.name.lowercased()
            guard Self.sensitiveHeaderNames.contains(lowered) || environmentNames.contains(lowered) else {
                return header
            }
            return WebhookRequest.Header(name: header.name, value: "***")
        }
    }
}
