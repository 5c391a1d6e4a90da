/// A webhook signing key: the HMAC-SHA256 key bytes and how they were read from configuration.
///
/// - `infrahub`: the shared key string's UTF-8 bytes, as Infrahub signs (spec §c.6). No prefix handling,
///   no decoding.
/// - `standard`: a Standard Webhooks secret (spec §e): `whsec_` + base64 of the key bytes; the prefix is
///   optional and missing `=` padding is tolerated, as in the reference Python library.
///
/// An empty key (`""`, `"whsec_"`) is an error in both modes, as in the reference libraries.
public struct WebhookSigningKey: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        case infrahub
        case standard
    }

    public var mode: Mode
    /// The HMAC key.
    public var bytes: [UInt8]

    public init(mode: Mode, bytes: [UInt8]) {
        self.mode = mode
        self.bytes = bytes
    }

    /// Reads `secret` in `mode`; the error says what is wrong (never the secret itself).
    public init(mode: Mode, secret: String) throws(WebhookSigningKeyError) {
        self.mode = mode
        switch mode {
        case .infrahub:
            guard !secret.isEmpty else { throw WebhookSigningKeyError(message: "the shared key is empty") }
            bytes = Array(secret.utf8)
        case .standard:
            var text = Substring(secret)
            if text.hasPrefix("whsec_") { text = text.dropFirst(6) }
            guard !text.isEmpty else { throw WebhookSigningKeyError(message: "the secret is empty") }
            guard let decoded = Base64.decode(text.utf8, paddingOptional: true), !decoded.isEmpty else {
                throw WebhookSigningKeyError(message: "the secret is not base64 (expected whsec_ + base64 of the key)")
            }
            bytes = decoded
        }
    }

    /// The Standard Webhooks spelling of this key (`whsec_` + base64), which a Standard Webhooks library
    /// needs to verify what Sluice signs with this key, whichever the mode.
    public var standardSecret: String { "whsec_" + Base64.encodedString(bytes) }
}

/// A signing key that cannot be read.
public struct WebhookSigningKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
