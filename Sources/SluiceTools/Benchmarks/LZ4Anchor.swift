internal import CLZ4

/// The benchmark anchor for log appends: raw `LZ4_compress_default` over the same bytes, with nothing
/// else (no framing, checksum or write). Exposed only to the benchmark package.
@_spi(Benchmarks)
public enum LZ4Anchor {
    /// Compresses `source` into `target` (sized with ``bound(_:)``); returns the compressed byte count.
    public static func compress(_ source: [UInt8], into target: inout [UInt8]) -> Int {
        let count = unsafe source.withUnsafeBytes { input in
            unsafe target.withUnsafeMutableBytes { output in
                unsafe LZ4_compress_default(
                    input.baseAddress?.assumingMemoryBound(to: CChar.self),
                    output.baseAddress!.assumingMemoryBound(to: CChar.self),
                    Int32(input.count),
                    Int32(output.count)
                )
            }
        }
        return Int(count)
    }

    /// The largest compressed size of `byteCount` bytes.
    public static func bound(_ byteCount: Int) -> Int { Int(clz4_compress_bound(Int32(byteCount))) }
}
