/// A JSON value as a tree, for the control plane: builders, GitHub normalization, configuration, tests.
///
/// Numbers keep their source text so nothing is lost or renormalized. Objects keep member order and
/// are written back in a chosen ``JSONKeyOrder``. The event hot path never builds trees; it scans bytes.
public enum JSONValue: Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    /// The number's JSON text, e.g. `"2432232314"` or `"1.5e3"`.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public static func integer<I: BinaryInteger>(_ value: I) -> JSONValue { .number(String(value)) }

    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    /// The value at a path of object keys, e.g. `["pull_request", "head", "ref"]`.
    public subscript(path path: [String]) -> JSONValue? {
        var current: JSONValue? = self
        for key in path { current = current?[key] }
        return current
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var int64Value: Int64? {
        if case .number(let text) = self { return Int64(text) }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let object) = self { return object }
        return nil
    }

    public var isNull: Bool { self == .null }
}

/// An ordered JSON object. Duplicate keys are rejected by the parser; `subscript` returns the first match.
public struct JSONObject: Sendable, Equatable, Hashable, ExpressibleByDictionaryLiteral {
    public struct Member: Sendable, Equatable, Hashable {
        public var key: String
        public var value: JSONValue
        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    public var members: [Member]

    public init(_ members: [Member] = []) { self.members = members }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.members = elements.map { Member($0.0, $0.1) }
    }

    public subscript(key: String) -> JSONValue? {
        get { members.first { $0.key == key }?.value }
        set {
            if let position = members.firstIndex(where: { $0.key == key }) {
                if let newValue { members[position].value = newValue } else { members.remove(at: position) }
            } else if let newValue {
                members.append(Member(key, newValue))
            }
        }
    }

    public var keys: [String] { members.map(\.key) }
    public var isEmpty: Bool { members.isEmpty }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByNilLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(String(value)) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements.map { JSONObject.Member($0.0, $0.1) }))
    }
}

/// The order in which object keys are written.
public enum JSONKeyOrder: Sendable {
    /// As stored in the value (the producer's or builder's order).
    case preserved
    /// PostgreSQL `jsonb` order at every level: shorter keys first, then bytewise. This is the order of
    /// Infrahub webhook bodies as deployed (Prefect on PostgreSQL), see spec §c.4.
    case jsonb
    /// Bytewise (Python's `sort_keys=True`; a SQLite-backed Prefect).
    case sorted
}

extension JSONValue {
    /// Parses one complete JSON text strictly (trailing bytes, duplicate keys and bad UTF-8 are errors).
    public static func parse(_ bytes: [UInt8], depthMax: Int = 128) throws(JSONError) -> JSONValue {
        try JSONScanner.withScanner(bytes, depthMax: depthMax) { (scanner: inout JSONScanner) throws(JSONError) in
            let value = try scanner.parseValue()
            try scanner.expectEnd()
            return value
        }
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue { try parse(Array(text.utf8)) }

    /// The compact encoding (`separators=(",", ":")`, `ensure_ascii=False`).
    public func encoded(keyOrder: JSONKeyOrder = .preserved) -> [UInt8] {
        var bytes: [UInt8] = []
        write(to: &bytes, keyOrder: keyOrder)
        return bytes
    }

    /// The compact encoding as a string.
    public func encodedString(keyOrder: JSONKeyOrder = .preserved) -> String {
        String(decoding: encoded(keyOrder: keyOrder), as: UTF8.self)
    }

    /// Appends the compact encoding.
    public func write(to target: inout [UInt8], keyOrder: JSONKeyOrder = .preserved) {
        switch self {
        case .null: target.append(contentsOf: "null".utf8)
        case .bool(let value): target.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let text): target.append(contentsOf: text.utf8)
        case .string(let text): JSONString.appendQuoted(text, to: &target)
        case .array(let elements):
            target.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { target.append(UInt8(ascii: ",")) }
                element.write(to: &target, keyOrder: keyOrder)
            }
            target.append(UInt8(ascii: "]"))
        case .object(let object):
            target.append(UInt8(ascii: "{"))
            for (position, member) in object.ordered(keyOrder).enumerated() {
                if position > 0 { target.append(UInt8(ascii: ",")) }
                JSONString.appendQuoted(member.key, to: &target)
                target.append(UInt8(ascii: ":"))
                member.value.write(to: &target, keyOrder: keyOrder)
            }
            target.append(UInt8(ascii: "}"))
        }
    }
}

extension JSONObject {
    /// Members in the requested order.
    public func ordered(_ keyOrder: JSONKeyOrder) -> [Member] {
        switch keyOrder {
        case .preserved:
            return members
        case .sorted:
            return members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        case .jsonb:
            return members.sorted { left, right in
                let leftCount = left.key.utf8.count
                let rightCount = right.key.utf8.count
                if leftCount != rightCount { return leftCount < rightCount }
                return left.key.utf8.lexicographicallyPrecedes(right.key.utf8)
            }
        }
    }
}

extension JSONScanner {
    /// Parses the next value into a tree.
    public mutating func parseValue() throws(JSONError) -> JSONValue {
        guard let first = peek() else {
            throw JSONError(code: .unexpectedEnd, byteOffset: index, message: "expected a value, found end of input")
        }
        switch first {
        case UInt8(ascii: "{"):
            try enterContainer()
            index += 1
            var object = JSONObject()
            var seen = Set<String>()
            if !consume(UInt8(ascii: "}")) {
                repeat {
                    let keyStart = index
                    let key = string(try scanString())
                    guard seen.insert(key).inserted else {
                        throw JSONError(code: .duplicateKey, byteOffset: keyStart, message: "duplicate key \"\(key)\"")
                    }
                    try expect(UInt8(ascii: ":"), "':' after an object key")
                    object.members.append(JSONObject.Member(key, try parseValue()))
                } while try continueContainer(close: UInt8(ascii: "}"), "',' or '}' in an object")
            }
            depth -= 1
            return .object(object)
        case UInt8(ascii: "["):
            try enterContainer()
            index += 1
            var elements: [JSONValue] = []
            if !consume(UInt8(ascii: "]")) {
                repeat {
                    elements.append(try parseValue())
                } while try continueContainer(close: UInt8(ascii: "]"), "',' or ']' in an array")
            }
            depth -= 1
            return .array(elements)
        case UInt8(ascii: "\""):
            return .string(string(try scanString()))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let range = try scanNumber()
            return unsafe .number(withBytes(in: range) { raw in unsafe String(decoding: raw, as: UTF8.self) })
        default:
            switch try scanLiteral() {
            case UInt8(ascii: "t"): return .bool(true)
            case UInt8(ascii: "f"): return .bool(false)
            default: return .null
            }
        }
    }
}
