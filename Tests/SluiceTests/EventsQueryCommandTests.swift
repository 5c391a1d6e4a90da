import Foundation
import Sluice
import SluiceTestSupport
import SluiceTools
import Testing

/// `sluice events query` through the built executable: NDJSON equal to the engine's answer, the count,
/// the cursor, and errors that name the flag.
@Suite(.serialized, .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"))
struct EventsQueryCommandTests {
    /// A log of generated events in small segments (so some are sealed and summarized).
    static func makeLog(_ directory: String) throws {
        var configuration = LogConfiguration(directory: directory)
        configuration.fsync = .never
        configuration.frameByteCountMax = 32 << 10
        configuration.segmentByteCountMax = 128 << 10
        let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
        var generator = FixtureGenerator(.init(eventCount: 800, seed: 11))
        var batch: [LogRecord] = []
        while let event = generator.next() {
            batch.append(LogRecord(type: .event, timestampMicroseconds: 1, body: event))
            if batch.count == 20 {
                try writer.append(batch, nowMicroseconds: 1, nowMonotonicNanoseconds: 1)
                batch.removeAll()
            }
        }
        try writer.append(batch, nowMicroseconds: 1, nowMonotonicNanoseconds: 1)
    }

    static func engine(_ directory: String, _ change: (inout EventQuery) -> Void) throws -> [String] {
        var query = EventQuery()
        change(&query)
        var lines: [String] = []
        try EventQueryEngine.run(directory: directory, query: query) { event in
            lines.append(event.bytes.utf8String)
            return true
        }
        return lines
    }

    static func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    @Test func printsWhatTheEngineFinds() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        try Self.makeLog(directory)

        let all = try CommandLineTests.run(["events", "query", "--log", directory])
        #expect(all.status == 0, "\(all.standardError)")
        let expectedAll = try Self.engine(directory) { _ in }
        #expect(expectedAll.count > 700)
        #expect(Self.lines(all.standardOutput) == expectedAll)

        let main = try CommandLineTests.run([
            "events", "query", "--log", directory, "--branch", "main", "--name", "infrahub.node.*", "--order", "asc",
            "--limit", "7", "--offset", "3", "--cursor",
        ])
        #expect(main.status == 0, "\(main.standardError)")
        let expectedMain = try Self.engine(directory) {
            $0.branches = ["main"]
            $0.names = [Glob("infrahub.node.*")]
            $0.order = .ascending
            $0.limit = 7
            $0.offset = 3
        }
        #expect(expectedMain.count == 7)
        #expect(Self.lines(main.standardOutput) == expectedMain)
        #expect(main.standardError.hasPrefix("cursor: "))

        // A point query by primary node id, and --count.
        var decoder = EventDecoder()
        let sample = try decoder.decode(Array(expectedAll[expectedAll.count / 3].utf8))
        let nodeID = try #require(sample.labelValue(.infrahubNodeID, of: sample.header.primary))
        let point = try CommandLineTests.run(["events", "query", "--log", directory, "--primary-node", nodeID])
        #expect(Self.lines(point.standardOutput) == (try Self.engine(directory) { $0.primaryNodeIDs = [nodeID] }))
        let count = try CommandLineTests.run(["events", "query", "--log", directory, "--branch", "main", "--count"])
        #expect(count.status == 0)
        let expectedCount = try EventQueryEngine.count(
            directory: directory,
            query: {
                var q = EventQuery()
                q.branches = ["main"]
                return q
            }()
        )
        #expect(count.standardOutput == "\(expectedCount.matchedCount)\n")
    }

    @Test(arguments: [
        (["--limit=-1"], "--limit must be from 0 to 2147483647, not -1"),
        (["--offset", "3000000000"], "--offset must be from 0 to 2147483647, not 3000000000"),
        (["--level=-2"], "--level must be from 0 to"),
        (["--id", "nope"], "--id 'nope' is not a UUID"),
        (["--order", "sideways"], "--order must be asc or desc"),
        (["--since", "yesterday"], "--since 'yesterday' is not an RFC 3339 date-time"),
        (["--has-children", "maybe"], "--has-children must be true or false"),
        (["--since", "2025-02-01T00:00:00Z", "--until", "2025-01-01T00:00:00Z"], "--since: "),
    ])
    func badFlagsAreUsageErrorsNamingTheFlag(arguments: [String], message: String) throws {
        let outcome = try CommandLineTests.run(["events", "query", "--log", "/nonexistent"] + arguments)
        #expect(outcome.status == 2, "\(outcome.standardError)")
        #expect(outcome.standardError.contains(message), "\(outcome.standardError)")
    }

    @Test func missingLogIsAnIOFailure() throws {
        let outcome = try CommandLineTests.run(["events", "query", "--log", "/nonexistent/log"])
        #expect(outcome.status == 3)
        #expect(outcome.standardError.contains("/nonexistent/log"), "\(outcome.standardError)")
    }
}
