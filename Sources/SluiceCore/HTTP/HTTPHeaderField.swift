/// One header field of a request to send, in the order it will be written.
///
/// Names are compared case-insensitively by receivers but are written exactly as given.
public struct HTTPHeaderField: Hashable, Sendable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Byte classes of RFC 9110 §5.6 shared by the encoder and the parsers.
enum HTTPBytes {
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let semicolon = UInt8(ascii: ";")

    /// `tchar` of RFC 9110 §5.6.2: digits, letters and ``!#$%&'*+-.^_`|~``. A switch rather than a
    /// table: reading a global array per byte costs an initialization check and a retain here.
    @inline(__always) static func isToken(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23...0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }

    /// A byte allowed inside a field value: VCHAR, obs-text, SP and HTAB (RFC 9110 §5.5).
    @inline(__always) static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte >= 0x20 ? byte != 0x7F : byte == tab
    }

    @inline(__always) static func isWhitespace(_ byte: UInt8) -> Bool { byte == space || byte == tab }

    @inline(__always) static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// Whether `bytes` spells `lowercaseName` ignoring ASCII case (lengths are compared first:
    /// most field names differ in length from the few names the parsers look for).
    static func equalsIgnoringCase<Bytes: Collection<UInt8>>(_ bytes: Bytes, _ lowercaseName: String) -> Bool {
        let name = lowercaseName.utf8.span
        guard bytes.count == name.count else { return false }
        var index = 0
        for byte in bytes {
            guard lowercased(byte) == name[index] else { return false }
            index += 1
        }
        return true
    }

    /// The number of decimal digits of `value` (1 for 0).
    static func decimalDigitCount(_ value: UInt64) -> Int {
        var count = 1
        var remaining = value
        while remaining >= 10 {
            remaining /= 10
            count += 1
        }
        return count
    }

    /// Appends `value` in decimal without building a `String`.
    static func appendDecimal(_ value: UInt64, to target: inout [UInt8]) {
        var divisor: UInt64 = 1
        while value / divisor >= 10 { divisor *= 10 }
        var remaining = value
        while divisor > 0 {
            target.append(UInt8(ascii: "0") + UInt8(remaining / divisor))
            remaining %= divisor
            divisor /= 10
        }
    }
}
