import Yams

/// A configuration file that could not be loaded: the file, the line and column where known, the field,
/// and why.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based; `nil` when the position is unknown (a JSON field error names the field only).
    public var line: Int?
    public var column: Int?
    /// The field, e.g. `triggers[3].trigger.within`; empty for a syntax error.
    public var field: String
    public var message: String

    public init(file: String, line: Int?, column: Int?, field: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
    }

    /// `file:line:column: field: message`, leaving out what is unknown.
    public var description: String {
        var text = file
        if let line { text += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        if !field.isEmpty { text += ": \(field)" }
        return text + ": " + message
    }
}

/// Reads trigger configurations (``TriggerConfiguration``) from JSON or YAML files.
///
/// Every key of every section is checked: an unknown key is an error at the key's line and column, naming
/// the nearest valid key. YAML nesting deeper than 128 levels and aliases expanding to more than a million
/// nodes are refused before the document is composed (``YAMLBounds``).
///
/// YAML is read with Yams and turned into the same ``JSONValue`` tree JSON gives, so one parser
/// (``TriggerConfiguration/init(json:)``) validates both; YAML errors then carry the line and column
/// of the offending field (or of its nearest enclosing one when the field is missing). Scalars keep
/// YAML 1.1's core types (`true`, `3`, `1.5`, `null`; quote a string that looks like one). Anchors and
/// aliases are expanded; duplicate keys are rejected as in JSON.
public enum ConfigurationFile {
    public enum Format: Sendable {
        case json
        case yaml

        /// `.json` → JSON, `.yaml` / `.yml` → YAML, otherwise JSON when the text starts with `{`.
        public static func detect(path: String, bytes: [UInt8]) -> Format {
            if path.hasSuffix(".json") { return .json }
            if path.hasSuffix(".yaml") || path.hasSuffix(".yml") { return .yaml }
            let first = bytes.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            return first == UInt8(ascii: "{") ? .json : .yaml
        }
    }

    /// Largest configuration file read (100k webhooks are about 60 MB of JSON).
    public static let byteCountMax = 1 << 30

    /// Reads and validates the trigger configuration at `path`.
    /// - Throws: ``SystemCallError`` when the file cannot be read, ``ConfigurationError`` when it is invalid.
    public static func loadTriggers(path: String) throws -> TriggerConfiguration {
        let bytes = try readWholeFile(path: path, byteCountMax: byteCountMax)
        return try parseTriggers(bytes, format: .detect(path: path, bytes: bytes), file: path)
    }

    /// Parses and validates a trigger configuration; `file` names it in errors.
    public static func parseTriggers(
        _ bytes: [UInt8],
        format: Format,
        file: String
    ) throws(ConfigurationError) -> TriggerConfiguration {
        let (json, marks) = try parseTree(bytes, format: format, file: file)
        do {
            return try TriggerConfiguration(json: json)
        } catch {
            throw located(error, file: file, marks: marks)
        }
    }

    /// Reads the webhook definitions of the configuration at `path` (YAML or JSON, as ``loadTriggers(path:)``),
    /// resolving environment-sourced headers from `environment`.
    /// - Throws: ``SystemCallError`` when the file cannot be read, ``ConfigurationError`` when it is invalid.
    public static func loadWebhooks(path: String, environment: [String: String]) throws -> WebhookConfiguration {
        let bytes = try readWholeFile(path: path, byteCountMax: byteCountMax)
        let (json, marks) = try parseTree(bytes, format: .detect(path: path, bytes: bytes), file: path)
        do {
            return try WebhookConfiguration(json: json, environment: environment)
        } catch {
            throw located(error, file: path, marks: marks)
        }
    }

    /// `error` with the file and the YAML position of its field (of the key itself for an unknown key).
    static func located(_ error: TriggerDefinitionError, file: String, marks: [String: Mark]) -> ConfigurationError {
        located(field: error.path, message: error.message, isKey: error.isKey, file: file, marks: marks)
    }

    /// An error at `field`, positioned by `marks` (the key's position when `isKey`).
    static func located(
        field: String,
        message: String,
        isKey: Bool,
        file: String,
        marks: [String: Mark]
    ) -> ConfigurationError {
        let mark = (isKey ? marks[keyMarkPrefix + field] : nil) ?? nearestMark(field, marks)
        return ConfigurationError(file: file, line: mark?.line, column: mark?.column, field: field, message: message)
    }

    /// Marks of keys are stored under their field's path with this prefix (values under the path alone).
    static let keyMarkPrefix = "key:"

    /// The file as a ``JSONValue``, with the YAML position of every field (empty for JSON).
    static func parseTree(
        _ bytes: [UInt8],
        format: Format,
        file: String
    ) throws(ConfigurationError) -> (JSONValue, [String: Mark]) {
        switch format {
        case .json:
            do {
                return (try JSONValue.parse(bytes), [:])
            } catch {
                let (line, column) = Self.position(ofByte: error.byteOffset, in: bytes)
                throw ConfigurationError(file: file, line: line, column: column, field: "", message: error.description)
            }
        case .yaml:
            // Depth and alias expansion are bounded before the recursive composer and converter run, on the
            // very text Yams reads: invalid UTF-8 is repaired (U+FFFD) in `text`, and a check of the raw bytes
            // stopped at the bad byte while Yams went on to expand an alias bomb (found by fuzzing).
            let text = String(decoding: bytes, as: UTF8.self)
            if let violation = YAMLBounds.check(Array(text.utf8)) {
                throw ConfigurationError(
                    file: file,
                    line: violation.line,
                    column: violation.column,
                    field: "",
                    message: violation.message
                )
            }
            let root: Node?
            do {
                root = try Yams.compose(yaml: text)
            } catch let error as YamlError {
                throw Self.syntaxError(error, file: file)
            } catch {
                throw ConfigurationError(file: file, line: nil, column: nil, field: "", message: "\(error)")
            }
            guard let root else { return (.object(JSONObject()), [:]) }  // an empty document: no entries
            var converter = YAMLConverter(file: file)
            let json = try converter.convert(root, path: "")
            return (json, converter.marks)
        }
    }

    /// The mark of `path`, or of the nearest enclosing field that has one (`a.b[2].c` → `a.b[2]` → `a.b`…).
    static func nearestMark(_ path: String, _ marks: [String: Mark]) -> Mark? {
        var candidate = Substring(path)
        while true {
            if let mark = marks[String(candidate)] { return mark }
            guard let cut = candidate.lastIndex(where: { $0 == "." || $0 == "[" }) else { return marks[""] }
            candidate = candidate[..<cut]
        }
    }

    private static func position(ofByte offset: Int, in bytes: [UInt8]) -> (line: Int, column: Int) {
        var line = 1
        var lineStart = 0
        for position in 0..<min(offset, bytes.count) where bytes[position] == 0x0A {
            line += 1
            lineStart = position + 1
        }
        return (line, offset - lineStart + 1)
    }

    private static func syntaxError(_ error: YamlError, file: String) -> ConfigurationError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return ConfigurationError(file: file, line: mark.line, column: mark.column, field: "", message: problem)
        default:
            return ConfigurationError(file: file, line: nil, column: nil, field: "", message: "\(error)")
        }
    }
}

/// Turns a Yams node tree into a ``JSONValue``, recording each field's position under the same paths the
/// configuration parser uses in its errors (`webhooks[2].branch_scope`).
private struct YAMLConverter {
    let file: String
    var marks: [String: Mark] = [:]

    init(file: String) { self.file = file }

    mutating func convert(_ node: Node, path: String) throws(ConfigurationError) -> JSONValue {
        if let mark = node.mark { marks[path] = mark }
        switch node {
        case .scalar:
            return try scalar(node, path: path)
        case .sequence(let sequence):
            var elements: [JSONValue] = []
            for (position, element) in sequence.enumerated() {
                elements.append(try convert(element, path: "\(path)[\(position)]"))
            }
            return .array(elements)
        case .mapping(let mapping):
            var object = JSONObject()
            for (key, value) in mapping {
                guard key.scalar != nil, let name = key.string else {
                    throw error(key, path, "keys must be strings")
                }
                let fieldPath = path.isEmpty ? name : "\(path).\(name)"
                if let mark = key.mark { marks[ConfigurationFile.keyMarkPrefix + fieldPath] = mark }
                guard object[name] == nil else { throw error(key, fieldPath, "duplicate key \"\(name)\"") }
                object.members.append(JSONObject.Member(name, try convert(value, path: fieldPath)))
            }
            return .object(object)
        }
    }

    private func scalar(_ node: Node, path: String) throws(ConfigurationError) -> JSONValue {
        // `Tag.name` is internal to Yams; its description is the resolved tag's name.
        switch Tag.Name(rawValue: node.tag.description) {
        case .null:
            return .null
        case .bool:
            guard let value = node.bool else { throw error(node, path, "not a boolean") }
            return .bool(value)
        case .int:
            // An integer beyond 64 bits keeps its text: the field's own range check then refuses it with
            // the field's range.
            guard let value = node.int else { return .number(node.string ?? "") }
            return .integer(value)
        case .float:
            guard let value = node.float, value.isFinite else { throw error(node, path, "numbers must be finite") }
            return .number(String(value))
        default:
            return .string(node.string ?? "")
        }
    }

    private func error(_ node: Node, _ path: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: file, line: node.mark?.line, column: node.mark?.column, field: path, message: message)
    }
}
