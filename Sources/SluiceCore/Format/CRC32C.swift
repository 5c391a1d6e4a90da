/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every on-disk frame.
///
/// This is the portable path: slicing-by-8 over eight 256-entry tables (8 KiB, built once). The
/// storage module adds the SSE4.2 `crc32` instruction path and picks it at runtime where the CPU has
/// it; both give the same values (tested against the standard check value and each other).
///
/// Thread-safe: stateless apart from the immutable tables.
public enum CRC32C {
    /// The standard check value: CRC-32C of the ASCII bytes `123456789`.
    public static let checkValue: UInt32 = 0xE306_9283

    static let tables: [[UInt32]] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for index in 0..<256 {
            var crc = UInt32(index)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[0][index] = crc
        }
        for index in 0..<256 {
            for slice in 1..<8 {
                let previous = tables[slice - 1][index]
                tables[slice][index] = (previous >> 8) ^ tables[0][Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// Extends `crc` (the value returned for the bytes so far; 0 to start) with `bytes`.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var state = ~crc
        var position = 0
        let count = bytes.count
        unsafe tables.withUnsafeBufferPointer { tables in
            let t0 = unsafe tables[0]
            let t1 = unsafe tables[1]
            let t2 = unsafe tables[2]
            let t3 = unsafe tables[3]
            let t4 = unsafe tables[4]
            let t5 = unsafe tables[5]
            let t6 = unsafe tables[6]
            let t7 = unsafe tables[7]
            while position + 8 <= count {
                let word = UInt64(littleEndian: unsafe bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
                let low = UInt32(truncatingIfNeeded: word) ^ state
                let high = UInt32(truncatingIfNeeded: word >> 32)
                state =
                    t7[Int(low & 0xFF)] ^ t6[Int(low >> 8 & 0xFF)] ^ t5[Int(low >> 16 & 0xFF)] ^ t4[Int(low >> 24)]
                    ^ t3[Int(high & 0xFF)] ^ t2[Int(high >> 8 & 0xFF)] ^ t1[Int(high >> 16 & 0xFF)]
                    ^ t0[Int(high >> 24)]
                position += 8
            }
            while position < count {
                state = (state >> 8) ^ t0[Int((state ^ UInt32(unsafe bytes[position])) & 0xFF)]
                position += 1
            }
        }
        return ~state
    }

    /// The CRC-32C of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        unsafe bytes.withUnsafeBytes { raw in unsafe update(0, raw) }
    }
}
