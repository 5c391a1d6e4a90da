/// Why an event was rejected, and exactly where.
///
/// `byteOffset` is absolute within the input the caller gave (a file or a stream): the decoder reports
/// it relative to the event, and the line reader adds the line's start. `fieldPath` uses the event's
/// keys, e.g. `related[3]["prefect.resource.role"]`.
public struct EventDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidJSON, missingField, invalidField, limitExceeded, duplicateField, symbolTableFull, emptyLine
        }
        private let base: Base
        /// The bytes are not valid JSON (syntax, UTF-8, escapes, nesting).
        public static let invalidJSON = Code(base: .invalidJSON)
        /// A required field or label is absent.
        public static let missingField = Code(base: .missingField)
        /// A field has the wrong type or an invalid value.
        public static let invalidField = Code(base: .invalidField)
        /// A bound of ``EventLimits`` was exceeded.
        public static let limitExceeded = Code(base: .limitExceeded)
        /// A key appears twice in the same object.
        public static let duplicateField = Code(base: .duplicateField)
        /// The symbol table reached its bound.
        public static let symbolTableFull = Code(base: .symbolTableFull)
        /// A JSON Lines stream held a blank line.
        public static let emptyLine = Code(base: .emptyLine)
        public var description: String { String(describing: base) }
    }

    public var code: Code
    /// 1-based line in a JSON Lines stream; `nil` for a single event.
    public var line: Int?
    /// Absolute byte position of the problem.
    public var byteOffset: Int
    /// Where in the event, e.g. `resource["prefect.resource.id"]`; empty for the event as a whole.
    public var fieldPath: String
    public var message: String
    /// The source (file path) when known.
    public var source: String?

    public init(code: Code, byteOffset: Int, fieldPath: String, message: String, line: Int? = nil) {
        self.code = code
        self.byteOffset = byteOffset
        self.fieldPath = fieldPath
        self.message = message
        self.line = line
    }

    /// The same error, located in a stream: `lineStart` is the line's absolute byte position.
    public func located(line: Int, lineStart: Int, source: String? = nil) -> EventDecodingError {
        var copy = self
        copy.line = line
        copy.byteOffset += lineStart
        copy.source = source
        return copy
    }

    public var description: String {
        var text = ""
        if let source { text += "\(source):" }
        if let line { text += "\(line): " } else if source != nil { text += " " }
        text += "byte offset \(byteOffset): "
        if !fieldPath.isEmpty { text += "\(fieldPath): " }
        text += "\(message) (\(code))"
        return text
    }
}
