// log-bench: the segment log against SQLite, scans, interval fsync (`--help` says what it measures).
import BenchmarkCommandLine
import Foundation
import GRDB
import SluiceTools

var commandLine = BenchmarkCommandLine(
    name: "log-bench",
    summary: """
        The segment log against the embedded database a user would otherwise pick, and its read and latency
        figures, side by side in one process (issue 3, PERFORMANCE.md "log append"):
        1. append: the same generated events through SegmentLogWriter and through SQLite (GRDB, WAL mode, one
           transaction per batch of 256, a table with an index on the event name); both with durable commits
           (fsync always / synchronous=FULL) and without (fsync never / synchronous=OFF). Goal >= 10x.
        2. scan: sequential read with decompression of every record, and a filtered scan (one node kind on
           main): MB/s and events/s.
        3. fsync interval(5 ms): events/s and append-to-durable latency p50/p99 under a steady stream.
        """
)
let rounds = commandLine.integer("--rounds", default: 3, range: 1...1_000, "rounds")
let eventCount = commandLine.integer("--events", default: 20_000, range: 1...10_000_000, "generated events")
commandLine.finish()

func makeRecords(_ count: Int) throws -> ([LogRecord], [String]) {
    var generator = FixtureGenerator(.init(eventCount: count, seed: 42))
    var records: [LogRecord] = []
    var names: [String] = []
    var decoder = EventDecoder()
    while let event = generator.next() {
        let decoded = try decoder.decode(event)
        records.append(
            LogRecord(type: .event, timestampMicroseconds: decoded.header.occurred.microsecondsSinceEpoch, body: event)
        )
        names.append(decoder.symbols.string(decoded.header.name))
    }
    return (records, names)
}
let (records, names) = try makeRecords(eventCount)
let byteCount = records.reduce(0) { $0 + $1.body.count }
let megabytes = Double(byteCount) / 1e6
let batchEventCount = 256  // events per append / per SQLite transaction
let clock = ContinuousClock()
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func temporaryPath(_ name: String) -> String { NSTemporaryDirectory() + "sluice-log-bench-\(getpid())-\(name)" }

func appendSluice(durable: Bool, round: Int, compression: FrameCompression = .lz4Block) throws -> Double {
    var configuration = LogConfiguration(directory: temporaryPath("log-\(durable)-\(round)"))
    configuration.fsync = durable ? .always : .never
    configuration.compression = compression
    let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
    let elapsed = try clock.measure {
        var start = 0
        while start < records.count {
            let end = min(records.count, start + batchEventCount)
            try writer.append(Array(records[start..<end]), nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
            start = end
        }
    }
    try FileManager.default.removeItem(atPath: configuration.directory)
    return seconds(elapsed)
}

func appendSQLite(durable: Bool, round: Int) throws -> Double {
    let path = temporaryPath("sqlite-\(durable)-\(round).db")
    var configuration = Configuration()
    configuration.prepareDatabase { db in
        try db.execute(sql: "PRAGMA journal_mode = WAL")
        try db.execute(sql: durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = OFF")
    }
    let queue = try DatabaseQueue(path: path, configuration: configuration)
    try queue.write { db in
        try db.execute(
            sql:
                "CREATE TABLE events (sequence INTEGER PRIMARY KEY, name TEXT NOT NULL, occurred INTEGER NOT NULL, body BLOB NOT NULL)"
        )
        try db.execute(sql: "CREATE INDEX events_name ON events(name)")
    }
    let elapsed = try clock.measure {
        var start = 0
        while start < records.count {
            let end = min(records.count, start + batchEventCount)
            try queue.write { db in
                let statement = try db.makeStatement(
                    sql: "INSERT INTO events (sequence, name, occurred, body) VALUES (?, ?, ?, ?)"
                )
                for index in start..<end {
                    try statement.execute(arguments: [
                        index, names[index], records[index].timestampMicroseconds, Data(records[index].body),
                    ])
                }
            }
            start = end
        }
    }
    try queue.close()
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    return seconds(elapsed)
}

print("events \(eventCount), \(byteCount) bytes (seed 42), batches of \(batchEventCount), \(rounds) rounds")
for durable in [false, true] {
    var ours: [Double] = []
    var uncompressed: [Double] = []
    var sqlite: [Double] = []
    for round in 0..<rounds {
        ours.append(try appendSluice(durable: durable, round: round))
        uncompressed.append(try appendSluice(durable: durable, round: round, compression: .none))
        sqlite.append(try appendSQLite(durable: durable, round: round))
    }
    let mode = durable ? "durable (fsync always / synchronous=FULL)" : "not durable (fsync never / synchronous=OFF)"
    print("append, \(mode):")
    print(
        String(
            format: "  SegmentLogWriter  median %7.1f ms  %6.0f MB/s  %6.0f k events/s",
            median(ours) * 1000,
            megabytes / median(ours),
            Double(eventCount) / median(ours) / 1000
        )
    )
    print(
        String(
            format: "  SQLite WAL (GRDB) median %7.1f ms  %6.0f MB/s  %6.0f k events/s",
            median(sqlite) * 1000,
            megabytes / median(sqlite),
            Double(eventCount) / median(sqlite) / 1000
        )
    )
    print(
        String(
            format: "  SegmentLogWriter, no compression  median %7.1f ms  %6.0f MB/s  (SQLite time / this: %.1fx)",
            median(uncompressed) * 1000,
            megabytes / median(uncompressed),
            median(sqlite) / median(uncompressed)
        )
    )
    let ratios = zip(ours, sqlite).map { $1 / $0 }
    print(
        String(
            format: "  ratio (SQLite time / ours): median %.1fx (min %.1fx, max %.1fx)",
            median(ratios),
            ratios.min()!,
            ratios.max()!
        )
    )
}

// Scans over one log written once.
let scanDirectory = temporaryPath("scan")
do {
    let writer = try SegmentLogWriter(configuration: LogConfiguration(directory: scanDirectory), nowMicroseconds: 0)
    var start = 0
    while start < records.count {
        let end = min(records.count, start + batchEventCount)
        try writer.append(Array(records[start..<end]), nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
        start = end
    }
}
var filter = EventFilter()
filter.nodeKinds = ["InfraDevice"]
filter.branches = ["main"]
var sequentialTimes: [Double] = []
var filteredTimes: [Double] = []
var matched = 0
for _ in 0..<rounds {
    var count = 0
    sequentialTimes.append(
        seconds(try clock.measure { _ = try LogFiles.forEachRecord(directory: scanDirectory) { _ in count += 1 } })
    )
    precondition(count == eventCount)
    matched = 0
    filteredTimes.append(
        seconds(
            try clock.measure {
                _ = try LogFiles.forEachRecord(directory: scanDirectory, filter: filter) { _ in matched += 1 }
            }
        )
    )
}
print("scan:")
print(
    String(
        format: "  sequential, decompress every record  median %6.1f ms  %6.0f MB/s  %6.0f k events/s",
        median(sequentialTimes) * 1000,
        megabytes / median(sequentialTimes),
        Double(eventCount) / median(sequentialTimes) / 1000
    )
)
print(
    String(
        format: "  filtered (InfraDevice on main, %d match)  median %6.1f ms  %6.0f MB/s  %6.0f k events/s",
        matched,
        median(filteredTimes) * 1000,
        megabytes / median(filteredTimes),
        Double(eventCount) / median(filteredTimes) / 1000
    )
)
try FileManager.default.removeItem(atPath: scanDirectory)

// fsync interval(5 ms): a steady stream of small batches; latency = append call to durable cursor passing it.
do {
    var configuration = LogConfiguration(directory: temporaryPath("interval"))
    configuration.fsync = .interval(milliseconds: 5)
    let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
    var latencies: [Double] = []
    var waiting: [(end: UInt64, started: ContinuousClock.Instant)] = []
    let started = clock.now
    var start = 0
    let smallBatch = 16
    func monotonic() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
    func settle() {
        let durable = writer.durableSequence
        let now = clock.now
        while let first = waiting.first, first.end <= durable {
            latencies.append(seconds(first.started.duration(to: now)))
            waiting.removeFirst()
        }
    }
    while start < records.count {
        let end = min(records.count, start + smallBatch)
        let appendStart = clock.now
        let range = try writer.append(
            Array(records[start..<end]),
            nowMicroseconds: 0,
            nowMonotonicNanoseconds: monotonic()
        )
        waiting.append((range.upperBound, appendStart))
        settle()
        start = end
    }
    while !waiting.isEmpty {
        try writer.syncIfDue(nowMonotonicNanoseconds: monotonic())
        settle()
    }
    let total = seconds(started.duration(to: clock.now))
    latencies.sort()
    print("fsync interval(5 ms), batches of \(smallBatch):")
    print(
        String(
            format: "  %6.0f k events/s; append-to-durable latency p50 %.2f ms, p99 %.2f ms, max %.2f ms",
            Double(eventCount) / total / 1000,
            latencies[latencies.count / 2] * 1000,
            latencies[latencies.count * 99 / 100] * 1000,
            latencies.last! * 1000
        )
    )
    try FileManager.default.removeItem(atPath: configuration.directory)
}
