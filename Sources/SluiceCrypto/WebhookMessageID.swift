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
        var context = SHA256_CTX()
        unsafe _ = copenssl_sha256_init(&context)
        // The fixed part on the stack: the prefix, 0x00, the id's 16 big-endian bytes, 0x00.
        let prefix = "sluice-webhook-id-v1".utf8
        unsafe withUnsafeTemporaryAllocation(of: UInt8.self, capacity: prefix.count + 18) { head in
            var position = 0
            for byte in prefix {
                unsafe head[position] = byte
                position += 1
            }
            unsafe head[position] = 0
            position += 1
            for index in 0..<16 {  // high then low half, big-endian (no array of the two halves)
                let half = index < 8 ? eventID.high : eventID.low
                unsafe head[position] = UInt8(truncatingIfNeeded: half >> UInt64(56 - 8 * (index & 7)))
                position += 1
            }
            unsafe head[position] = 0
            unsafe _ = copenssl_sha256_update(&context, head.baseAddress, head.count)
        }
        var name = webhookName
        name.withUTF8 { unsafe _ = copenssl_sha256_update(&context, $0.baseAddress, $0.count) }
        return unsafe withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { digest in
            unsafe _ = copenssl_sha256_final(digest.baseAddress!, &context)
            let hexDigits: StaticString = "0123456789abcdef"
            return unsafe String(unsafeUninitializedCapacity: 36) { text in
                unsafe text[0] = UInt8(ascii: "m")
                unsafe text[1] = UInt8(ascii: "s")
                unsafe text[2] = UInt8(ascii: "g")
                unsafe text[3] = UInt8(ascii: "_")
                for index in 0..<16 {
                    let byte = unsafe digest[index]
                    unsafe text[4 + 2 * index] = unsafe hexDigits.utf8Start[Int(byte >> 4)]
                    unsafe text[5 + 2 * index] = unsafe hexDigits.utf8Start[Int(byte & 0x0F)]
                }
                return 36
            }
        }
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
