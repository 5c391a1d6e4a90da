/// Why a GitHub delivery could not be turned into an event, with the header or body field at fault.
///
/// Header problems (`X-GitHub-Event`, `X-GitHub-Delivery`, `X-GitHub-Hook-ID`) are ``Code/invalidHeader``;
/// a body over ``GitHubNormalizer/bodyByteCountMax`` is ``Code/bodyTooLarge``; a body that is not JSON, not an
/// object, or lacks a field the event name or branch depends on is ``Code/invalidBody``. Sendable value type.
public struct GitHubNormalizationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure; a struct around a private enum so adding a case does not break embedders.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case invalidHeader, invalidBody, bodyTooLarge }
        private let base: Base
        /// A delivery header is missing, empty, too long or has bytes it must not have.
        public static let invalidHeader = Code(base: .invalidHeader)
        /// The body is not a JSON object, or a field the event name or branch depends on is missing or mistyped.
        public static let invalidBody = Code(base: .invalidBody)
        /// The body is larger than ``GitHubNormalizer/bodyByteCountMax``.
        public static let bodyTooLarge = Code(base: .bodyTooLarge)
        public var description: String { String(describing: base) }
    }

    public var code: Code
    /// Byte position in the body of a JSON syntax error, 0-based; `nil` for header and field errors.
    public var byteOffset: Int?
    /// The header name (`X-GitHub-Event`) or the dotted body path (`pull_request.head.ref`); `""` is the body root.
    public var field: String
    /// What was expected or found, for a human.
    public var message: String

    public init(code: Code, byteOffset: Int? = nil, field: String, message: String) {
        self.code = code
        self.byteOffset = byteOffset
        self.field = field
        self.message = message
    }

    public var description: String {
        var text = "\(code)"
        text += field.isEmpty ? " in the body" : " in \(field)"
        if let byteOffset { text += " at byte offset \(byteOffset)" }
        return text + ": " + message
    }
}
