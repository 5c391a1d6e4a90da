// query-bench: indexed event queries over the log against SQLite and a full scan (`--help` says what it measures).
import BenchmarkCommandLine
import Foundation
import GRDB
import SluiceTools

var commandLine = BenchmarkCommandLine(
    name: "query-bench",
    summary: """
        Event queries over the segment log (issue 18, docs/queries.md) against SQLite and a full scan, on the
        same generated events in the same run:
        1. point queries — one primary node id, one event id, one related node id (Infrahub's primary_node__ids,
           ids, related_node__ids) — through EventQueryEngine with an EventQueryIndex (segment and frame Bloom
           summaries in memory), against SQLite (GRDB, B-tree indexes on the same columns: event id, primary
           node id, a related-node table) and against a full scan (every record decoded and matched): p50 and
           p99 latency of the complete answer (every matching event's bytes). Goal: <= 1x SQLite's p50 and
           >= 100x faster than the full scan.
        2. a time-range query (1 % of the time span) and a branch query (one branch): events/s streamed,
           against SQLite on its index and the full scan.
        The log is written directly with SegmentLogWriter (fsync never, the journaler's frames of --batch
        events); generation time and the whole run's time are printed. Figures move with the host's load.
        """
)
let sizes = commandLine.integers(
    "--events",
    default: [1_000_000, 10_000_000],
    range: 1_000...10_000_000,
    "log sizes to run, in generated events"
)
let queryCount = commandLine.integer("--queries", default: 300, range: 10...100_000, "point queries of each kind")
let scanCount = commandLine.integer("--scans", default: 2, range: 1...100, "full scans per query kind")
let batch = commandLine.integer("--batch", default: 64, range: 1...4_096, "events per frame (per append)")
let skipSQLite = commandLine.flag("--no-sqlite", "skip the SQLite anchor")
commandLine.finish()

let clock = ContinuousClock()
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
func percentile(_ values: [Double], _ fraction: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}
func microseconds(_ value: Double) -> String { String(format: "%9.1f µs", value * 1e6) }

/// What the SQLite rows and the query targets need of each event.
struct Row {
    var id: String
    var primary: String?
    var related: [String]
    var branch: String?
    var occurred: Int64
}

let runStart = clock.now
for eventCount in sizes {
    let directory = NSTemporaryDirectory() + "sluice-query-bench-\(getpid())-\(eventCount)"
    let databasePath = directory + ".sqlite"
    defer {
        try? FileManager.default.removeItem(atPath: directory)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: databasePath + suffix) }
    }
    print("== \(eventCount) events (CompactEvents, seed 42), frames of \(batch) events")

    // Generate and append straight through the storage writer; keep what SQLite and the targets need.
    var rows: [Row] = []
    rows.reserveCapacity(eventCount)
    let generationStart = clock.now
    var logByteCount = 0
    do {
        var configuration = LogConfiguration(directory: directory)
        configuration.fsync = .never
        let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
        var generator = CompactEvents(count: eventCount)
        var decoder = EventDecoder()
        var records: [LogRecord] = []
        records.reserveCapacity(batch)
        while let event = generator.next() {
            let decoded = try decoder.decode(event)
            var row = Row(id: "", primary: nil, related: [], branch: nil, occurred: 0)
            row.occurred = decoded.header.occurred.microsecondsSinceEpoch
            SummaryField.forEachKey(of: decoded, symbols: decoder.symbols) { field, key in
                switch field {
                case .id: row.id = key
                case .primaryNodeID: row.primary = key
                case .relatedNodeID: row.related.append(key)
                case .branch: row.branch = row.branch ?? key
                default: break
                }
            }
            rows.append(row)
            logByteCount += event.count
            records.append(LogRecord(type: .event, timestampMicroseconds: row.occurred, body: event))
            if records.count == batch {
                try writer.append(records, nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
                records.removeAll(keepingCapacity: true)
            }
        }
        if !records.isEmpty { try writer.append(records, nowMicroseconds: 0, nowMonotonicNanoseconds: 0) }
    }
    let generation = seconds(clock.now - generationStart)
    let segments = try SegmentDirectory.segments(in: directory).count
    print(
        String(
            format: "generated and appended in %.1f s (%.0f k events/s, %.0f MB of events, %d segments)",
            generation,
            Double(eventCount) / generation / 1000,
            Double(logByteCount) / 1e6,
            segments
        )
    )

    // Summaries: recovery (opening the log) builds every sealed segment's; the index keeps them in memory.
    let summaryStart = clock.now
    let reopened = try SegmentLogWriter(configuration: LogConfiguration(directory: directory), nowMicroseconds: 0)
    let index = EventQueryIndex(directory: directory)
    try EventQueryEngine.run(directory: directory, query: EventQuery(), index: index) { _ in false }
    print(
        String(
            format: "summaries: %d rebuilt by recovery, index warmed, in %.1f s",
            reopened.recovery.summariesRebuilt.count,
            seconds(clock.now - summaryStart)
        )
    )

    // SQLite: the same events, indexes on the same columns.
    var database: DatabaseQueue?
    if !skipSQLite {
        let loadStart = clock.now
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = OFF")
        }
        let queue = try DatabaseQueue(path: databasePath, configuration: configuration)
        try queue.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE events (sequence INTEGER PRIMARY KEY, id TEXT NOT NULL, primary_node TEXT,
                      branch TEXT, occurred INTEGER NOT NULL, body BLOB NOT NULL);
                    CREATE TABLE related (node TEXT NOT NULL, sequence INTEGER NOT NULL);
                    """
            )
        }
        var bodies: [[UInt8]] = []
        func flush(_ db: Database, _ first: Int, _ bodies: [[UInt8]]) throws {
            let insert = try db.cachedStatement(
                sql: "INSERT INTO events (sequence, id, primary_node, branch, occurred, body) VALUES (?, ?, ?, ?, ?, ?)"
            )
            let related = try db.cachedStatement(sql: "INSERT INTO related (node, sequence) VALUES (?, ?)")
            for (offset, body) in bodies.enumerated() {
                let row = rows[first + offset]
                try insert.execute(arguments: [
                    first + offset, row.id, row.primary, row.branch, row.occurred, Data(body),
                ])
                for node in row.related { try related.execute(arguments: [node, first + offset]) }
            }
        }
        // The log's sequences equal the row positions (one record per event, from 0).
        var loaded = 0
        var failure: (any Error)?
        _ = try LogFiles.forEachRecord(directory: directory) { record in
            guard failure == nil else { return }
            bodies.append(record.body)
            if bodies.count == 10_000 {
                let first = loaded
                let chunk = bodies
                do { try queue.write { db in try flush(db, first, chunk) } } catch { failure = error }
                loaded += chunk.count
                bodies.removeAll(keepingCapacity: true)
            }
        }
        if let failure { throw failure }
        let first = loaded
        let chunk = bodies
        try queue.write { db in try flush(db, first, chunk) }
        try queue.write { db in
            try db.execute(
                sql: """
                    CREATE INDEX events_id ON events(id);
                    CREATE INDEX events_primary ON events(primary_node);
                    CREATE INDEX events_branch ON events(branch);
                    CREATE INDEX events_occurred ON events(occurred);
                    CREATE INDEX related_node ON related(node);
                    """
            )
        }
        database = queue
        print(String(format: "SQLite loaded and indexed in %.1f s", seconds(clock.now - loadStart)))
    }

    // Full scan: every record read, decoded and matched (what a query without summaries costs).
    func fullScan(_ query: EventQuery) throws -> Int {
        var decoder = EventDecoder()
        var header = EventHeader()
        var matches = 0
        _ = try LogFiles.forEachRecord(directory: directory) { record in
            guard record.type == .event, (try? decoder.decodeHeader(record.body, into: &header)) != nil else { return }
            if query.matches(Event(header: header, bytes: record.body), symbols: decoder.symbols) { matches += 1 }
        }
        return matches
    }

    var random = SplitMix64(seed: 7)
    let kinds: [(String, (Row) -> (EventQuery, String, [DatabaseValueConvertible])?)] = [
        (
            "primary node id",
            { row in
                guard let primary = row.primary else { return nil }
                var query = EventQuery()
                query.primaryNodeIDs = [primary]
                return (
                    query, "SELECT sequence, body FROM events WHERE primary_node = ? ORDER BY sequence DESC", [primary]
                )
            }
        ),
        (
            "event id",
            { row in
                var query = EventQuery()
                query.ids = [EventID.parse(row.id)!]
                return (query, "SELECT sequence, body FROM events WHERE id = ? ORDER BY sequence DESC", [row.id])
            }
        ),
        (
            "related node id",
            { row in
                guard let node = row.related.first else { return nil }
                var query = EventQuery()
                query.relatedNodeIDs = [node]
                return (
                    query,
                    "SELECT events.sequence, events.body FROM related JOIN events ON events.sequence = related.sequence WHERE related.node = ? ORDER BY events.sequence DESC",
                    [node]
                )
            }
        ),
    ]
    print("point queries (\(queryCount) each): p50 / p99 latency of the complete answer")
    for (name, make) in kinds {
        var targets: [(EventQuery, String, [DatabaseValueConvertible])] = []
        while targets.count < queryCount {
            if let target = make(rows[random.next(below: rows.count)]) { targets.append(target) }
        }
        var ours: [Double] = []
        var theirs: [Double] = []
        var mismatches = 0
        for (query, sql, arguments) in targets {
            var found = 0
            let start = clock.now
            try EventQueryEngine.run(directory: directory, query: query, index: index) { event in
                found += event.bytes.count > 0 ? 1 : 0
                return true
            }
            ours.append(seconds(clock.now - start))
            if let database {
                let sqliteStart = clock.now
                let count = try database.read { db in
                    var count = 0
                    let cursor = try Row_.fetchCursor(db, sql: sql, arguments: StatementArguments(arguments))
                    while let row = try cursor.next() {
                        let body: Data = row[1]
                        count += body.isEmpty ? 0 : 1
                    }
                    return count
                }
                theirs.append(seconds(clock.now - sqliteStart))
                if count != found { mismatches += 1 }
            }
        }
        var scans: [Double] = []
        for position in 0..<scanCount {
            let start = clock.now
            _ = try fullScan(targets[position].0)
            scans.append(seconds(clock.now - start))
        }
        let scan = percentile(scans, 0.5)
        var line =
            "  \(name.padding(toLength: 16, withPad: " ", startingAt: 0)) sluice \(microseconds(percentile(ours, 0.5))) / \(microseconds(percentile(ours, 0.99)))"
        if !theirs.isEmpty {
            line += String(
                format: "   SQLite %@ / %@  (%.2fx SQLite's p50)",
                microseconds(percentile(theirs, 0.5)),
                microseconds(percentile(theirs, 0.99)),
                percentile(ours, 0.5) / percentile(theirs, 0.5)
            )
            if mismatches > 0 { line += "  MISMATCHES \(mismatches)" }
        }
        line += String(
            format: "   full scan %.2f s (%.0fx slower than sluice's p50)",
            scan,
            scan / percentile(ours, 0.5)
        )
        print(line)
    }

    // Streaming queries: events/s delivered.
    let earliest = rows.first?.occurred ?? 0
    let latest = rows.last?.occurred ?? 0
    let window = max(1, (latest - earliest) / 100)
    var timeRange = EventQuery()
    timeRange.since = Timestamp(microsecondsSinceEpoch: earliest + (latest - earliest) / 2)
    timeRange.until = Timestamp(microsecondsSinceEpoch: earliest + (latest - earliest) / 2 + window)
    var branch = EventQuery()
    branch.branches = ["branch-01"]
    let streaming: [(String, EventQuery, String, [DatabaseValueConvertible])] = [
        (
            "time range 1 %", timeRange,
            "SELECT sequence, body FROM events WHERE occurred BETWEEN ? AND ? ORDER BY sequence DESC",
            [timeRange.since!.microsecondsSinceEpoch, timeRange.until!.microsecondsSinceEpoch]
        ),
        (
            "branch branch-01", branch, "SELECT sequence, body FROM events WHERE branch = ? ORDER BY sequence DESC",
            ["branch-01"]
        ),
    ]
    print("streaming queries: matching events/s (median of \(scanCount))")
    for (name, query, sql, arguments) in streaming {
        var ours: [Double] = []
        var found = 0
        for _ in 0..<scanCount {
            found = 0
            let start = clock.now
            try EventQueryEngine.run(directory: directory, query: query, index: index) { _ in
                found += 1
                return true
            }
            ours.append(seconds(clock.now - start))
        }
        var theirs: [Double] = []
        if let database {
            for _ in 0..<scanCount {
                let start = clock.now
                _ = try database.read { db in
                    var count = 0
                    let cursor = try Row_.fetchCursor(db, sql: sql, arguments: StatementArguments(arguments))
                    while let row = try cursor.next() {
                        let body: Data = row[1]
                        count += body.isEmpty ? 0 : 1
                    }
                    return count
                }
                theirs.append(seconds(clock.now - start))
            }
        }
        var scans: [Double] = []
        for _ in 0..<scanCount {
            let start = clock.now
            _ = try fullScan(query)
            scans.append(seconds(clock.now - start))
        }
        let rate = { (time: Double) in Double(found) / time / 1e6 }
        var line = String(
            format: "  %@ %d events: sluice %.2f M events/s (%.3f s)",
            name.padding(toLength: 17, withPad: " ", startingAt: 0),
            found,
            rate(percentile(ours, 0.5)),
            percentile(ours, 0.5)
        )
        if !theirs.isEmpty {
            line += String(
                format: "   SQLite %.2f M/s (%.3f s)",
                rate(percentile(theirs, 0.5)),
                percentile(theirs, 0.5)
            )
        }
        line += String(
            format: "   full scan %.2f M/s (%.3f s, %.1fx)",
            rate(percentile(scans, 0.5)),
            percentile(scans, 0.5),
            percentile(scans, 0.5) / percentile(ours, 0.5)
        )
        print(line)
    }
    try database?.close()
}
print(String(format: "whole run %.0f s", seconds(clock.now - runStart)))

/// Infrahub `node.updated` events of about 700 bytes (the fixture generator's are ~5 KB: 10 M of them would
/// not fit this machine's disk twice): a primary node from a pool of count/8 (so a node id matches about
/// eight events), its kind, a branch (main for 70 %), an account, one related node from the same pool, a
/// small payload; `occurred` 1 ms apart. Deterministic (SplitMix64 seed 42).
struct CompactEvents {
    let count: Int
    var produced = 0
    var random = SplitMix64(seed: 42)
    let start = Timestamp(secondsSinceEpoch: 1_741_824_000)
    static let kinds = [
        "InfraDevice", "InfraInterfaceL3", "IpamIPAddress", "IpamPrefix", "LocationSite", "InfraCircuit",
    ]

    init(count: Int) { self.count = count }

    mutating func next() -> [UInt8]? {
        guard produced < count else { return nil }
        defer { produced += 1 }
        let pool = max(1, count / 8)
        let node = "n\(random.next(below: pool))"
        let peer = "n\(random.next(below: pool))"
        let kind = Self.kinds[random.next(below: Self.kinds.count)]
        let branch = random.next(below: 10) < 7 ? "main" : "branch-0\(1 + random.next(below: 7))"
        let account = "acct-\(random.next(below: 20))"
        let occurred = Timestamp(microsecondsSinceEpoch: start.microsecondsSinceEpoch + Int64(produced) * 1_000)
        let id = random.nextEventID()
        var text = #"{"id":"\#(id)","occurred":"\#(occurred)","event":"infrahub.node.updated","#
        text += #""resource":{"prefect.resource.id":"infrahub.node.\#(node)","infrahub.node.id":"\#(node)","#
        text += #""infrahub.node.kind":"\#(kind)"},"related":[{"prefect.resource.id":"infrahub.branch.\#(branch)","#
        text += #""prefect.resource.role":"infrahub.branch","infrahub.resource.label":"\#(branch)"},"#
        text += #"{"prefect.resource.id":"infrahub.account.\#(account)","prefect.resource.role":"infrahub.account","#
        text += #""infrahub.resource.id":"\#(account)"},{"prefect.resource.id":"\#(peer)","#
        text += #""prefect.resource.role":"infrahub.related.node","infrahub.node.kind":"\#(kind)"}],"#
        text += #""payload":{"data":{"node_id":"\#(node)","kind":"\#(kind)","changelog":{"attributes":{"#
        text += #""description":{"value":"updated \#(produced)","value_previous":"before"}}}}}}"#
        return Array(text.utf8)
    }
}

/// GRDB's row type (this file's `Row` is the benchmark's own).
typealias Row_ = GRDB.Row
