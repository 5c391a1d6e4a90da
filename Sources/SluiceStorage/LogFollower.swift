public import SluiceCore

/// Reads a log's records in order as they appear, from a starting sequence, across segment rolls,
/// without polling sleeps.
///
/// Two ways to know what is there:
/// - **In the writer's process** (``init(directory:cursor:fromSequence:)``): it reads only below the
///   writer's ``DurableCursor`` and sleeps on it, so it sees exactly the durable records.
/// - **From another process** (``init(directory:watchingFromSequence:)``, `sluice log dump --follow`): it
///   reads every complete, checksummed frame in the files and sleeps on inotify until the files change.
///   A partial or not-yet-valid frame at the end of the newest segment is a write in progress (or a torn
///   tail the next writer's recovery truncates at the same offset), so it waits there; damage followed
///   by valid frames is an error. Under `fsync: interval` or `never` it can see records before they are
///   durable.
///
/// Not thread-safe: one follower per reading thread (any number of followers per log).
public final class LogFollower {
    public let directory: String
    /// The writer's durable cursor, when following in the writer's process.
    public let cursor: DurableCursor?
    private let watcher: DirectoryWatcher?
    /// The next sequence this follower hands out.
    public private(set) var position: UInt64
    /// The segment file and frame offset of the record being handed to `body` (for error reports).
    public private(set) var frameLocation: (segmentPath: String, fileOffset: UInt64) = ("", 0)
    private var reader: SegmentReader?

    /// A follower in the writer's process, bounded by (and sleeping on) its durable cursor.
    public init(directory: String, cursor: DurableCursor, fromSequence: UInt64) {
        self.directory = directory
        self.cursor = cursor
        watcher = nil
        position = fromSequence
    }

    /// A follower of a log written by another process (or by none yet), woken by inotify.
    /// - Throws: `ioFailed` when the directory cannot be watched.
    public init(directory: String, watchingFromSequence fromSequence: UInt64) throws(SegmentLogError) {
        self.directory = directory
        cursor = nil
        watcher = try DirectoryWatcher(directory: directory)
        position = fromSequence
    }

    /// Hands every record from ``position`` on that is there (durable, for an in-process follower) to
    /// `body`, waiting up to `timeoutNanoseconds` when there is none yet. Returns how many records were
    /// handed out (0 after a timeout).
    /// - Throws: `corrupt` for damaged frames; `ioFailed` when the segment holding ``position`` is gone
    ///   (removed by retention before this follower read it).
    @discardableResult
    public func next(
        timeoutNanoseconds: UInt64,
        _ body: (_ sequence: UInt64, _ type: RecordType, _ timestampMicroseconds: Int64, _ body: UnsafeRawBufferPointer)
            -> Void
    ) throws(SegmentLogError) -> Int {
        guard let cursor else { return try unsafe nextWritten(timeoutNanoseconds: timeoutNanoseconds, body) }
        var durable = cursor.current
        if durable <= position { durable = cursor.wait(beyond: position, timeoutNanoseconds: timeoutNanoseconds) }
        var delivered = 0
        while position < durable {
            let reader = try currentReader()
            try reader.refresh()
            switch try reader.nextFrame() {
            case .frame(let header, let fileOffset):
                delivered += try unsafe deliver(header, at: fileOffset, of: reader, below: durable, body)
            case .end:
                // Everything below `durable` is written, so the rest is in the segment the writer rolled to,
                // which starts exactly at `position`.
                self.reader = nil
                let segments = try SegmentDirectory.segments(in: directory)
                if let next = try recordedGapEnd(segments) {
                    position = next
                    continue
                }
                guard segments.contains(where: { $0.firstSequence == position }) else {
                    throw SegmentLogError(
                        code: .corrupt,
                        path: reader.path,
                        message:
                            "segment ends at sequence \(position), no segment starts there, the cursor is at \(durable)"
                    )
                }
            case .invalid(let fileOffset, let error, _):
                throw SegmentLogError(
                    code: .corrupt,
                    path: reader.path,
                    fileOffset: fileOffset,
                    message: "damaged frame",
                    format: error
                )
            }
        }
        return delivered
    }

    /// ``next(timeoutNanoseconds:_:)`` for a follower of another process's log.
    private func nextWritten(
        timeoutNanoseconds: UInt64,
        _ body: (_ sequence: UInt64, _ type: RecordType, _ timestampMicroseconds: Int64, _ body: UnsafeRawBufferPointer)
            -> Void
    ) throws(SegmentLogError) -> Int {
        var delivered = 0
        var waited = false
        while true {
            guard let reader = try currentReaderIfAny() else {
                // No segment holds `position` yet (an empty or not yet created log).
                if waited || delivered > 0 { return delivered }
                try watcher!.wait(timeoutNanoseconds: timeoutNanoseconds)
                waited = true
                continue
            }
            try reader.refresh()
            switch try reader.nextFrame() {
            case .frame(let header, let fileOffset):
                delivered += try unsafe deliver(header, at: fileOffset, of: reader, below: .max, body)
                continue
            case .end:
                // A writer that rolled has sealed this segment at a frame boundary: go on in the next one.
                let segments = try SegmentDirectory.segments(in: directory)
                if segments.contains(where: { $0.firstSequence == position }) {
                    self.reader = nil
                    continue
                }
                if let next = try recordedGapEnd(segments) {
                    self.reader = nil
                    position = next
                    continue
                }
            case .invalid(let fileOffset, let error, let reachesEnd):
                guard reachesEnd else {
                    throw SegmentLogError(
                        code: .corrupt,
                        path: reader.path,
                        fileOffset: fileOffset,
                        message: "damaged frame",
                        format: error
                    )
                }
            // A frame still being written (or a torn tail): wait for the writer (or its recovery).
            }
            if waited || delivered > 0 { return delivered }
            try watcher!.wait(timeoutNanoseconds: timeoutNanoseconds)
            waited = true
        }
    }

    /// Hands the records of one verified frame from ``position`` on and below `end` to `body`, and moves
    /// ``position`` past them; returns how many were handed out.
    private func deliver(
        _ header: FrameHeader,
        at fileOffset: UInt64,
        of reader: SegmentReader,
        below end: UInt64,
        _ body: (_ sequence: UInt64, _ type: RecordType, _ timestampMicroseconds: Int64, _ body: UnsafeRawBufferPointer)
            -> Void
    ) throws(SegmentLogError) -> Int {
        frameLocation = (reader.path, fileOffset)
        var delivered = 0
        let start = position
        unsafe try reader.forEachRecord(of: header, at: fileOffset) { record, payload in
            guard record.sequence >= start, record.sequence < end else { return }
            unsafe body(
                record.sequence,
                record.type,
                record.timestampMicroseconds,
                UnsafeRawBufferPointer(rebasing: payload[record.bodyRange])
            )
            delivered += 1
        }
        position = max(position, min(end, header.firstSequence + UInt64(header.recordCount)))
        return delivered
    }

    /// At the end of a segment, when no segment starts at ``position``: the first sequence of the next
    /// segment if a repair recorded everything in between as lost (`lost-sequences.txt`), else `nil`.
    private func recordedGapEnd(_ segments: [(firstSequence: UInt64, name: String)]) throws(SegmentLogError) -> UInt64?
    {
        guard let next = segments.first(where: { $0.firstSequence > position }) else { return nil }
        let lost = try LostSequences.load(directory: directory)
        return lost.covering(position..<next.firstSequence) == nil ? nil : next.firstSequence
    }

    /// The reader of the segment holding ``position``, or `nil` when no segment holds it yet.
    private func currentReaderIfAny() throws(SegmentLogError) -> SegmentReader? {
        if let reader { return reader }
        let segments = try SegmentDirectory.segments(in: directory)
        guard let holder = segments.last(where: { $0.firstSequence <= position }) else { return nil }
        do {
            return try currentReader()
        } catch  where error.code == .corrupt && error.fileOffset == 0 && holder.name == segments.last?.name {
            return nil  // the newest segment, whose header is still being written
        }
    }

    /// The reader of the segment holding ``position``, opened (and positioned) on first use.
    private func currentReader() throws(SegmentLogError) -> SegmentReader {
        if let reader { return reader }
        let segments = try SegmentDirectory.segments(in: directory)
        guard let segment = segments.last(where: { $0.firstSequence <= position }) else {
            throw SegmentLogError(code: .ioFailed, path: directory, message: "no segment holds sequence \(position)")
        }
        let opened = try SegmentReader(path: directory + "/" + segment.name)
        if position > segment.firstSequence,
            let entries = try SegmentIndex.load(segmentPath: opened.path, segmentFirstSequence: segment.firstSequence),
            let entry = entries.last(where: { $0.firstSequence <= position && $0.fileOffset < opened.byteCount })
        {
            opened.seek(to: entry)
        }
        reader = opened
        return opened
    }
}
