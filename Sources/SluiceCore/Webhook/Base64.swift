/// Standard base64 (RFC 4648 §4, `+/`, `=` padding), written into caller storage without allocating.
///
/// Encoding is on the signing hot path (one 32-byte MAC per signature); decoding is for configuration
/// (`whsec_` secrets) and verification (signature entries).
public enum Base64 {
    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8
    )

    /// 0–63 for alphabet bytes, 0xFF otherwise.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(value) }
        return table
    }()

    /// The encoded length of `byteCount` bytes, padding included.
    public static func encodedByteCount(_ byteCount: Int) -> Int { (byteCount + 2) / 3 * 4 }

    /// Writes the encoding of `source` at the start of `target` and returns its length.
    /// `target` must hold at least ``encodedByteCount(_:)`` bytes.
    @discardableResult
    public static func encode(_ source: UnsafeRawBufferPointer, into target: UnsafeMutableRawBufferPointer) -> Int {
        let count = encodedByteCount(source.count)
        precondition(target.count >= count, "base64 target too small")
        unsafe alphabet.withUnsafeBufferPointer { table in
            var sourceIndex = 0
            var targetIndex = 0
            while sourceIndex + 3 <= source.count {
                let word =
                    UInt32(unsafe source[sourceIndex]) << 16 | UInt32(unsafe source[sourceIndex + 1]) << 8
                    | UInt32(unsafe source[sourceIndex + 2])
                unsafe target[targetIndex] = table[Int(word >> 18)]
                unsafe target[targetIndex + 1] = table[Int(word >> 12 & 0x3F)]
                unsafe target[targetIndex + 2] = table[Int(word >> 6 & 0x3F)]
                unsafe target[targetIndex + 3] = table[Int(word & 0x3F)]
                sourceIndex += 3
                targetIndex += 4
            }
            let remaining = source.count - sourceIndex
            if remaining > 0 {
                var word = UInt32(unsafe source[sourceIndex]) << 16
                if remaining == 2 { word |= UInt32(unsafe source[sourceIndex + 1]) << 8 }
                unsafe target[targetIndex] = table[Int(word >> 18)]
                unsafe target[targetIndex + 1] = table[Int(word >> 12 & 0x3F)]
                unsafe target[targetIndex + 2] = remaining == 2 ? table[Int(word >> 6 & 0x3F)] : UInt8(ascii: "=")
                unsafe target[targetIndex + 3] = UInt8(ascii: "=")
            }
        }
        return count
    }

    /// The encoding of `bytes` as a string (control plane).
    public static func encodedString(_ bytes: [UInt8]) -> String {
        var target = [UInt8](repeating: 0, count: encodedByteCount(bytes.count))
        unsafe bytes.withUnsafeBytes { source in
            unsafe target.withUnsafeMutableBytes { unsafe _ = encode(source, into: $0) }
        }
        return String(decoding: target, as: UTF8.self)
    }

    /// Decodes standard base64. With `paddingOptional`, missing trailing `=` are accepted (as the Python
    /// Standard Webhooks library does for secrets). Returns `nil` for any byte outside the alphabet, `=`
    /// anywhere but the last two places, or a length that is not a whole number of groups. Bits after the
    /// last full byte are ignored, as Python's and OpenSSL's decoders do.
    public static func decode(_ text: some Collection<UInt8>, paddingOptional: Bool = false) -> [UInt8]? {
        var bytes = Array(text)
        if paddingOptional {
            while bytes.count % 4 != 0 { bytes.append(UInt8(ascii: "=")) }
        }
        guard bytes.count % 4 == 0 else { return nil }
        var padding = 0
        if bytes.last == UInt8(ascii: "=") { padding += 1 }
        if padding == 1 && bytes.count >= 2 && bytes[bytes.count - 2] == UInt8(ascii: "=") { padding += 1 }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count / 4 * 3)
        var word: UInt32 = 0
        for (position, byte) in bytes.enumerated() {
            let value: UInt8
            if position >= bytes.count - padding {
                value = 0
            } else {
                value = values[Int(byte)]
                guard value != 0xFF else { return nil }
            }
            word = word << 6 | UInt32(value)
            if position % 4 == 3 {
                result.append(UInt8(truncatingIfNeeded: word >> 16))
                result.append(UInt8(truncatingIfNeeded: word >> 8))
                result.append(UInt8(truncatingIfNeeded: word))
                word = 0
            }
        }
        result.removeLast(padding)
        return result
    }
}
