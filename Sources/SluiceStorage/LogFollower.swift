public import SluiceCore

/// Reads a log's records in order as they become durable, from a starting sequence, across segment
/// rolls, sleeping on the writer's ``DurableCursor`` instead of polling.
///
/// It reads only below the durable cursor, so it never sees a frame that is still being written. Not
/// thread-safe: one follower per reading thread (any number of followers per log).
public final class LogFollower {
    public let directory: String
    public let cursor: DurableCursor
    /// The next sequence this follower hands out.
    public private(set) var position: UInt64
    private var reader: SegmentReader?

    public init(directory: String, cursor: DurableCursor, fromSequence: UInt64) {
        self.directory = directory
        self.cursor = cursor
        position = fromSequence
    }

    /// Hands every durable record from ``position`` on to `body`, waiting up to `timeoutNanoseconds` when
    /// there is none yet. Returns how many records were handed out (0 after a timeout).
    /// - Throws: `corrupt` for damaged frames; `ioFailed` when the segment holding ``position`` is gone
    ///   (removed by retention before this follower read it).
    @discardableResult
    public func next(
        timeoutNanoseconds: UInt64,
        _ body: (_ sequence: UInt64, _ type: RecordType, _ timestampMicroseconds: Int64, _ body: UnsafeRawBufferPointer)
            -> Void
    ) throws(SegmentLogError) -> Int {
        var durable = cursor.current
        if durable <= position { durable = cursor.wait(beyond: position, timeoutNanoseconds: timeoutNanoseconds) }
        var delivered = 0
        while position < durable {
            let reader = try currentReader()
            try reader.refresh()
            switch try reader.nextFrame() {
            case .frame(let header, let fileOffset):
                unsafe try reader.forEachRecord(of: header, at: fileOffset) { record, payload in
                    guard record.sequence >= position, record.sequence < durable else { return }
                    unsafe body(
                        record.sequence,
                        record.type,
                        record.timestampMicroseconds,
                        UnsafeRawBufferPointer(rebasing: payload[record.bodyRange])
                    )
                    delivered += 1
                }
                position = max(position, min(durable, header.firstSequence + UInt64(header.recordCount)))
            case .end:
                // Everything below `durable` is written, so the rest is in the segment the writer rolled to,
                // which starts exactly at `position`.
                self.reader = nil
                let segments = try SegmentDirectory.segments(in: directory)
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
