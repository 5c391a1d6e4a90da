#if canImport(Glibc)
internal import Glibc
#endif

/// Reads a file or standard input as lines, in constant memory.
///
/// One chunk buffer is reused and ``JSONLinesSplitter`` cuts it into lines: a line is handed to the
/// caller as a borrowed buffer, copied only when it straddles two chunks; a line longer than
/// `lineByteCountMax` is reported through `onOversizeLine` and skipped up to its newline.
///
/// Not thread-safe; owns its file descriptor until ``close()``.
@safe
public final class LineReader {
    public let path: String
    public let lineByteCountMax: Int
    private let fileDescriptor: Int32
    private let ownsDescriptor: Bool
    private var chunk: [UInt8]

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
            fileDescriptor = try systemCall("open", path: path) { unsafe open(path, O_RDONLY | O_CLOEXEC) }
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
        onLine: (_ lineNumber: Int, _ lineStart: Int, _ bytes: UnsafeRawBufferPointer) -> Void
    ) throws(SystemCallError) {
        var splitter = JSONLinesSplitter(lineByteCountMax: lineByteCountMax)
        func handle(_ line: JSONLinesSplitter.Line) {
            switch unsafe line {
            case .line(let lineNumber, let lineStart, let bytes): unsafe onLine(lineNumber, lineStart, bytes)
            case .oversize(let lineNumber, let lineStart, let byteCount):
                onOversizeLine(lineNumber, lineStart, byteCount)
            }
        }
        while true {
            let count = try readChunk(fileDescriptor, into: &chunk, path: path)
            if count == 0 { break }
            unsafe chunk.withUnsafeBytes { raw in
                unsafe splitter.feed(UnsafeRawBufferPointer(rebasing: raw[0..<count])) { line in unsafe handle(line) }
            }
        }
        unsafe splitter.finish(handle)
    }
}
