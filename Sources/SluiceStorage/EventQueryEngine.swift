public import SluiceCore

/// One event a query returned: its log sequence (the resume cursor) and its stored bytes.
public struct QueriedEvent: Sendable, Equatable {
    public var sequence: UInt64
    public var bytes: [UInt8]
}

/// What a query run did.
public struct EventQueryOutcome: Sendable, Equatable {
    /// Events handed to the caller.
    public var returnedCount = 0
    /// Every event that matched, before offset and limit (complete only when the run was not stopped
    /// early: ``EventQueryEngine/count(directory:query:)`` always runs to the end).
    public var matchedCount = 0
    /// The sequence of the last event returned: pass it as ``EventQuery/afterSequence`` to resume.
    public var lastSequence: UInt64?
    public var segmentsRead = 0
    /// Frames read (and their events decoded).
    public var framesRead = 0
    /// Sealed segments skipped on their summary alone.
    public var segmentsSkipped = 0
    /// Summaries rebuilt because they were missing, torn or stale, with the reason.
    public var summariesRebuilt: [(path: String, reason: String)] = []
    /// Stored event records that do not decode (no query matches them).
    public var undecodableCount = 0

    public static func == (left: Self, right: Self) -> Bool {
        left.returnedCount == right.returnedCount && left.matchedCount == right.matchedCount
            && left.lastSequence == right.lastSequence && left.segmentsRead == right.segmentsRead
            && left.framesRead == right.framesRead
            && left.segmentsSkipped == right.segmentsSkipped && left.undecodableCount == right.undecodableCount
            && left.summariesRebuilt.map(\.path) == right.summariesRebuilt.map(\.path)
    }
}

/// Runs an ``EventQuery`` over a log directory and streams the matching events, ASC or DESC.
///
/// Sealed segments (all but the newest) are first checked against their ``SegmentSummary`` (rebuilt
/// when missing, torn or stale), so a point query reads only segments that may hold a match. A segment
/// that is read is decoded frame by frame; DESC walks a segment's frames from the last to the first
/// through its sparse index (``SegmentIndex``), so memory stays one frame's events whatever the log's
/// size. The newest segment may be appended to while the query runs: a partial frame at its end is
/// where the read stops. Damage anywhere else is a `corrupt` error naming the file and offset.
public enum EventQueryEngine {
    /// Streams the events matching `query`, after its ``EventQuery/offset`` and up to its
    /// ``EventQuery/limit``, to `body`; `body` returns `false` to stop early.
    @discardableResult
    public static func run(
        directory: String,
        query: EventQuery,
        _ body: (QueriedEvent) -> Bool
    ) throws(SegmentLogError) -> EventQueryOutcome {
        var run = Run(query: query, countOnly: false)
        try run.execute(directory: directory, body)
        return run.outcome
    }

    /// The number of events matching `query` (Infrahub's `count`: offset and limit do not apply).
    public static func count(directory: String, query: EventQuery) throws(SegmentLogError) -> EventQueryOutcome {
        var run = Run(query: query, countOnly: true)
        try run.execute(directory: directory) { _ in true }
        return run.outcome
    }
}

private struct Run {
    let query: EventQuery
    let countOnly: Bool
    var outcome = EventQueryOutcome()
    var decoder = EventDecoder()
    var header = EventHeader()
    var stopped = false
    let probes: [(field: SummaryField, keys: [String])]

    init(query: EventQuery, countOnly: Bool) {
        self.query = query
        self.countOnly = countOnly
        probes = query.summaryProbes
    }

    mutating func execute(directory: String, _ body: (QueriedEvent) -> Bool) throws(SegmentLogError) {
        if !countOnly && query.limit.map({ $0 <= 0 }) == true { return }
        let segments = try SegmentDirectory.segments(in: directory)
        let positions = query.order == .ascending ? Array(segments.indices) : segments.indices.reversed()
        for position in positions {
            let segment = segments[position]
            let nextFirst = position + 1 < segments.count ? segments[position + 1].firstSequence : nil
            if let after = query.afterSequence {
                if query.order == .ascending, let nextFirst, nextFirst > 0, nextFirst - 1 <= after { continue }
                if query.order == .descending, segment.firstSequence >= after { continue }
            }
            let path = directory + "/" + segment.name
            if nextFirst != nil {  // sealed
                let (summary, reason) = try SegmentSummary.loadOrRebuild(
                    segmentPath: path,
                    segmentFirstSequence: segment.firstSequence
                )
                if let reason { outcome.summariesRebuilt.append((path, reason)) }
                guard summary.mayMatch(query) else {
                    outcome.segmentsSkipped += 1
                    continue
                }
                // Only the frames whose own summary may match are read.
                let frames = summary.frames.filter { $0.mayMatch(query, probes: probes) }
                guard !frames.isEmpty else {
                    outcome.segmentsSkipped += 1
                    continue
                }
                outcome.segmentsRead += 1
                try readFrames(path, frames.map(\.indexEntry), isNewest: false, body)
            } else {
                outcome.segmentsRead += 1
                if query.order == .ascending {
                    try readForward(path, isNewest: true, body)
                } else {
                    let reader = try SegmentReader(path: path)
                    try readFrames(path, try frameEntries(reader, isNewest: true), isNewest: true, body)
                }
            }
            if stopped { return }
        }
    }

    /// Reads the segment's frames first to last.
    mutating func readForward(_ path: String, isNewest: Bool, _ body: (QueriedEvent) -> Bool) throws(SegmentLogError) {
        let reader = try SegmentReader(path: path)
        while !stopped, let (frame, fileOffset) = try nextFrame(reader, isNewest: isNewest) {
            outcome.framesRead += 1
            let events = try matchingEvents(reader, frame, fileOffset)
            for event in events where !stopped { take(event, body) }
        }
    }

    /// Reads the frames at `entries` (in log order) in the query's order, one frame in memory at a time.
    /// Each entry is checked against the frame header found there (a stale offset is damage).
    mutating func readFrames(
        _ path: String,
        _ entries: [SegmentIndexEntry],
        isNewest: Bool,
        _ body: (QueriedEvent) -> Bool
    ) throws(SegmentLogError) {
        let reader = try SegmentReader(path: path)
        let ascending = query.order == .ascending
        for entry in ascending ? entries : entries.reversed() where !stopped {
            reader.seek(to: entry)
            guard let (frame, fileOffset) = try nextFrame(reader, isNewest: isNewest) else { continue }
            outcome.framesRead += 1
            let events = try matchingEvents(reader, frame, fileOffset)
            for event in ascending ? events : events.reversed() where !stopped { take(event, body) }
        }
    }

    /// The start of every frame of the segment: the sparse index when its last entry leads exactly to
    /// the segment's end, else a scan of the frame headers (the index of the newest segment may lag).
    mutating func frameEntries(_ reader: SegmentReader, isNewest: Bool) throws(SegmentLogError) -> [SegmentIndexEntry] {
        if let entries = try SegmentIndex.load(
            segmentPath: reader.path,
            segmentFirstSequence: reader.header.firstSequence
        ),
            let last = entries.last
        {
            let probe = try SegmentReader(path: reader.path)
            probe.seek(to: last)
            if case .frame(let frame, _) = try probe.nextFrame(), frame.firstSequence == last.firstSequence,
                case .end = try probe.nextFrame()
            {
                return entries
            }
        }
        var entries: [SegmentIndexEntry] = []
        let scan = try SegmentReader(path: reader.path)
        while let (frame, fileOffset) = try nextFrame(scan, isNewest: isNewest) {
            entries.append(SegmentIndexEntry(frame, fileOffset: fileOffset))
        }
        return entries
    }

    /// The next verified frame, `nil` at the end (for the newest segment, also at a partial frame that
    /// may still be being written).
    func nextFrame(_ reader: SegmentReader, isNewest: Bool) throws(SegmentLogError) -> (FrameHeader, UInt64)? {
        switch try reader.nextFrame() {
        case .frame(let frame, let fileOffset): return (frame, fileOffset)
        case .end: return nil
        case .invalid(let fileOffset, let error, let reachesEnd):
            if isNewest && reachesEnd { return nil }
            throw SegmentLogError(
                code: .corrupt,
                path: reader.path,
                fileOffset: fileOffset,
                message: "damaged frame",
                format: error
            )
        }
    }

    /// The events of the frame last read that match the query and lie beyond the cursor, in log order.
    mutating func matchingEvents(
        _ reader: SegmentReader,
        _ frame: FrameHeader,
        _ fileOffset: UInt64
    ) throws(SegmentLogError) -> [QueriedEvent] {
        guard frame.recordTypeMask & (1 << RecordType.event.rawValue) != 0 else { return [] }
        let frameEnd = frame.firstSequence + UInt64(frame.recordCount)
        if let after = query.afterSequence {
            if query.order == .ascending && frameEnd - 1 <= after { return [] }
            if query.order == .descending && frame.firstSequence >= after { return [] }
        }
        var events: [QueriedEvent] = []
        try unsafe reader.forEachRecord(of: frame, at: fileOffset) { record, payload in
            guard record.type == .event, query.isAfterCursor(record.sequence) else { return }
            let bytes = unsafe Array(payload[record.bodyRange])
            do throws(EventDecodingError) {
                try decoder.decodeHeader(bytes, into: &header)
            } catch {
                outcome.undecodableCount += 1
                return
            }
            if query.matches(Event(header: header, bytes: bytes), symbols: decoder.symbols) {
                events.append(QueriedEvent(sequence: record.sequence, bytes: bytes))
            }
        }
        return events
    }

    /// Applies offset and limit to one matching event.
    mutating func take(_ event: QueriedEvent, _ body: (QueriedEvent) -> Bool) {
        outcome.matchedCount += 1
        if countOnly || outcome.matchedCount <= query.offset { return }
        outcome.returnedCount += 1
        outcome.lastSequence = event.sequence
        if !body(event) || outcome.returnedCount == query.limit { stopped = true }
    }
}
