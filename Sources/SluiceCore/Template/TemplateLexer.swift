/// A token of a Jinja2 template: text between tags, tag delimiters, and the expression tokens inside.
struct TemplateToken {
    enum Kind: Equatable {
        case text(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case integer(Int)
        case float(Double)
        case string(String)
        /// An operator or punctuation: `+`, `//`, `==`, `(`, `|`, …
        case symbol(String)
        case end
    }

    var kind: Kind
    /// Byte offset in the template source.
    var offset: Int
}

/// A template syntax error at a byte offset (the caller adds the parameter path).
struct TemplateSyntaxError: Error {
    var offset: Int
    var message: String
}

/// Jinja2 3.1's lexer with the default environment settings Prefect uses: `{{ }}`, `{% %}`, `{# #}`,
/// `-` whitespace control, `{% raw %}`, newlines normalized to `\n`, one trailing newline dropped
/// (`keep_trailing_newline=False`), no `trim_blocks` / `lstrip_blocks`, no line statements.
struct TemplateLexer {
    private let source: [UInt8]
    private var index = 0
    private var tokens: [TemplateToken] = []
    /// A `-%}`, `-}}` or `-#}` asked to strip the whitespace that starts the next text.
    private var stripNext = false

    static func tokenize(_ text: String) throws(TemplateSyntaxError) -> [TemplateToken] {
        var bytes = Array(text.utf8)
        if bytes.last == UInt8(ascii: "\n") {
            bytes.removeLast()
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        } else if bytes.last == UInt8(ascii: "\r") {
            bytes.removeLast()
        }
        var lexer = TemplateLexer(source: bytes)
        try lexer.run()
        lexer.tokens.append(TemplateToken(kind: .end, offset: bytes.count))
        return lexer.tokens
    }

    private init(source: [UInt8]) { self.source = source }

    private func starts(with text: String, at position: Int) -> Bool {
        var cursor = position
        for byte in text.utf8 {
            guard cursor < source.count, source[cursor] == byte else { return false }
            cursor += 1
        }
        return true
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C
    }

    private mutating func run() throws(TemplateSyntaxError) {
        while index < source.count {
            // Text up to the next tag opening.
            var cursor = index
            var tagAt: Int?
            while cursor + 1 < source.count {
                if source[cursor] == UInt8(ascii: "{") {
                    let next = source[cursor + 1]
                    if next == UInt8(ascii: "{") || next == UInt8(ascii: "%") || next == UInt8(ascii: "#") {
                        tagAt = cursor
                        break
                    }
                }
                cursor += 1
            }
            let textEnd = tagAt ?? source.count
            let stripsBefore = tagAt.map { $0 + 2 < source.count && source[$0 + 2] == UInt8(ascii: "-") } ?? false
            emitText(from: index, to: textEnd, rstrip: stripsBefore)
            guard let tag = tagAt else {
                index = source.count
                return
            }
            let kind = source[tag + 1]
            index = tag + 2
            if index < source.count && (source[index] == UInt8(ascii: "-") || source[index] == UInt8(ascii: "+")) {
                index += 1
            }
            switch kind {
            case UInt8(ascii: "#"):
                try comment(openedAt: tag)
            case UInt8(ascii: "{"):
                tokens.append(TemplateToken(kind: .variableBegin, offset: tag))
                try expression(closing: "}}", openedAt: tag)
            default:
                if try rawBlock(openedAt: tag) { continue }
                tokens.append(TemplateToken(kind: .blockBegin, offset: tag))
                try expression(closing: "%}", openedAt: tag)
            }
        }
    }

    private mutating func emitText(from start: Int, to end: Int, rstrip: Bool) {
        var first = start
        var last = end
        if stripNext {
            while first < last && Self.isSpace(source[first]) { first += 1 }
            stripNext = false
        }
        if rstrip {
            while last > first && Self.isSpace(source[last - 1]) { last -= 1 }
        }
        guard first < last else { return }
        tokens.append(TemplateToken(kind: .text(Self.normalizedNewlines(source[first..<last])), offset: first))
    }

    static func normalizedNewlines(_ bytes: ArraySlice<UInt8>) -> String {
        guard bytes.contains(UInt8(ascii: "\r")) else { return String(decoding: bytes, as: UTF8.self) }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var previousCR = false
        for byte in bytes {
            if byte == UInt8(ascii: "\r") {
                result.append(UInt8(ascii: "\n"))
                previousCR = true
                continue
            }
            if byte == UInt8(ascii: "\n") && previousCR {
                previousCR = false
                continue
            }
            previousCR = false
            result.append(byte)
        }
        return String(decoding: result, as: UTF8.self)
    }

    private mutating func comment(openedAt tag: Int) throws(TemplateSyntaxError) {
        while index + 1 < source.count {
            if source[index] == UInt8(ascii: "#") && source[index + 1] == UInt8(ascii: "}") {
                if index > tag + 2 && source[index - 1] == UInt8(ascii: "-") { stripNext = true }
                index += 2
                return
            }
            index += 1
        }
        throw TemplateSyntaxError(offset: tag, message: "missing end of comment tag")
    }

    /// `{% raw %}…{% endraw %}`: the text between is output as is.
    private mutating func rawBlock(openedAt tag: Int) throws(TemplateSyntaxError) -> Bool {
        var cursor = index
        while cursor < source.count && Self.isSpace(source[cursor]) { cursor += 1 }
        guard starts(with: "raw", at: cursor) else { return false }
        cursor += 3
        while cursor < source.count && Self.isSpace(source[cursor]) { cursor += 1 }
        var strip = false
        if starts(with: "-%}", at: cursor) {
            strip = true
            cursor += 3
        } else if starts(with: "%}", at: cursor) {
            cursor += 2
        } else {
            return false
        }
        stripNext = strip
        // Find `{%-? endraw -?%}`.
        var search = cursor
        while search + 1 < source.count {
            if source[search] == UInt8(ascii: "{") && source[search + 1] == UInt8(ascii: "%") {
                var inner = search + 2
                let stripsBefore = inner < source.count && source[inner] == UInt8(ascii: "-")
                if inner < source.count && (source[inner] == UInt8(ascii: "-") || source[inner] == UInt8(ascii: "+")) {
                    inner += 1
                }
                while inner < source.count && Self.isSpace(source[inner]) { inner += 1 }
                if starts(with: "endraw", at: inner) {
                    inner += 6
                    while inner < source.count && Self.isSpace(source[inner]) { inner += 1 }
                    var stripsAfter = false
                    if starts(with: "-%}", at: inner) {
                        stripsAfter = true
                        inner += 3
                    } else if starts(with: "%}", at: inner) {
                        inner += 2
                    } else {
                        throw TemplateSyntaxError(offset: search, message: "expected '%}' after 'endraw'")
                    }
                    emitText(from: cursor, to: search, rstrip: stripsBefore)
                    stripNext = stripsAfter
                    index = inner
                    return true
                }
            }
            search += 1
        }
        throw TemplateSyntaxError(offset: tag, message: "missing end of raw directive")
    }

    private static let symbols2 = ["//", "**", "==", "!=", ">=", "<="]
    private static let symbols1 = Set("+-/*%~[](){},.:|=<>;".utf8)

    private mutating func expression(closing: String, openedAt tag: Int) throws(TemplateSyntaxError) {
        var depth = 0
        var afterDot = false
        while true {
            while index < source.count && Self.isSpace(source[index]) { index += 1 }
            guard index < source.count else {
                throw TemplateSyntaxError(
                    offset: tag,
                    message: closing == "}}"
                        ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'"
                )
            }
            if depth == 0 {
                if starts(with: "-" + closing, at: index) {
                    index += 3
                    stripNext = true
                    tokens.append(TemplateToken(kind: closing == "}}" ? .variableEnd : .blockEnd, offset: index - 3))
                    return
                }
                if starts(with: closing, at: index) {
                    index += 2
                    tokens.append(TemplateToken(kind: closing == "}}" ? .variableEnd : .blockEnd, offset: index - 2))
                    return
                }
            }
            let start = index
            let byte = source[index]
            if byte == UInt8(ascii: "_") || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "z")) {
                while index < source.count,
                    source[index] == UInt8(ascii: "_")
                        || (source[index] | 0x20 >= UInt8(ascii: "a") && source[index] | 0x20 <= UInt8(ascii: "z"))
                        || (source[index] >= UInt8(ascii: "0") && source[index] <= UInt8(ascii: "9"))
                {
                    index += 1
                }
                tokens.append(
                    TemplateToken(kind: .name(String(decoding: source[start..<index], as: UTF8.self)), offset: start)
                )
                afterDot = false
                continue
            }
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                try number(allowFloat: !afterDot)
                afterDot = false
                continue
            }
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                try string(quote: byte)
                afterDot = false
                continue
            }
            if let two = Self.symbols2.first(where: { starts(with: $0, at: index) }) {
                index += 2
                tokens.append(TemplateToken(kind: .symbol(two), offset: start))
                afterDot = false
                continue
            }
            if Self.symbols1.contains(byte) {
                index += 1
                let symbol = String(UnicodeScalar(byte))
                switch symbol {
                case "(", "[", "{": depth += 1
                case ")", "]", "}": depth = max(depth - 1, 0)
                default: break
                }
                tokens.append(TemplateToken(kind: .symbol(symbol), offset: start))
                afterDot = symbol == "."
                continue
            }
            throw TemplateSyntaxError(offset: start, message: "unexpected char \(Self.describe(byte)) at \(start)")
        }
    }

    private static func describe(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? "'\(String(UnicodeScalar(byte)))'" : "0x\(String(byte, radix: 16))"
    }

    private mutating func digits() -> String {
        var text = ""
        while index < source.count {
            let byte = source[index]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                text.unicodeScalars.append(UnicodeScalar(byte))
                index += 1
            } else if byte == UInt8(ascii: "_") && index + 1 < source.count && source[index + 1] >= UInt8(ascii: "0")
                && source[index + 1] <= UInt8(ascii: "9") && !text.isEmpty
            {
                index += 1
            } else {
                break
            }
        }
        return text
    }

    private mutating func number(allowFloat: Bool) throws(TemplateSyntaxError) {
        let start = index
        var text = digits()
        var isFloat = false
        if allowFloat && index + 1 < source.count && source[index] == UInt8(ascii: ".")
            && source[index + 1] >= UInt8(ascii: "0") && source[index + 1] <= UInt8(ascii: "9")
        {
            index += 1
            text += "." + digits()
            isFloat = true
        }
        if allowFloat && index < source.count && (source[index] | 0x20) == UInt8(ascii: "e") {
            var cursor = index + 1
            var sign = ""
            if cursor < source.count && (source[cursor] == UInt8(ascii: "+") || source[cursor] == UInt8(ascii: "-")) {
                sign = String(UnicodeScalar(source[cursor]))
                cursor += 1
            }
            if cursor < source.count && source[cursor] >= UInt8(ascii: "0") && source[cursor] <= UInt8(ascii: "9") {
                index = cursor
                text += "e" + sign + digits()
                isFloat = true
            }
        }
        if isFloat {
            tokens.append(TemplateToken(kind: .float(Double(text) ?? .infinity), offset: start))
        } else if let value = Int(text) {
            tokens.append(TemplateToken(kind: .integer(value), offset: start))
        } else {
            throw TemplateSyntaxError(offset: start, message: "integer literal \(text) does not fit in 64 bits")
        }
    }

    /// A string literal with Python's escapes (`\n`, `\t`, `\\`, `\'`, `\"`, `\xNN`, `\uNNNN`,
    /// `\UNNNNNNNN`); an unknown escape keeps its backslash, as Python's `unicode-escape` does.
    private mutating func string(quote: UInt8) throws(TemplateSyntaxError) {
        let start = index
        index += 1
        var bytes: [UInt8] = []
        while true {
            guard index < source.count else {
                throw TemplateSyntaxError(offset: start, message: "unexpected end of string literal")
            }
            let byte = source[index]
            if byte == quote {
                index += 1
                break
            }
            if byte == UInt8(ascii: "\\") && index + 1 < source.count {
                let escaped = source[index + 1]
                index += 2
                switch escaped {
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "0"): bytes.append(0x00)
                case UInt8(ascii: "a"): bytes.append(0x07)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "v"): bytes.append(0x0B)
                case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): bytes.append(escaped)
                case UInt8(ascii: "\n"): break
                case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let count = escaped == UInt8(ascii: "x") ? 2 : escaped == UInt8(ascii: "u") ? 4 : 8
                    guard index + count <= source.count,
                        let value = UInt32(String(decoding: source[index..<index + count], as: UTF8.self), radix: 16),
                        let scalar = Unicode.Scalar(value)
                    else {
                        throw TemplateSyntaxError(offset: index - 2, message: "invalid escape in string literal")
                    }
                    index += count
                    bytes.append(contentsOf: String(scalar).utf8)
                default:
                    bytes.append(UInt8(ascii: "\\"))
                    bytes.append(escaped)
                }
                continue
            }
            bytes.append(byte)
            index += 1
        }
        tokens.append(TemplateToken(kind: .string(Self.normalizedNewlines(bytes[...])), offset: start))
    }
}
