public import SluiceCore

/// Verifies Standard Webhooks signatures (spec §e) and Infrahub's variant (spec §c.6).
///
/// The signed content is `{webhook-id}.{webhook-timestamp}.{body}` over the exact body bytes received.
/// `webhook-signature` is a space-separated list of `<version>,<base64>` entries; every `v1` entry is
/// compared in constant time against the MAC of each key (several keys: rotation) and the first match
/// accepts; other versions are skipped. The timestamp must be within `toleranceSeconds` of `now`, boundary
/// inclusive (every reference library: 300 s).
///
/// Keys in `infrahub` mode are the shared key's UTF-8 bytes, in `standard` mode the decoded `whsec_`
/// secret (``WebhookSigningKey``). With `acceptsInfrahubASCIIEscapedBody`, a body with non-ASCII bytes
/// is also checked as Infrahub 1.11 signs it (Python `ensure_ascii=True`, see
/// ``InfrahubSignedPayload``), so real Infrahub deliveries verify; Sluice itself always signs the bytes
/// it sends.
public struct WebhookVerifier: Sendable {
    public static let defaultToleranceSeconds: Int64 = 300

    private let signer: HMACBatchSigner
    public var toleranceSeconds: Int64
    public var acceptsInfrahubASCIIEscapedBody: Bool

    public init(
        keys: [WebhookSigningKey],
        toleranceSeconds: Int64 = WebhookVerifier.defaultToleranceSeconds,
        acceptsInfrahubASCIIEscapedBody: Bool = false
    ) {
        precondition(!keys.isEmpty, "a verifier needs a key")
        signer = HMACBatchSigner(keys: keys)
        self.toleranceSeconds = toleranceSeconds
        self.acceptsInfrahubASCIIEscapedBody = acceptsInfrahubASCIIEscapedBody
    }

    /// A Standard Webhooks verifier for `secret` (`whsec_…`, prefix optional).
    public init(standardSecret secret: String) throws(WebhookSigningKeyError) {
        self.init(keys: [try WebhookSigningKey(mode: .standard, secret: secret)])
    }

    /// An Infrahub verifier for `sharedKey` (raw UTF-8), accepting Infrahub's ASCII-escaped signing.
    public init(infrahubSharedKey sharedKey: String) throws(WebhookSigningKeyError) {
        self.init(
            keys: [try WebhookSigningKey(mode: .infrahub, secret: sharedKey)],
            acceptsInfrahubASCIIEscapedBody: true
        )
    }

    /// Verifies one delivery from its three header values (`nil` when absent) and body.
    public func verify(
        webhookID: String?,
        timestamp: String?,
        signature: String?,
        body: [UInt8],
        nowSeconds: Int64
    ) throws(WebhookVerificationError) {
        guard let webhookID else { throw missing("webhook-id") }
        guard let timestamp else { throw missing("webhook-timestamp") }
        guard let signature else { throw missing("webhook-signature") }
        guard let seconds = Int64(timestamp), timestamp.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw WebhookVerificationError(
                code: .invalidTimestamp,
                header: "webhook-timestamp",
                message: "not whole Unix seconds"
            )
        }
        if nowSeconds - seconds > toleranceSeconds {
            throw WebhookVerificationError(
                code: .timestampTooOld,
                header: "webhook-timestamp",
                message: "\(nowSeconds - seconds) s before now, tolerance \(toleranceSeconds) s"
            )
        }
        if seconds - nowSeconds > toleranceSeconds {
            throw WebhookVerificationError(
                code: .timestampTooNew,
                header: "webhook-timestamp",
                message: "\(seconds - nowSeconds) s after now, tolerance \(toleranceSeconds) s"
            )
        }
        var bodies = [body]
        if acceptsInfrahubASCIIEscapedBody, body.contains(where: { $0 >= 0x7F }) {
            bodies.append(InfrahubSignedPayload.asciiEscaped(body))
        }
        var expected: [[UInt8]] = []
        let id = Array(webhookID.utf8)
        let time = Array(timestamp.utf8)
        let dot: [UInt8] = [UInt8(ascii: ".")]
        for candidate in bodies {
            for keyIndex in 0..<signer.keyCount {
                let mac = unsafe id.withUnsafeBytes { idBytes in
                    unsafe time.withUnsafeBytes { timeBytes in
                        unsafe dot.withUnsafeBytes { dotBytes in
                            unsafe candidate.withUnsafeBytes { bodyBytes in
                                unsafe signer.mac(keyIndex: keyIndex, idBytes, dotBytes, timeBytes, dotBytes, bodyBytes)
                            }
                        }
                    }
                }
                expected.append(Array(Base64.encodedString(mac).utf8))
            }
        }
        var sawV1 = false
        for entry in signature.utf8.split(separator: UInt8(ascii: " ")) {
            guard let comma = entry.firstIndex(of: UInt8(ascii: ",")) else { continue }
            guard entry[..<comma].elementsEqual("v1".utf8) else { continue }
            sawV1 = true
            let given = Array(entry[entry.index(after: comma)...])
            for candidate in expected where constantTimeEqual(given, candidate) { return }
        }
        throw WebhookVerificationError(
            code: .noMatchingSignature,
            header: "webhook-signature",
            message: sawV1 ? "no v1 entry matches" : "no v1 entry"
        )
    }

    /// Verifies one delivery from its headers (names matched case-insensitively, the first of each wins).
    public func verify(
        headers: [(name: String, value: String)],
        body: [UInt8],
        nowSeconds: Int64
    ) throws(WebhookVerificationError) {
        try verify(
            webhookID: Self.header("webhook-id", in: headers),
            timestamp: Self.header("webhook-timestamp", in: headers),
            signature: Self.header("webhook-signature", in: headers),
            body: body,
            nowSeconds: nowSeconds
        )
    }

    static func header(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        headers.first { HTTPHeaderName.equal($0.name, name) }?.value
    }

    private func missing(_ header: String) -> WebhookVerificationError {
        WebhookVerificationError(code: .missingHeader, header: header, message: "required")
    }
}

/// Constant-time equality of two byte arrays.
func constantTimeEqual(_ first: [UInt8], _ second: [UInt8]) -> Bool {
    unsafe first.withUnsafeBytes { firstBytes in
        unsafe second.withUnsafeBytes { secondBytes in unsafe constantTimeEqual(firstBytes, secondBytes) }
    }
}

/// HTTP header names compare ASCII-case-insensitively (RFC 9110 §5.1).
enum HTTPHeaderName {
    static func equal(_ first: String, _ second: String) -> Bool {
        first.utf8.count == second.utf8.count
            && zip(first.utf8, second.utf8).allSatisfy { lowercase($0) == lowercase($1) }
    }

    private static func lowercase(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }
}
