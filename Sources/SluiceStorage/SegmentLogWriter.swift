import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

/// What opening the log found and repaired.
public struct RecoveryReport: Sendable, Equatable {
    public var segmentCount = 0
    /// The active segment whose torn tail was cut off, if any.
    public var truncatedPath: String?
    /// Bytes removed from the torn tail (a partial frame, or a last frame whose checksum failed).
    public var droppedByteCount: UInt64 = 0
    /// Records of the dropped frame, when its header was still readable (else 0: unknown).
    public var droppedRecordCount: Int = 0
    /// A segment file removed because the crash came before its header was complete.
    public var removedIncompleteSegment: String?
    /// The sequence the next append gets.
    public var nextSequence: UInt64 = 0
    /// Every repair, with its file, offset and cost (a truncated torn tail, a torn newest segment moved
    /// to the quarantine folder); empty when nothing was repaired.
    public var incidents: [LogIncident] = []
    /// Sealed segments whose query summary (FORMAT.md "Segment summaries") was missing, torn or stale and
    /// was rebuilt from the segment, with the reason. Derived data: not a repair of the log.
    public var summariesRebuilt: [SummaryRebuild] = []

    /// A rebuilt summary: the segment and why its summary was not used.
    public struct SummaryRebuild: Sendable, Equatable {
        public var segmentPath: String
        public var reason: String
    }

    public var repairedAnything: Bool { !incidents.isEmpty }
}

extension RecoveryReport: CustomStringConvertible {
    /// One sentence per repair ("recovered: truncated a torn tail of … at file offset …"), or that there
    /// was nothing to repair.
    public var description: String {
        guard repairedAnything else {
            return "\(segmentCount) segments, nothing to repair; next sequence \(nextSequence)"
        }
        return incidents.map { "recovered: \($0)" }.joined(separator: "\n") + "\nnext sequence \(nextSequence)"
    }
}

/// Appends records to the segment log: frames (LZ4 block compressed when that helps), CRC-32C,
/// `fdatasync` per ``FsyncPolicy``, segment roll by size and age, and a published durable cursor.
///
/// Opening the writer runs recovery (FORMAT.md): a torn tail of the active segment is truncated after
/// its last valid frame and reported in ``recovery``; damage anywhere else is a ``SegmentLogError``
/// with code `corrupt`, never skipped.
///
/// One thread appends (`append`, `sync`, `syncIfDue`, `close`); any thread may read
/// ``durableSequence`` (an acquiring load pairing with the writer's releasing store).
public final class SegmentLogWriter {
    public let configuration: LogConfiguration
    public let recovery: RecoveryReport
    /// The sequence the next appended record gets.
    public private(set) var nextSequence: UInt64

    /// The durable position; followers wait on it (``DurableCursor/wait(beyond:timeoutNanoseconds:)``).
    public let cursor: DurableCursor
    /// Bytes written, segments started, `fdatasync` latency (any thread may read them).
    public let statistics: SegmentLogStatistics
    private var active: FileDescriptor
    private var activeFirstSequence: UInt64
    private var activeByteCount: UInt64
    private var activeCreatedMicroseconds: Int64
    private var activeIndex: FileDescriptor
    private var activeIndexByteCount: UInt64
    private var pendingIndex: [UInt8] = []
    private var lastSyncNanoseconds: UInt64 = 0
    private var unsyncedWrites = false
    private var pending: [UInt8] = []
    private var payload: [UInt8] = []
    private var lz4: LZ4Block
    /// Holds the directory's exclusive `writer.lock` (`flock`) for the writer's lifetime.
    private let lock: FileDescriptor

    /// Opens (creating if needed) the log in `configuration.directory` and recovers it. One writer per
    /// directory at a time: a second one, in any process, fails with `locked` (the lock is an `flock` on
    /// `writer.lock`, released when the writer goes away or its process dies).
    /// - Parameter nowMicroseconds: wall-clock time, recorded in new segment headers.
    /// - Parameter statistics: where the writer counts bytes, segments and sync latency (a caller that
    ///   shows them from other threads passes its own; one per writer).
    public init(
        configuration: LogConfiguration,
        nowMicroseconds: Int64,
        statistics: SegmentLogStatistics = SegmentLogStatistics()
    ) throws(SegmentLogError) {
        try configuration.validate()
        self.statistics = statistics
        self.configuration = configuration
        lz4 = LZ4Block(sourceByteCountMax: configuration.frameByteCountMax)
        pending.reserveCapacity(configuration.frameByteCountMax + 4096)
        payload.reserveCapacity(configuration.frameByteCountMax)
        try LogDirectory.create(configuration.directory)
        let lockPath = configuration.directory + "/writer.lock"
        lock = try FileDescriptor(path: lockPath, flags: O_RDWR | O_CREAT)
        // A process forked elsewhere in this process shares the lock's open file until it execs (the
        // descriptor is close-on-exec), so a busy lock is retried for half a second before it counts.
        var result = flock(lock.descriptor, LOCK_EX | LOCK_NB)
        var code = result == 0 ? 0 : Glibc.errno
        var attempts = 0
        while result != 0, code == EWOULDBLOCK || code == EINTR, attempts < 50 {
            attempts += 1
            usleep(10_000)
            result = flock(lock.descriptor, LOCK_EX | LOCK_NB)
            code = result == 0 ? 0 : Glibc.errno
        }
        if result != 0 {
            throw SegmentLogError(
                code: code == EWOULDBLOCK ? .locked : .ioFailed,
                path: lockPath,
                message: code == EWOULDBLOCK
                    ? "another writer has this log open (a running sluice, or another SegmentLogWriter)" : "flock",
                errno: code
            )
        }
        var report = RecoveryReport()
        let opened = try Self.openActiveSegment(configuration, nowMicroseconds: nowMicroseconds, report: &report)
        active = opened.file
        activeIndex = opened.index
        activeIndexByteCount = opened.indexByteCount
        activeFirstSequence = opened.firstSequence
        activeByteCount = opened.byteCount
        activeCreatedMicroseconds = opened.createdMicroseconds
        nextSequence = report.nextSequence
        cursor = DurableCursor(report.nextSequence)
        recovery = report
    }

    /// Every record with a sequence below this is durable per the fsync policy (with `.never`: written).
    public var durableSequence: UInt64 { cursor.current }

    /// Appends `records` in order; returns their sequences. With `.always` they are durable on return.
    /// - Throws: `recordTooLarge` (nothing appended) when a record cannot fit in one frame; `ioFailed`.
    @discardableResult
    public func append(
        _ records: [LogRecord],
        nowMicroseconds: Int64,
        nowMonotonicNanoseconds: UInt64
    ) throws(SegmentLogError) -> Range<UInt64> {
        let first = nextSequence
        guard !records.isEmpty else { return first..<first }
        for record in records
        where record.body.count + FramePayload.recordHeaderByteCount > configuration.frameByteCountMax {
            throw SegmentLogError(
                code: .recordTooLarge,
                path: configuration.directory,
                message:
                    "record of \(record.body.count) bytes exceeds frameByteCountMax \(configuration.frameByteCountMax)"
            )
        }
        pending.removeAll(keepingCapacity: true)
        var frameStart = 0
        while frameStart < records.count {
            let frameEnd = framePrefix(records, from: frameStart)
            let header = encodeFrame(records[frameStart..<frameEnd], firstSequence: nextSequence)
            if needsRoll(adding: FrameHeader.byteCount + Int(header.storedByteCount), nowMicroseconds: nowMicroseconds)
            {
                try flushPending()
                try roll(nowMicroseconds: nowMicroseconds)
            }
            pendingIndex += SegmentIndex.encode(
                SegmentIndexEntry(header, fileOffset: activeByteCount + UInt64(pending.count))
            )
            // Header and stored bytes go straight into the write buffer (reused across appends): a frame
            // array of its own per append would be fresh memory and one more copy.
            header.encode(into: &pending)
            if header.compression == .lz4Block {
                unsafe lz4.scratch.withUnsafeBufferPointer { scratch in
                    unsafe pending.append(
                        contentsOf: UnsafeBufferPointer(rebasing: scratch[0..<Int(header.storedByteCount)])
                    )
                }
            } else {
                pending.append(contentsOf: payload)
            }
            nextSequence += UInt64(frameEnd - frameStart)
            frameStart = frameEnd
        }
        try flushPending()
        try syncPerPolicy(nowMonotonicNanoseconds: nowMonotonicNanoseconds)
        return first..<nextSequence
    }

    /// With `.interval`, syncs when the interval has passed since the last sync (call from the writer's loop).
    public func syncIfDue(nowMonotonicNanoseconds: UInt64) throws(SegmentLogError) {
        guard case .interval = configuration.fsync else { return }
        try syncPerPolicy(nowMonotonicNanoseconds: nowMonotonicNanoseconds)
    }

    /// Syncs now, whatever the policy, and publishes the durable cursor.
    public func sync() throws(SegmentLogError) {
        if unsyncedWrites { try syncActive() }
        unsyncedWrites = false
        cursor.publish(nextSequence)
    }

    // MARK: - Frames

    /// The end of the longest run of records from `start` that fits one frame.
    private func framePrefix(_ records: [LogRecord], from start: Int) -> Int {
        var byteCount = 0
        var end = start
        while end < records.count {
            let recordByteCount = records[end].body.count + FramePayload.recordHeaderByteCount
            if end > start && byteCount + recordByteCount > configuration.frameByteCountMax { break }
            byteCount += recordByteCount
            end += 1
        }
        return end
    }

    /// Encodes `records` as one frame's payload into `payload`, compressed into `lz4.scratch` when the log
    /// compresses; returns the frame's header (its stored bytes are the scratch's prefix, or `payload`).
    private func encodeFrame(_ records: ArraySlice<LogRecord>, firstSequence: UInt64) -> FrameHeader {
        payload.removeAll(keepingCapacity: true)
        var mask: UInt8 = 0
        var minTimestamp = Int64.max
        var maxTimestamp = Int64.min
        for record in records {
            unsafe record.body.withUnsafeBytes { body in
                unsafe FramePayload.appendRecord(
                    type: record.type,
                    timestampMicroseconds: record.timestampMicroseconds,
                    body: body,
                    to: &payload
                )
            }
            mask |= UInt8(1) << record.type.rawValue
            minTimestamp = min(minTimestamp, record.timestampMicroseconds)
            maxTimestamp = max(maxTimestamp, record.timestampMicroseconds)
        }
        var compressedCount: Int? = nil
        if configuration.compression == .lz4Block {
            compressedCount = unsafe payload.withUnsafeBytes { raw in unsafe lz4.compress(raw) }
        }
        let storedChecksum: UInt32
        if let compressedCount {
            storedChecksum = unsafe lz4.scratch.withUnsafeBytes { raw in
                unsafe FrameChecksum.update(0, UnsafeRawBufferPointer(rebasing: raw[0..<compressedCount]))
            }
        } else {
            storedChecksum = unsafe payload.withUnsafeBytes { raw in unsafe FrameChecksum.update(0, raw) }
        }
        return FrameHeader(
            compression: compressedCount == nil ? .none : .lz4Block,
            recordTypeMask: mask,
            firstSequence: firstSequence,
            recordCount: UInt32(records.count),
            storedByteCount: UInt32(compressedCount ?? payload.count),
            uncompressedByteCount: UInt32(payload.count),
            payloadChecksum: storedChecksum,
            minTimestampMicroseconds: minTimestamp,
            maxTimestampMicroseconds: maxTimestamp
        )
    }

    // MARK: - Writing, syncing, rolling

    private func flushPending() throws(SegmentLogError) {
        guard !pending.isEmpty else { return }
        try active.writeAll(pending, fileOffset: activeByteCount)
        activeByteCount += UInt64(pending.count)
        statistics.wrote(byteCount: pending.count)
        unsyncedWrites = true
        pending.removeAll(keepingCapacity: true)
        // The index is derived data written after the frames: a crash between the two leaves it stale,
        // and opening the log rebuilds it.
        try activeIndex.writeAll(pendingIndex, fileOffset: activeIndexByteCount)
        activeIndexByteCount += UInt64(pendingIndex.count)
        pendingIndex.removeAll(keepingCapacity: true)
    }

    private func syncPerPolicy(nowMonotonicNanoseconds: UInt64) throws(SegmentLogError) {
        switch configuration.fsync {
        case .always:
            try sync()
            lastSyncNanoseconds = nowMonotonicNanoseconds
        case .interval(let milliseconds):
            if nowMonotonicNanoseconds &- lastSyncNanoseconds >= UInt64(milliseconds) * 1_000_000 {
                try sync()
                lastSyncNanoseconds = nowMonotonicNanoseconds
            }
        case .never:
            cursor.publish(nextSequence)
        }
    }

    /// `fdatasync` of the active segment, timed into ``statistics``.
    private func syncActive() throws(SegmentLogError) {
        let start = MonotonicCondition.monotonicNanoseconds()
        try active.syncData()
        statistics.syncLatency.record(from: start, to: MonotonicCondition.monotonicNanoseconds())
    }

    private func needsRoll(adding frameByteCount: Int, nowMicroseconds: Int64) -> Bool {
        let hasFrames = activeByteCount + UInt64(pending.count) > UInt64(SegmentHeader.byteCount)
        guard hasFrames else { return false }
        if activeByteCount + UInt64(pending.count + frameByteCount) > UInt64(configuration.segmentByteCountMax) {
            return true
        }
        if let age = configuration.segmentAgeMaxMicroseconds, nowMicroseconds - activeCreatedMicroseconds >= age {
            return true
        }
        return false
    }

    /// Seals the active segment (synced unless `.never`; never written again) and starts the next one.
    private func roll(nowMicroseconds: Int64) throws(SegmentLogError) {
        if configuration.fsync != .never && unsyncedWrites { try syncActive() }
        unsyncedWrites = false
        // No summary is built here: it re-reads and decodes the whole sealed segment, and on this thread that
        // held back every acknowledgement for the scan at each roll. The first query that needs it builds it
        // and writes it back (SegmentSummary, docs/queries.md).
        let created = try Self.createSegment(
            configuration,
            firstSequence: nextSequence,
            nowMicroseconds: nowMicroseconds
        )
        active = created.file
        activeIndex = created.index
        activeIndexByteCount = UInt64(SegmentIndex.headerByteCount)
        activeFirstSequence = nextSequence
        activeByteCount = UInt64(SegmentHeader.byteCount)
        activeCreatedMicroseconds = nowMicroseconds
        statistics.startedSegment()
    }

    // MARK: - Opening and recovery

    private static func createSegment(
        _ configuration: LogConfiguration,
        firstSequence: UInt64,
        nowMicroseconds: Int64
    ) throws(SegmentLogError) -> (file: FileDescriptor, index: FileDescriptor) {
        let path = configuration.directory + "/" + SegmentFileName.name(firstSequence: firstSequence)
        try SegmentIndex.write([], segmentPath: path, segmentFirstSequence: firstSequence)
        let index = try FileDescriptor(path: SegmentIndex.path(forSegment: path), flags: O_WRONLY)
        let file = try FileDescriptor(path: path, flags: O_WRONLY | O_CREAT | O_EXCL)
        var header: [UInt8] = []
        SegmentHeader(firstSequence: firstSequence, createdMicroseconds: nowMicroseconds).encode(into: &header)
        try file.writeAll(header, fileOffset: 0)
        if configuration.fsync != .never {
            try file.syncData()
            try LogDirectory.sync(configuration.directory)
        }
        return (file, index)
    }

    private static func openActiveSegment(
        _ configuration: LogConfiguration,
        nowMicroseconds: Int64,
        report: inout RecoveryReport
    ) throws(SegmentLogError) -> (
        file: FileDescriptor, index: FileDescriptor, indexByteCount: UInt64, firstSequence: UInt64, byteCount: UInt64,
        createdMicroseconds: Int64
    ) {
        let emptyIndexByteCount = UInt64(SegmentIndex.headerByteCount)
        let directory = configuration.directory
        let segments = try LogDirectory.segments(in: directory)
        report.segmentCount = segments.count
        guard let last = segments.last else {
            let created = try createSegment(configuration, firstSequence: 0, nowMicroseconds: nowMicroseconds)
            report.segmentCount = 1
            return (
                created.file, created.index, emptyIndexByteCount, 0, UInt64(SegmentHeader.byteCount), nowMicroseconds
            )
        }
        for (position, segment) in segments.dropLast().enumerated() {
            let reader = try SegmentReader(path: directory + "/" + segment.name)
            guard reader.header.firstSequence == segment.firstSequence else {
                throw SegmentLogError(
                    code: .corrupt,
                    path: reader.path,
                    fileOffset: 16,
                    message:
                        "header says first sequence \(reader.header.firstSequence), the name says \(segment.firstSequence)"
                )
            }
            try rebuildIndexIfStale(
                segmentPath: reader.path,
                firstSequence: segment.firstSequence,
                nextSegmentFirstSequence: segments[position + 1].firstSequence
            )
            // A summary that does not verify is rebuilt now, so queries after a crash start from verified
            // summaries. A segment too damaged to summarize is left to queries and `sluice log verify`,
            // which report it with its offset: opening the log for appends does not depend on it.
            do {
                let (_, reason) = try SegmentSummary.loadOrRebuild(
                    segmentPath: reader.path,
                    segmentFirstSequence: segment.firstSequence
                )
                if let reason {
                    report.summariesRebuilt.append(.init(segmentPath: reader.path, reason: reason))
                }
            } catch {
                // See above: reported by the next query of this segment.
            }
        }
        let path = directory + "/" + last.name
        var quarantine = Quarantine(logDirectory: directory, nowMicroseconds: nowMicroseconds)
        if try LogRepair.isIncompleteSegment(path) {
            // The crash came between creating the file and completing its header: nothing in it was
            // acknowledged. It is moved aside, never deleted, and the move is reported.
            let size = try FileDescriptor(path: path, flags: O_RDONLY).byteCount()
            let destination = try quarantine.moveAside(path)
            report.incidents.append(
                LogIncident(
                    kind: .incompleteSegmentQuarantined,
                    path: path,
                    fileOffset: 0,
                    byteCount: size,
                    sequences: last.firstSequence..<last.firstSequence,
                    destination: destination,
                    detail: "a crash before its \(SegmentHeader.byteCount)-byte header was complete; "
                        + "a new segment starts at sequence \(last.firstSequence)"
                )
            )
            report.removedIncompleteSegment = path
            report.droppedByteCount = size
            report.nextSequence = last.firstSequence
            let created = try createSegment(
                configuration,
                firstSequence: last.firstSequence,
                nowMicroseconds: nowMicroseconds
            )
            return (
                created.file, created.index, emptyIndexByteCount, last.firstSequence, UInt64(SegmentHeader.byteCount),
                nowMicroseconds
            )
        }
        let reader = try SegmentReader(path: path)
        guard reader.header.firstSequence == last.firstSequence else {
            throw SegmentLogError(
                code: .corrupt,
                path: path,
                fileOffset: 16,
                message: "segment name and header disagree"
            )
        }
        var entries: [SegmentIndexEntry] = []
        scan: while true {
            switch try reader.nextFrame() {
            case .frame(let header, let fileOffset):
                entries.append(SegmentIndexEntry(header, fileOffset: fileOffset))
            case .end:
                break scan
            case .invalid(let fileOffset, let error, let reachesEnd):
                guard reachesEnd else {
                    throw SegmentLogError(
                        code: .corrupt,
                        path: path,
                        fileOffset: fileOffset,
                        message: "damaged frame with valid frames after it (not a torn tail)",
                        format: error
                    )
                }
                report.droppedRecordCount = try Self.readableRecordCount(path: path, fileOffset: fileOffset)
                let droppedByteCount = reader.byteCount - fileOffset
                // The cut bytes are kept aside first: nothing is removed that is not also kept.
                let destination = try quarantine.copyAside(path, fileOffset: fileOffset, byteCount: droppedByteCount)
                let file = try FileDescriptor(path: path, flags: O_WRONLY)
                try file.truncate(to: fileOffset)
                try file.syncData()
                report.truncatedPath = path
                report.droppedByteCount = droppedByteCount
                let dropped = reader.nextSequence
                report.incidents.append(
                    LogIncident(
                        kind: .tornTailTruncated,
                        path: path,
                        fileOffset: fileOffset,
                        byteCount: droppedByteCount,
                        sequences: report.droppedRecordCount > 0
                            ? dropped..<(dropped + UInt64(report.droppedRecordCount)) : nil,
                        sequencesFrom: report.droppedRecordCount > 0 ? nil : dropped,
                        destination: destination,
                        detail: "\(error); an incomplete last write (with fsync always: never acknowledged)"
                    )
                )
                break scan
            }
        }
        report.nextSequence = reader.nextSequence
        // The active segment's index is always rewritten from the scan that recovery did anyway.
        try SegmentIndex.write(entries, segmentPath: path, segmentFirstSequence: last.firstSequence)
        let index = try FileDescriptor(path: SegmentIndex.path(forSegment: path), flags: O_WRONLY)
        let indexByteCount = emptyIndexByteCount + UInt64(entries.count * SegmentIndex.entryByteCount)
        let file = try FileDescriptor(path: path, flags: O_WRONLY)
        return (file, index, indexByteCount, last.firstSequence, reader.fileOffset, reader.header.createdMicroseconds)
    }

    /// Rebuilds a sealed segment's index when it is missing, malformed, or its last entry does not lead
    /// exactly to the next segment's first sequence.
    private static func rebuildIndexIfStale(
        segmentPath: String,
        firstSequence: UInt64,
        nextSegmentFirstSequence: UInt64
    ) throws(SegmentLogError) {
        if let entries = try SegmentIndex.load(segmentPath: segmentPath, segmentFirstSequence: firstSequence),
            let last = entries.last,
            let header = try frameHeader(path: segmentPath, fileOffset: last.fileOffset),
            header.firstSequence == last.firstSequence,
            header.firstSequence + UInt64(header.recordCount) == nextSegmentFirstSequence
        {
            return
        }
        let entries = try SegmentIndex.build(segmentPath: segmentPath)
        try SegmentIndex.write(entries, segmentPath: segmentPath, segmentFirstSequence: firstSequence)
    }

    /// The frame header at `fileOffset` when it is intact, else `nil`.
    private static func frameHeader(path: String, fileOffset: UInt64) throws(SegmentLogError) -> FrameHeader? {
        let file = try FileDescriptor(path: path, flags: O_RDONLY)
        var bytes = [UInt8](repeating: 0, count: FrameHeader.byteCount)
        let count = try file.read(into: &bytes, count: bytes.count, fileOffset: fileOffset)
        guard count == FrameHeader.byteCount else { return nil }
        return try? FrameHeader.decode(bytes, fileOffset: fileOffset)
    }

    /// The record count of the frame header at `fileOffset` when it is still intact, else 0.
    private static func readableRecordCount(path: String, fileOffset: UInt64) throws(SegmentLogError) -> Int {
        try frameHeader(path: path, fileOffset: fileOffset).map { Int($0.recordCount) } ?? 0
    }
}
