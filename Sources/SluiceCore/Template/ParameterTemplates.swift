/// A template that did not compile or render: the parameter it belongs to, where in its source, and what.
public struct TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The parameter path, e.g. `parameters.branch` or `parameters.node_ids[0]`.
    public var path: String
    /// Byte offset in the template source (of the failing token at load, of the failing tag at render).
    public var offset: Int
    public var message: String

    public init(path: String, offset: Int, message: String) {
        self.path = path
        self.offset = offset
        self.message = message
    }

    public var description: String { "\(path): template offset \(offset): \(message)" }
}

/// The parameters of one action, compiled once at load time (every string value templated, nested
/// objects and arrays too), rendered per firing exactly as Prefect renders `run-deployment` parameters
/// (`prefect/server/events/actions.py` `render_parameters`, `prefect/utilities/schema_tools/hydration.py`):
///
/// - A plain string containing `{{` or `{%` is a template (Prefect's "v1" upgrade). If, stripped, it is one
///   `{{ … }}` expression and nothing else, it renders as `{{ … | tojson }}` and is parsed back as JSON, so
///   the value keeps its JSON type (a number stays a number, an object an object); otherwise it renders
///   to a string. Strings inside arrays are upgraded too; arrays inside arrays are left alone (as Prefect).
/// - `{"__prefect_kind": "jinja", "template": T}` renders `T` to a string; `{"__prefect_kind": "json",
///   "value": V}` renders `V` and parses a string result as JSON; `{"__prefect_kind": "none", "value": V}`
///   passes `V` through; a `json` object without `value` is removed from its parent. Such objects are not
///   upgraded further.
/// - Templates render with Jinja2 3.1 semantics in Prefect's environment: sandboxed (no internals),
///   `ChainableUndefined` (a missing name or key prints as `""`, and `| default` works along a chain),
///   `tojson` with sorted keys and HTML-safe escapes, `range` limited to 100 items, at most 10 `for`
///   loops nested at most 2 deep. See docs/workflows.md "Templates".
public struct ParameterTemplates: Sendable {
    indirect enum Part: Sendable {
        case literal(JSONValue)
        case object([(String, Part)])
        case array([Part])
        /// Renders to a string.
        case jinja(CompiledTemplate)
        /// A `jinja` whose `template` is itself hydrated at render (Prefect does this when an upgraded
        /// string sits in a `jinja` object inside an array).
        case dynamicJinja(Part, path: String)
        /// Renders the inner part; a string result is parsed as JSON.
        case json(Part, path: String)
        /// Removed from its parent (Prefect's `RemoveValue`).
        case remove
    }

    struct CompiledTemplate: Sendable {
        let source: String
        let nodes: [TemplateNode]
        let path: String
    }

    let root: Part
    let path: String

    /// Prefect's `MAX_LOOP_COUNT` and `MAX_NESTED_LOOP_DEPTH`.
    static let loopCountMax = 10
    static let loopDepthMax = 2

    public init(_ parameters: JSONObject, path: String) throws(TemplateError) {
        self.path = path
        let upgraded = Self.upgradeV1(parameters)
        root = try Self.hydrate(.object(upgraded), path: path)
    }

    /// `context` has `event`, `automation` (the trigger), `firing` (stateful triggers) as JSON objects.
    /// Follows Prefect: a value that is one expression keeps its JSON type as Prefect does; otherwise a string.
    public func render(_ context: JSONObject) throws(TemplateError) -> JSONObject {
        switch try Self.render(root, context) {
        case .value(.object(let object)): return object
        case .remove: return JSONObject()
        case .value:
            throw TemplateError(path: path, offset: 0, message: "the parameters must render to a mapping")
        }
    }

    // MARK: - Load: Prefect's v1 upgrade and hydration

    static func maybeTemplate(_ text: String) -> Bool {
        var previousBrace = false
        for byte in text.utf8 {
            if previousBrace && (byte == UInt8(ascii: "{") || byte == UInt8(ascii: "%")) { return true }
            previousBrace = byte == UInt8(ascii: "{")
        }
        return false
    }

    private static func kindMarker(_ object: JSONObject) -> Bool { object["__prefect_kind"] != nil }

    /// Prefect's `_upgrade_v1_templates`.
    static func upgradeV1(_ parameters: JSONObject) -> JSONObject {
        var result = parameters
        for (position, member) in parameters.members.enumerated() {
            switch member.value {
            case .object(let object):
                if kindMarker(object) { continue }
                result.members[position].value = .object(upgradeV1(object))
            case .array(let elements):
                result.members[position].value = .array(
                    elements.map { element in
                        switch element {
                        case .object(let object): return .object(upgradeV1(object))
                        case .string(let text) where maybeTemplate(text): return wrapV1(text)
                        default: return element
                        }
                    }
                )
            case .string(let text) where maybeTemplate(text):
                result.members[position].value = wrapV1(text)
            default:
                break
            }
        }
        return result
    }

    /// Prefect's `_wrap_v1_template`: one expression keeps its type through `| tojson` and JSON.
    static func wrapV1(_ template: String) -> JSONValue {
        let stripped = TemplateText.strip(template, nil)
        let bytes = Array(stripped.utf8)
        // Python's str.count counts non-overlapping occurrences: "{{{" holds one.
        let openings = nonOverlapping("{{", in: bytes)
        if stripped.hasPrefix("{{") && stripped.hasSuffix("}}") && openings == 1 && bytes.count >= 4 {
            let inner = TemplateText.strip(String(decoding: bytes[2..<(bytes.count - 2)], as: UTF8.self), nil)
            return [
                "__prefect_kind": "json",
                "value": ["__prefect_kind": "jinja", "template": .string("{{ " + inner + " | tojson }}")],
            ]
        }
        return ["__prefect_kind": "jinja", "template": .string(template)]
    }

    private static func nonOverlapping(_ needle: String, in bytes: [UInt8]) -> Int {
        let pattern = Array(needle.utf8)
        var count = 0
        var index = 0
        while index + pattern.count <= bytes.count {
            if bytes[index..<index + pattern.count].elementsEqual(pattern) {
                count += 1
                index += pattern.count
            } else {
                index += 1
            }
        }
        return count
    }

    /// Prefect's `_hydrate` at load time (`render_jinja=False`): templates compile here, so every syntax
    /// error is a load error.
    static func hydrate(_ value: JSONValue, path: String) throws(TemplateError) -> Part {
        switch value {
        case .object(let object):
            if let kind = object["__prefect_kind"] {
                return try handler(kind, object, path: path)
            }
            var parts: [(String, Part)] = []
            var literals = JSONObject()
            var literal = true
            for member in object.members {
                let part = try hydrate(member.value, path: "\(path).\(member.key)")
                if case .literal(let value) = part {
                    literals.members.append(.init(member.key, value))
                } else {
                    literal = false
                }
                parts.append((member.key, part))
            }
            return literal ? .literal(.object(literals)) : .object(parts)
        case .array(let elements):
            var parts: [Part] = []
            var literals: [JSONValue] = []
            var literal = true
            for (position, element) in elements.enumerated() {
                let part = try hydrate(element, path: "\(path)[\(position)]")
                if case .literal(let value) = part {
                    literals.append(value)
                } else {
                    literal = false
                }
                parts.append(part)
            }
            return literal ? .literal(.array(literals)) : .array(parts)
        default:
            return .literal(value)
        }
    }

    private static func handler(_ kind: JSONValue, _ object: JSONObject, path: String) throws(TemplateError) -> Part {
        switch kind.stringValue {
        case "none"?:
            guard let value = object["value"] else {
                throw TemplateError(path: path, offset: 0, message: "Missing 'value' key in __prefect object")
            }
            return try hydrate(value, path: path)
        case "json"?:
            guard let value = object["value"] else { return .remove }
            if case .object = value { return .json(try hydrate(value, path: path), path: path) }
            if case .string(let text) = value {
                do {
                    return .literal(try pythonJSON(text))
                } catch {
                    throw TemplateError(path: path, offset: error.byteOffset, message: "Invalid JSON: \(error.message)")
                }
            }
            return .literal(value)
        case "jinja"?:
            guard let template = object["template"] else {
                throw TemplateError(path: path, offset: 0, message: "Missing 'template' key in __prefect object")
            }
            switch template {
            case .object:
                return .dynamicJinja(try hydrate(template, path: path), path: path)
            case .string(let source):
                return try compile(source, path: path)
            default:
                throw TemplateError(path: path, offset: 0, message: "Invalid jinja: the template must be a string")
            }
        case "workspace_variable"?:
            guard object["variable_name"] != nil else { return .remove }
            throw TemplateError(
                path: path,
                offset: 0,
                message: "workspace variables are not supported (Sluice has no Prefect workspace)"
            )
        default:
            return .literal(object["value"] ?? .null)
        }
    }

    static func compile(_ source: String, path: String) throws(TemplateError) -> Part {
        guard maybeTemplate(source) else { return .literal(.string(source)) }
        let parsed: (nodes: [TemplateNode], loops: Int, depth: Int)
        do {
            parsed = try TemplateParser.parse(source)
        } catch {
            throw TemplateError(path: path, offset: error.offset, message: "Invalid jinja: \(error.message)")
        }
        if parsed.loops > loopCountMax {
            throw TemplateError(
                path: path,
                offset: 0,
                message:
                    "Contains \(parsed.loops) for loops. Templates can contain no more than \(loopCountMax) for loops."
            )
        }
        if parsed.depth > loopDepthMax {
            throw TemplateError(
                path: path,
                offset: 0,
                message:
                    "Contains nested for loops at a depth of \(parsed.depth). Templates can nest for loops no more than \(loopDepthMax) loops deep."
            )
        }
        try checkNames(parsed.nodes, path: path)
        return .jinja(CompiledTemplate(source: source, nodes: parsed.nodes, path: path))
    }

    /// Unknown filters and tests are load errors (Jinja2 reports them when it compiles the template).
    private static func checkNames(_ nodes: [TemplateNode], path: String) throws(TemplateError) {
        for node in nodes {
            switch node {
            case .text: break
            case .output(let expression, _): try checkNames(expression, path: path)
            case .conditional(let branches, let otherwise, _):
                for (condition, body) in branches {
                    try checkNames(condition, path: path)
                    try checkNames(body, path: path)
                }
                try checkNames(otherwise, path: path)
            case .loop(_, let iterable, let filter, let body, let otherwise, _):
                try checkNames(iterable, path: path)
                if let filter { try checkNames(filter, path: path) }
                try checkNames(body, path: path)
                try checkNames(otherwise, path: path)
            case .assign(_, let expression, _): try checkNames(expression, path: path)
            case .assignBlock(_, let body, _): try checkNames(body, path: path)
            }
        }
    }

    private static func checkNames(_ expression: TemplateExpression, path: String) throws(TemplateError) {
        func arguments(_ list: TemplateArguments) throws(TemplateError) {
            for argument in list.positional { try checkNames(argument, path: path) }
            for (_, argument) in list.keywords { try checkNames(argument, path: path) }
        }
        switch expression {
        case .constant, .name: break
        case .list(let items), .tuple(let items):
            for item in items { try checkNames(item, path: path) }
        case .dict(let items):
            for (key, value) in items {
                try checkNames(key, path: path)
                try checkNames(value, path: path)
            }
        case .attribute(let base, _): try checkNames(base, path: path)
        case .item(let base, let key):
            try checkNames(base, path: path)
            try checkNames(key, path: path)
        case .slice(let base, let start, let stop, let step):
            try checkNames(base, path: path)
            for part in [start, stop, step] { if let part { try checkNames(part, path: path) } }
        case .call(let callee, let list):
            try checkNames(callee, path: path)
            try arguments(list)
        case .filter(let base, let name, let list, let offset):
            guard TemplateFilters.filterNames.contains(name) else {
                throw TemplateError(path: path, offset: offset, message: "Invalid jinja: No filter named '\(name)'.")
            }
            try checkNames(base, path: path)
            try arguments(list)
        case .test(let base, let name, let list, _, let offset):
            guard TemplateFilters.testNames.contains(name) else {
                throw TemplateError(path: path, offset: offset, message: "Invalid jinja: No test named '\(name)'.")
            }
            try checkNames(base, path: path)
            try arguments(list)
        case .negative(let operand), .positive(let operand), .not(let operand):
            try checkNames(operand, path: path)
        case .binary(_, let left, let right), .and(let left, let right), .or(let left, let right):
            try checkNames(left, path: path)
            try checkNames(right, path: path)
        case .compare(let first, let operations):
            try checkNames(first, path: path)
            for (_, operand) in operations { try checkNames(operand, path: path) }
        case .condition(let test, let then, let otherwise):
            try checkNames(test, path: path)
            try checkNames(then, path: path)
            if let otherwise { try checkNames(otherwise, path: path) }
        }
    }

    // MARK: - Render

    enum Rendered {
        case value(JSONValue)
        case remove
    }

    static func render(_ part: Part, _ context: JSONObject) throws(TemplateError) -> Rendered {
        switch part {
        case .literal(let value):
            return .value(value)
        case .remove:
            return .remove
        case .object(let parts):
            var object = JSONObject()
            object.members.reserveCapacity(parts.count)
            for (key, child) in parts {
                if case .value(let value) = try render(child, context) { object.members.append(.init(key, value)) }
            }
            return .value(.object(object))
        case .array(let parts):
            var elements: [JSONValue] = []
            elements.reserveCapacity(parts.count)
            for child in parts {
                if case .value(let value) = try render(child, context) { elements.append(value) }
            }
            return .value(.array(elements))
        case .jinja(let template):
            return .value(.string(try renderTemplate(template, context)))
        case .dynamicJinja(let inner, let path):
            guard case .value(let source) = try render(inner, context) else { return .remove }
            guard case .string(let text) = source else {
                throw TemplateError(
                    path: path,
                    offset: 0,
                    message: "Invalid jinja: the template rendered to a non-string"
                )
            }
            let compiled = try compile(text, path: path)
            return try render(compiled, context)
        case .json(let inner, let path):
            let rendered = try render(inner, context)
            guard case .value(.string(let text)) = rendered else { return rendered }
            do {
                return .value(try pythonJSON(text))
            } catch {
                throw TemplateError(path: path, offset: error.byteOffset, message: "Invalid JSON: \(error.message)")
            }
        }
    }

    private static func renderTemplate(
        _ template: CompiledTemplate,
        _ context: JSONObject
    ) throws(TemplateError) -> String {
        do {
            return try TemplateInterpreter.render(template.nodes, context: context)
        } catch {
            var located = error
            located.path = template.path
            located.message = "Invalid jinja: " + error.message
            throw located
        }
    }

    /// Python's `json.loads`, with numbers written back as Python's `json.dumps` writes them (`1E5` →
    /// `100000.0`, `-0` → `0`). `NaN` and `Infinity` are refused: the result must be JSON.
    static func pythonJSON(_ text: String) throws(JSONError) -> JSONValue {
        normalizedNumbers(try JSONValue.parse(Array(TemplateText.strip(text, " \t\n\r").utf8)))
    }

    static func normalizedNumbers(_ value: JSONValue) -> JSONValue {
        switch value {
        case .number(let text):
            switch TemplateValue.number(text) {
            case .int(let integer): return .number(String(integer))
            case .float(let double):
                return double.isFinite ? .number(PythonFormat.float(double)) : .number(text)
            case .bigInteger(let digits): return .number(digits == "-0" ? "0" : digits)
            default: return value
            }
        case .array(let elements): return .array(elements.map(normalizedNumbers))
        case .object(var object):
            for position in object.members.indices {
                object.members[position].value = normalizedNumbers(object.members[position].value)
            }
            return .object(object)
        default:
            return value
        }
    }
}
