/// An interned string: event names, node kinds, branches, roles, label keys and accounts become
/// small integers once at decode, so matching and routing compare integers.
public struct Symbol: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// "Absent": never returned by ``SymbolTable/intern(_:)-(UnsafeRawBufferPointer)``.
    public static let none = Symbol(rawValue: 0)
    public var isNone: Bool { rawValue == 0 }
    public static func < (left: Symbol, right: Symbol) -> Bool { left.rawValue < right.rawValue }
    public var description: String { "#\(rawValue)" }
}

/// Interns UTF-8 byte strings to ``Symbol``s.
///
/// Open addressing with linear probing over a power-of-two slot array kept at most half full; the
/// strings live back to back in one byte arena, so a lookup hashes the bytes and compares in place
/// without building a `String`. Bounded: ``symbolCountMax`` and ``byteCountMax`` are hard limits
/// (memory ≈ `byteCountMax + symbolCountMax * 24` bytes); when reached, `intern` returns `nil` and the
/// caller reports an error instead of growing.
///
/// Not thread-safe: owned by one thread (the decoding thread). Symbols are stable for the table's life.
@safe
public final class SymbolTable {
    // `@exclusivity(unchecked)`: the table is owned by one thread and never hands out inout access to
    // these arrays, so the dynamic exclusivity checks a class property pays on every access (~16 % of
    // decoding, measured with callgrind on the decode benchmark) guard nothing here.
    @exclusivity(unchecked) private var arena: [UInt8] = []
    @exclusivity(unchecked) private var entryStarts: [UInt32] = []
    @exclusivity(unchecked) private var entryCounts: [UInt32] = []
    @exclusivity(unchecked) private var entryHashes: [UInt32] = []
    /// 0 = empty, otherwise a symbol's raw value.
    @exclusivity(unchecked) private var slots: [UInt32]
    @exclusivity(unchecked) private var slotMask: Int

    public let symbolCountMax: Int
    public let byteCountMax: Int

    public init(symbolCountMax: Int = 1 << 20, byteCountMax: Int = 64 << 20) {
        precondition(symbolCountMax > 0 && symbolCountMax < Int(UInt32.max))
        precondition(byteCountMax > 0 && byteCountMax < Int(UInt32.max))
        self.symbolCountMax = symbolCountMax
        self.byteCountMax = byteCountMax
        unsafe self.slots = Array(repeating: 0, count: 256)
        unsafe self.slotMask = 255
        precondition(symbolCountMax > Symbol.wellKnownTexts.count, "room for the well-known symbols")
        for (position, text) in Symbol.wellKnownTexts.enumerated() {
            let symbol = intern(text)
            precondition(symbol?.rawValue == UInt32(position + 1), "well-known symbols are interned first")
        }
    }

    /// Number of symbols interned so far.
    public var count: Int { unsafe entryStarts.count }

    /// The symbol for `bytes`, interning it if new; `nil` when the table is full.
    public func intern(_ bytes: UnsafeRawBufferPointer) -> Symbol? {
        let hash = unsafe Self.hash(bytes)
        var slot = unsafe Int(hash) & slotMask
        while true {
            let raw = unsafe slots[slot]
            if raw == 0 { break }
            if unsafe entryMatches(Int(raw) - 1, hash, bytes) { return Symbol(rawValue: raw) }
            slot = unsafe (slot + 1) & slotMask
        }
        guard count < symbolCountMax, unsafe arena.count + bytes.count <= byteCountMax else { return nil }
        let raw = UInt32(count + 1)
        unsafe entryStarts.append(UInt32(arena.count))
        unsafe entryCounts.append(UInt32(bytes.count))
        unsafe entryHashes.append(hash)
        unsafe arena.append(contentsOf: bytes)
        unsafe slots[slot] = raw
        if unsafe count * 2 > slots.count { grow() }
        return Symbol(rawValue: raw)
    }

    /// The symbol for `string`, interning it if new; `nil` when the table is full.
    public func intern(_ string: String) -> Symbol? {
        var copy = string
        return copy.withUTF8 { utf8 in unsafe intern(UnsafeRawBufferPointer(utf8)) }
    }

    /// The symbol for `string` if already interned.
    public func lookup(_ string: String) -> Symbol? {
        var copy = string
        return copy.withUTF8 { utf8 in unsafe lookup(UnsafeRawBufferPointer(utf8)) }
    }

    public func lookup(_ bytes: UnsafeRawBufferPointer) -> Symbol? {
        let hash = unsafe Self.hash(bytes)
        var slot = unsafe Int(hash) & slotMask
        while true {
            let raw = unsafe slots[slot]
            if raw == 0 { return nil }
            if unsafe entryMatches(Int(raw) - 1, hash, bytes) { return Symbol(rawValue: raw) }
            slot = unsafe (slot + 1) & slotMask
        }
    }

    /// The text of a symbol. - Precondition: `symbol` came from this table.
    public func string(_ symbol: Symbol) -> String {
        if symbol.isNone { return "" }
        let entry = Int(symbol.rawValue) - 1
        precondition(entry < count, "symbol from another table")
        let start = unsafe Int(entryStarts[entry])
        return unsafe String(decoding: arena[start..<(start + Int(entryCounts[entry]))], as: UTF8.self)
    }

    /// Calls `body` with the UTF-8 bytes of a symbol, without copying.
    public func withBytes<R>(_ symbol: Symbol, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        if symbol.isNone { return unsafe body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        let entry = Int(symbol.rawValue) - 1
        precondition(entry < count, "symbol from another table")
        let start = unsafe Int(entryStarts[entry])
        let length = unsafe Int(entryCounts[entry])
        return unsafe arena.withUnsafeBytes { raw in
            unsafe body(UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)]))
        }
    }

    private func entryMatches(_ entry: Int, _ hash: UInt32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard unsafe entryHashes[entry] == hash, unsafe Int(entryCounts[entry]) == bytes.count else { return false }
        if unsafe bytes.isEmpty { return true }
        let start = unsafe Int(entryStarts[entry])
        return unsafe arena.withUnsafeBytes { raw in
            unsafe memoryEqual(raw.baseAddress! + start, bytes.baseAddress!, bytes.count)
        }
    }

    private func grow() {
        let newCount = unsafe slots.count * 2
        unsafe slots = Array(repeating: 0, count: newCount)
        unsafe slotMask = newCount - 1
        for entry in 0..<count {
            var slot = unsafe Int(entryHashes[entry]) & slotMask
            while unsafe slots[slot] != 0 { slot = unsafe (slot + 1) & slotMask }
            unsafe slots[slot] = UInt32(entry + 1)
        }
    }

    /// A fast 64-bit multiplicative hash over 8-byte words, folded to 32 bits.
    @unsafe
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var position = 0
        let count = bytes.count
        while position + 8 <= count {
            let word = unsafe bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)
            state = (state ^ word) &* 0xBF58_476D_1CE4_E5B9
            state ^= state >> 31
            position += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while position < count {
            tail |= UInt64(unsafe bytes[position]) << shift
            shift += 8
            position += 1
        }
        state = (state ^ tail) &* 0x94D0_49BB_1331_11EB
        state ^= state >> 29
        return UInt32(truncatingIfNeeded: state ^ (state >> 32))
    }
}
