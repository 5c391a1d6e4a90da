import SluiceCore
import SluiceCrypto
import SluiceTestSupport
import Testing

/// Requests of webhook definitions, signed over exactly the bytes sent, with stable ids.
@Suite struct WebhookRequestSigningTests {
    /// The complete request of spec §c.4 (key `supersecret`, fixed id and timestamp).
    @Test func webhookIDIsTheDocumentedHash() {
        // Expected value from Python's hashlib over the documented input (WebhookMessageID's doc comment):
        // sha256(b"sluice-webhook-id-v1" + b"\0" + id (16 bytes, big-endian) + b"\0" + "hook-é".encode())[:16].hex()
        let id = EventID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)
        #expect(WebhookMessageID.make(eventID: id, webhookName: "hook-é") == "msg_261a7404525feb8af2ac46fdcdbac700")
    }

    @Test func specCompleteRequestExample() throws {
        var definition = WebhookDefinition(subscription: WebhookSubscription(name: "w"), url: "https://example.test/h")
        definition.keys = [try WebhookSigningKey(mode: .infrahub, secret: "supersecret")]
        let body = Array(
            #"{"data":{"branch_id":"182c6a84-4af4-736b-35a6-c514e640ca8b","branch_name":"test","sync_with_git":false},"id":"2ece726f-8574-488c-92f7-ee9a56485b46","branch":null,"account_id":"182c6918-8880-5252-3611-c51ae7e0d6a5","occured_at":"2025-03-13 16:44:32.321142+00:00","event":"infrahub.branch.created"}"#
                .utf8
        )
        let signer = HMACBatchSigner(keys: definition.keys)
        let signature = signer.signatureHeader(
            keyIndices: 0..<1,
            webhookID: "msg_217b4ebcb84f4736b1ee222182aed371",
            timestampSeconds: 1_741_884_273,
            body: body
        )
        let request = definition.request(
            body: body,
            signature: WebhookSignatureHeaders(
                webhookID: "msg_217b4ebcb84f4736b1ee222182aed371",
                timestampSeconds: 1_741_884_273,
                signature: signature
            )
        )
        #expect(
            request.headers.map { "\($0.name): \($0.value)" } == [
                "Accept: application/json",
                "Content-Type: application/json",
                "User-Agent: \(SluiceVersion.userAgent)",
                "webhook-id: msg_217b4ebcb84f4736b1ee222182aed371",
                "webhook-timestamp: 1741884273",
                "webhook-signature: v1,+BsORYpYlxRBDw5tQgWQa1eYa9PWwl70dajaf80VKnE=",
            ]
        )
        #expect(request.body == body)
    }

    /// An event's standard body (Event.webhookBody), signed with two rotated keys, verifies with each, and
    /// the webhook-id stays the same across attempts while the timestamp moves.
    @Test func eventDeliveryAcrossRetries() throws {
        let meta = InfrahubEventMeta(
            id: EventID(high: 0x1234, low: 0x5678),
            occurred: Timestamp(secondsSinceEpoch: 1_700_000_000),
            branchName: "main",
            branchID: "b"
        )
        var decoder = EventDecoder()
        let event = try InfrahubEvents.nodeMutated(
            NodeMutation(kind: "InfraDevice", nodeID: "n", action: .created, displayLabel: "routeur café ☕"),
            meta: meta
        ).build(with: &decoder)
        let json = try JSONValue.parse(
            #"{"webhooks": [{"name": "a", "url": "https://a.example", "shared_keys": ["old-key", "new-key"]},"#
                + #" {"name": "b", "url": "https://b.example", "kind": "custom"},"#
                + #" {"name": "c", "url": "https://c.example", "shared_key": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "signature_key_mode": "standard"}]}"#
        )
        let configuration = try WebhookConfiguration(json: json, environment: [:])
        let signers = WebhookRequestSigner(definitions: configuration.webhooks)
        #expect(signers.keyIndices(webhookIndex: 0) == 0..<2)
        #expect(signers.keyIndices(webhookIndex: 1) == 2..<2)
        #expect(signers.keyIndices(webhookIndex: 2) == 2..<3)
        let body = event.webhookBody()
        let first = signers.request(
            webhookIndex: 0,
            body: body,
            eventID: event.header.id,
            timestampSeconds: 1_700_000_001
        )
        let retry = signers.request(
            webhookIndex: 0,
            body: body,
            eventID: event.header.id,
            timestampSeconds: 1_700_000_121
        )
        let other = signers.request(
            webhookIndex: 2,
            body: body,
            eventID: event.header.id,
            timestampSeconds: 1_700_000_001
        )
        let webhookID = try #require(first.header("webhook-id"))
        #expect(webhookID == retry.header("webhook-id"), "stable across retries")
        #expect(webhookID != other.header("webhook-id"), "different per webhook")
        #expect(webhookID == WebhookMessageID.make(eventID: event.header.id, webhookName: "a"))
        #expect(webhookID.hasPrefix("msg_") && webhookID.utf8.count == 36)
        #expect(first.header("webhook-timestamp") != retry.header("webhook-timestamp"))
        #expect(first.body == body, "the signature covers exactly the bytes sent")
        for secret in ["old-key", "new-key"] {
            try WebhookVerifier(infrahubSharedKey: secret).verify(
                headers: first.headers.map { ($0.name, $0.value) },
                body: first.body,
                nowSeconds: 1_700_000_001
            )
        }
        try WebhookVerifier(standardSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").verify(
            headers: other.headers.map { ($0.name, $0.value) },
            body: other.body,
            nowSeconds: 1_700_000_001
        )
        let unsigned = signers.request(webhookIndex: 1, body: body, eventID: event.header.id, timestampSeconds: 0)
        #expect(unsigned.headers.map(\.name) == ["Accept", "Content-Type", "User-Agent"])
        #expect(unsigned.header("webhook-signature") == nil)
    }
}
