/// A template that cannot be compiled or rendered, and where: `path` names the parameter (e.g.
/// `triggers[2].actions[0].parameters.node`), `offset` the byte in its text.
public struct TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var offset: Int
    public var message: String

    public var description: String { "\(path) at byte \(offset): \(message)" }
}

/// A workflow action's parameters with their templates compiled once (at configuration load).
///
/// Placeholder (issue 19): supports only `{{ a.b['c'][0] }}` paths. A string that is exactly one
/// expression keeps the JSON type of the value it names; elsewhere values are written into the text
/// (strings as they are, the rest as compact JSON). A path that names nothing renders as `null` (whole
/// string) or empty text. The real Jinja2 renderer replaces this file.
public struct ParameterTemplates: Sendable {
    private enum Step: Sendable, Equatable {
        case key(String)
        case index(Int)
    }

    private enum Piece: Sendable, Equatable {
        case text(String)
        case expression([Step])
    }

    private indirect enum Node: Sendable, Equatable {
        case constant(JSONValue)
        case template([Piece])
        case array([Node])
        case object([(String, Node)])

        static func == (left: Node, right: Node) -> Bool {
            switch (left, right) {
            case (.constant(let a), .constant(let b)): a == b
            case (.template(let a), .template(let b)): a == b
            case (.array(let a), .array(let b)): a == b
            case (.object(let a), .object(let b)):
                a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            default: false
            }
        }
    }

    private let members: [(String, Node)]

    public init(_ parameters: JSONObject, path: String) throws(TemplateError) {
        var members: [(String, Node)] = []
        for member in parameters.members {
            members.append((member.key, try Self.compile(member.value, path: "\(path).\(member.key)")))
        }
        self.members = members
    }

    /// The parameters rendered against `context` (keys such as `event`, `automation`, `firing`).
    public func render(_ context: JSONObject) throws(TemplateError) -> JSONObject {
        JSONObject(members.map { JSONObject.Member($0.0, Self.render($0.1, context)) })
    }

    private static func compile(_ value: JSONValue, path: String) throws(TemplateError) -> Node {
        switch value {
        case .string(let text):
            guard text.contains("{{") else { return .constant(value) }
            return .template(try pieces(text, path: path))
        case .array(let elements):
            var nodes: [Node] = []
            for (position, element) in elements.enumerated() {
                nodes.append(try compile(element, path: "\(path)[\(position)]"))
            }
            return .array(nodes)
        case .object(let object):
            var nodes: [(String, Node)] = []
            for member in object.members {
                nodes.append((member.key, try compile(member.value, path: "\(path).\(member.key)")))
            }
            return .object(nodes)
        default:
            return .constant(value)
        }
    }

    private static func pieces(_ text: String, path: String) throws(TemplateError) -> [Piece] {
        let bytes = Array(text.utf8)
        var pieces: [Piece] = []
        var position = 0
        var literalStart = 0
        while position + 1 < bytes.count {
            guard bytes[position] == UInt8(ascii: "{"), bytes[position + 1] == UInt8(ascii: "{") else {
                position += 1
                continue
            }
            if literalStart < position {
                pieces.append(.text(String(decoding: bytes[literalStart..<position], as: UTF8.self)))
            }
            var end = position + 2
            while end + 1 < bytes.count, !(bytes[end] == UInt8(ascii: "}") && bytes[end + 1] == UInt8(ascii: "}")) {
                end += 1
            }
            guard end + 1 < bytes.count else {
                throw TemplateError(path: path, offset: position, message: "'{{' without a closing '}}'")
            }
            pieces.append(.expression(try steps(Array(bytes[(position + 2)..<end]), base: position + 2, path: path)))
            position = end + 2
            literalStart = position
        }
        if literalStart < bytes.count {
            pieces.append(.text(String(decoding: bytes[literalStart...], as: UTF8.self)))
        }
        return pieces
    }

    private static func steps(_ bytes: [UInt8], base: Int, path: String) throws(TemplateError) -> [Step] {
        var steps: [Step] = []
        var position = 0
        func skipSpaces() { while position < bytes.count, bytes[position] == UInt8(ascii: " ") { position += 1 } }
        func isNameByte(_ byte: UInt8) -> Bool {
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                || byte == UInt8(ascii: "_")
        }
        func fail(_ message: String) -> TemplateError {
            TemplateError(path: path, offset: base + position, message: message)
        }
        func name() throws(TemplateError) -> String {
            let start = position
            while position < bytes.count, isNameByte(bytes[position]) { position += 1 }
            guard position > start else { throw fail("expected a name") }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }
        skipSpaces()
        steps.append(.key(try name()))
        while position < bytes.count, bytes[position] != UInt8(ascii: " ") {
            switch bytes[position] {
            case UInt8(ascii: "."):
                position += 1
                steps.append(.key(try name()))
            case UInt8(ascii: "["):
                position += 1
                guard position < bytes.count else { throw fail("expected a key or an index after '['") }
                let quote = bytes[position]
                if quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") {
                    let start = position + 1
                    guard let close = bytes[start...].firstIndex(of: quote) else { throw fail("unterminated string") }
                    steps.append(.key(String(decoding: bytes[start..<close], as: UTF8.self)))
                    position = close + 1
                } else {
                    let start = position
                    while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 { position += 1 }
                    guard position > start, position - start <= 9 else { throw fail("expected a key or an index") }
                    steps.append(.index(Int(String(decoding: bytes[start..<position], as: UTF8.self))!))  // digits
                }
                guard position < bytes.count, bytes[position] == UInt8(ascii: "]") else { throw fail("expected ']'") }
                position += 1
            default:
                throw fail("this placeholder renderer supports only paths such as a.b['c'][0]")
            }
        }
        skipSpaces()
        guard position == bytes.count else {
            throw fail("this placeholder renderer supports only paths such as a.b['c'][0]")
        }
        return steps
    }

    private static func render(_ node: Node, _ context: JSONObject) -> JSONValue {
        switch node {
        case .constant(let value): return value
        case .array(let nodes): return .array(nodes.map { render($0, context) })
        case .object(let nodes): return .object(JSONObject(nodes.map { .init($0.0, render($0.1, context)) }))
        case .template(let pieces):
            if pieces.count == 1, case .expression(let steps) = pieces[0] { return lookup(steps, context) ?? .null }
            var text = ""
            for piece in pieces {
                switch piece {
                case .text(let literal): text += literal
                case .expression(let steps):
                    switch lookup(steps, context) {
                    case nil, .null?: break
                    case .string(let value)?: text += value
                    case let value?: text += value.encodedString()
                    }
                }
            }
            return .string(text)
        }
    }

    private static func lookup(_ steps: [Step], _ context: JSONObject) -> JSONValue? {
        var value: JSONValue = .object(context)
        for step in steps {
            switch step {
            case .key(let key):
                guard let next = value[key] else { return nil }
                value = next
            case .index(let index):
                guard let elements = value.arrayValue, index < elements.count else { return nil }
                value = elements[index]
            }
        }
        return value
    }
}
