/// A request could not be encoded: which part was bad and why.
///
/// Raised by ``HTTPRequestEncoder`` before any byte is written, so a half-written request never
/// reaches a socket. Header values with CR, LF or NUL are refused: they would let configuration
/// inject headers or split the request.
public struct HTTPEncodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable error code (a struct, so adding a code does not break exhaustive switches).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidMethod, invalidTarget, invalidHost, invalidHeaderName, invalidHeaderValue
            case reservedHeaderName, invalidStatus
        }
        private let base: Base
        /// The method is empty or not a token.
        public static let invalidMethod = Code(base: .invalidMethod)
        /// The request target is not origin-form (`/path?query`) or `*`, or holds spaces or controls.
        public static let invalidTarget = Code(base: .invalidTarget)
        /// The `Host` authority is empty or holds spaces or controls.
        public static let invalidHost = Code(base: .invalidHost)
        /// A header name is empty or not a token.
        public static let invalidHeaderName = Code(base: .invalidHeaderName)
        /// A header value holds CR, LF, NUL or another control byte.
        public static let invalidHeaderValue = Code(base: .invalidHeaderValue)
        /// A header the encoder writes itself (`Host`, `Content-Length`, `Transfer-Encoding`,
        /// `Connection`) was also given as a custom header.
        public static let reservedHeaderName = Code(base: .reservedHeaderName)
        /// A response status outside 100...999.
        public static let invalidStatus = Code(base: .invalidStatus)
        public var description: String { String(describing: base) }
    }

    public var code: Code
    /// The part at fault: `method`, `target`, `host`, or `header[<index>] <name>`.
    public var field: String
    /// Byte position inside that part's text, when one byte is at fault.
    public var byteIndex: Int?

    public init(code: Code, field: String, byteIndex: Int? = nil) {
        self.code = code
        self.field = field
        self.byteIndex = byteIndex
    }

    public var description: String {
        var text = "cannot encode message: \(code) in \(field)"
        if let byteIndex { text += " at byte \(byteIndex)" }
        return text
    }
}
