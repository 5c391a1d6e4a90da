/// The bytes a webhook signature covers (Standard Webhooks §e, Infrahub §c.6):
/// `{webhook-id}.{webhook-timestamp}.{body}`, the body being exactly the bytes sent.
///
/// ``SluiceCrypto/HMACBatchSigner`` feeds the three parts to the MAC without building this array; this
/// is the reference form for tests, tools and documentation.
public enum WebhookSignedContent {
    public static func bytes(webhookID: String, timestamp: String, body: [UInt8]) -> [UInt8] {
        var content: [UInt8] = []
        content.reserveCapacity(webhookID.utf8.count + timestamp.utf8.count + body.count + 2)
        content.append(contentsOf: webhookID.utf8)
        content.append(UInt8(ascii: "."))
        content.append(contentsOf: timestamp.utf8)
        content.append(UInt8(ascii: "."))
        content.append(contentsOf: body)
        return content
    }
}
