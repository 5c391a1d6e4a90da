public import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

/// One entry of a segment's sparse index: where a frame starts and what it holds.
public struct SegmentIndexEntry: Sendable, Equatable {
    public var firstSequence: UInt64
    public var fileOffset: UInt64
    public var minTimestampMicroseconds: Int64
    public var maxTimestampMicroseconds: Int64

    public init(_ header: FrameHeader, fileOffset: UInt64) {
        firstSequence = header.firstSequence
        self.fileOffset = fileOffset
        minTimestampMicroseconds = header.minTimestampMicroseconds
        maxTimestampMicroseconds = header.maxTimestampMicroseconds
    }

    init(firstSequence: UInt64, fileOffset: UInt64, minTimestampMicroseconds: Int64, maxTimestampMicroseconds: Int64) {
        self.firstSequence = firstSequence
        self.fileOffset = fileOffset
        self.minTimestampMicroseconds = minTimestampMicroseconds
        self.maxTimestampMicroseconds = maxTimestampMicroseconds
    }
}

/// The sparse index of a segment (`<first>.index` beside `<first>.segment`): one 32-byte entry per frame
/// after a 16-byte header (FORMAT.md). Derived data: it is never the source of truth. Entries are
/// appended as frames are written (not synced); at open, an index that is missing, short, or whose last
/// entry does not match the segment's last frame is stale and is rebuilt from the segment.
public enum SegmentIndex {
    public static let headerByteCount = 16
    public static let entryByteCount = 32
    public static let suffix = ".index"

    public static func path(forSegment segmentPath: String) -> String {
        String(segmentPath.dropLast(SegmentFileName.suffix.count)) + suffix
    }

    static func encodeHeader(segmentFirstSequence: UInt64) -> [UInt8] {
        var bytes = Array("SLIX".utf8)
        bytes.append(contentsOf: littleEndian(UInt16(1)))
        bytes.append(contentsOf: [0, 0])
        bytes.append(contentsOf: littleEndian(segmentFirstSequence))
        return bytes
    }

    static func encode(_ entry: SegmentIndexEntry) -> [UInt8] {
        littleEndian(entry.firstSequence) + littleEndian(entry.fileOffset)
            + littleEndian(UInt64(bitPattern: entry.minTimestampMicroseconds))
            + littleEndian(UInt64(bitPattern: entry.maxTimestampMicroseconds))
    }

    /// Writes a whole index atomically (temporary file, sync, rename).
    static func write(
        _ entries: [SegmentIndexEntry],
        segmentPath: String,
        segmentFirstSequence: UInt64
    )
        throws(SegmentLogError)
    {
        let path = Self.path(forSegment: segmentPath)
        let temporaryPath = path + ".tmp"
        var bytes = encodeHeader(segmentFirstSequence: segmentFirstSequence)
        for entry in entries { bytes += encode(entry) }
        do {
            let file = try FileDescriptor(path: temporaryPath, flags: O_WRONLY | O_CREAT | O_TRUNC)
            try file.writeAll(bytes, fileOffset: 0)
            try file.syncData()
        }
        _ = try systemCall("rename", path: temporaryPath) { unsafe rename(temporaryPath, path) }
    }

    /// The entries of the index of `segmentPath`, or `nil` when the file is missing or malformed (a wrong
    /// header or length, or an entry outside the segment, before its header or out of order).
    public static func load(
        segmentPath: String,
        segmentFirstSequence: UInt64
    ) throws(SegmentLogError)
        -> [SegmentIndexEntry]?
    {
        let path = Self.path(forSegment: segmentPath)
        guard unsafe access(path, F_OK) == 0 else { return nil }
        let file = try FileDescriptor(path: path, flags: O_RDONLY)
        let byteCount = Int(try file.byteCount())
        guard byteCount >= headerByteCount, (byteCount - headerByteCount) % entryByteCount == 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: byteCount)
        guard try file.read(into: &bytes, count: byteCount, fileOffset: 0) == byteCount,
            Array(bytes[0..<headerByteCount]) == encodeHeader(segmentFirstSequence: segmentFirstSequence)
        else { return nil }
        // Readers seek to these offsets, so a damaged or stale entry makes the index malformed rather than
        // trusted: each must name a whole frame header inside the segment, after its header, in order.
        let segmentByteCount = try FileDescriptor(path: segmentPath, flags: O_RDONLY).byteCount()
        var entries: [SegmentIndexEntry] = []
        var position = headerByteCount
        while position < byteCount {
            let entry = SegmentIndexEntry(
                firstSequence: load(bytes, position),
                fileOffset: load(bytes, position + 8),
                minTimestampMicroseconds: Int64(bitPattern: load(bytes, position + 16)),
                maxTimestampMicroseconds: Int64(bitPattern: load(bytes, position + 24))
            )
            guard entry.fileOffset >= UInt64(SegmentHeader.byteCount), entry.fileOffset <= segmentByteCount,
                segmentByteCount - entry.fileOffset >= UInt64(FrameHeader.byteCount),
                entry.firstSequence >= segmentFirstSequence,
                entry.minTimestampMicroseconds <= entry.maxTimestampMicroseconds,
                entries.last.map({ $0.fileOffset < entry.fileOffset && $0.firstSequence < entry.firstSequence }) ?? true
            else { return nil }
            entries.append(entry)
            position += entryByteCount
        }
        return entries
    }

    /// Scans a segment and returns the index entries of its frames.
    public static func build(segmentPath: String) throws(SegmentLogError) -> [SegmentIndexEntry] {
        let reader = try SegmentReader(path: segmentPath)
        var entries: [SegmentIndexEntry] = []
        while true {
            switch try reader.nextFrame() {
            case .frame(let header, let fileOffset): entries.append(SegmentIndexEntry(header, fileOffset: fileOffset))
            case .end: return entries
            case .invalid(let fileOffset, let error, _):
                throw SegmentLogError(
                    code: .corrupt,
                    path: segmentPath,
                    fileOffset: fileOffset,
                    message: "damaged frame",
                    format: error
                )
            }
        }
    }

    private static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    private static func load(_ bytes: [UInt8], _ position: Int) -> UInt64 {
        var value: UInt64 = 0
        for offset in (0..<8).reversed() { value = value << 8 | UInt64(bytes[position + offset]) }
        return value
    }
}
