import SluiceCore
import SluiceStorage
import SluiceTestSupport
import SluiceTools
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The query engine against a brute-force scan of the same log (every record read back, decoded and
/// matched in memory): randomized filters, both orders, paging and cursors, before and after the segment
/// summaries are deleted, torn, corrupted or made stale and a writer recovers the log.
@Suite struct EventQueryEngineTests {
    static func configuration(_ directory: String) -> LogConfiguration {
        var configuration = LogConfiguration(directory: directory)
        configuration.fsync = .never
        configuration.frameByteCountMax = 32 << 10
        configuration.segmentByteCountMax = 128 << 10
        return configuration
    }

    /// Generated Infrahub events, a few with a name outside `infrahub.` and a few non-event records.
    static func records(_ count: Int, seed: UInt64, from start: Int) -> [LogRecord] {
        var generator = FixtureGenerator(.init(eventCount: count, seed: seed))
        var random = SplitMix64(seed: seed ^ 0x5EED)
        var records: [LogRecord] = []
        var position = start
        while var event = generator.next() {
            position += 1
            if random.chance(2) {
                // Same event under a non-Infrahub name: the prefix rule must drop it.
                event = replacingFirst(
                    Array(#""event":"infrahub."#.utf8),
                    with: Array(#""event":"custom."#.utf8),
                    in: event
                )
            }
            records.append(LogRecord(type: .event, timestampMicroseconds: Int64(position), body: event))
            if random.chance(3) {
                records.append(
                    LogRecord(type: .deliveryOutcome, timestampMicroseconds: Int64(position), body: [1, 2, 3])
                )
            }
        }
        return records
    }

    static func replacingFirst(_ pattern: [UInt8], with replacement: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= pattern.count else { return bytes }
        for start in 0...(bytes.count - pattern.count)
        where bytes[start..<(start + pattern.count)].elementsEqual(pattern) {
            return Array(bytes[..<start]) + replacement + Array(bytes[(start + pattern.count)...])
        }
        return bytes
    }

    @discardableResult
    static func append(_ records: [LogRecord], to directory: String) throws -> RecoveryReport {
        let writer = try SegmentLogWriter(configuration: configuration(directory), nowMicroseconds: 0)
        var start = 0
        while start < records.count {
            let end = min(records.count, start + 1 + start % 23)
            try writer.append(Array(records[start..<end]), nowMicroseconds: 1, nowMonotonicNanoseconds: 1)
            start = end
        }
        return writer.recovery
    }

    /// Every stored event, decoded once with one symbol table (the brute-force side).
    struct Scan {
        var decoder = EventDecoder()
        var events: [(sequence: UInt64, event: Event)] = []
        /// Values seen per field, to draw filters that hit.
        var values: [SummaryField: [String]] = [:]
        var earliest = Int64.max
        var latest = Int64.min

        init(_ directory: String) throws {
            for record in try readAllRecords(directory) where record.type == .event {
                let event = try decoder.decode(record.body)
                events.append((record.sequence, event))
                earliest = min(earliest, event.header.occurred.microsecondsSinceEpoch)
                latest = max(latest, event.header.occurred.microsecondsSinceEpoch)
                SummaryField.forEachKey(of: event, symbols: decoder.symbols) { field, key in
                    values[field, default: []].append(key)
                }
            }
        }

        func expected(_ query: EventQuery) -> (all: [UInt64], page: [UInt64]) {
            var matching = events.filter { query.matches($0.event, symbols: decoder.symbols) }.map(\.sequence)
            if query.order == .descending { matching.reverse() }
            let all = matching
            matching = matching.filter(query.isAfterCursor)
            let paged = matching.dropFirst(query.offset)
            return (all, Array(query.limit.map { paged.prefix($0) } ?? paged))
        }
    }

    /// A random query: each filter drawn with some probability, from values present in the log or not.
    static func randomQuery(_ scan: Scan, _ random: inout SplitMix64) -> EventQuery {
        var query = EventQuery()
        func draw(_ field: SummaryField) -> [String] {
            let present = scan.values[field] ?? []
            return (0..<(1 + random.next(below: 3))).map { _ in
                random.chance(80) && !present.isEmpty ? random.pick(present) : "absent-\(random.next(below: 1000))"
            }
        }
        if random.chance(15) { query.ids = draw(.id).compactMap(EventID.parse) + [random.nextEventID()] }
        if random.chance(20) { query.eventTypes = draw(.name) }
        if random.chance(10) {
            query.names = [Glob(random.pick(["infrahub.node.*", "*.merged", "infrahub.[bg]*", "custom.*"]))]
        }
        if random.chance(15) { query.nodeKinds = draw(.nodeKind) }
        if random.chance(20) {
            query.primaryNodeIDs = draw(.primaryNodeID)
            if random.chance(25) { query.primaryNodeIDs[0] = String(query.primaryNodeIDs[0].prefix(4)) + "*" }
        }
        if random.chance(15) { query.relatedNodeIDs = draw(.relatedNodeID) }
        if random.chance(10) { query.parentIDs = draw(.parentID) }
        if random.chance(20) { query.branches = draw(.branch) }
        if random.chance(15) { query.accountIDs = draw(.account) }
        if random.chance(10) { query.level = random.next(below: 3) }
        if random.chance(10) { query.hasChildren = random.chance(50) }
        if random.chance(5) {
            var filter = EventQuery.EventTypeFilter()
            filter.branchMerged = random.chance(50) ? draw(.branch) : []
            query.eventTypeFilter = filter
        }
        if random.chance(15) { query.relatedLabels = randomRelatedLabels(scan, &random) }
        if random.chance(10) { query.mayReadAccountEvents = false }
        let span = max(1, Int(scan.latest - scan.earliest))
        if random.chance(20) {
            query.since = Timestamp(microsecondsSinceEpoch: scan.earliest + Int64(random.next(below: span)))
        }
        if random.chance(20) {
            query.until = Timestamp(microsecondsSinceEpoch: scan.earliest + Int64(random.next(below: span)))
            if let since = query.since, let until = query.until, since > until {
                (query.since, query.until) = (until, since)
            }
        }
        query.order = random.chance(50) ? .ascending : .descending
        if random.chance(60) { query.limit = random.next(below: 60) }
        if random.chance(30) { query.offset = random.next(below: 30) }
        if random.chance(15), let last = scan.events.last?.sequence {
            query.afterSequence = UInt64(random.next(below: Int(last) + 2))
        }
        return query
    }

    /// Related-label specifications (Prefect's `match_related`): role-aware literal ones (summary probes),
    /// globs and negations, from values in the log or not.
    static func randomRelatedLabels(_ scan: Scan, _ random: inout SplitMix64) -> [ResourceSpecification] {
        func value(_ field: SummaryField) -> String {
            let present = scan.values[field] ?? []
            return random.chance(80) && !present.isEmpty ? random.pick(present) : "absent"
        }
        var specifications: [ResourceSpecification] = []
        for _ in 0..<(1 + random.next(below: 2)) {
            switch random.next(below: 5) {
            case 0:
                specifications.append(
                    ResourceSpecification([
                        ("prefect.resource.role", "infrahub.branch"), ("infrahub.resource.label", value(.branch)),
                    ])
                )
            case 1:
                let id = value(.relatedNodeID)
                specifications.append(
                    ResourceSpecification([
                        .init(
                            label: "prefect.resource.role",
                            patterns: [LabelPattern("infrahub.related.node"), LabelPattern("infrahub.group.*")]
                        ),
                        .init(label: "prefect.resource.id", patterns: [LabelPattern(String(id.prefix(6)) + "*")]),
                    ])
                )
            case 2:
                specifications.append(
                    ResourceSpecification([
                        ("prefect.resource.role", "infrahub.branch"), ("infrahub.resource.label", "!" + value(.branch)),
                    ])
                )
            case 3:
                specifications.append(ResourceSpecification([("infrahub.resource.id", value(.account))]))
            default:
                specifications.append(
                    ResourceSpecification([
                        ("prefect.resource.role", "infrahub.account"), ("infrahub.resource.id", "*"),
                    ])
                )
            }
        }
        return specifications
    }

    static func compare(
        _ directory: String,
        _ scan: Scan,
        seed: UInt64,
        queries: Int,
        index: EventQueryIndex? = nil
    ) throws -> [EventQueryOutcome] {
        var random = SplitMix64(seed: seed)
        var outcomes: [EventQueryOutcome] = []
        for round in 0..<queries {
            let query = randomQuery(scan, &random)
            let expected = scan.expected(query)
            var got: [UInt64] = []
            let outcome = try EventQueryEngine.run(directory: directory, query: query) { event in
                got.append(event.sequence)
                return true
            }
            #expect(got == expected.page, "seed \(seed) round \(round): \(query)")
            if let index {
                // The same query through the in-memory summaries (the newest segment's included).
                var indexed: [UInt64] = []
                try EventQueryEngine.run(directory: directory, query: query, index: index) { event in
                    indexed.append(event.sequence)
                    return true
                }
                #expect(indexed == expected.page, "seed \(seed) round \(round), indexed: \(query)")
                let counted = try EventQueryEngine.count(directory: directory, query: query, index: index)
                #expect(counted.matchedCount == expected.all.filter(query.isAfterCursor).count)
            }
            // Infrahub's count: every match, before the cursor, offset and limit.
            let counted = try EventQueryEngine.count(directory: directory, query: query)
            #expect(
                counted.matchedCount == expected.all.filter(query.isAfterCursor).count,
                "seed \(seed) round \(round): count"
            )
            // Both runs: a run that stops at its limit may not reach the segments the count rebuilds.
            outcomes += [outcome, counted]
        }
        return outcomes
    }

    static func summaryPaths(_ directory: String) throws -> [String] {
        let segments = try SegmentDirectory.segments(in: directory)
        return segments.dropLast().map { SegmentSummary.path(forSegment: directory + "/" + $0.name) }
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// Every sealed segment has a summary that verifies against it.
    static func expectValidSummaries(_ directory: String) throws {
        let segments = try SegmentDirectory.segments(in: directory)
        for segment in segments.dropLast() {
            let segmentPath = directory + "/" + segment.name
            let bytes = try #require(Self.readFile(SegmentSummary.path(forSegment: segmentPath)))
            let size = UInt64(try #require(Self.readFile(segmentPath)).count)
            let decoded = SegmentSummary.decode(
                bytes,
                segmentFirstSequence: segment.firstSequence,
                segmentByteCount: size
            )
            guard case .success = decoded else {
                Issue.record("summary of \(segmentPath) does not verify: \(decoded)")
                return
            }
        }
    }

    @Test func queriesEqualBruteForceBeforeAndAfterSummariesAreRebuilt() throws {
        let seed = testSeed()
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        let first = Self.records(1500, seed: seed, from: 0)
        try Self.append(first, to: directory)
        #expect(try SegmentDirectory.segments(in: directory).count >= 6, "the log rolled (seed \(seed))")
        // Summaries are built by the first query that needs them and written back (not by the writer at a
        // roll, where the scan held back acknowledgements).
        var warm = EventQuery()
        warm.branches = ["no-such-branch"]
        let warmOutcome = try EventQueryEngine.run(directory: directory, query: warm) { _ in true }
        #expect(warmOutcome.summariesRebuilt.count == (try SegmentDirectory.segments(in: directory).count) - 1)
        try Self.expectValidSummaries(directory)

        var scan = try Scan(directory)
        var outcomes = try Self.compare(
            directory,
            scan,
            seed: seed,
            queries: 40,
            index: EventQueryIndex(directory: directory)
        )
        #expect(outcomes.allSatisfy { $0.summariesRebuilt.isEmpty })

        // A point query by event id reads one segment (or a false positive more), not the log.
        let target = scan.events[scan.events.count / 2]
        var point = EventQuery()
        point.ids = [target.event.header.id]
        point.eventTypes = [scan.decoder.symbols.string(target.event.header.name)]
        var found: [UInt64] = []
        let pointOutcome = try EventQueryEngine.run(directory: directory, query: point) { event in
            found.append(event.sequence)
            return true
        }
        #expect(found == [target.sequence])
        #expect(pointOutcome.segmentsRead <= 2, "\(pointOutcome)")
        // The newest segment has no summary and is read whole; elsewhere only the frame holding it.
        let newest = try #require(try SegmentDirectory.segments(in: directory).last)
        let newestFrames = try SegmentIndex.build(segmentPath: directory + "/" + newest.name).count
        // Frame filters have about 1 % false positives: allow 5 % of the sealed frames (and 3 more) on top of
        // the frame that holds the event, or a seed with a few false positives failed the test.
        var sealedFrames = 0
        for segment in try SegmentDirectory.segments(in: directory).dropLast() {
            sealedFrames += try SegmentIndex.build(segmentPath: directory + "/" + segment.name).count
        }
        #expect(
            pointOutcome.framesRead <= newestFrames + 1 + sealedFrames / 20 + 3,
            "\(newestFrames) frames in the newest, \(sealedFrames) sealed: \(pointOutcome) (seed \(seed))"
        )
        #expect(pointOutcome.segmentsSkipped >= (try SegmentDirectory.segments(in: directory).count) - 3)

        // Damage every kind of summary: missing, torn, a flipped byte, stale (another segment's).
        let paths = try Self.summaryPaths(directory)
        try #require(paths.count >= 5)
        unlink(paths[0])
        let torn = try #require(Self.readFile(paths[1]))
        writeFile(paths[1], Array(torn.prefix(torn.count / 2)))
        var flipped = try #require(Self.readFile(paths[2]))
        flipped[60] ^= 0xFF
        writeFile(paths[2], flipped)
        writeFile(paths[3], try #require(Self.readFile(paths[4])))
        // A summary that verifies but claims the segment holds nothing would hide events: its recorded
        // segment size must not match, so it is rebuilt rather than trusted.
        let segments = try SegmentDirectory.segments(in: directory)
        let lying = SegmentSummary(
            segmentFirstSequence: segments[4].firstSequence,
            segmentByteCount: 64,
            eventCount: 0,
            minOccurredMicroseconds: 0,
            maxOccurredMicroseconds: 0,
            filters: SummaryField.allCases.map { _ in BloomFilter(keyCount: 1) }
        )
        writeFile(paths[4], lying.encode())

        // Recovery: a writer reopens the log — rebuilding every summary that does not verify, none trusted —
        // and appends more (sealing further segments, whose summaries the queries build).
        let report = try Self.append(Self.records(700, seed: seed &+ 1, from: 1500), to: directory)
        let rebuilt = Set(report.summariesRebuilt.map { SegmentSummary.path(forSegment: $0.segmentPath) })
        #expect(rebuilt == Set(paths[0...4]), "seed \(seed): \(report.summariesRebuilt)")
        scan = try Scan(directory)
        outcomes = try Self.compare(
            directory,
            scan,
            seed: seed &+ 2,
            queries: 40,
            index: EventQueryIndex(directory: directory)
        )
        #expect(
            outcomes.flatMap(\.summariesRebuilt).allSatisfy {
                !paths[0...4].contains(SegmentSummary.path(forSegment: $0.path))
            }
        )
        try Self.expectValidSummaries(directory)
        let again = try Self.compare(directory, scan, seed: seed &+ 3, queries: 10)
        #expect(again.allSatisfy { $0.summariesRebuilt.isEmpty }, "rebuilt summaries were written back")
    }

    @Test func pagesResumeWithTheCursorInBothOrders() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        try Self.append(Self.records(600, seed: 7, from: 0), to: directory)
        let scan = try Scan(directory)
        for order in [EventQuery.Order.ascending, .descending] {
            var query = EventQuery()
            query.order = order
            query.branches = ["main"]
            query.limit = 25
            var pages: [UInt64] = []
            while true {
                var page: [UInt64] = []
                let outcome = try EventQueryEngine.run(directory: directory, query: query) { event in
                    page.append(event.sequence)
                    return true
                }
                pages += page
                guard let last = outcome.lastSequence, page.count == 25 else { break }
                query.afterSequence = last
            }
            query.afterSequence = nil
            query.limit = nil
            #expect(pages == scan.expected(query).page, "\(order)")
            #expect(Set(pages).count == pages.count, "no duplicates")
        }
    }

    /// An index kept across queries follows the newest segment as the writer appends to it and rolls it:
    /// every query equals the brute-force scan, and a point query reads only the frames that may hold the
    /// event — the newest segment's included, which a query without the index reads whole.
    @Test func indexFollowsTheGrowingNewestSegment() throws {
        let seed = testSeed()
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        let index = EventQueryIndex(directory: directory)
        let writer = try SegmentLogWriter(configuration: Self.configuration(directory), nowMicroseconds: 0)
        let records = Self.records(1200, seed: seed, from: 0)
        var start = 0
        for round in 0..<6 {
            let end = min(records.count, start + 200)
            var position = start
            while position < end {
                let next = min(end, position + 1 + position % 17)
                try writer.append(Array(records[position..<next]), nowMicroseconds: 1, nowMonotonicNanoseconds: 1)
                position = next
            }
            start = end
            let scan = try Scan(directory)
            _ = try Self.compare(directory, scan, seed: seed &+ UInt64(round), queries: 8, index: index)
            // A point query on the newest event: the frame that holds it (or a false positive or two).
            let target = try #require(scan.events.last)
            var point = EventQuery()
            point.ids = [target.event.header.id]
            point.eventTypes = [scan.decoder.symbols.string(target.event.header.name)]
            var found: [UInt64] = []
            let outcome = try EventQueryEngine.run(directory: directory, query: point, index: index) { event in
                found.append(event.sequence)
                return true
            }
            #expect(found == [target.sequence], "round \(round)")
            let newest = try #require(try SegmentDirectory.segments(in: directory).last)
            let newestFrames = try SegmentIndex.build(segmentPath: directory + "/" + newest.name).count
            #expect(outcome.framesRead <= 3, "round \(round): \(outcome), \(newestFrames) frames in the newest")
            let unindexed = try EventQueryEngine.run(directory: directory, query: point) { _ in true }
            #expect(unindexed.framesRead >= newestFrames, "without the index the newest segment is read whole")
        }
        #expect(try SegmentDirectory.segments(in: directory).count >= 3, "the log rolled while indexed")
    }

    /// DESC streams from the end without reading the log: the newest match costs one frame (or the few
    /// frames back to the newest Infrahub event), and stopping early stops the reading.
    @Test func descendingReadsFromTheEndOnly() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        try Self.append(Self.records(1500, seed: 11, from: 0), to: directory)
        var totalFrames = 0
        for segment in try SegmentDirectory.segments(in: directory) {
            totalFrames += try SegmentIndex.build(segmentPath: directory + "/" + segment.name).count
        }
        try #require(totalFrames >= 20)
        var query = EventQuery()
        query.order = .descending
        query.limit = 1
        let newest = try EventQueryEngine.run(directory: directory, query: query) { _ in true }
        #expect(newest.returnedCount == 1)
        #expect(newest.framesRead <= 2, "\(newest) of \(totalFrames) frames")
        query.limit = nil
        var taken = 0
        let stopped = try EventQueryEngine.run(directory: directory, query: query) { _ in
            taken += 1
            return taken < 10
        }
        #expect(taken == 10)
        #expect(stopped.framesRead <= 3, "\(stopped) of \(totalFrames) frames")
        #expect(stopped.segmentsRead == 1)
        // Resuming DESC from a cursor in the middle reads from there, not from the end.
        let scan = try Scan(directory)
        let middle = scan.events[scan.events.count / 2].sequence
        query.afterSequence = middle
        query.limit = 1
        let resumed = try EventQueryEngine.run(directory: directory, query: query) { _ in true }
        #expect(resumed.framesRead <= 2, "\(resumed)")
        #expect(resumed.lastSequence.map { $0 < middle } == true)
    }

    /// Records are searched for the query's exact keys before they are decoded: an upper-case event id
    /// (ids are case-insensitive) and values written with JSON escapes must still be found.
    @Test func byteSearchBeforeDecodingMissesNothing() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        let upper = "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"
        let escaped = "11111111-2222-4333-8444-555555555555"
        let events = [
            #"{"id":"\#(upper)","occurred":"2025-01-01T00:00:00Z","event":"infrahub.node.updated","resource":{"prefect.resource.id":"n","infrahub.node.id":"n1"},"related":[{"prefect.resource.id":"b","prefect.resource.role":"infrahub.branch","infrahub.resource.label":"main"}]}"#,
            #"{"id":"\#(escaped)","occurred":"2025-01-01T00:00:01Z","event":"infrahub.node.updated","resource":{"prefect.resource.id":"n","infrahub.node.id":"n\u0032"},"related":[{"prefect.resource.id":"b","prefect.resource.role":"infrahub.branch","infrahub.resource.label":"fe\u0061t\/1"}]}"#,
        ]
        try Self.append(
            events.map { LogRecord(type: .event, timestampMicroseconds: 1, body: Array($0.utf8)) },
            to: directory
        )
        func found(_ change: (inout EventQuery) -> Void) throws -> [UInt64] {
            var query = EventQuery()
            change(&query)
            var sequences: [UInt64] = []
            try EventQueryEngine.run(directory: directory, query: query) { event in
                sequences.append(event.sequence)
                return true
            }
            return sequences
        }
        #expect(try found { $0.ids = [EventID.parse(upper.lowercased())!] } == [0])
        #expect(try found { $0.primaryNodeIDs = ["n2"] } == [1])
        #expect(try found { $0.branches = ["feat/1"] } == [1])
        #expect(try found { $0.branches = ["main"] } == [0])
        #expect(try found { $0.branches = ["feat"] } == [])
    }
}
