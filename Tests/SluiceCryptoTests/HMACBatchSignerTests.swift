import COpenSSL
import SluiceCore
import SluiceCrypto
import SluiceTestSupport
import Testing

/// The batched signer against OpenSSL's one-shot `HMAC()` over the same signed content, for random keys
/// (empty, short, block-sized and longer than a block, which RFC 2104 hashes first), ids, timestamps and
/// bodies, in batches that mix keys.
@Suite struct HMACBatchSignerTests {
    static func referenceSignature(key: [UInt8], content: [UInt8]) -> String {
        var mac = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        key.withUnsafeBytes { keyBytes in
            content.withUnsafeBytes { contentBytes in
                mac.withUnsafeMutableBufferPointer { target in
                    _ = HMAC(
                        EVP_sha256(),
                        keyBytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                        Int32(keyBytes.count),
                        contentBytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                        contentBytes.count,
                        target.baseAddress,
                        &length
                    )
                }
            }
        }
        #expect(length == 32)
        return "v1," + Base64.encodedString(mac)
    }

    @Test func batchesMatchOneShotHMAC() throws {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        let keyLengths = [0, 1, 24, 32, 63, 64, 65, 100, 200]
        let keys: [[UInt8]] = (0..<40).map { index in
            (0..<keyLengths[index % keyLengths.count]).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
        let signer = HMACBatchSigner(keyBytes: keys)
        #expect(signer.keyCount == keys.count)
        // Bodies of every length around the SHA-256 block boundaries, plus larger ones.
        let bodyLengths = Array(0...130) + [255, 256, 1023, 1024, 4096, 65_537]
        let bodies: [[UInt8]] = bodyLengths.map { count in
            (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
        let ids = (0..<bodies.count).map { _ in "msg_" + String(random.next(), radix: 16) }
        let timestamps = (0..<bodies.count).map { index in index == 0 ? 0 : random.next() >> (index % 64) }
        let messageCount = bodies.count
        var values = [SignatureValue](repeating: SignatureValue(), count: messageCount)
        let keyIndices = (0..<messageCount).map { _ in Int(random.next() % UInt64(keys.count)) }.sorted()
        let idBytes = ids.map { Array($0.utf8) }
        // Build the batch from pointers that stay valid for the call (nested buffers of one flat copy).
        var arena: [UInt8] = []
        var ranges: [(Range<Int>, Range<Int>)] = []
        for index in 0..<messageCount {
            let idStart = arena.count
            arena.append(contentsOf: idBytes[index])
            let bodyStart = arena.count
            arena.append(contentsOf: bodies[index])
            ranges.append((idStart..<bodyStart, bodyStart..<arena.count))
        }
        arena.withUnsafeBytes { raw in
            let messages = (0..<messageCount).map { index in
                SigningMessage(
                    keyIndex: keyIndices[index],
                    webhookID: UnsafeRawBufferPointer(rebasing: raw[ranges[index].0]),
                    timestampSeconds: timestamps[index],
                    body: UnsafeRawBufferPointer(rebasing: raw[ranges[index].1])
                )
            }
            messages.withUnsafeBufferPointer { batch in
                values.withUnsafeMutableBufferPointer { signer.sign(batch, into: $0) }
            }
        }
        for index in 0..<messageCount {
            let content = WebhookSignedContent.bytes(
                webhookID: ids[index],
                timestamp: String(timestamps[index]),
                body: bodies[index]
            )
            let expected = Self.referenceSignature(key: keys[keyIndices[index]], content: content)
            #expect(values[index].description == expected, "message \(index), seed \(seed)")
            #expect(values[index].bytes.count == SignatureValue.byteCount)
            // One-message convenience path agrees.
            #expect(
                signer.signature(
                    keyIndex: keyIndices[index],
                    webhookID: ids[index],
                    timestampSeconds: timestamps[index],
                    body: bodies[index]
                ) == values[index]
            )
        }
    }

    @Test func rotationHeaderHasOneEntryPerKeyAndVerifiesWithEach() throws {
        let keys =
            try ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"].map {
                try WebhookSigningKey(mode: .standard, secret: $0)
            } + [try WebhookSigningKey(mode: .infrahub, secret: "supersecret")]
        let signer = HMACBatchSigner(keys: keys)
        let body = Array(#"{"data":{"name":"café ☕ 🚀"}}"#.utf8)
        let header = signer.signatureHeader(
            keyIndices: 0..<3,
            webhookID: "msg_1",
            timestampSeconds: 1_700_000_000,
            body: body
        )
        let entries = header.split(separator: " ")
        #expect(entries.count == 3)
        #expect(header.utf8.count == 3 * 48 - 1)
        for (index, key) in keys.enumerated() {
            #expect(
                String(entries[index])
                    == signer.signature(
                        keyIndex: index,
                        webhookID: "msg_1",
                        timestampSeconds: 1_700_000_000,
                        body: body
                    ).description
            )
            // A receiver that knows only one of the rotated keys accepts the header.
            try WebhookVerifier(keys: [key]).verify(
                webhookID: "msg_1",
                timestamp: "1700000000",
                signature: header,
                body: body,
                nowSeconds: 1_700_000_000
            )
        }
        #expect(throws: WebhookVerificationError.self) {
            try WebhookVerifier(keys: [WebhookSigningKey(mode: .infrahub, bytes: Array("other".utf8))]).verify(
                webhookID: "msg_1",
                timestamp: "1700000000",
                signature: header,
                body: body,
                nowSeconds: 1_700_000_000
            )
        }
    }

    @Test func signingKeyModes() throws {
        #expect(try WebhookSigningKey(mode: .infrahub, secret: "whsec_abc").bytes == Array("whsec_abc".utf8))
        #expect(throws: WebhookSigningKeyError.self) { try WebhookSigningKey(mode: .infrahub, secret: "") }
        #expect(throws: WebhookSigningKeyError.self) {
            try WebhookSigningKey(mode: .standard, secret: "whsec_not base64!")
        }
        let key = try WebhookSigningKey(mode: .standard, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        #expect(key.standardSecret == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        #expect(
            try WebhookSigningKey(mode: .infrahub, secret: "supersecret").standardSecret == "whsec_c3VwZXJzZWNyZXQ="
        )
    }
}
