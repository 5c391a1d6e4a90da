/// One GitHub webhook delivery as received: the three `X-GitHub-*` headers, the raw body and the receive time.
///
/// The server fills it after verifying `X-Hub-Signature-256` over ``body``; ``GitHubNormalizer`` turns it into
/// an ``EventDraft``. The receive time is passed in because the core reads no clock. Sendable value type.
public struct GitHubDelivery: Sendable, Equatable {
    /// `X-GitHub-Event`: the event type, e.g. `push` or `pull_request` (`[a-z_]+`).
    public var event: String
    /// `X-GitHub-Delivery`: the GUID of the event; a redelivery carries the same value (the idempotency key).
    public var deliveryID: String
    /// `X-GitHub-Hook-ID`: the webhook's id, when the header was sent.
    public var hookID: String?
    /// The raw request body (`application/json`), exactly as received and signed.
    public var body: [UInt8]
    /// When Sluice received the delivery; becomes the event's `occurred`.
    public var receivedAt: Timestamp

    public init(event: String, deliveryID: String, hookID: String? = nil, body: [UInt8], receivedAt: Timestamp) {
        self.event = event
        self.deliveryID = deliveryID
        self.hookID = hookID
        self.body = body
        self.receivedAt = receivedAt
    }
}
