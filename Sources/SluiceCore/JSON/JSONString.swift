/// Decoding and encoding of JSON string content.
///
/// Encoding follows Python's `json.dumps(..., ensure_ascii=False)`, the encoder Infrahub's webhook
/// bodies come from (httpx): `"` and `\` are escaped, `\b \f \n \r \t` use their short forms, other
/// control characters below U+0020 become `\u00XX` (lowercase hex), and everything else, DEL and
/// U+2028 included, is written as raw UTF-8.
public enum JSONString {
    /// Appends the unescaped UTF-8 of already validated string content (`JSONScanner.scanString`).
    /// - Precondition: `content` is valid JSON string content (validated by the scanner).
    public static func appendUnescaped(_ content: UnsafeRawBufferPointer, to target: inout [UInt8]) {
        var position = 0
        let count = content.count
        while position < count {
            let byte = unsafe content[position]
            guard byte == UInt8(ascii: "\\") else {
                target.append(byte)
                position += 1
                continue
            }
            precondition(position + 1 < count, "escape validated by the scanner")
            let kind = unsafe content[position + 1]
            position += 2
            switch kind {
            case UInt8(ascii: "b"): target.append(0x08)
            case UInt8(ascii: "f"): target.append(0x0C)
            case UInt8(ascii: "n"): target.append(0x0A)
            case UInt8(ascii: "r"): target.append(0x0D)
            case UInt8(ascii: "t"): target.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = unsafe hex4(content, position)
                position += 4
                if scalar >= 0xD800 && scalar <= 0xDBFF {
                    let low = unsafe hex4(content, position + 2)
                    position += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                appendUTF8(scalar, to: &target)
            default: target.append(kind)  // '"', '\\', '/'
            }
        }
    }

    @unsafe
    private static func hex4(_ content: UnsafeRawBufferPointer, _ position: Int) -> UInt32 {
        var value: UInt32 = 0
        for offset in 0..<4 {
            value = value << 4 | UInt32(hexValue(unsafe content[position + offset]) ?? 0)
        }
        return value
    }

    /// Appends the UTF-8 encoding of a Unicode scalar value.
    public static func appendUTF8(_ scalar: UInt32, to target: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            target.append(UInt8(scalar))
        case 0x80..<0x800:
            target.append(UInt8(0xC0 | scalar >> 6))
            target.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            target.append(UInt8(0xE0 | scalar >> 12))
            target.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            target.append(UInt8(0x80 | scalar & 0x3F))
        default:
            target.append(UInt8(0xF0 | scalar >> 18))
            target.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            target.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            target.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    /// Appends `"…"` with Python-compatible escaping (see the type's doc) of UTF-8 bytes.
    public static func appendQuoted<Bytes: Sequence<UInt8>>(_ utf8: Bytes, to target: inout [UInt8]) {
        target.append(UInt8(ascii: "\""))
        appendEscaped(utf8, to: &target)
        target.append(UInt8(ascii: "\""))
    }

    /// Appends `"…"` for a Swift string (copied as is when nothing in it needs an escape).
    public static func appendQuoted(_ string: String, to target: inout [UInt8]) {
        var string = string
        string.withUTF8 { utf8 in
            target.append(UInt8(ascii: "\""))
            if let base = utf8.baseAddress, unsafe ByteScan.plainStringEnd(base, from: 0, to: utf8.count) == utf8.count
            {
                unsafe target.append(contentsOf: utf8)
            } else {
                unsafe appendEscaped(utf8, to: &target)
            }
            target.append(UInt8(ascii: "\""))
        }
    }

    /// The letter of a two-character escape (`\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`), if `byte` has one.
    @inline(__always)
    static func shortEscape(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): return byte
        case 0x0A: return UInt8(ascii: "n")
        case 0x0D: return UInt8(ascii: "r")
        case 0x09: return UInt8(ascii: "t")
        case 0x08: return UInt8(ascii: "b")
        case 0x0C: return UInt8(ascii: "f")
        default: return nil
        }
    }

    /// Appends the escaped content (no quotes) of UTF-8 bytes.
    public static func appendEscaped<Bytes: Sequence<UInt8>>(_ utf8: Bytes, to target: inout [UInt8]) {
        for byte in utf8 {
            if let short = shortEscape(byte) {
                target.append(UInt8(ascii: "\\"))
                target.append(short)
                continue
            }
            switch byte {
            case 0..<0x20:
                target.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                target.append(lowercaseHexDigits[Int(byte >> 4)])
                target.append(lowercaseHexDigits[Int(byte & 0xF)])
            default: target.append(byte)
            }
        }
    }
}

extension JSONScanner {
    /// The unescaped text of a scanned string.
    public func string(_ token: JSONStringToken) -> String {
        if !token.hasEscapes {
            return unsafe withBytes(in: token.range) { raw in unsafe String(decoding: raw, as: UTF8.self) }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.range.count)
        unsafe withBytes(in: token.range) { raw in unsafe JSONString.appendUnescaped(raw, to: &bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the unescaped UTF-8 of a scanned string.
    public func appendUnescaped(_ token: JSONStringToken, to target: inout [UInt8]) {
        unsafe withBytes(in: token.range) { raw in
            if token.hasEscapes {
                unsafe JSONString.appendUnescaped(raw, to: &target)
            } else {
                unsafe target.append(contentsOf: raw)
            }
        }
    }

    /// Appends the bytes of `range` with insignificant whitespace removed (the value must be valid JSON).
    public func appendCompacted(_ range: Range<Int>, to target: inout [UInt8]) {
        unsafe withBytes(in: range) { raw in unsafe JSONCompactor.append(raw, to: &target) }
    }
}

/// Removes insignificant whitespace from valid JSON text, copying everything else byte for byte.
public enum JSONCompactor {
    /// - Precondition: `source` is valid JSON (string boundaries are trusted).
    public static func append(_ source: UnsafeRawBufferPointer, to target: inout [UInt8]) {
        let count = source.count
        guard count > 0, let base = source.baseAddress else { return }
        target.reserveCapacity(target.count + count)
        var runStart = 0
        var position = 0
        while position < count {
            let byte = unsafe base.load(fromByteOffset: position, as: UInt8.self)
            if byte == UInt8(ascii: "\"") {
                // Inside a string nothing is removed: jump to its closing quote, eight bytes at a time.
                position += 1
                while position < count {
                    position = unsafe ByteScan.quoteOrBackslash(base, from: position, to: count)
                    guard position < count else { break }
                    if unsafe base.load(fromByteOffset: position, as: UInt8.self) == UInt8(ascii: "\\") {
                        position += 2  // the escaped byte cannot end the string
                    } else {
                        position += 1  // the closing quote
                        break
                    }
                }
                continue
            }
            if byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
                if position > runStart {
                    unsafe target.append(contentsOf: UnsafeRawBufferPointer(rebasing: source[runStart..<position]))
                }
                runStart = position + 1
            }
            position += 1
        }
        if count > runStart {
            unsafe target.append(contentsOf: UnsafeRawBufferPointer(rebasing: source[runStart..<count]))
        }
    }

    /// Compacts a whole byte array.
    public static func compacted(_ source: [UInt8]) -> [UInt8] {
        var target: [UInt8] = []
        unsafe source.withUnsafeBytes { raw in unsafe append(raw, to: &target) }
        return target
    }
}
