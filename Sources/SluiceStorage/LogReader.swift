public import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

/// One record read back from a log, with the segment and frame it came from.
public struct StoredRecord: Sendable {
    public var sequence: UInt64
    public var type: RecordType
    public var timestampMicroseconds: Int64
    public var body: [UInt8]
    public var segmentPath: String
    public var frameFileOffset: UInt64
}

/// What a pass over a log found (`sluice log inspect` / `verify`).
public struct LogSummary: Sendable {
    public var segmentCount = 0
    public var frameCount = 0
    public var recordCount = 0
    public var storedByteCount: UInt64 = 0
    public var uncompressedByteCount: UInt64 = 0
    public var fileByteCount: UInt64 = 0
    public var firstSequence: UInt64?
    public var nextSequence: UInt64?
    public var earliestMicroseconds: Int64?
    public var latestMicroseconds: Int64?
    /// Damaged ranges stepped over (reads with `skipDamaged`).
    public var damagedRangeCount = 0
    mutating func add(_ header: FrameHeader) {
        frameCount += 1
        recordCount += Int(header.recordCount)
        storedByteCount += UInt64(header.storedByteCount)
        uncompressedByteCount += UInt64(header.uncompressedByteCount)
        earliestMicroseconds = min(earliestMicroseconds ?? .max, header.minTimestampMicroseconds)
        latestMicroseconds = max(latestMicroseconds ?? .min, header.maxTimestampMicroseconds)
    }

    /// uncompressed / stored payload bytes.
    public var compressionRatio: Double {
        storedByteCount == 0 ? 1 : Double(uncompressedByteCount) / Double(storedByteCount)
    }
}

/// Reading a log directory back: every record in order (``forEachRecord(directory:fromSequence:toSequence:fromTimestampMicroseconds:filter:skipDamaged:onIncident:_:)``)
/// or following it as another process appends (``follow(directory:fromSequence:filter:stopAfterIdleNanoseconds:_:)``).
/// Recovery, the pipeline's read-back of spilled webhooks, dead letters and the CLI all read through here.
public enum LogReader {
    /// Reads every record of the log in `directory` from `fromSequence` on (and, when given, with a
    /// timestamp at or after `fromTimestampMicroseconds`), verifying every frame it reads. The sparse
    /// index finds the first frame to read, so a read from late in the log does not scan what comes
    /// before (a missing index is built from the segment on the fly). The summary covers the frames read.
    /// With `toSequence`, reading ends before the first frame that starts at or after it.
    ///
    /// Damage — a frame or segment header that does not verify, records that disagree with their frame,
    /// or sequences missing between two segments — is an error naming the file and offset (a torn tail
    /// too: open the writer to recover it), unless `skipDamaged`: then each damaged range is handed to
    /// `onIncident` (file, byte offsets, the sequences lost as far as known) and reading continues at the
    /// next frame that verifies (``SegmentReader/resynchronize(after:)``) and with later segments. A gap a
    /// repair recorded in `lost-sequences.txt` is not damage: `onIncident` gets it as a note.
    public static func forEachRecord(
        directory: String,
        fromSequence: UInt64 = 0,
        toSequence: UInt64 = .max,
        fromTimestampMicroseconds: Int64? = nil,
        filter: EventFilter? = nil,
        skipDamaged: Bool = false,
        onIncident: ((LogIncident) -> Void)? = nil,
        _ body: (StoredRecord) -> Void
    ) throws(SegmentLogError) -> LogSummary {
        var summary = LogSummary()
        let filter = filter.flatMap { $0.isEmpty ? nil : $0 }
        var recordFilter = RecordFilter(filter: filter)
        var damage = DamagePolicy(directory: directory, skipDamaged: skipDamaged, onIncident: onIncident)
        let segments = try SegmentDirectory.segments(in: directory)
        var previous: (end: UInt64, path: String)?
        for (position, segment) in segments.enumerated() {
            let nextFirst = position + 1 < segments.count ? segments[position + 1].firstSequence : nil
            let next = nextFirst ?? UInt64.max
            if next <= fromSequence && next != UInt64.max { continue }
            if segment.firstSequence >= toSequence { break }
            let path = directory + "/" + segment.name
            if let previous, segment.firstSequence != previous.end {
                try damage.gap(previous.end, previous.path, segment.firstSequence, path)
            }
            previous = nil
            let reader = try damage.open(path, firstSequence: segment.firstSequence)
            if fromSequence > segment.firstSequence || fromTimestampMicroseconds != nil {
                let entries = try SegmentIndex.load(
                    segmentPath: reader.path,
                    segmentFirstSequence: segment.firstSequence
                )
                var indexed = entries ?? []
                if entries == nil { indexed = try damage.buildIndex(reader.path) }
                guard let start = firstFrame(indexed, fromSequence, fromTimestampMicroseconds) else { continue }
                reader.seek(to: start)
            }
            summary.segmentCount += 1
            summary.fileByteCount += reader.byteCount
            summary.firstSequence = summary.firstSequence ?? reader.header.firstSequence
            var end = reader.nextSequence
            frames: while true {
                switch try reader.nextFrame() {
                case .frame(let header, let fileOffset):
                    if header.firstSequence >= toSequence { break frames }
                    summary.add(header)
                    guard header.firstSequence + UInt64(header.recordCount) > fromSequence else { continue }
                    if let filter {
                        // Early skip on frame metadata: no event records, or no overlap with the time range.
                        guard header.recordTypeMask & (1 << RecordType.event.rawValue) != 0,
                            filter.mayMatch(
                                minimumMicroseconds: header.minTimestampMicroseconds,
                                maximumMicroseconds: header.maxTimestampMicroseconds
                            )
                        else { continue }
                    }
                    do throws(SegmentLogError) {
                        unsafe try reader.forEachRecord(of: header, at: fileOffset) { record, payload in
                            guard record.sequence >= fromSequence, record.sequence < toSequence else { return }
                            if let from = fromTimestampMicroseconds, record.timestampMicroseconds < from { return }
                            let bytes = unsafe Array(payload[record.bodyRange])
                            guard
                                recordFilter.accepts(
                                    type: record.type,
                                    timestampMicroseconds: record.timestampMicroseconds,
                                    bytes: bytes
                                )
                            else { return }
                            body(
                                StoredRecord(
                                    sequence: record.sequence,
                                    type: record.type,
                                    timestampMicroseconds: record.timestampMicroseconds,
                                    body: bytes,
                                    segmentPath: reader.path,
                                    frameFileOffset: fileOffset
                                )
                            )
                        }
                    } catch {
                        try damage.badRecords(error, header: header, fileOffset: fileOffset)
                    }
                case .end:
                    break frames
                case .invalid(let fileOffset, let error, let reachesEnd):
                    let resumed = try damage.damagedFrame(
                        reader,
                        fileOffset: fileOffset,
                        error: error,
                        reachesEnd: reachesEnd,
                        nextSegmentFirstSequence: nextFirst
                    )
                    if resumed == nil {
                        // The damage runs to the segment's end: the next segment's start bounds it.
                        if let nextFirst { end = max(end, nextFirst) }
                        break frames
                    }
                }
            }
            end = max(end, reader.nextSequence)
            summary.nextSequence = reader.nextSequence
            previous = (end, reader.path)
        }
        summary.damagedRangeCount = damage.damagedRangeCount
        return summary
    }

    /// The first index entry whose frame may hold a record at or after `fromSequence` and
    /// `fromTimestampMicroseconds`, or `nil` when no frame of the segment can.
    private static func firstFrame(
        _ indexed: [SegmentIndexEntry],
        _ fromSequence: UInt64,
        _ fromTimestampMicroseconds: Int64?
    ) -> SegmentIndexEntry? {
        let bySequence = indexed.lastIndex { $0.firstSequence <= fromSequence } ?? 0
        let byTime =
            fromTimestampMicroseconds.map { from in
                indexed.firstIndex { $0.maxTimestampMicroseconds >= from } ?? indexed.count
            } ?? 0
        let start = max(bySequence, byTime)
        return start < indexed.count ? indexed[start] : nil
    }
}

/// How a read treats damage: an error (the default), or — with `skipDamaged` — an incident handed to
/// `onIncident` and stepped over. Notes (gaps a repair recorded) go to `onIncident` either way.
private struct DamagePolicy {
    let directory: String
    let skipDamaged: Bool
    let onIncident: ((LogIncident) -> Void)?
    var lost: LostSequences?
    var damagedRangeCount = 0

    init(directory: String, skipDamaged: Bool, onIncident: ((LogIncident) -> Void)?) {
        self.directory = directory
        self.skipDamaged = skipDamaged
        self.onIncident = onIncident
    }

    /// Reports `incident`, or throws it when it is damage and damage is not skipped.
    mutating func report(_ incident: LogIncident) throws(SegmentLogError) {
        if incident.isDamage {
            guard skipDamaged else {
                throw SegmentLogError(
                    code: .corrupt,
                    path: incident.path,
                    fileOffset: incident.fileOffset,
                    message: incident.description
                )
            }
            damagedRangeCount += 1
        }
        onIncident?(incident)
    }

    /// Sequences do not continue from the segment at `previousPath` (ending at `previousEnd`) to the one
    /// at `path` (starting at `first`): ``SegmentBoundary/incidents(previousEnd:previousPath:first:path:directory:lost:)``.
    mutating func gap(
        _ previousEnd: UInt64,
        _ previousPath: String,
        _ first: UInt64,
        _ path: String
    )
        throws(SegmentLogError)
    {
        let incidents = try SegmentBoundary.incidents(
            previousEnd: previousEnd,
            previousPath: previousPath,
            first: first,
            path: path,
            directory: directory,
            lost: &lost
        )
        for incident in incidents { try report(incident) }
    }

    /// A reader of the segment; with `skipDamaged` a damaged header is reported and reading goes on.
    mutating func open(_ path: String, firstSequence: UInt64) throws(SegmentLogError) -> SegmentReader {
        guard skipDamaged else { return try SegmentReader(path: path) }
        let reader = try SegmentReader(path: path, toleratingDamagedHeader: firstSequence)
        if let damage = reader.headerDamage {
            try report(
                LogIncident(
                    kind: .damagedSegmentHeader,
                    path: path,
                    fileOffset: 0,
                    byteCount: UInt64(SegmentHeader.byteCount),
                    detail: damage.format.map { "\($0)" } ?? damage.message
                )
            )
        }
        return reader
    }

    /// The index entries of a segment without a usable index file; with `skipDamaged`, none when the
    /// segment is damaged (it is then read from its start, stepping over the damage).
    func buildIndex(_ path: String) throws(SegmentLogError) -> [SegmentIndexEntry] {
        do {
            return try SegmentIndex.build(segmentPath: path)
        } catch  where skipDamaged && error.code == .corrupt {
            return []
        }
    }

    /// A frame whose records disagree with its header (the reader is already past it).
    mutating func badRecords(_ error: SegmentLogError, header: FrameHeader, fileOffset: UInt64) throws(SegmentLogError)
    {
        guard skipDamaged else { throw error }
        try report(
            LogIncident(
                kind: .damagedFrame,
                path: error.path,
                fileOffset: fileOffset,
                byteCount: UInt64(FrameHeader.byteCount) + UInt64(header.storedByteCount),
                sequences: header.firstSequence..<(header.firstSequence + UInt64(header.recordCount)),
                detail: error.format.map { "\($0)" } ?? error.message
            )
        )
    }

    /// A frame that does not verify at `fileOffset`: an error, or (skipping) reported and stepped over.
    /// Returns the offset reading resumes at, or `nil` when no valid frame follows in the segment.
    mutating func damagedFrame(
        _ reader: SegmentReader,
        fileOffset: UInt64,
        error: FormatError,
        reachesEnd: Bool,
        nextSegmentFirstSequence: UInt64?
    ) throws(SegmentLogError) -> UInt64? {
        guard skipDamaged else {
            throw SegmentLogError(
                code: .corrupt,
                path: reader.path,
                fileOffset: fileOffset,
                message: reachesEnd ? "torn tail (opening the log for writing truncates it)" : "damaged frame",
                format: error
            )
        }
        let before = reader.nextSequence
        let resumed = try reader.resynchronize(after: fileOffset)
        var incident = LogIncident(
            kind: .damagedFrame,
            path: reader.path,
            fileOffset: fileOffset,
            byteCount: (resumed ?? reader.byteCount) - fileOffset,
            detail: "\(error)"
        )
        if resumed != nil {
            incident.sequences = before..<reader.nextSequence
        } else if let next = nextSegmentFirstSequence {
            incident.sequences = before..<max(before, next)
        } else {
            incident.sequencesFrom = before
            if reachesEnd { incident.detail += "; a torn tail: opening the log for writing truncates it" }
        }
        try report(incident)
        return resumed
    }
}

extension LogReader {
    /// Follows the log in `directory`, which another process may be writing (or may not have created
    /// yet): hands every record from `fromSequence` on that passes `filter` to `body` as it is appended,
    /// across rolls, sleeping on inotify between appends (``LogFollower``). Returns the next sequence
    /// when `stopAfterIdleNanoseconds` pass without a new record; without it, runs until the process ends.
    public static func follow(
        directory: String,
        fromSequence: UInt64,
        filter: EventFilter? = nil,
        stopAfterIdleNanoseconds: UInt64? = nil,
        _ body: (StoredRecord) -> Void
    ) throws(SegmentLogError) -> UInt64 {
        var recordFilter = RecordFilter(filter: filter.flatMap { $0.isEmpty ? nil : $0 })
        let follower = try LogFollower(directory: directory, watchingFromSequence: fromSequence)
        let wait = min(stopAfterIdleNanoseconds ?? 1_000_000_000, 1_000_000_000)
        var idleSince = MonotonicCondition.monotonicNanoseconds()
        while true {
            let delivered = unsafe try follower.next(timeoutNanoseconds: wait) { sequence, type, timestamp, payload in
                let bytes = unsafe Array(payload)
                guard recordFilter.accepts(type: type, timestampMicroseconds: timestamp, bytes: bytes) else { return }
                body(
                    StoredRecord(
                        sequence: sequence,
                        type: type,
                        timestampMicroseconds: timestamp,
                        body: bytes,
                        segmentPath: follower.frameLocation.segmentPath,
                        frameFileOffset: follower.frameLocation.fileOffset
                    )
                )
            }
            let now = MonotonicCondition.monotonicNanoseconds()
            if delivered > 0 { idleSince = now }
            if let stopAfterIdleNanoseconds, now - idleSince >= stopAfterIdleNanoseconds { return follower.position }
        }
    }
}

/// Whether a stored record passes an ``EventFilter``: the one check shared by reads and follows.
private struct RecordFilter {
    let filter: EventFilter?
    var decoder = EventDecoder()
    var header = EventHeader()

    init(filter: EventFilter?) { self.filter = filter }

    mutating func accepts(type: RecordType, timestampMicroseconds: Int64, bytes: [UInt8]) -> Bool {
        guard let filter else { return true }
        guard type == .event else { return false }
        do throws(EventDecodingError) {
            try decoder.decodeHeader(bytes, into: &header)
        } catch {
            return false  // not an event a producer could have sent; it cannot match
        }
        // Time conditions use the record's timestamp, as the frame-level skip does (for events appended
        // by `appendEvents` it is their `occurred`).
        header.occurred = Timestamp(microsecondsSinceEpoch: timestampMicroseconds)
        return filter.matches(Event(header: header, bytes: bytes), symbols: decoder.symbols)
    }
}

/// Where one segment meets the next: the one sequence-gap check, shared by reads (``LogReader``) and checks
/// (``LogCheck``).
enum SegmentBoundary {
    /// What lies between the segment at `previousPath` (ending at `previousEnd`) and the one at `path`
    /// (starting at `first`): nothing when the sequences continue; a damaged header when they overlap;
    /// for a gap, notes for a loss `lost-sequences.txt` records, else a `missingSequences` incident.
    /// `lost` is loaded from `directory` on the first gap.
    static func incidents(
        previousEnd: UInt64,
        previousPath: String,
        first: UInt64,
        path: String,
        directory: String,
        lost: inout LostSequences?
    ) throws(SegmentLogError) -> [LogIncident] {
        guard first != previousEnd else { return [] }
        guard first > previousEnd else {
            return [
                LogIncident(
                    kind: .damagedSegmentHeader,
                    path: path,
                    fileOffset: 0,
                    detail:
                        "starts at sequence \(first), before \(previousPath) ends (\(previousEnd)): overlapping segments"
                )
            ]
        }
        if lost == nil { lost = try LostSequences.load(directory: directory) }
        return lost?.incidents(forGap: previousEnd..<first, directory: directory, after: previousPath, before: path)
            ?? []
    }
}
