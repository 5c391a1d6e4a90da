/// The location of a JSON string's content (between the quotes) inside the scanned bytes.
public struct JSONStringToken: Sendable, Equatable {
    /// Byte range of the content, quotes excluded, still escaped.
    public var range: Range<Int>
    /// `true` when the content contains at least one backslash escape.
    public var hasEscapes: Bool
}

/// A strict RFC 8259 scanner over a borrowed byte buffer.
///
/// It validates as it goes: UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF), escapes
/// (including surrogate pairs in `\u` escapes), control characters inside strings, number grammar,
/// literals and nesting depth. It never allocates. Every read is bounds-checked by the scanner's own
/// logic before it happens, so malformed input produces a ``JSONError`` and never a trap.
///
/// Not thread-safe; a value type used by one caller for one buffer.
@safe
public struct JSONScanner {
    // The buffer is borrowed from the caller for the scanner's lifetime (see `withScanner`).
    private let base: UnsafeRawPointer
    public let count: Int
    public var index: Int
    public var depth: Int = 0
    public let depthMax: Int

    /// - Precondition: `bytes` outlives the scanner; use ``withScanner(_:depthMax:_:)`` to guarantee it.
    @unsafe
    public init(bytes: UnsafeRawBufferPointer, depthMax: Int = 128) {
        precondition(depthMax > 0, "depthMax must be positive")
        // An empty buffer may have a nil base address; point at a static byte so reads stay well-defined.
        unsafe self.base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        self.count = bytes.count
        self.index = 0
        self.depthMax = depthMax
    }

    /// Runs `body` with a scanner over `bytes`.
    public static func withScanner<Result, Failure: Error>(
        _ bytes: [UInt8],
        depthMax: Int = 128,
        _ body: (inout JSONScanner) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let result: Swift.Result<Result, Failure> = unsafe bytes.withUnsafeBytes { raw in
            var scanner = unsafe JSONScanner(bytes: raw, depthMax: depthMax)
            do throws(Failure) {
                return .success(try body(&scanner))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The byte at `position`. - Precondition: `position < count` (callers check first).
    @inline(__always)
    public func byte(at position: Int) -> UInt8 {
        precondition(position >= 0 && position < count, "JSONScanner read out of bounds")
        return unsafe base.load(fromByteOffset: position, as: UInt8.self)
    }

    /// Copies `range` out as bytes.
    public func bytes(in range: Range<Int>) -> [UInt8] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return unsafe Array(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// Calls `body` with the raw bytes of `range`, without copying.
    public func withBytes<R>(in range: Range<Int>, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return unsafe body(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// `true` when the bytes in `range` equal `literal` (an ASCII key or value).
    public func bytes(in range: Range<Int>, equal literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return unsafe memoryEqual(base + range.lowerBound, UnsafeRawPointer(literal.utf8Start), range.count)
    }

    /// `true` when the bytes in `range` start with `prefix`.
    public func bytes(in range: Range<Int>, startWith prefix: StaticString) -> Bool {
        guard range.count >= prefix.utf8CodeUnitCount else { return false }
        return bytes(in: range.lowerBound..<(range.lowerBound + prefix.utf8CodeUnitCount), equal: prefix)
    }

    /// `true` when two ranges of this buffer hold equal bytes.
    public func bytes(in left: Range<Int>, equalBytesIn right: Range<Int>) -> Bool {
        guard left.count == right.count else { return false }
        precondition(left.upperBound <= count && right.upperBound <= count)
        return unsafe memoryEqual(base + left.lowerBound, base + right.lowerBound, left.count)
    }

    // MARK: - Tokens

    @inline(__always)
    public mutating func skipWhitespace() {
        // Compact JSON has none: one comparison in the common case.
        if index < count, byte(at: index) > 0x20 { return }
        while index < count {
            switch byte(at: index) {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
            default: return
            }
        }
    }

    /// The next non-whitespace byte, without consuming it; `nil` at the end.
    public mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < count ? byte(at: index) : nil
    }

    @inline(__always)
    public mutating func expect(_ expected: UInt8, _ what: StaticString) throws(JSONError) {
        skipWhitespace()
        if index < count, byte(at: index) == expected {
            index += 1
            return
        }
        throw unexpected(what)
    }

    /// The error of a failed ``expect(_:_:)`` (out of line: the hot path only compares).
    @inline(never)
    private func unexpected(_ what: StaticString) -> JSONError {
        guard index < count else {
            return JSONError(code: .unexpectedEnd, byteOffset: index, message: "expected \(what), found end of input")
        }
        return JSONError(
            code: .unexpectedByte,
            byteOffset: index,
            message: "expected \(what), found \(describe(byte(at: index)))"
        )
    }

    /// Consumes `byte` if it is next; returns whether it was.
    @inline(__always)
    public mutating func consume(_ expected: UInt8) -> Bool {
        skipWhitespace()
        if index < count && byte(at: index) == expected {
            index += 1
            return true
        }
        return false
    }

    /// Fails unless only whitespace remains.
    public mutating func expectEnd() throws(JSONError) {
        skipWhitespace()
        guard index == count else {
            throw JSONError(
                code: .trailingBytes,
                byteOffset: index,
                message: "unexpected \(describe(byte(at: index))) after the end of the JSON value"
            )
        }
    }

    // MARK: - Strings

    /// Scans a string starting at the next non-whitespace byte (which must be `"`).
    public mutating func scanString() throws(JSONError) -> JSONStringToken {
        try expect(UInt8(ascii: "\""), "a string")
        let start = index
        var hasEscapes = false
        while true {
            // Fast path: plain printable ASCII, eight bytes at a time.
            index = unsafe ByteScan.plainStringEnd(base, from: index, to: count)
            guard index < count else {
                throw JSONError(code: .invalidString, byteOffset: start - 1, message: "unterminated string")
            }
            let b = byte(at: index)
            if b == UInt8(ascii: "\"") {
                let token = JSONStringToken(range: start..<index, hasEscapes: hasEscapes)
                index += 1
                return token
            } else if b == UInt8(ascii: "\\") {
                hasEscapes = true
                try scanEscape()
            } else if b < 0x20 {
                throw JSONError(
                    code: .controlCharacter,
                    byteOffset: index,
                    message: "unescaped control character \(describe(b)) in string"
                )
            } else {
                try scanUTF8Sequence()
            }
        }
    }

    private mutating func scanEscape() throws(JSONError) {
        let escapeStart = index
        index += 1  // the backslash
        guard index < count else {
            throw JSONError(code: .invalidEscape, byteOffset: escapeStart, message: "unterminated escape")
        }
        switch byte(at: index) {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 1
        case UInt8(ascii: "u"):
            index += 1
            let unit = try scanHex4(escapeStart: escapeStart)
            if unit >= 0xD800 && unit <= 0xDBFF {
                // A high surrogate must be followed by an escaped low surrogate.
                guard index + 1 < count, byte(at: index) == UInt8(ascii: "\\"), byte(at: index + 1) == UInt8(ascii: "u")
                else {
                    throw JSONError(
                        code: .unpairedSurrogate,
                        byteOffset: escapeStart,
                        message: "high surrogate escape without a low surrogate"
                    )
                }
                index += 2
                let low = try scanHex4(escapeStart: escapeStart)
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw JSONError(
                        code: .unpairedSurrogate,
                        byteOffset: escapeStart,
                        message: "high surrogate escape followed by a non-low-surrogate"
                    )
                }
            } else if unit >= 0xDC00 && unit <= 0xDFFF {
                throw JSONError(
                    code: .unpairedSurrogate,
                    byteOffset: escapeStart,
                    message: "low surrogate escape without a high surrogate"
                )
            }
        default:
            throw JSONError(
                code: .invalidEscape,
                byteOffset: escapeStart,
                message: "invalid escape \\\(describe(byte(at: index)))"
            )
        }
    }

    private mutating func scanHex4(escapeStart: Int) throws(JSONError) -> UInt32 {
        guard index + 4 <= count else {
            throw JSONError(code: .invalidEscape, byteOffset: escapeStart, message: "truncated \\u escape")
        }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = hexValue(byte(at: index)) else {
                throw JSONError(code: .invalidEscape, byteOffset: escapeStart, message: "\\u escape needs 4 hex digits")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence (Unicode 15, table 3-7) starting at `index`.
    private mutating func scanUTF8Sequence() throws(JSONError) {
        let start = index
        let lead = byte(at: index)
        let length: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            upper = 0x9F  // excludes surrogates
        case 0xF0:
            length = 4
            lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            upper = 0x8F
        default:
            throw JSONError(code: .invalidUTF8, byteOffset: start, message: "invalid UTF-8 lead \(describe(lead))")
        }
        guard start + length <= count else {
            throw JSONError(code: .invalidUTF8, byteOffset: start, message: "truncated UTF-8 sequence")
        }
        let second = byte(at: start + 1)
        guard second >= lower && second <= upper else {
            throw JSONError(code: .invalidUTF8, byteOffset: start + 1, message: "invalid UTF-8 continuation byte")
        }
        var position = start + 2
        while position < start + length {
            let continuation = byte(at: position)
            guard continuation & 0xC0 == 0x80 else {
                throw JSONError(code: .invalidUTF8, byteOffset: position, message: "invalid UTF-8 continuation byte")
            }
            position += 1
        }
        index = start + length
    }

    // MARK: - Numbers and literals

    /// Scans a number per RFC 8259 and returns its byte range.
    public mutating func scanNumber() throws(JSONError) -> Range<Int> {
        skipWhitespace()
        let start = index
        if index < count && byte(at: index) == UInt8(ascii: "-") { index += 1 }
        guard index < count, isDigit(byte(at: index)) else {
            throw JSONError(code: .invalidNumber, byteOffset: start, message: "invalid number")
        }
        if byte(at: index) == UInt8(ascii: "0") {
            index += 1
            if index < count && isDigit(byte(at: index)) {
                throw JSONError(code: .invalidNumber, byteOffset: start, message: "number with a leading zero")
            }
        } else {
            while index < count && isDigit(byte(at: index)) { index += 1 }
        }
        if index < count && byte(at: index) == UInt8(ascii: ".") {
            index += 1
            guard index < count, isDigit(byte(at: index)) else {
                throw JSONError(code: .invalidNumber, byteOffset: start, message: "number needs digits after '.'")
            }
            while index < count && isDigit(byte(at: index)) { index += 1 }
        }
        if index < count && (byte(at: index) | 0x20) == UInt8(ascii: "e") {
            index += 1
            if index < count && (byte(at: index) == UInt8(ascii: "+") || byte(at: index) == UInt8(ascii: "-")) {
                index += 1
            }
            guard index < count, isDigit(byte(at: index)) else {
                throw JSONError(code: .invalidNumber, byteOffset: start, message: "number needs digits in its exponent")
            }
            while index < count && isDigit(byte(at: index)) { index += 1 }
        }
        return start..<index
    }

    private mutating func scanLiteral(_ literal: StaticString) throws(JSONError) {
        let length = literal.utf8CodeUnitCount
        guard index + length <= count, bytes(in: index..<(index + length), equal: literal) else {
            throw JSONError(code: .invalidLiteral, byteOffset: index, message: "invalid literal, expected \(literal)")
        }
        index += length
    }

    /// Scans `true`, `false` or `null`; returns the literal's first byte.
    public mutating func scanLiteral() throws(JSONError) -> UInt8 {
        guard let first = peek() else {
            throw JSONError(code: .unexpectedEnd, byteOffset: index, message: "expected a value, found end of input")
        }
        switch first {
        case UInt8(ascii: "t"): try scanLiteral("true")
        case UInt8(ascii: "f"): try scanLiteral("false")
        case UInt8(ascii: "n"): try scanLiteral("null")
        default:
            throw JSONError(
                code: .unexpectedByte,
                byteOffset: index,
                message: "expected a literal, found \(describe(first))"
            )
        }
        return first
    }

    // MARK: - Whole values

    /// Validates and skips one value of any type; returns its byte range.
    @discardableResult
    public mutating func skipValue() throws(JSONError) -> Range<Int> {
        guard let first = peek() else {
            throw JSONError(code: .unexpectedEnd, byteOffset: index, message: "expected a value, found end of input")
        }
        let start = index
        switch first {
        case UInt8(ascii: "{"):
            try enterContainer()
            index += 1
            if !consume(UInt8(ascii: "}")) {
                repeat {
                    _ = try scanString()
                    try expect(UInt8(ascii: ":"), "':' after an object key")
                    try skipValue()
                } while try continueContainer(close: UInt8(ascii: "}"), "',' or '}' in an object")
            }
            depth -= 1
        case UInt8(ascii: "["):
            try enterContainer()
            index += 1
            if !consume(UInt8(ascii: "]")) {
                repeat {
                    try skipValue()
                } while try continueContainer(close: UInt8(ascii: "]"), "',' or ']' in an array")
            }
            depth -= 1
        case UInt8(ascii: "\""):
            _ = try scanString()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            _ = try scanNumber()
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            _ = try scanLiteral()
        default:
            throw JSONError(
                code: .unexpectedByte,
                byteOffset: index,
                message: "expected a value, found \(describe(first))"
            )
        }
        return start..<index
    }

    /// Counts one more level of nesting; fails past `depthMax`.
    public mutating func enterContainer() throws(JSONError) {
        depth += 1
        guard depth <= depthMax else {
            throw JSONError(code: .depthExceeded, byteOffset: index, message: "nesting deeper than \(depthMax) levels")
        }
    }

    /// After a member or element: `true` if a `,` follows, `false` if `close` follows.
    public mutating func continueContainer(close: UInt8, _ what: StaticString) throws(JSONError) -> Bool {
        if consume(UInt8(ascii: ",")) { return true }
        try expect(close, what)
        return false
    }

    // MARK: - Helpers

    /// A printable description of a byte for error messages.
    public func describe(_ value: UInt8) -> String {
        if value >= 0x21 && value < 0x7F { return "'\(Character(Unicode.Scalar(value)))'" }
        let hex = String(value, radix: 16, uppercase: true)
        return "byte 0x\(hex.count == 1 ? "0" + hex : hex)"
    }
}

@inline(__always)
func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

@inline(__always)
func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// Byte-wise equality without Foundation's `memcmp`.
@unsafe
@inline(__always)
func memoryEqual(_ left: UnsafeRawPointer, _ right: UnsafeRawPointer, _ count: Int) -> Bool {
    var position = 0
    while position + 8 <= count {
        if unsafe left.loadUnaligned(fromByteOffset: position, as: UInt64.self)
            != right.loadUnaligned(fromByteOffset: position, as: UInt64.self)
        {
            return false
        }
        position += 8
    }
    while position < count {
        if unsafe left.load(fromByteOffset: position, as: UInt8.self)
            != right.load(fromByteOffset: position, as: UInt8.self)
        {
            return false
        }
        position += 1
    }
    return true
}
