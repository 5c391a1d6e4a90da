public import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

/// What a sealed segment holds, so a query skips segments that cannot match (`<first>.summary` beside
/// `<first>.segment`; FORMAT.md "Segment summaries"): the event count, the `occurred` range and one
/// ``BloomFilter`` per ``SummaryField``.
///
/// Derived data, never the source of truth: written when the writer seals a segment, and rebuilt by a
/// scan of the segment (``loadOrRebuild(segmentPath:segmentFirstSequence:)``) whenever the file is
/// missing, torn (length or CRC-32C wrong), or stale (its recorded segment size or first sequence does
/// not match the segment) — a summary that does not verify is never trusted.
public struct SegmentSummary: Sendable, Equatable {
    public static let suffix = ".summary"
    static let magic: [UInt8] = Array("SLSM".utf8)
    static let version: UInt16 = 2
    static let headerByteCount = 48
    static let filterHeaderByteCount = 8
    static let frameHeaderByteCount = 48

    /// One frame of the segment: where it is, its events' `occurred` range and one Bloom filter over
    /// every key of every field (each key prefixed by its ``SummaryField`` raw value), so a query reads
    /// only the frames of a segment that may hold a match.
    public struct Frame: Sendable, Equatable {
        public var firstSequence: UInt64
        public var fileOffset: UInt64
        public var minOccurredMicroseconds: Int64
        public var maxOccurredMicroseconds: Int64
        public var eventCount: UInt32
        public var filter: BloomFilter

        public init(
            firstSequence: UInt64,
            fileOffset: UInt64,
            minOccurredMicroseconds: Int64,
            maxOccurredMicroseconds: Int64,
            eventCount: UInt32,
            filter: BloomFilter
        ) {
            self.firstSequence = firstSequence
            self.fileOffset = fileOffset
            self.minOccurredMicroseconds = minOccurredMicroseconds
            self.maxOccurredMicroseconds = maxOccurredMicroseconds
            self.eventCount = eventCount
            self.filter = filter
        }

        /// `false` only when no event of the frame can match `query`.
        public func mayMatch(_ query: EventQuery, probes: [(field: SummaryField, keys: [String])]) -> Bool {
            guard eventCount > 0,
                query.mayMatch(
                    minimumMicroseconds: minOccurredMicroseconds,
                    maximumMicroseconds: maxOccurredMicroseconds
                )
            else { return false }
            return mayMatch(query, hashedProbes: Self.hashedProbes(probes))
        }

        /// ``mayMatch(_:probes:)`` with the probe keys hashed once per query (``hashedProbes(_:)``).
        public func mayMatch(_ query: EventQuery, hashedProbes: [[BloomFilter.Probe]]) -> Bool {
            guard eventCount > 0,
                query.mayMatch(
                    minimumMicroseconds: minOccurredMicroseconds,
                    maximumMicroseconds: maxOccurredMicroseconds
                )
            else { return false }
            for keys in hashedProbes {
                guard keys.contains(where: { filter.mayContain($0) }) else { return false }
            }
            return true
        }

        /// The frame-filter probes of `probes` (each key prefixed by its field, as ``key(_:_:)``), hashed.
        public static func hashedProbes(_ probes: [(field: SummaryField, keys: [String])]) -> [[BloomFilter.Probe]] {
            probes.map { probe in probe.keys.map { BloomFilter.probe(key(probe.field, $0)) } }
        }

        /// The frame filter's key: the field's raw value, then the key's UTF-8 bytes.
        public static func key(_ field: SummaryField, _ key: String) -> [UInt8] { [field.rawValue] + Array(key.utf8) }

        /// The sparse-index entry of the frame (to seek a reader to it).
        public var indexEntry: SegmentIndexEntry {
            SegmentIndexEntry(
                firstSequence: firstSequence,
                fileOffset: fileOffset,
                minTimestampMicroseconds: minOccurredMicroseconds,
                maxTimestampMicroseconds: maxOccurredMicroseconds
            )
        }
    }

    public var segmentFirstSequence: UInt64
    public var segmentByteCount: UInt64
    /// Records of type `event` that decoded (others cannot match a query).
    public var eventCount: UInt64
    /// The `occurred` range of those events (both 0 when there are none).
    public var minOccurredMicroseconds: Int64
    public var maxOccurredMicroseconds: Int64
    /// One filter per ``SummaryField``, in raw-value order.
    public var filters: [BloomFilter]
    /// Every frame of the segment, in order.
    public var frames: [Frame] = []

    public init(
        segmentFirstSequence: UInt64,
        segmentByteCount: UInt64,
        eventCount: UInt64,
        minOccurredMicroseconds: Int64,
        maxOccurredMicroseconds: Int64,
        filters: [BloomFilter],
        frames: [Frame] = []
    ) {
        self.segmentFirstSequence = segmentFirstSequence
        self.segmentByteCount = segmentByteCount
        self.eventCount = eventCount
        self.minOccurredMicroseconds = minOccurredMicroseconds
        self.maxOccurredMicroseconds = maxOccurredMicroseconds
        self.filters = filters
        self.frames = frames
    }

    public static func path(forSegment segmentPath: String) -> String {
        String(segmentPath.dropLast(SegmentFileName.suffix.count)) + suffix
    }

    /// `false` only when no event of the segment can match `query` (empty, outside the time window, or
    /// some exact key group of ``EventQuery/summaryProbes`` entirely absent).
    public func mayMatch(_ query: EventQuery) -> Bool {
        guard eventCount > 0 else { return false }
        guard query.mayMatch(minimumMicroseconds: minOccurredMicroseconds, maximumMicroseconds: maxOccurredMicroseconds)
        else { return false }
        for (field, keys) in query.summaryProbes {
            let filter = filters[Int(field.rawValue)]
            guard keys.contains(where: { filter.mayContain($0) }) else { return false }
        }
        return true
    }

    // MARK: - Building

    /// Scans the segment (every frame verified, every event record decoded) and summarizes it.
    /// - Throws: `corrupt` naming the file and offset when a frame does not verify; `ioFailed`.
    public static func build(segmentPath: String) throws(SegmentLogError) -> SegmentSummary {
        let reader = try SegmentReader(path: segmentPath)
        var keys = Array(repeating: Set<String>(), count: SummaryField.allCases.count)
        var decoder = EventDecoder()
        var header = EventHeader()
        var eventCount: UInt64 = 0
        var minimum = Int64.max
        var maximum = Int64.min
        var frames: [Frame] = []
        scan: while true {
            switch try reader.nextFrame() {
            case .frame(let frame, let fileOffset):
                let summary = try summarizeFrame(reader, frame, fileOffset, &decoder, &header) { field, key in
                    keys[Int(field.rawValue)].insert(key)
                }
                frames.append(summary)
                guard summary.eventCount > 0 else { continue }
                eventCount += UInt64(summary.eventCount)
                minimum = min(minimum, summary.minOccurredMicroseconds)
                maximum = max(maximum, summary.maxOccurredMicroseconds)
            case .end:
                break scan
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
        let filters = keys.map { set in
            var filter = BloomFilter(keyCount: set.count)
            for key in set { filter.insert(key) }
            return filter
        }
        return SegmentSummary(
            segmentFirstSequence: reader.header.firstSequence,
            segmentByteCount: reader.byteCount,
            eventCount: eventCount,
            minOccurredMicroseconds: eventCount == 0 ? 0 : minimum,
            maxOccurredMicroseconds: eventCount == 0 ? 0 : maximum,
            filters: filters,
            frames: frames
        )
    }

    /// The summary of the frame `reader` last returned (its events decoded with `decoder`); `body` sees
    /// every key of every event, for the segment-level filters.
    static func summarizeFrame(
        _ reader: SegmentReader,
        _ frame: FrameHeader,
        _ fileOffset: UInt64,
        _ decoder: inout EventDecoder,
        _ header: inout EventHeader,
        _ body: (SummaryField, String) -> Void = { _, _ in }
    ) throws(SegmentLogError) -> Frame {
        var frameKeys = Set<[UInt8]>()
        var frameEvents: UInt32 = 0
        var frameMinimum = Int64.max
        var frameMaximum = Int64.min
        if frame.recordTypeMask & (1 << RecordType.event.rawValue) != 0 {
            try unsafe reader.forEachRecord(of: frame, at: fileOffset) { record, payload in
                guard record.type == .event else { return }
                let bytes = unsafe Array(payload[record.bodyRange])
                do throws(EventDecodingError) {
                    try decoder.decodeHeader(bytes, into: &header)
                } catch {
                    return  // not an event a producer could have sent: no query matches it
                }
                frameEvents += 1
                frameMinimum = min(frameMinimum, header.occurred.microsecondsSinceEpoch)
                frameMaximum = max(frameMaximum, header.occurred.microsecondsSinceEpoch)
                SummaryField.forEachKey(of: Event(header: header, bytes: bytes), symbols: decoder.symbols) {
                    field,
                    key in
                    body(field, key)
                    frameKeys.insert(Frame.key(field, key))
                }
            }
        }
        var filter = BloomFilter(keyCount: frameKeys.count)
        for key in frameKeys { filter.insert(key) }
        return Frame(
            firstSequence: frame.firstSequence,
            fileOffset: fileOffset,
            minOccurredMicroseconds: frameEvents == 0 ? 0 : frameMinimum,
            maxOccurredMicroseconds: frameEvents == 0 ? 0 : frameMaximum,
            eventCount: frameEvents,
            filter: filter
        )
    }

    /// Builds the summary of a sealed segment and writes it beside it (the writer's hook when it seals).
    @discardableResult
    public static func rebuild(segmentPath: String) throws(SegmentLogError) -> SegmentSummary {
        let summary = try build(segmentPath: segmentPath)
        try summary.write(segmentPath: segmentPath)
        return summary
    }

    /// The segment's summary: the file when it verifies against the segment, else a rebuilt one (written
    /// back when the directory is writable; `rebuiltBecause` says why it was rebuilt, `nil` when loaded).
    public static func loadOrRebuild(
        segmentPath: String,
        segmentFirstSequence: UInt64
    ) throws(SegmentLogError) -> (summary: SegmentSummary, rebuiltBecause: String?) {
        let segmentByteCount = try FileDescriptor(path: segmentPath, flags: O_RDONLY).byteCount()
        let reason: String
        switch try load(segmentPath: segmentPath) {
        case .none:
            reason = "missing"
        case .some(let bytes):
            switch decode(bytes, segmentFirstSequence: segmentFirstSequence, segmentByteCount: segmentByteCount) {
            case .success(let summary): return (summary, nil)
            case .failure(let problem): reason = problem.message
            }
        }
        let summary = try build(segmentPath: segmentPath)
        // A read-only log is still queryable: the rebuilt summary is used from memory.
        try? summary.write(segmentPath: segmentPath)
        return (summary, reason)
    }

    private static func load(segmentPath: String) throws(SegmentLogError) -> [UInt8]? {
        let path = Self.path(forSegment: segmentPath)
        guard unsafe access(path, F_OK) == 0 else { return nil }
        let file = try FileDescriptor(path: path, flags: O_RDONLY)
        let byteCount = Int(try file.byteCount())
        guard byteCount <= 1 << 30 else { return [] }  // no summary is this large: torn or foreign
        var bytes = [UInt8](repeating: 0, count: byteCount)
        let read = try file.read(into: &bytes, count: byteCount, fileOffset: 0)
        return Array(bytes[0..<read])
    }

    // MARK: - Encoding

    /// Writes the summary atomically (temporary file, sync, rename).
    public func write(segmentPath: String) throws(SegmentLogError) {
        let path = Self.path(forSegment: segmentPath)
        // Per process and thread: a writer sealing and a query rebuilding may write the same summary at once.
        let temporaryPath = path + ".tmp.\(getpid()).\(pthread_self())"
        do {
            let file = try FileDescriptor(path: temporaryPath, flags: O_WRONLY | O_CREAT | O_TRUNC)
            try file.writeAll(encode(), fileOffset: 0)
            try file.syncData()
        }
        _ = try systemCall("rename", path: temporaryPath) { unsafe rename(temporaryPath, path) }
    }

    /// The file's bytes (FORMAT.md "Segment summaries"); little-endian, CRC-32C of all before the last 4.
    public func encode() -> [UInt8] {
        var bytes = Self.magic
        append(Self.version, to: &bytes)
        append(UInt16(filters.count), to: &bytes)
        append(segmentFirstSequence, to: &bytes)
        append(segmentByteCount, to: &bytes)
        append(eventCount, to: &bytes)
        append(UInt64(bitPattern: minOccurredMicroseconds), to: &bytes)
        append(UInt64(bitPattern: maxOccurredMicroseconds), to: &bytes)
        for (position, filter) in filters.enumerated() {
            bytes.append(UInt8(position))
            bytes.append(UInt8(filter.hashCount))
            append(UInt16(0), to: &bytes)
            append(UInt32(filter.words.count), to: &bytes)
            for word in filter.words { append(word, to: &bytes) }
        }
        append(UInt32(frames.count), to: &bytes)
        for frame in frames {
            append(frame.firstSequence, to: &bytes)
            append(frame.fileOffset, to: &bytes)
            append(UInt64(bitPattern: frame.minOccurredMicroseconds), to: &bytes)
            append(UInt64(bitPattern: frame.maxOccurredMicroseconds), to: &bytes)
            append(frame.eventCount, to: &bytes)
            bytes.append(UInt8(frame.filter.hashCount))
            bytes += [0, 0, 0]
            append(UInt32(frame.filter.words.count), to: &bytes)
            append(UInt32(0), to: &bytes)
            for word in frame.filter.words { append(word, to: &bytes) }
        }
        append(FrameChecksum.checksum(bytes), to: &bytes)
        return bytes
    }

    /// Why a summary file was not used.
    public struct Problem: Error, Sendable, Equatable {
        public var message: String
    }

    /// Decodes and verifies a summary file against the segment it must describe.
    public static func decode(
        _ bytes: [UInt8],
        segmentFirstSequence: UInt64,
        segmentByteCount: UInt64
    ) -> Result<SegmentSummary, Problem> {
        func problem(_ message: String) -> Result<SegmentSummary, Problem> { .failure(Problem(message: message)) }
        guard bytes.count >= headerByteCount + 4 else { return problem("torn (\(bytes.count) bytes)") }
        let body = Array(bytes[0..<(bytes.count - 4)])
        guard FrameChecksum.checksum(body) == UInt32(truncatingIfNeeded: load(bytes, bytes.count - 4, 4)) else {
            return problem("torn (CRC-32C mismatch)")
        }
        guard Array(bytes[0..<4]) == magic, load(bytes, 4, 2) == UInt64(version) else {
            return problem("not a version-\(version) summary")
        }
        let fieldCount = Int(load(bytes, 6, 2))
        guard fieldCount == SummaryField.allCases.count else { return problem("\(fieldCount) filters, expected 8") }
        guard load(bytes, 8, 8) == segmentFirstSequence else { return problem("stale (first sequence differs)") }
        guard load(bytes, 16, 8) == segmentByteCount else { return problem("stale (segment size differs)") }
        var summary = SegmentSummary(
            segmentFirstSequence: segmentFirstSequence,
            segmentByteCount: segmentByteCount,
            eventCount: load(bytes, 24, 8),
            minOccurredMicroseconds: Int64(bitPattern: load(bytes, 32, 8)),
            maxOccurredMicroseconds: Int64(bitPattern: load(bytes, 40, 8)),
            filters: []
        )
        var position = headerByteCount
        for field in 0..<fieldCount {
            guard body.count - position >= filterHeaderByteCount else { return problem("torn (filter \(field))") }
            let hashCount = Int(bytes[position + 1])
            let wordCount = Int(load(bytes, position + 4, 4))
            position += filterHeaderByteCount
            guard Int(bytes[position - filterHeaderByteCount]) == field, (1...32).contains(hashCount), wordCount >= 1,
                wordCount <= (body.count - position) / 8
            else { return problem("malformed filter \(field)") }
            let words = (0..<wordCount).map { load(bytes, position + $0 * 8, 8) }
            summary.filters.append(BloomFilter(words: words, hashCount: hashCount))
            position += wordCount * 8
        }
        guard body.count - position >= 4 else { return problem("torn (frame count)") }
        let frameCount = Int(load(bytes, position, 4))
        position += 4
        for index in 0..<frameCount {
            guard body.count - position >= frameHeaderByteCount else { return problem("torn (frame \(index))") }
            let hashCount = Int(bytes[position + 36])
            let wordCount = Int(load(bytes, position + 40, 4))
            let frame = (
                first: load(bytes, position, 8), offset: load(bytes, position + 8, 8),
                minimum: Int64(bitPattern: load(bytes, position + 16, 8)),
                maximum: Int64(bitPattern: load(bytes, position + 24, 8)),
                events: UInt32(truncatingIfNeeded: load(bytes, position + 32, 4))
            )
            position += frameHeaderByteCount
            // Readers seek to these offsets: each must lie inside the segment, after its header, in order.
            guard (1...32).contains(hashCount), wordCount >= 1, wordCount <= (body.count - position) / 8,
                frame.offset >= UInt64(SegmentHeader.byteCount), frame.offset < segmentByteCount,
                frame.first >= segmentFirstSequence, frame.minimum <= frame.maximum,
                summary.frames.last.map({ $0.fileOffset < frame.offset && $0.firstSequence < frame.first }) ?? true
            else { return problem("malformed frame \(index)") }
            let words = (0..<wordCount).map { load(bytes, position + $0 * 8, 8) }
            summary.frames.append(
                Frame(
                    firstSequence: frame.first,
                    fileOffset: frame.offset,
                    minOccurredMicroseconds: frame.minimum,
                    maxOccurredMicroseconds: frame.maximum,
                    eventCount: frame.events,
                    filter: BloomFilter(words: words, hashCount: hashCount)
                )
            )
            position += wordCount * 8
        }
        guard position == body.count else { return problem("malformed (\(body.count - position) trailing bytes)") }
        return .success(summary)
    }

    private func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        for shift in stride(from: 0, to: T.bitWidth, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }

    private static func load(_ bytes: [UInt8], _ position: Int, _ count: Int) -> UInt64 {
        var value: UInt64 = 0
        for offset in (0..<count).reversed() { value = value << 8 | UInt64(bytes[position + offset]) }
        return value
    }
}
