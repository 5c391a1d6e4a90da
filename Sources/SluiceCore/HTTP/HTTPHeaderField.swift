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

    /// `tchar` of RFC 9110 §5.6.2, as a 256-entry table built once.
    static let isTokenTable: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] = true }
        for byte in "!#$%&'*+-.^_`|~".utf8 { table[Int(byte)] = true }
        return table
    }()

    @inline(__always) static func isToken(_ byte: UInt8) -> Bool { isTokenTable[Int(byte)] }

    /// A byte allowed inside a field value: VCHAR, obs-text, SP and HTAB (RFC 9110 §5.5).
    @inline(__always) static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte >= 0x20 ? byte != 0x7F : byte == tab
    }

    @inline(__always) static func isWhitespace(_ byte: UInt8) -> Bool { byte == space || byte == tab }

    @inline(__always) static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// Whether `bytes` spells `lowercaseName` ignoring ASCII case.
    static func equalsIgnoringCase<Bytes: Collection<UInt8>>(_ bytes: Bytes, _ lowercaseName: String) -> Bool {
        var nameIterator = lowercaseName.utf8.makeIterator()
        for byte in bytes {
            guard let expected = nameIterator.next(), lowercased(byte) == expected else { return false }
        }
        return nameIterator.next() == nil
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
