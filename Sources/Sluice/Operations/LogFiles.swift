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
    /// uncompressed / stored payload bytes.
    public var compressionRatio: Double {
        storedByteCount == 0 ? 1 : Double(uncompressedByteCount) / Double(storedByteCount)
    }
}

/// File-level log operations the CLI and tests use: append a JSON Lines event file, read, inspect, verify.
public enum LogFiles {
    /// Appends the valid events of a JSON Lines file as `event` records (timestamp = `occurred`), in
    /// batches of at most `batchEventCount`; calls `onAcknowledged` with each batch's sequences once the
    /// writer returns (durable per the fsync policy). Invalid lines go to `onError` and are not appended.
    @discardableResult
    public static func appendEvents(
        path: String,
        to writer: SegmentLogWriter,
        batchEventCount: Int = 256,
        limits: EventLimits = EventLimits(),
        onError: (EventDecodingError) -> Void,
        onAcknowledged: (Range<UInt64>) -> Void
    ) throws(SegmentLogError) -> Int {
        precondition(batchEventCount > 0)
        var decoder = EventDecoder(limits: limits)
        var header = EventHeader()
        var batch: [LogRecord] = []
        batch.reserveCapacity(batchEventCount)
        var appended = 0
        var failure: SegmentLogError?
        func flush() {
            guard failure == nil, !batch.isEmpty else { return }
            do throws(SegmentLogError) {
                let now = Timestamp.now().microsecondsSinceEpoch
                let range = try writer.append(
                    batch,
                    nowMicroseconds: now,
                    nowMonotonicNanoseconds: monotonicNanoseconds()
                )
                appended += batch.count
                onAcknowledged(range)
            } catch {
                failure = error
            }
            batch.removeAll(keepingCapacity: true)
        }
        do throws(SystemCallError) {
            let reader = try LineReader(path: path, lineByteCountMax: limits.eventByteCountMax)
            defer { reader.close() }
            unsafe try reader.forEachLine(
                onOversizeLine: { line, lineStart, byteCount in
                    onError(
                        EventDecodingError(
                            code: .limitExceeded,
                            byteOffset: 0,
                            fieldPath: "",
                            message: "event is \(byteCount) bytes, more than the limit of \(limits.eventByteCountMax)"
                        ).located(line: line, lineStart: lineStart, source: path)
                    )
                },
                onLine: { line, lineStart, bytes in
                    do throws(EventDecodingError) {
                        try unsafe decoder.decodeHeader(bytes, into: &header)
                    } catch {
                        onError(error.located(line: line, lineStart: lineStart, source: path))
                        return
                    }
                    batch.append(
                        unsafe LogRecord(
                            type: .event,
                            timestampMicroseconds: header.occurred.microsecondsSinceEpoch,
                            body: Array(bytes)
                        )
                    )
                    if batch.count == batchEventCount { flush() }
                }
            )
        } catch {
            throw SegmentLogError(code: .ioFailed, path: error.path, message: error.operation, errno: error.errno)
        }
        flush()
        if let failure { throw failure }
        return appended
    }

    /// Reads every record of the log in `directory` from `fromSequence` on (and, when given, with a
    /// timestamp at or after `fromTimestampMicroseconds`), verifying every frame it reads. The sparse
    /// index finds the first frame to read, so a read from late in the log does not scan what comes
    /// before (a missing index is built from the segment on the fly). The summary covers the frames read.
    /// Damage is an error naming the file and offset (a torn tail too: open the writer to recover it).
    /// With `toSequence`, reading ends before the first frame that starts at or after it.
    public static func forEachRecord(
        directory: String,
        fromSequence: UInt64 = 0,
        toSequence: UInt64 = .max,
        fromTimestampMicroseconds: Int64? = nil,
        filter: EventFilter? = nil,
        _ body: (StoredRecord) -> Void
    ) throws(SegmentLogError) -> LogSummary {
        var summary = LogSummary()
        let filter = filter.flatMap { $0.isEmpty ? nil : $0 }
        var recordFilter = RecordFilter(filter: filter)
        let segments = try SegmentDirectory.segments(in: directory)
        for (position, segment) in segments.enumerated() {
            let next = position + 1 < segments.count ? segments[position + 1].firstSequence : UInt64.max
            if next <= fromSequence && next != UInt64.max { continue }
            if segment.firstSequence >= toSequence { break }
            let reader = try SegmentReader(path: directory + "/" + segment.name)
            if fromSequence > segment.firstSequence || fromTimestampMicroseconds != nil {
                var entries = try SegmentIndex.load(
                    segmentPath: reader.path,
                    segmentFirstSequence: segment.firstSequence
                )
                if entries == nil { entries = try SegmentIndex.build(segmentPath: reader.path) }
                let indexed = entries ?? []
                let bySequence = indexed.lastIndex { $0.firstSequence <= fromSequence } ?? 0
                let byTime =
                    fromTimestampMicroseconds.map { from in
                        indexed.firstIndex { $0.maxTimestampMicroseconds >= from } ?? indexed.count
                    } ?? 0
                let start = max(bySequence, byTime)
                guard start < indexed.count else { continue }
                reader.seek(to: indexed[start])
            }
            summary.segmentCount += 1
            summary.fileByteCount += reader.byteCount
            summary.firstSequence = summary.firstSequence ?? reader.header.firstSequence
            frames: while true {
                switch try reader.nextFrame() {
                case .frame(let header, let fileOffset):
                    if header.firstSequence >= toSequence { break frames }
                    summary.frameCount += 1
                    summary.recordCount += Int(header.recordCount)
                    summary.storedByteCount += UInt64(header.storedByteCount)
                    summary.uncompressedByteCount += UInt64(header.uncompressedByteCount)
                    summary.earliestMicroseconds = min(
                        summary.earliestMicroseconds ?? .max,
                        header.minTimestampMicroseconds
                    )
                    summary.latestMicroseconds = max(
                        summary.latestMicroseconds ?? .min,
                        header.maxTimestampMicroseconds
                    )
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
                case .end:
                    break frames
                case .invalid(let fileOffset, let error, let reachesEnd):
                    throw SegmentLogError(
                        code: .corrupt,
                        path: reader.path,
                        fileOffset: fileOffset,
                        message: reachesEnd ? "torn tail (opening the log for writing truncates it)" : "damaged frame",
                        format: error
                    )
                }
            }
            summary.nextSequence = reader.nextSequence
        }
        return summary
    }
}

extension LogFiles {
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
        var idleSince = monotonicNanoseconds()
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
            let now = monotonicNanoseconds()
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

/// Monotonic nanoseconds (`CLOCK_MONOTONIC`), for the writer's fsync interval.
public func monotonicNanoseconds() -> UInt64 { MonotonicCondition.monotonicNanoseconds() }
