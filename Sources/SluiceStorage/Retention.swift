import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

/// What a retention pass removed.
public struct RetentionReport: Sendable, Equatable {
    public var removedSegments: [String] = []
    public var removedByteCount: UInt64 = 0
    /// The first sequence still in the log.
    public var firstSequence: UInt64 = 0
}

/// Deletes whole sealed segments, oldest first, by age and by total size. The newest (active) segment is
/// never deleted, nor any segment holding a sequence at or after `protectedFromSequence` (the slowest
/// consumer's checkpoint, when consumers must not be overtaken).
///
/// A sealed segment's data is no newer than the creation time of the segment after it, so a segment is
/// old enough to go when the next segment was created before `now - ageMax`. Deletion is crash-safe: files
/// go one at a time from the oldest, each followed by a directory `fsync`, so a crash at any step leaves
/// a log that is still a gap-free run of segments starting later.
public enum Retention {
    public static func apply(
        directory: String,
        ageMaxMicroseconds: Int64?,
        totalByteCountMax: UInt64?,
        nowMicroseconds: Int64,
        protectedFromSequence: UInt64? = nil
    ) throws(SegmentLogError) -> RetentionReport {
        var report = RetentionReport()
        let segments = try SegmentDirectory.segments(in: directory)
        var sizes: [UInt64] = []
        for segment in segments {
            sizes.append(try FileDescriptor(path: directory + "/" + segment.name, flags: O_RDONLY).byteCount())
        }
        var total = sizes.reduce(0, +)
        report.firstSequence = segments.first?.firstSequence ?? 0
        for index in 0..<max(0, segments.count - 1) {
            var remove = false
            if let totalByteCountMax, total > totalByteCountMax { remove = true }
            if let ageMaxMicroseconds {
                let sealedBy = try SegmentReader(path: directory + "/" + segments[index + 1].name).header
                    .createdMicroseconds
                if sealedBy < nowMicroseconds - ageMaxMicroseconds { remove = true }
            }
            // Consumers' cursors win over limits: a segment holding a protected sequence stays.
            if let protectedFromSequence, segments[index + 1].firstSequence > protectedFromSequence { remove = false }
            guard remove else { break }
            let path = directory + "/" + segments[index].name
            // The index and summary go first: a crash in between leaves a segment whose index is rebuilt
            // at open and whose summary is rebuilt by the next query.
            for derived in [SegmentIndex.path(forSegment: path), SegmentSummary.path(forSegment: path)] {
                if unsafe unlink(derived) != 0 && Glibc.errno != ENOENT {
                    throw SegmentLogError(code: .ioFailed, path: derived, message: "unlink", errno: Glibc.errno)
                }
            }
            _ = try systemCall("unlink", path: path) { unsafe unlink(path) }
            try LogDirectory.sync(directory)
            report.removedSegments.append(path)
            report.removedByteCount += sizes[index]
            total -= sizes[index]
            report.firstSequence = segments[index + 1].firstSequence
        }
        return report
    }
}
