import Glibc
import Sluice
import SluiceTestSupport
import SluiceTools
import Testing

@Suite struct LogFilesTests {
    static func makeLog(_ directory: String, eventCount: Int) throws -> [LogRecord] {
        var configuration = LogConfiguration(directory: directory)
        configuration.frameByteCountMax = 16_384
        configuration.segmentByteCountMax = 100_000
        let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
        var generator = FixtureGenerator(.init(eventCount: eventCount, seed: 8))
        var records: [LogRecord] = []
        var timestamp: Int64 = 1_000_000
        while let event = generator.next() {
            timestamp += 10
            records.append(LogRecord(type: .event, timestampMicroseconds: timestamp, body: event))
        }
        var start = 0
        while start < records.count {
            let end = min(records.count, start + 7)
            try writer.append(Array(records[start..<end]), nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
            start = end
        }
        return records
    }

    /// Reading from any sequence or time returns exactly the matching suffix, through the sparse index.
    @Test func readsFromASequenceOrTimeThroughTheIndex() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        let records = try Self.makeLog(directory, eventCount: 400)
        #expect(try SegmentDirectory.segments(in: directory).count > 4)
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        for _ in 0..<25 {
            let from = UInt64(random.next(below: 420))
            var read: [UInt64] = []
            let summary = try LogFiles.forEachRecord(directory: directory, fromSequence: from) {
                read.append($0.sequence)
            }
            #expect(read == Array(min(from, 400)..<400), "seed \(seed) from \(from)")
            if from > 100 { #expect(summary.recordCount < 400, "frames before the start are not read") }
            let time = Int64(1_000_000 + random.next(below: 4200))
            var bodies: [[UInt8]] = []
            _ = try LogFiles.forEachRecord(directory: directory, fromTimestampMicroseconds: time) {
                bodies.append($0.body)
            }
            #expect(
                bodies == records.filter { $0.timestampMicroseconds >= time }.map(\.body),
                "seed \(seed) time \(time)"
            )
        }
    }

    /// Filtered scans return exactly what filtering every decoded event would.
    @Test func filteredScansMatchANaiveFilter() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        let records = try Self.makeLog(directory, eventCount: 400)
        var filters: [EventFilter] = []
        var byName = EventFilter()
        byName.eventNames = [Glob("infrahub.node.*"), Glob("infrahub.branch.merged")]
        filters.append(byName)
        var byBranchAndKind = EventFilter()
        byBranchAndKind.branches = ["main"]
        byBranchAndKind.nodeKinds = ["InfraDevice", "IpamPrefix"]
        filters.append(byBranchAndKind)
        var byRelated = EventFilter()
        byRelated.relatedLabels = [
            EventFilter.RelatedLabel(role: "infrahub.event", key: "infrahub.event.level", value: Glob("[12]"))
        ]
        byRelated.fromTimestamp = Timestamp(microsecondsSinceEpoch: 1_001_000)
        byRelated.untilTimestamp = Timestamp(microsecondsSinceEpoch: 1_003_000)
        filters.append(byRelated)
        for filter in filters {
            var decoder = EventDecoder()
            var expected: [UInt64] = []
            for (index, record) in records.enumerated() {
                var event = try decoder.decode(record.body)
                event.header.occurred = Timestamp(microsecondsSinceEpoch: record.timestampMicroseconds)
                if filter.matches(event, symbols: decoder.symbols) { expected.append(UInt64(index)) }
            }
            var read: [UInt64] = []
            _ = try LogFiles.forEachRecord(directory: directory, filter: filter) { read.append($0.sequence) }
            #expect(!expected.isEmpty)
            #expect(read == expected)
        }
    }

    /// Missing or stale indexes are rebuilt when the log is opened.
    @Test func rebuildsMissingAndStaleIndexes() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        _ = try Self.makeLog(directory, eventCount: 200)
        let segments = try SegmentDirectory.segments(in: directory)
        let first = directory + "/" + segments[0].name
        let second = directory + "/" + segments[1].name
        let active = directory + "/" + segments.last!.name
        let expectedFirst = try SegmentIndex.build(segmentPath: first)
        let expectedSecond = try SegmentIndex.build(segmentPath: second)
        let expectedActive = try SegmentIndex.build(segmentPath: active)
        #expect(
            try SegmentIndex.load(segmentPath: first, segmentFirstSequence: segments[0].firstSequence) == expectedFirst
        )
        unlink(SegmentIndex.path(forSegment: first))
        writeFile(
            SegmentIndex.path(forSegment: second),
            Array(readFileBytes(SegmentIndex.path(forSegment: second)).dropLast(32))
        )
        writeFile(SegmentIndex.path(forSegment: active), [1, 2, 3])
        _ = try SegmentLogWriter(configuration: LogConfiguration(directory: directory), nowMicroseconds: 0)
        #expect(
            try SegmentIndex.load(segmentPath: first, segmentFirstSequence: segments[0].firstSequence) == expectedFirst
        )
        #expect(
            try SegmentIndex.load(segmentPath: second, segmentFirstSequence: segments[1].firstSequence)
                == expectedSecond
        )
        #expect(
            try SegmentIndex.load(segmentPath: active, segmentFirstSequence: segments.last!.firstSequence)
                == expectedActive
        )
    }

    func readFileBytes(_ path: String) -> [UInt8] {
        (try? readWholeFile(path: path, byteCountMax: 1 << 24)) ?? []
    }
}
