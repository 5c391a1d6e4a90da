/// A 128-bit UUID: the event id (Infrahub `meta.id` = Prefect event id = webhook body `id`).
///
/// Stored as two big-endian halves so comparison orders like the canonical text.
public struct EventID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static func < (left: EventID, right: EventID) -> Bool {
        (left.high, left.low) < (right.high, right.low)
    }

    /// Parses the canonical 8-4-4-4-12 form, hex digits in either case.
    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> EventID? where Bytes.Index == Int {
        guard bytes.count == 36 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        var digitCount = 0
        for (position, byte) in zip(0..., bytes) {
            if position == 8 || position == 13 || position == 18 || position == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            guard let digit = hexValue(byte) else { return nil }
            if digitCount < 16 { high = high << 4 | UInt64(digit) } else { low = low << 4 | UInt64(digit) }
            digitCount += 1
        }
        return EventID(high: high, low: low)
    }

    public static func parse(_ text: String) -> EventID? { parse(Array(text.utf8)) }

    /// Appends the canonical lowercase form (Python's `str(uuid)`).
    public func append(to target: inout [UInt8]) {
        for position in 0..<32 {
            if position == 8 || position == 12 || position == 16 || position == 20 { target.append(UInt8(ascii: "-")) }
            let word = position < 16 ? high : low
            let shift = UInt64(60 - (position % 16) * 4)
            target.append(lowercaseHexDigits[Int(word >> shift & 0xF)])
        }
    }

    /// Appends the 32-digit lowercase hex without dashes (Python's `uuid.hex`).
    public func appendHex(to target: inout [UInt8]) {
        for position in 0..<32 {
            let word = position < 16 ? high : low
            target.append(lowercaseHexDigits[Int(word >> UInt64(60 - (position % 16) * 4) & 0xF)])
        }
    }

    public var description: String {
        var bytes: [UInt8] = []
        append(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A version-4-shaped UUID from 128 random bits (the caller supplies the randomness).
    public static func random(high: UInt64, low: UInt64) -> EventID {
        EventID(high: (high & ~0xF000) | 0x4000, low: (low & ~(0xC000 << 48)) | (0x8000 << 48))
    }

    /// A deterministic version-8 UUID derived from arbitrary bytes (for ids that are not UUIDs, e.g. a
    /// non-UUID GitHub delivery id). Two independent 64-bit FNV-1a-style hashes; not cryptographic.
    public static func derived<Bytes: Sequence<UInt8>>(from bytes: Bytes) -> EventID {
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in bytes {
            first = (first ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            second = (second ^ UInt64(byte) ^ 0x5A) &* 0x0000_0100_0000_01B3
            second = second ^ (second >> 29)
        }
        return EventID(high: (first & ~0xF000) | 0x8000, low: (second & ~(0xC000 << 48)) | (0x8000 << 48))
    }
}

/// `0`–`9`, `a`–`f` as UTF-8, built once (ids and `\u00XX` escapes are written on hot paths).
let lowercaseHexDigits: [UInt8] = Array("0123456789abcdef".utf8)
