#if canImport(Glibc)
internal import Glibc
#endif

/// Reads a file or standard input as lines, in constant memory.
///
/// One chunk buffer is reused; a line is handed to the caller as a borrowed buffer and never copied
/// unless it straddles two chunks. A line longer than `lineByteCountMax` is reported through
/// `onOversizeLine` and skipped up to its newline, so one bad line never stops the rest of the stream.
/// A trailing `\r` (CRLF files) is removed.
///
/// Not thread-safe; owns its file descriptor until ``close()``.
@safe
public final class LineReader {
    public let path: String
    public let lineByteCountMax: Int
    private let fileDescriptor: Int32
    private let ownsDescriptor: Bool
    private var chunk: [UInt8]
    private var carry: [UInt8] = []

    /// Opens `path`; `-` means standard input.
    public init(path: String, lineByteCountMax: Int, chunkByteCount: Int = 1 << 20) throws(SystemCallError) {
        precondition(lineByteCountMax > 0 && chunkByteCount > 0)
        self.path = path
        self.lineByteCountMax = lineByteCountMax
        self.chunk = Array(repeating: 0, count: chunkByteCount)
        if path == "-" {
            fileDescriptor = 0
            ownsDescriptor = false
        } else {
            fileDescriptor = try retryingOnInterrupt("open", path: path) { unsafe open(path, O_RDONLY | O_CLOEXEC) }
            ownsDescriptor = true
        }
    }

    deinit { close() }

    public func close() {
        // Closing a read-only descriptor cannot lose data; an error here has nothing to report.
        if ownsDescriptor { _ = Glibc.close(fileDescriptor) }
    }

    /// Calls `onLine(lineNumber, lineStartByteOffset, bytes)` for each line (1-based numbers, absolute offsets).
    public func forEachLine(
        onOversizeLine: (_ lineNumber: Int, _ lineStart: Int, _ byteCount: Int) -> Void,
        _ onLine: (_ lineNumber: Int, _ lineStart: Int, _ bytes: UnsafeRawBufferPointer) -> Void
    ) throws(SystemCallError) {
        var lineNumber = 1
        var lineStart = 0  // absolute offset of the current line's first byte
        var streamOffset = 0  // absolute offset of chunk[0]
        var skipping = false  // inside an oversize line
        var skippedCount = 0
        while true {
            let count = try readChunk(fileDescriptor, into: &chunk, path: path)
            if count == 0 { break }
            var position = 0
            while position < count {
                let newline = unsafe chunk.withUnsafeBytes { raw in
                    unsafe Self.indexOfNewline(raw, from: position, to: count)
                }
                let end = newline ?? count
                if skipping {
                    skippedCount += end - position
                } else if carry.count + (end - position) > lineByteCountMax {
                    skipping = true
                    skippedCount = carry.count + (end - position)
                    carry.removeAll(keepingCapacity: true)
                } else if newline != nil && carry.isEmpty {
                    unsafe chunk.withUnsafeBytes { raw in
                        unsafe onLine(lineNumber, lineStart, Self.trimmed(UnsafeRawBufferPointer(rebasing: raw[position..<end])))
                    }
                } else {
                    carry.append(contentsOf: chunk[position..<end])
                    if newline != nil {
                        unsafe carry.withUnsafeBytes { raw in unsafe onLine(lineNumber, lineStart, Self.trimmed(raw)) }
                        carry.removeAll(keepingCapacity: true)
                    }
                }
                guard newline != nil else { break }
                if skipping {
                    onOversizeLine(lineNumber, lineStart, skippedCount)
                    skipping = false
                }
                lineNumber += 1
                lineStart = streamOffset + end + 1
                position = end + 1
            }
            streamOffset += count
        }
        if skipping {
            onOversizeLine(lineNumber, lineStart, skippedCount)
        } else if !carry.isEmpty {
            unsafe carry.withUnsafeBytes { raw in unsafe onLine(lineNumber, lineStart, Self.trimmed(raw)) }
            carry.removeAll(keepingCapacity: true)
        }
    }

    @unsafe
    private static func indexOfNewline(_ raw: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
        var position = start
        while position < end {
            if unsafe raw[position] == 0x0A { return position }
            position += 1
        }
        return nil
    }

    @unsafe
    private static func trimmed(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        if let last = unsafe line.last, last == 0x0D { return unsafe UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        return unsafe line
    }
}
