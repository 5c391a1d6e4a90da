/// One fuzz input, read front to back: a few control bytes (modes, piece sizes) first, then data.
///
/// Reading past the end gives zeros and empty arrays, so every input, however short, is a valid case.
public struct FuzzInput {
    public let bytes: [UInt8]
    /// Where the next read starts.
    public private(set) var index = 0

    /// Copies the `count` bytes at `start` (libFuzzer owns them only for the call).
    public init(_ start: UnsafePointer<UInt8>, _ count: Int) {
        bytes = Array(UnsafeBufferPointer(start: start, count: count))
    }

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The next byte, or 0 at the end.
    public mutating func byte() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }

    /// The bytes up to the next newline (which is consumed, not returned), or the rest when there is none.
    public mutating func line() -> [UInt8] {
        let end = bytes[index...].firstIndex(of: 0x0A) ?? bytes.count
        defer { index = min(end + 1, bytes.count) }
        return Array(bytes[index..<end])
    }

    /// Everything not read yet (consumed).
    public mutating func rest() -> [UInt8] {
        defer { index = bytes.count }
        return Array(bytes[index...])
    }
}

/// Piece boundaries for feeding `count` bytes in pieces. `sizes` empty or starting with 0 gives one
/// piece; otherwise piece sizes cycle through `1 + size % 64` for each of `sizes` (so a piece can end
/// anywhere: inside a token, between CR and LF, in a chunk-size line; 1 byte at a time included).
public func pieceBoundaries(count: Int, sizes: [UInt8]) -> [Range<Int>] {
    guard let first = sizes.first, first != 0, count > 0 else { return [0..<count] }
    var ranges: [Range<Int>] = []
    var start = 0
    var step = 0
    while start < count {
        let end = min(start + 1 + Int(sizes[step % sizes.count]) % 64, count)
        ranges.append(start..<end)
        start = end
        step += 1
    }
    return ranges
}

/// Stops the run when an invariant of the code under test is broken (a bug, not bad input).
///
/// libFuzzer reports it as a crash ("deadly signal") and saves the input, like any trap.
public func fuzzRequire(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("fuzz invariant broken: \(message())") }
}
