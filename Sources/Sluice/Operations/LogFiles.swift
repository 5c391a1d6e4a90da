#if canImport(Glibc)
internal import Glibc
#endif

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

    /// ``LogReader/forEachRecord(directory:fromSequence:toSequence:fromTimestampMicroseconds:filter:skipDamaged:onIncident:_:)``,
    /// for the CLI.
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
        try LogReader.forEachRecord(
            directory: directory,
            fromSequence: fromSequence,
            toSequence: toSequence,
            fromTimestampMicroseconds: fromTimestampMicroseconds,
            filter: filter,
            skipDamaged: skipDamaged,
            onIncident: onIncident,
            body
        )
    }

    /// ``LogReader/follow(directory:fromSequence:filter:stopAfterIdleNanoseconds:_:)``, for the CLI.
    public static func follow(
        directory: String,
        fromSequence: UInt64,
        filter: EventFilter? = nil,
        stopAfterIdleNanoseconds: UInt64? = nil,
        _ body: (StoredRecord) -> Void
    ) throws(SegmentLogError) -> UInt64 {
        try LogReader.follow(
            directory: directory,
            fromSequence: fromSequence,
            filter: filter,
            stopAfterIdleNanoseconds: stopAfterIdleNanoseconds,
            body
        )
    }
}

/// Monotonic nanoseconds (`CLOCK_MONOTONIC`), for the writer's fsync interval.
public func monotonicNanoseconds() -> UInt64 { MonotonicCondition.monotonicNanoseconds() }
