internal import CLZ4

/// LZ4 block compression with a preallocated scratch buffer (the corresponding C functions are
/// `LZ4_compress_default` and `LZ4_decompress_safe`).
///
/// Not thread-safe: owned by one writer or reader.
struct LZ4Block {
    private(set) var scratch: [UInt8]

    init(sourceByteCountMax: Int) {
        precondition(sourceByteCountMax > 0 && sourceByteCountMax < Int(Int32.max))
        scratch = [UInt8](repeating: 0, count: Int(clz4_compress_bound(Int32(sourceByteCountMax))))
    }

    /// Compresses `source` into the scratch buffer; returns the compressed byte count, or `nil` when
    /// compression does not make it smaller (the caller stores it uncompressed).
    mutating func compress(_ source: UnsafeRawBufferPointer) -> Int? {
        precondition(
            Int(clz4_compress_bound(Int32(source.count))) <= scratch.count,
            "source above the configured maximum"
        )
        let count = unsafe scratch.withUnsafeMutableBytes { target in
            unsafe LZ4_compress_default(
                source.baseAddress?.assumingMemoryBound(to: CChar.self),
                target.baseAddress!.assumingMemoryBound(to: CChar.self),
                Int32(source.count),
                Int32(target.count)
            )
        }
        guard count > 0, Int(count) < source.count else { return nil }
        return Int(count)
    }

    /// Decompresses `source` into `target`, which must be exactly the uncompressed size.
    /// - Returns: `false` when the block is malformed or does not decompress to exactly `target.count` bytes.
    static func decompress(_ source: UnsafeRawBufferPointer, into target: UnsafeMutableRawBufferPointer) -> Bool {
        let count = unsafe LZ4_decompress_safe(
            source.baseAddress?.assumingMemoryBound(to: CChar.self),
            target.baseAddress?.assumingMemoryBound(to: CChar.self),
            Int32(source.count),
            Int32(target.count)
        )
        return Int(count) == target.count
    }
}
