/// Word-at-a-time (SWAR) scans over raw bytes: eight bytes per step with plain integer arithmetic (the
/// newline search 32 bytes per step with vector compares first), for the loops that read every byte of an
/// event (the JSON scanner's strings, the compactor, the JSON Lines splitter). Each function returns exactly
/// what the byte-at-a-time loop it replaces would.
enum ByteScan {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// A mask with the high bit of the lowest byte of `word` equal to zero set (higher flags may be wrong,
    /// the lowest one is exact).
    @inline(__always)
    private static func zeroBytes(_ word: UInt64) -> UInt64 {
        (word &- ones) & ~word & highs
    }

    @inline(__always)
    private static func bytesEqual(_ word: UInt64, _ byte: UInt8) -> UInt64 {
        zeroBytes(word ^ (ones &* UInt64(byte)))
    }

    /// The byte offset of the lowest flagged byte of a non-zero mask (little-endian loads).
    @inline(__always)
    private static func firstFlagged(_ mask: UInt64) -> Int {
        mask.trailingZeroBitCount >> 3
    }

    /// The first position in `start..<end` whose byte is not plain string content (printable ASCII other
    /// than `"` and `\`), or `end`.
    @inline(__always)
    static func plainStringEnd(_ base: UnsafeRawPointer, from start: Int, to end: Int) -> Int {
        var position = start
        while position + 8 <= end {
            let word = unsafe base.loadUnaligned(fromByteOffset: position, as: UInt64.self)
            // Below 0x20: subtracting 0x20 borrows into the high bit (exact for the lowest byte when no byte
            // has its high bit set, and a high bit stops the scan anyway).
            let mask =
                (word & highs) | ((word &- ones &* 0x20) & ~word & highs) | bytesEqual(word, 0x22)
                | bytesEqual(word, 0x5C)
            if mask != 0 { return position + firstFlagged(mask) }
            position += 8
        }
        while position < end {
            let byte = unsafe base.load(fromByteOffset: position, as: UInt8.self)
            if byte < 0x20 || byte >= 0x80 || byte == 0x22 || byte == 0x5C { return position }
            position += 1
        }
        return end
    }

    /// The first position in `start..<end` holding `"` or `\`, or `end`.
    @inline(__always)
    static func quoteOrBackslash(_ base: UnsafeRawPointer, from start: Int, to end: Int) -> Int {
        var position = start
        while position + 8 <= end {
            let word = unsafe base.loadUnaligned(fromByteOffset: position, as: UInt64.self)
            let mask = bytesEqual(word, 0x22) | bytesEqual(word, 0x5C)
            if mask != 0 { return position + firstFlagged(mask) }
            position += 8
        }
        while position < end {
            let byte = unsafe base.load(fromByteOffset: position, as: UInt8.self)
            if byte == 0x22 || byte == 0x5C { return position }
            position += 1
        }
        return end
    }

    /// The first position in `start..<end` holding `byte`, or `end`. Long runs (a JSON line is a few KB) go
    /// 32 bytes a step: vector compares whose lanes (all ones where equal) are OR-ed as four words; the
    /// word loop below then finds the exact position.
    @inline(__always)
    static func first(_ byte: UInt8, _ base: UnsafeRawPointer, from start: Int, to end: Int) -> Int {
        var position = start
        let wanted = SIMD32<UInt8>(repeating: byte)
        while position + 32 <= end {
            let block = unsafe base.loadUnaligned(fromByteOffset: position, as: SIMD32<UInt8>.self)
            let lanes = unsafe unsafeBitCast(block .== wanted, to: SIMD4<UInt64>.self)
            if lanes[0] | lanes[1] | lanes[2] | lanes[3] != 0 { break }
            position += 32
        }
        while position + 8 <= end {
            let mask = bytesEqual(unsafe base.loadUnaligned(fromByteOffset: position, as: UInt64.self), byte)
            if mask != 0 { return position + firstFlagged(mask) }
            position += 8
        }
        while position < end {
            if unsafe base.load(fromByteOffset: position, as: UInt8.self) == byte { return position }
            position += 1
        }
        return end
    }
}
