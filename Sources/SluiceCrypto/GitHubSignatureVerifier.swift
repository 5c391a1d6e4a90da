internal import COpenSSL

/// Verifies GitHub's `X-Hub-Signature-256: sha256=<hex>` (spec §f.1): lowercase hex of
/// HMAC-SHA256(key = the webhook secret's UTF-8 bytes, message = the raw body), compared in constant time.
/// The legacy `X-Hub-Signature: sha1=<hex>` (HMAC-SHA1) is supported for old hooks.
public struct GitHubSignatureVerifier: Sendable {
    public static let headerName = "X-Hub-Signature-256"
    public static let legacyHeaderName = "X-Hub-Signature"

    private let signer: HMACBatchSigner
    private let secret: [UInt8]

    public init(secret: String) {
        self.secret = Array(secret.utf8)
        signer = HMACBatchSigner(keyBytes: [self.secret])
    }

    /// The `X-Hub-Signature-256` value GitHub would send for `body`.
    public func signature256(body: [UInt8]) -> String {
        let mac = unsafe body.withUnsafeBytes { unsafe signer.mac(keyIndex: 0, $0) }
        return "sha256=" + Self.hex(mac)
    }

    /// Checks an `X-Hub-Signature-256` value (`nil` when the header is absent) against `body`.
    public func verify(signature256 header: String?, body: [UInt8]) throws(WebhookVerificationError) {
        guard let header else {
            throw WebhookVerificationError(code: .missingHeader, header: Self.headerName, message: "required")
        }
        try compare(header, prefix: "sha256=", expected: signature256(body: body), name: Self.headerName)
    }

    /// Checks a legacy `X-Hub-Signature` (`sha1=<hex>`) value against `body`.
    public func verify(legacySignature header: String?, body: [UInt8]) throws(WebhookVerificationError) {
        guard let header else {
            throw WebhookVerificationError(code: .missingHeader, header: Self.legacyHeaderName, message: "required")
        }
        var mac = [UInt8](repeating: 0, count: 20)
        var macByteCount: UInt32 = 0
        unsafe secret.withUnsafeBytes { key in
            unsafe body.withUnsafeBytes { message in
                unsafe mac.withUnsafeMutableBufferPointer { target in
                    _ = unsafe HMAC(
                        EVP_sha1(),
                        key.baseAddress,
                        Int32(key.count),
                        message.baseAddress?.assumingMemoryBound(to: UInt8.self),
                        message.count,
                        target.baseAddress,
                        &macByteCount
                    )
                }
            }
        }
        precondition(macByteCount == 20, "HMAC-SHA1 failed")
        try compare(header, prefix: "sha1=", expected: "sha1=" + Self.hex(mac), name: Self.legacyHeaderName)
    }

    private func compare(
        _ header: String,
        prefix: String,
        expected: String,
        name: String
    )
        throws(WebhookVerificationError)
    {
        guard header.hasPrefix(prefix) else {
            throw WebhookVerificationError(
                code: .malformedSignature,
                header: name,
                message: "must start with \(prefix)"
            )
        }
        // GitHub sends lowercase hex; compare the lowercased value so an uppercase spelling also verifies.
        let given = Array(header.utf8).map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        guard constantTimeEqual(given, Array(expected.utf8)) else {
            throw WebhookVerificationError(code: .noMatchingSignature, header: name, message: "the HMAC does not match")
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func hex(_ bytes: [UInt8]) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
