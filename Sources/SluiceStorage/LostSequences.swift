public import SluiceCore

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
    public typealias Entry = LostSequenceList.Entry

    /// The parsed file (pure: ``LostSequenceList``).
    public var list = LostSequenceList()

    public var entries: [Entry] { list.entries }

    public init(list: LostSequenceList = LostSequenceList()) { self.list = list }

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
        do {
            return LostSequences(list: try LostSequenceList(decoding: bytes))
        } catch {
            throw SegmentLogError(
                code: .corrupt,
                path: path,
                fileOffset: error.fileOffset,
                message: error.message,
                format: error
            )
        }
    }

    /// The recorded entries that overlap `range`, when together they cover all of it; else `nil`.
    public func covering(_ range: Range<UInt64>) -> [Entry]? { list.covering(range) }

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
            bytes += Array((LostSequenceList.headerLine + "\n").utf8)
        }
        bytes += LostSequenceList.encode(ranges)
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
