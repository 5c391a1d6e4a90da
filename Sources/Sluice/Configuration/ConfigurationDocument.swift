public import SluiceCore
import Yams

/// A configuration file read once as a tree, with the position of every field, for the sections the
/// facade does not read itself (`server`, read by `SluiceServer`): their errors then name the file, the
/// line and the key exactly as ``PipelineConfiguration/load(path:environment:logDirectory:)`` does.
///
/// Immutable; safe to share between threads.
public struct ConfigurationDocument: Sendable {
    /// The file, as errors name it.
    public let file: String
    /// The whole document as JSON values (YAML is converted, as for the rest of the file).
    public let json: JSONValue
    /// Positions by field path, and of keys under ``ConfigurationFile/keyMarkPrefix`` (empty for JSON).
    private let positions: [String: Position]

    private struct Position: Sendable {
        var line: Int
        var column: Int
    }

    /// Reads and parses `path` (YAML or JSON, as the pipeline loader decides).
    /// - Throws: ``SystemCallError`` when the file cannot be read, ``ConfigurationError`` when it is not
    ///   valid YAML or JSON (or breaks the YAML bounds).
    public static func load(path: String) throws -> ConfigurationDocument {
        let bytes = try readWholeFile(path: path, byteCountMax: ConfigurationFile.byteCountMax)
        return try parse(bytes, format: .detect(path: path, bytes: bytes), file: path)
    }

    /// Parses `bytes`; `file` names it in errors.
    public static func parse(
        _ bytes: [UInt8],
        format: ConfigurationFile.Format,
        file: String
    ) throws(ConfigurationError) -> ConfigurationDocument {
        let (json, marks) = try ConfigurationFile.parseTree(bytes, format: format, file: file)
        return ConfigurationDocument(
            file: file,
            json: json,
            positions: marks.mapValues { Position(line: $0.line, column: $0.column) }
        )
    }

    private init(file: String, json: JSONValue, positions: [String: Position]) {
        self.file = file
        self.json = json
        self.positions = positions
    }

    /// An error about `field` (a path such as `server.listen`), at the field's line and column — at the
    /// key itself when `isKey` (an unknown key) — or at its nearest enclosing field that has a position.
    public func error(field: String, message: String, isKey: Bool = false) -> ConfigurationError {
        var position = isKey ? positions[ConfigurationFile.keyMarkPrefix + field] : nil
        if position == nil {
            var candidate = Substring(field)
            while position == nil {
                position = positions[String(candidate)]
                guard let cut = candidate.lastIndex(where: { $0 == "." || $0 == "[" }) else { break }
                candidate = candidate[..<cut]
            }
        }
        return ConfigurationError(
            file: file,
            line: position?.line,
            column: position?.column,
            field: field,
            message: message
        )
    }
}
