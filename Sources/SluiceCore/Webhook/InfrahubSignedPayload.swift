/// The bytes Infrahub 1.11 signs for a JSON body (spec §c.6 quirk): Python's
/// `json.dumps(payload, separators=(",", ":"))` with the default `ensure_ascii=True`, while the body sent is
/// the same JSON with `ensure_ascii=False`. The two differ only in characters from U+007F on, which the
/// signed form writes as `\uXXXX` (lowercase hex, UTF-16 surrogate pairs above U+FFFF).
///
/// Sluice never signs this way (it signs the bytes it sends); verifiers use it to accept real Infrahub
/// deliveries whose payload has non-ASCII text.
public enum InfrahubSignedPayload {
    /// `body` (compact JSON, UTF-8) with every character from U+007F written as Python's `ensure_ascii`
    /// escapes. In valid JSON such characters occur only inside strings, so no parsing is needed. Bytes
    /// that are not valid UTF-8 are copied unchanged.
    public static func asciiEscaped(_ body: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(body.count + body.count / 4)
        var index = 0
        while index < body.count {
            let lead = body[index]
            if lead < 0x7F {
                result.append(lead)
                index += 1
                continue
            }
            guard let (scalar, length) = decodeScalar(body, at: index) else {
                result.append(lead)
                index += 1
                continue
            }
            if scalar > 0xFFFF {
                let offset = scalar - 0x1_0000
                appendEscape(UInt16(0xD800 + (offset >> 10)), to: &result)
                appendEscape(UInt16(0xDC00 + (offset & 0x3FF)), to: &result)
            } else {
                appendEscape(UInt16(scalar), to: &result)
            }
            index += length
        }
        return result
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    private static func appendEscape(_ unit: UInt16, to target: inout [UInt8]) {
        target.append(UInt8(ascii: "\\"))
        target.append(UInt8(ascii: "u"))
        for shift in stride(from: 12, through: 0, by: -4) {
            target.append(hexDigits[Int(unit >> UInt16(shift) & 0xF)])
        }
    }

    /// The scalar starting at `index` and its byte length, or `nil` for invalid UTF-8.
    private static func decodeScalar(_ bytes: [UInt8], at index: Int) -> (UInt32, Int)? {
        let lead = bytes[index]
        if lead == 0x7F { return (0x7F, 1) }
        let length: Int
        var scalar: UInt32
        switch lead {
        case 0xC2...0xDF:
            length = 2
            scalar = UInt32(lead & 0x1F)
        case 0xE0...0xEF:
            length = 3
            scalar = UInt32(lead & 0x0F)
        case 0xF0...0xF4:
            length = 4
            scalar = UInt32(lead & 0x07)
        default: return nil
        }
        guard index + length <= bytes.count else { return nil }
        for offset in 1..<length {
            let continuation = bytes[index + offset]
            guard continuation & 0xC0 == 0x80 else { return nil }
            scalar = scalar << 6 | UInt32(continuation & 0x3F)
        }
        let minimum: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x1_0000
        guard scalar >= minimum, scalar <= 0x10_FFFF, !(0xD800...0xDFFF).contains(scalar) else { return nil }
        return (scalar, length)
    }
}
