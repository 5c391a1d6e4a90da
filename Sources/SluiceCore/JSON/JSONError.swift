/// A syntax or structure error found while scanning JSON bytes.
///
/// `byteOffset` is relative to the start of the buffer the scanner was given; callers that scan one
/// event out of a larger stream add the event's own offset before reporting it.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case unexpectedEnd, unexpectedByte, invalidString, invalidEscape, invalidUTF8, controlCharacter
            case invalidNumber, invalidLiteral, depthExceeded, trailingBytes, duplicateKey, unpairedSurrogate
        }
        private let base: Base
        public static let unexpectedEnd = Code(base: .unexpectedEnd)
        public static let unexpectedByte = Code(base: .unexpectedByte)
        public static let invalidString = Code(base: .invalidString)
        public static let invalidEscape = Code(base: .invalidEscape)
        public static let invalidUTF8 = Code(base: .invalidUTF8)
        public static let controlCharacter = Code(base: .controlCharacter)
        public static let invalidNumber = Code(base: .invalidNumber)
        public static let invalidLiteral = Code(base: .invalidLiteral)
        public static let depthExceeded = Code(base: .depthExceeded)
        public static let trailingBytes = Code(base: .trailingBytes)
        public static let duplicateKey = Code(base: .duplicateKey)
        public static let unpairedSurrogate = Code(base: .unpairedSurrogate)
        public var description: String { String(describing: base) }
    }

    public var code: Code
    /// Byte position of the offending byte, 0-based.
    public var byteOffset: Int
    /// What was expected or found, for a human.
    public var message: String

    public init(code: Code, byteOffset: Int, message: String) {
        self.code = code
        self.byteOffset = byteOffset
        self.message = message
    }

    public var description: String { "\(message) (\(code)) at byte offset \(byteOffset)" }
}
