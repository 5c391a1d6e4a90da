/// Splits a byte stream fed in arbitrary chunks into JSON Lines, in constant memory.
///
/// Pure: no I/O. The caller feeds chunks as they arrive (from a file, a socket, a request body) and
/// calls ``finish(_:)`` at the end. A line is handed out as a borrowed buffer; it is copied only when
/// it straddles two chunks (into one carry buffer of at most `lineByteCountMax` bytes). A line longer
/// than `lineByteCountMax` is reported as ``Line/oversize(lineNumber:lineStart:byteCount:)`` and skipped
/// up to its newline, so one bad line never stops the rest of the stream. A trailing `\r` (CRLF) is
/// removed. Line numbers are 1-based; `lineStart` is the absolute byte position of the line.
///
/// Not thread-safe; one splitter per stream.
public struct JSONLinesSplitter {
    /// What the splitter hands out.
    /// `@unsafe`: a `.line` borrows the chunk (or the carry buffer) only for the duration of the callback.
    @unsafe
    public enum Line {
        case line(lineNumber: Int, lineStart: Int, bytes: UnsafeRawBufferPointer)
        case oversize(lineNumber: Int, lineStart: Int, byteCount: Int)
    }

    public let lineByteCountMax: Int
    private var carry: [UInt8] = []
    private var lineNumber = 1
    private var lineStart = 0
    private var streamOffset = 0
    private var skipping = false
    private var skippedCount = 0

    public init(lineByteCountMax: Int) {
        precondition(lineByteCountMax > 0, "lineByteCountMax must be positive")
        self.lineByteCountMax = lineByteCountMax
    }

    /// Feeds the next chunk; calls `body` for each complete line (and each oversize line).
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ body: (Line) -> Void) {
        let count = chunk.count
        var position = 0
        while position < count {
            let newline = unsafe Self.indexOfNewline(chunk, from: position)
            let end = newline ?? count
            if skipping {
                skippedCount += end - position
            } else if carry.count + (end - position) > lineByteCountMax {
                skipping = true
                skippedCount = carry.count + (end - position)
                carry.removeAll(keepingCapacity: true)
            } else if newline != nil && carry.isEmpty {
                unsafe body(
                    .line(
                        lineNumber: lineNumber,
                        lineStart: lineStart,
                        bytes: Self.trimmed(UnsafeRawBufferPointer(rebasing: chunk[position..<end]))
                    )
                )
            } else {
                unsafe carry.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[position..<end]))
                if newline != nil {
                    unsafe carry.withUnsafeBytes { raw in
                        unsafe body(.line(lineNumber: lineNumber, lineStart: lineStart, bytes: Self.trimmed(raw)))
                    }
                    carry.removeAll(keepingCapacity: true)
                }
            }
            guard newline != nil else { break }
            if skipping {
                unsafe body(.oversize(lineNumber: lineNumber, lineStart: lineStart, byteCount: skippedCount))
                skipping = false
            }
            lineNumber += 1
            lineStart = streamOffset + end + 1
            position = end + 1
        }
        streamOffset += count
    }

    /// Ends the stream: hands out a last line that had no newline.
    public mutating func finish(_ body: (Line) -> Void) {
        if skipping {
            unsafe body(.oversize(lineNumber: lineNumber, lineStart: lineStart, byteCount: skippedCount))
            skipping = false
        } else if !carry.isEmpty {
            unsafe carry.withUnsafeBytes { raw in
                unsafe body(.line(lineNumber: lineNumber, lineStart: lineStart, bytes: Self.trimmed(raw)))
            }
            carry.removeAll(keepingCapacity: true)
        }
    }

    @unsafe
    private static func indexOfNewline(_ raw: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let base = raw.baseAddress, start < raw.count else { return nil }
        let position = unsafe ByteScan.first(0x0A, base, from: start, to: raw.count)
        return position < raw.count ? position : nil
    }

    @unsafe
    private static func trimmed(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        if let last = unsafe line.last, last == 0x0D { return unsafe UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        return unsafe line
    }
}
