#if canImport(Glibc)
internal import Glibc
#endif

/// Buffered, append-only output to a file or standard output (`-`), in constant memory.
///
/// Not thread-safe. Call ``flush()`` (or ``close()``) before relying on the bytes being written;
/// ``sync()`` additionally `fsync`s a file.
@safe
public final class BufferedWriter {
    public let path: String
    private let fileDescriptor: Int32
    private let ownsDescriptor: Bool
    private var buffer: [UInt8] = []
    private let flushByteCount: Int
    public private(set) var byteCount = 0

    /// Creates or truncates `path`; `-` means standard output.
    public init(path: String, flushByteCount: Int = 1 << 20) throws(SystemCallError) {
        self.path = path
        self.flushByteCount = flushByteCount
        buffer.reserveCapacity(flushByteCount + 65_536)
        if path == "-" {
            fileDescriptor = 1
            ownsDescriptor = false
        } else {
            fileDescriptor = try systemCall("open", path: path) {
                unsafe open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            }
            ownsDescriptor = true
        }
    }

    public func write<Bytes: Sequence<UInt8>>(_ bytes: Bytes) throws(SystemCallError) {
        let before = buffer.count
        buffer.append(contentsOf: bytes)
        byteCount += buffer.count - before
        if buffer.count >= flushByteCount { try flush() }
    }

    public func write(_ text: String) throws(SystemCallError) { try write(text.utf8) }

    /// Appends into the buffer through `body` (no intermediate array).
    public func append(_ body: (inout [UInt8]) -> Void) throws(SystemCallError) {
        let before = buffer.count
        body(&buffer)
        byteCount += buffer.count - before
        if buffer.count >= flushByteCount { try flush() }
    }

    public func flush() throws(SystemCallError) {
        var written = 0
        while written < buffer.count {
            let count = try systemCall("write", path: path) {
                unsafe buffer.withUnsafeBytes { raw in
                    unsafe Glibc.write(fileDescriptor, raw.baseAddress! + written, raw.count - written)
                }
            }
            written += count
        }
        assert(written == buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and `fsync`s (files only).
    public func sync() throws(SystemCallError) {
        try flush()
        if ownsDescriptor { _ = try systemCall("fsync", path: path) { fsync(fileDescriptor) } }
    }

    /// Flushes and closes.
    public func close() throws(SystemCallError) {
        try flush()
        if ownsDescriptor { _ = try systemCall("close", path: path) { Glibc.close(fileDescriptor) } }
    }
}

/// Reads a whole (small) file, e.g. a GitHub delivery body or a configuration, bounded by `byteCountMax`.
public func readWholeFile(path: String, byteCountMax: Int) throws(SystemCallError) -> [UInt8] {
    let descriptor = try systemCall("open", path: path) { unsafe open(path, O_RDONLY | O_CLOEXEC) }
    defer { _ = Glibc.close(descriptor) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = try readChunk(descriptor, into: &chunk, path: path)
        if count == 0 { return result }
        guard result.count + count <= byteCountMax else {
            throw SystemCallError(operation: "read (larger than \(byteCountMax) bytes)", path: path, errno: EFBIG)
        }
        result.append(contentsOf: chunk[0..<count])
    }
}

/// One `read(2)` into `chunk`, retried on `EINTR`; returns the byte count (0 at end of file).
func readChunk(_ descriptor: Int32, into chunk: inout [UInt8], path: String) throws(SystemCallError) -> Int {
    try systemCall("read", path: path) {
        unsafe chunk.withUnsafeMutableBytes { raw in unsafe read(descriptor, raw.baseAddress, raw.count) }
    }
}
