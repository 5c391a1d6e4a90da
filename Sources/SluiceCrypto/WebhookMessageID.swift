internal import COpenSSL
public import SluiceCore

/// The `webhook-id` of a delivery: the same for every attempt of one (event, webhook) pair, so receivers
/// can use it as the idempotency key the Standard Webhooks spec promises (Infrahub draws a new one per
/// attempt, spec §c.6 quirk).
///
/// `msg_` + the first 16 bytes, in lowercase hex, of
/// SHA-256(`"sluice-webhook-id-v1"` ‖ 0x00 ‖ the event id's 16 bytes ‖ 0x00 ‖ the webhook name's UTF-8),
/// the shape of Infrahub's ids (`msg_` + 32 hex digits). Renaming a webhook changes its ids.
public enum WebhookMessageID {
    public static func make(eventID: EventID, webhookName: String) -> String {
        var input = Array("sluice-webhook-id-v1".utf8)
        input.append(0)
        for shift in stride(from: 56, through: 0, by: -8) {
            input.append(UInt8(truncatingIfNeeded: eventID.high >> UInt64(shift)))
        }
        for shift in stride(from: 56, through: 0, by: -8) {
            input.append(UInt8(truncatingIfNeeded: eventID.low >> UInt64(shift)))
        }
        input.append(0)
        input.append(contentsOf: webhookName.utf8)
        var digest = [UInt8](repeating: 0, count: 32)
        var context = SHA256_CTX()
        unsafe _ = copenssl_sha256_init(&context)
        unsafe input.withUnsafeBytes { unsafe _ = copenssl_sha256_update(&context, $0.baseAddress, $0.count) }
        unsafe digest.withUnsafeMutableBufferPointer { unsafe _ = copenssl_sha256_final($0.baseAddress!, &context) }
        return "msg_" + GitHubSignatureVerifier.hex(Array(digest[0..<16]))
    }
}

/// Signs the requests of a set of webhook definitions: every key of every definition prepared once in one
/// ``HMACBatchSigner``, each definition owning a contiguous range of key indices (its rotation keys).
public final class WebhookRequestSigner: Sendable {
    public let definitions: [WebhookDefinition]
    /// The signer holding every key; ``keyIndices(webhookIndex:)`` says which are whose.
    public let signer: HMACBatchSigner
    private let keyRanges: [Range<Int>]

    public init(definitions: [WebhookDefinition]) {
        self.definitions = definitions
        var ranges: [Range<Int>] = []
        var keys: [WebhookSigningKey] = []
        for definition in definitions {
            ranges.append(keys.count..<keys.count + definition.keys.count)
            keys.append(contentsOf: definition.keys)
        }
        keyRanges = ranges
        signer = HMACBatchSigner(keys: keys)
    }

    /// The signer key indices of definition `webhookIndex` (empty when it does not sign).
    public func keyIndices(webhookIndex: Int) -> Range<Int> { keyRanges[webhookIndex] }

    /// The request of definition `webhookIndex` for `body` (exactly the bytes to send) of event `eventID`,
    /// attempt time `timestampSeconds`. Signed with every active key when the definition signs.
    public func request(webhookIndex: Int, body: [UInt8], eventID: EventID, timestampSeconds: UInt64) -> WebhookRequest
    {
        let definition = definitions[webhookIndex]
        guard definition.signs else { return definition.request(body: body, signature: nil) }
        let webhookID = WebhookMessageID.make(eventID: eventID, webhookName: definition.name)
        let signature = signer.signatureHeader(
            keyIndices: keyRanges[webhookIndex],
            webhookID: webhookID,
            timestampSeconds: timestampSeconds,
            body: body
        )
        return definition.request(
            body: body,
            signature: WebhookSignatureHeaders(
                webhookID: webhookID,
                timestampSeconds: timestampSeconds,
                signature: signature
            )
        )
    }
}
