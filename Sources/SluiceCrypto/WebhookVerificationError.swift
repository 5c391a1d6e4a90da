/// Why a webhook signature was not accepted.
public struct WebhookVerificationError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case missingHeader = "missing header"
            case invalidTimestamp = "invalid timestamp"
            case timestampTooOld = "timestamp too old"
            case timestampTooNew = "timestamp too new"
            case malformedSignature = "malformed signature"
            case noMatchingSignature = "no matching signature"
        }
        private let base: Base
        public static let missingHeader = Code(base: .missingHeader)
        public static let invalidTimestamp = Code(base: .invalidTimestamp)
        public static let timestampTooOld = Code(base: .timestampTooOld)
        public static let timestampTooNew = Code(base: .timestampTooNew)
        public static let malformedSignature = Code(base: .malformedSignature)
        public static let noMatchingSignature = Code(base: .noMatchingSignature)
        public var description: String { base.rawValue }
    }

    public var code: Code
    /// The header concerned, e.g. `webhook-timestamp` or `X-Hub-Signature-256`.
    public var header: String
    /// Detail for a human (never a secret or an expected signature).
    public var message: String

    public init(code: Code, header: String, message: String) {
        self.code = code
        self.header = header
        self.message = message
    }

    public var description: String { "\(header): \(code): \(message)" }
}
