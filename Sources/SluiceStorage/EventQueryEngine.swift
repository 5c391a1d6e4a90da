public import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

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
    ///
    /// With an `index` (kept by a long-lived caller for this directory), summaries come from memory and
    /// the newest segment is summarized frame by frame as it grows, so only its frames that may match are
    /// read; without one, summary files are read per query and the newest segment is read whole (it is
    /// bounded by `LogConfiguration.segmentByteCountMax`: the writer rolls it at that size).
    @discardableResult
    public static func run(
        directory: String,
        query: EventQuery,
        index: EventQueryIndex? = nil,
        _ body: (QueriedEvent) -> Bool
    ) throws(SegmentLogError) -> EventQueryOutcome {
        var run = Run(query: query, countOnly: false, index: index)
        try run.execute(directory: directory, body)
        return run.outcome
    }

    /// The number of events matching `query` (Infrahub's `count`: offset and limit do not apply).
    public static func count(
        directory: String,
        query: EventQuery,
        index: EventQueryIndex? = nil
    ) throws(SegmentLogError) -> EventQueryOutcome {
        var run = Run(query: query, countOnly: true, index: index)
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
    /// The frame-filter probes, hashed once per query.
    let frameProbes: [[BloomFilter.Probe]]
    /// The probes as byte strings a record must contain (one of each group) to be decoded: event ids in
    /// lowercase, matched against the lowercased record (ids are case-insensitive hex).
    let needles: [(caseFolded: Bool, keys: [[UInt8]])]
    let index: EventQueryIndex?
    var folded: [UInt8] = []

    init(query: EventQuery, countOnly: Bool, index: EventQueryIndex?) {
        self.query = query
        self.countOnly = countOnly
        self.index = index
        probes = query.summaryProbes
        frameProbes = SegmentSummary.Frame.hashedProbes(probes)
        needles = probes.map { probe in (probe.field == .id, probe.keys.map { Array($0.utf8) }) }
    }

    mutating func execute(directory: String, _ body: (QueriedEvent) -> Bool) throws(SegmentLogError) {
        if !countOnly && query.limit.map({ $0 <= 0 }) == true { return }
        let segments = try SegmentDirectory.segments(in: directory)
        index?.keep(paths: Set(segments.map { directory + "/" + $0.name }))
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
                let (summary, reason) =
                    if let index {
                        try index.sealedSummary(path: path, firstSequence: segment.firstSequence)
                    } else {
                        try SegmentSummary.loadOrRebuild(segmentPath: path, segmentFirstSequence: segment.firstSequence)
                    }
                if let reason { outcome.summariesRebuilt.append((path, reason)) }
                guard summary.mayMatch(query) else {
                    outcome.segmentsSkipped += 1
                    continue
                }
                // Only the frames whose own summary may match are read.
                let frames = summary.frames.filter { $0.mayMatch(query, hashedProbes: frameProbes) }
                guard !frames.isEmpty else {
                    outcome.segmentsSkipped += 1
                    continue
                }
                outcome.segmentsRead += 1
                try readFrames(path, frames.map(\.indexEntry), isNewest: false, body)
            } else if let index {
                // The newest segment, summarized frame by frame as it grows: only frames that may match.
                let frames = try index.activeFrames(path: path).filter { $0.mayMatch(query, hashedProbes: frameProbes) }
                guard !frames.isEmpty else {
                    outcome.segmentsSkipped += 1
                    continue
                }
                outcome.segmentsRead += 1
                try readFrames(path, frames.map(\.indexEntry), isNewest: true, body)
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
        var entries = entries
        if let after = query.afterSequence {
            // Frames wholly on the near side of the cursor are not read (DESC: a frame starting at or past
            // it; ASC: one ending before the next entry's start at or before it).
            if ascending {
                var kept: [SegmentIndexEntry] = []
                for (position, entry) in entries.enumerated() {
                    let next = position + 1 < entries.count ? entries[position + 1].firstSequence : nil
                    if let next, next > 0, next - 1 <= after, entry.firstSequence <= after { continue }
                    kept.append(entry)
                }
                entries = kept
            } else {
                entries.removeAll { $0.firstSequence >= after }
            }
        }
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
            let body = unsafe UnsafeRawBufferPointer(rebasing: payload[record.bodyRange])
            guard unsafe mayContainProbes(body) else { return }
            let bytes = unsafe Array(body)
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

    /// `false` only when the record's bytes certainly cannot match: it has no JSON escape (so every
    /// string is stored verbatim) and lacks every key of some probe group. Decoding an event costs far
    /// more than these byte searches, so a point query decodes about one event per frame it reads.
    mutating func mayContainProbes(_ body: UnsafeRawBufferPointer) -> Bool {
        guard !needles.isEmpty, let base = body.baseAddress, body.count > 0 else { return true }
        guard unsafe memchr(base, Int32(UInt8(ascii: "\\")), body.count) == nil else { return true }
        if needles.contains(where: \.caseFolded) {
            folded.removeAll(keepingCapacity: true)
            unsafe folded.append(contentsOf: body)
            for position in folded.indices where (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(folded[position]) {
                folded[position] |= 0x20
            }
        }
        for group in needles {
            let found =
                group.caseFolded
                ? unsafe folded.withUnsafeBytes { lowered in unsafe Self.containsAny(lowered, group.keys) }
                : unsafe Self.containsAny(body, group.keys)
            if !found { return false }
        }
        return true
    }

    static func containsAny(_ haystack: UnsafeRawBufferPointer, _ keys: [[UInt8]]) -> Bool {
        keys.contains { key in
            unsafe key.withUnsafeBytes { needle in unsafe contains(haystack, needle) }
        }
    }

    /// Whether `needle` occurs in `haystack` (`memchr` for its first byte, then `memcmp`).
    static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: UnsafeRawBufferPointer) -> Bool {
        guard let needleBase = needle.baseAddress, needle.count > 0 else { return true }
        guard let base = haystack.baseAddress, haystack.count >= needle.count else { return false }
        let first = Int32(unsafe needle[0])
        let last = haystack.count - needle.count
        var position = 0
        while position <= last {
            guard let found = unsafe memchr(base + position, first, last - position + 1) else { return false }
            let offset = unsafe base.distance(to: UnsafeRawPointer(found))
            if unsafe memcmp(base + offset, needleBase, needle.count) == 0 { return true }
            position = offset + 1
        }
        return false
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
