#if canImport(Glibc)
internal import Glibc
#endif

/// The repair marker of a log, `DIR/lost-sequences.txt` (FORMAT.md): the sequence ranges a
/// `sluice log repair` recorded as lost, so that a log with a known, reported gap reads and verifies
/// again (with a note) while an unrecorded gap is still damage.
///
/// One line per range, `FIRST END WHEN WHAT…` (`END` exclusive, `WHEN` RFC 3339 UTC, `WHAT` free text
/// naming the file, offset and quarantine folder); lines starting with `#` are comments. Replaced
/// atomically (temporary file, `fsync`, rename, directory `fsync`). A value; thread-safe.
public struct LostSequences: Sendable, Equatable {
    public static let fileName = "lost-sequences.txt"

    public struct Entry: Sendable, Equatable {
        public var sequences: Range<UInt64>
        /// 1-based line in the file.
        public var line: Int
        /// The rest of the line: when and what.
        public var text: String
    }

    public var entries: [Entry] = []

    public init(entries: [Entry] = []) { self.entries = entries }

    public static func path(in directory: String) -> String { directory + "/" + fileName }

    /// The file in `directory`, or no entries when there is none.
    /// - Throws: `corrupt` naming the file, line and byte offset of a line that does not parse.
    public static func load(directory: String) throws(SegmentLogError) -> LostSequences {
        let path = path(in: directory)
        guard unsafe access(path, F_OK) == 0 else { return LostSequences() }
        let file = try FileDescriptor(path: path, flags: O_RDONLY)
        let byteCount = try file.byteCount()
        guard byteCount <= 16 << 20 else {
            throw SegmentLogError(code: .corrupt, path: path, message: "\(byteCount) bytes, more than 16 MiB")
        }
        var bytes = [UInt8](repeating: 0, count: Int(byteCount))
        _ = try file.read(into: &bytes, count: bytes.count, fileOffset: 0)
        var result = LostSequences()
        var lineStart = 0
        var lineNumber = 0
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: 0x0A) ?? bytes.count
            lineNumber += 1
            let line = String(decoding: bytes[lineStart..<lineEnd], as: UTF8.self)
            if !line.isEmpty && !line.hasPrefix("#") {
                let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
                guard fields.count >= 2, let first = UInt64(fields[0]), let end = UInt64(fields[1]), first < end else {
                    throw SegmentLogError(
                        code: .corrupt,
                        path: path,
                        fileOffset: UInt64(lineStart),
                        message: "line \(lineNumber) is not 'FIRST END WHEN WHAT' with FIRST < END"
                    )
                }
                let text = fields.count > 2 ? String(fields[2]) : ""
                result.entries.append(Entry(sequences: first..<end, line: lineNumber, text: text))
            }
            lineStart = lineEnd + 1
        }
        return result
    }

    /// The recorded entries that overlap `range`, when together they cover all of it; else `nil`.
    public func covering(_ range: Range<UInt64>) -> [Entry]? {
        let overlapping = entries.filter { $0.sequences.overlaps(range) }.sorted {
            $0.sequences.lowerBound < $1.sequences.lowerBound
        }
        var next = range.lowerBound
        for entry in overlapping where entry.sequences.lowerBound <= next {
            next = max(next, entry.sequences.upperBound)
        }
        return next >= range.upperBound ? overlapping : nil
    }

    /// What reading across the gap `range` means: notes for a recorded loss, else a `missingSequences`
    /// incident naming the two files around it.
    public func incidents(
        forGap range: Range<UInt64>,
        directory: String,
        after: String,
        before: String
    ) -> [LogIncident] {
        if let recorded = covering(range) {
            return recorded.map { entry in
                LogIncident(
                    kind: .recordedLoss,
                    path: Self.path(in: directory),
                    sequences: entry.sequences,
                    detail: "line \(entry.line): \(entry.text)"
                )
            }
        }
        return [
            LogIncident(
                kind: .missingSequences,
                path: before,
                fileOffset: 0,
                sequences: range,
                detail: "\(after) ends at sequence \(range.lowerBound), \(before) starts at \(range.upperBound); "
                    + "sequences must be gap-free ('sluice log repair' records a known loss)"
            )
        ]
    }

    /// Adds `ranges` (with their text) and replaces the file atomically.
    static func record(
        _ ranges: [(sequences: Range<UInt64>, text: String)],
        directory: String
    ) throws(SegmentLogError) {
        guard !ranges.isEmpty else { return }
        let path = path(in: directory)
        var bytes: [UInt8] = []
        if unsafe access(path, F_OK) == 0 {
            let file = try FileDescriptor(path: path, flags: O_RDONLY)
            bytes = [UInt8](repeating: 0, count: Int(try file.byteCount()))
            _ = try file.read(into: &bytes, count: bytes.count, fileOffset: 0)
            if let last = bytes.last, last != 0x0A { bytes.append(0x0A) }
        } else {
            bytes += Array("# Sequences lost in repairs ('sluice log repair'): FIRST END(exclusive) WHEN WHAT\n".utf8)
        }
        for range in ranges {
            let text = range.text.filter { $0 != "\n" }
            bytes += Array("\(range.sequences.lowerBound) \(range.sequences.upperBound) \(text)\n".utf8)
        }
        let temporaryPath = path + ".tmp"
        do {
            let file = try FileDescriptor(path: temporaryPath, flags: O_WRONLY | O_CREAT | O_TRUNC)
            try file.writeAll(bytes, fileOffset: 0)
            try file.syncData()
        }
        _ = try systemCall("rename", path: temporaryPath) { unsafe rename(temporaryPath, path) }
        try LogDirectory.sync(directory)
    }
}
