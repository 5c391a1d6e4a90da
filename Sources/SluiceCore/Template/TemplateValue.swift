/// A value inside a template, modelled on the Python object Jinja2 would hold for it.
///
/// JSON from the context stays as ``JSONValue`` until it is taken apart (`containerJSON`), so a render
/// only converts what its expressions touch. Python's `bool` is an `int` (`true + 1 == 2`); Python's
/// unbounded integers are 64-bit here (an overflow is a render error, never a trap).
indirect enum TemplateValue: Sendable {
    /// Jinja2's `ChainableUndefined`: prints as `""`, is false, iterates as empty, chains `.x` and `['x']`.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    /// An integer outside 64 bits, from JSON: printed and serialized as written, never computed with.
    case bigInteger(String)
    case string(String)
    case list([TemplateValue])
    case tuple([TemplateValue])
    case dict([TemplateEntry])
    /// A JSON array or object not yet taken apart.
    case json(JSONValue)
    /// A lazy sequence (Python generator or iterator, e.g. `map`'s result): printing one is an error here
    /// (Python prints its address), `| list`, `| join` and loops consume it.
    case iterator([TemplateValue])
    /// A bound method (`d.items`), callable; it has no printable form.
    case method(receiver: TemplateValue, name: String)
    /// A global function (`range`, `dict`).
    case function(String)
    /// A `loop` variable in a `for` body.
    case loop(TemplateLoop)

    static func fromJSON(_ value: JSONValue) -> TemplateValue {
        switch value {
        case .null: return .none
        case .bool(let flag): return .bool(flag)
        case .string(let text): return .string(text)
        case .number(let text): return number(text)
        case .array, .object: return .json(value)
        }
    }

    /// Python's `json.loads` of a number: `int` without `.`, `e` or `E`, else `float`.
    static func number(_ text: String) -> TemplateValue {
        if text.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") })
        {
            return .float(Double(text) ?? .nan)
        }
        if let value = Int(text) { return .int(value) }
        var digits = text
        if digits.hasPrefix("-") { digits.removeFirst() }
        return .bigInteger(text.hasPrefix("-") ? "-" + digits : digits)
    }

    /// A JSON container taken apart one level (children stay JSON).
    var expanded: TemplateValue {
        guard case .json(let json) = self else { return self }
        switch json {
        case .array(let elements): return .list(elements.map(TemplateValue.fromJSON))
        case .object(let object):
            return .dict(object.members.map { TemplateEntry(key: $0.key, value: .fromJSON($0.value)) })
        default: return .fromJSON(json)
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Python's `type(x).__name__`, for error messages.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int, .bigInteger: return "int"
        case .float: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .json(let json): return json.arrayValue != nil ? "list" : "dict"
        case .iterator: return "generator"
        case .method: return "builtin_function_or_method"
        case .function: return "function"
        case .loop: return "LoopContext"
        }
    }

    /// Python's truth value.
    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let flag): return flag
        case .int(let value): return value != 0
        case .bigInteger: return true
        case .float(let value): return value != 0
        case .string(let text): return !text.isEmpty
        case .list(let elements), .tuple(let elements): return !elements.isEmpty
        case .dict(let entries): return !entries.isEmpty
        case .json(let json):
            if let elements = json.arrayValue { return !elements.isEmpty }
            return !(json.objectValue?.isEmpty ?? true)
        case .iterator, .method, .function, .loop: return true
        }
    }
}

/// One key of a template dictionary (keys are strings, as in JSON).
struct TemplateEntry: Sendable {
    var key: String
    var value: TemplateValue
}

/// Jinja2's `loop` in a `for` body.
struct TemplateLoop: Sendable {
    var index0: Int
    var length: Int
    var previous: TemplateValue
    var next: TemplateValue
    var depth0: Int
}

extension String {
    /// Python's string equality: code point by code point (Swift's `==` is canonical equivalence).
    @inline(__always)
    func pythonEquals(_ other: String) -> Bool { utf8.elementsEqual(other.utf8) }
}
