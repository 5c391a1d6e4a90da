public import ArgumentParser
public import Sluice

extension FrameCompression: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument {
        case "lz4": self = .lz4Block
        case "none": self = .none
        default: return nil
        }
    }
}

struct Log: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The segment log: append, inspect, verify and dump (FORMAT.md has the format).",
        subcommands: [Append.self, Inspect.self, Verify.self, Dump.self]
    )

    struct Append: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append the valid events of a JSON Lines file to the log in DIR (created if missing).",
            discussion: "Opening the log recovers it first (a torn tail is truncated and reported)."
        )

        @Argument(help: "The log directory.")
        var directory: String
        @Argument(help: "JSON Lines events ('-' for standard input).")
        var file: String
        @Option(help: "Events per append (one frame batch, one sync with --fsync always).")
        var batchEvents = 256
        @Option(help: "always, never, or interval:MILLISECONDS.")
        var fsync = "always"
        @Option(help: "lz4 or none.")
        var compression = FrameCompression.lz4Block
        @Flag(help: "Print 'ack FIRST END' on standard output after each acknowledged batch.")
        var reportAcknowledged = false

        func validate() throws {
            try checkRange(batchEvents, 1...1_000_000, "--batch-events")
            _ = try fsyncPolicy()
        }

        func fsyncPolicy() throws -> FsyncPolicy {
            guard let policy = FsyncPolicy(parsing: fsync) else {
                throw ValidationError("--fsync must be \(FsyncPolicy.syntax), not \(fsync)")
            }
            return policy
        }

        /// What recovery repaired, as a sentence.
        static func describe(_ recovery: RecoveryReport) -> String {
            var repairs: [String] = []
            if let path = recovery.truncatedPath {
                let records =
                    recovery.droppedRecordCount > 0 ? "\(recovery.droppedRecordCount) records" : "records unknown"
                repairs.append("cut a torn tail of \(recovery.droppedByteCount) bytes (\(records)) off \(path)")
            }
            if let path = recovery.removedIncompleteSegment {
                repairs.append("removed \(path), a segment whose header was never completely written")
            }
            return "recovered the log: " + repairs.joined(separator: "; ")
                + "; the next sequence is \(recovery.nextSequence)"
        }

        func run() throws {
            var configuration = LogConfiguration(directory: directory)
            configuration.fsync = try fsyncPolicy()
            configuration.compression = compression
            var invalid = 0
            do {
                let writer = try SegmentLogWriter(
                    configuration: configuration,
                    nowMicroseconds: Timestamp.now().microsecondsSinceEpoch
                )
                if writer.recovery.repairedAnything { printError(Self.describe(writer.recovery)) }
                if reportAcknowledged { printUnbuffered("start \(writer.nextSequence)") }
                let appended = try LogFiles.appendEvents(
                    path: file,
                    to: writer,
                    batchEventCount: batchEvents,
                    onError: { error in
                        invalid += 1
                        printError("error: \(error)")
                    },
                    onAcknowledged: { range in
                        if reportAcknowledged { printUnbuffered("ack \(range.lowerBound) \(range.upperBound)") }
                    }
                )
                try writer.sync()
                if !reportAcknowledged { print("appended \(appended) events; next sequence \(writer.nextSequence)") }
            } catch {
                printError("error: \(error)")
                throw ExitStatus.ioFailure
            }
            if invalid > 0 { throw ExitStatus.invalidInput }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Segments, frames, records, compression ratio and time span."
        )
        @Argument(help: "The log directory.")
        var directory: String

        func run() throws {
            let summary: LogSummary
            do {
                summary = try LogFiles.forEachRecord(directory: directory) { _ in }
            } catch {
                printError("error: \(error)")
                throw ExitStatus.invalidInput
            }
            print("segments \(summary.segmentCount), frames \(summary.frameCount), records \(summary.recordCount)")
            print("sequences \(summary.firstSequence ?? 0) ..< \(summary.nextSequence ?? 0)")
            print(
                "bytes on disk \(summary.fileByteCount), payload \(summary.uncompressedByteCount) → \(summary.storedByteCount) "
                    + "stored, compression ratio \(format1(summary.compressionRatio))"
            )
            if let earliest = summary.earliestMicroseconds, let latest = summary.latestMicroseconds {
                print(
                    "time span \(Timestamp(microsecondsSinceEpoch: earliest)) … \(Timestamp(microsecondsSinceEpoch: latest))"
                )
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check every segment header, frame checksum and record; exit 1 naming the file and offset of any damage."
        )
        @Argument(help: "The log directory.")
        var directory: String

        func run() throws {
            do {
                let summary = try LogFiles.forEachRecord(directory: directory) { _ in }
                print(
                    "ok: \(summary.segmentCount) segments, \(summary.frameCount) frames, \(summary.recordCount) records"
                )
            } catch {
                printError("error: \(error)")
                throw ExitStatus.invalidInput
            }
        }
    }

    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print records from a sequence on, one per line: SEQUENCE TYPE BODY."
        )
        @Argument(help: "The log directory.")
        var directory: String
        @Option(help: "The first sequence to print.")
        var from: UInt64 = 0
        @Option(help: "Only records at or after this time (RFC 3339).")
        var fromTime: String?
        @Option(help: "Only events before this time (RFC 3339).")
        var untilTime: String?
        @Option(help: "Event-name pattern (exact, prefix* or glob with * ? [..]); repeat for OR.")
        var event: [String] = []
        @Option(help: "Branch name; repeat for OR.")
        var branch: [String] = []
        @Option(help: "Primary node kind; repeat for OR.")
        var kind: [String] = []
        @Option(help: "Account id; repeat for OR.")
        var account: [String] = []
        @Option(
            help:
                "Related label as [ROLE:]KEY=PATTERN, e.g. infrahub.branch:infrahub.resource.label=main; repeat for AND."
        )
        var related: [String] = []
        @Flag(
            help:
                "Print the records there are, then keep printing records as they are appended (by any process), across rolls, until interrupted."
        )
        var follow = false
        @Option(help: "With --follow: stop after this many seconds without a new record.")
        var idleExit: Double?

        func validate() throws {
            if idleExit != nil, !follow { throw ValidationError("--idle-exit needs --follow") }
            try checkRange(idleExit, 0.001...31_536_000, "--idle-exit")
        }

        func filter() throws -> EventFilter {
            var filter = EventFilter()
            filter.eventNames = event.map(Glob.init)
            filter.branches = Set(branch)
            filter.nodeKinds = Set(kind)
            filter.accounts = Set(account)
            for condition in related {
                guard let equals = condition.firstIndex(of: "=") else {
                    throw ValidationError("--related '\(condition)' must be [ROLE:]KEY=PATTERN")
                }
                let left = condition[..<equals]
                let pattern = String(condition[condition.index(after: equals)...])
                let parts = left.split(separator: ":", maxSplits: 1)
                let role = parts.count == 2 ? String(parts[0]) : nil
                let key = String(parts.count == 2 ? parts[1] : parts[0])
                filter.relatedLabels.append(EventFilter.RelatedLabel(role: role, key: key, value: Glob(pattern)))
            }
            if let untilTime {
                guard let until = Timestamp.parse(untilTime) else {
                    throw ValidationError("--until-time '\(untilTime)' is not an RFC 3339 date-time")
                }
                filter.untilTimestamp = until
            }
            return filter
        }

        func run() throws {
            var fromTimestamp: Int64?
            if let fromTime {
                guard let parsed = Timestamp.parse(fromTime) else {
                    throw ValidationError("--from-time '\(fromTime)' is not an RFC 3339 date-time")
                }
                fromTimestamp = parsed.microsecondsSinceEpoch
            }
            let filter = try filter()
            do {
                let writer = try BufferedWriter(path: "-")
                var writeError: SystemCallError?
                func print(_ record: StoredRecord) {
                    guard writeError == nil else { return }
                    if follow, let fromTimestamp, record.timestampMicroseconds < fromTimestamp { return }
                    do throws(SystemCallError) {
                        try writer.write("\(record.sequence) \(record.type) ")
                        try writer.write(record.body)
                        try writer.write("\n")
                        if follow { try writer.flush() }
                    } catch {
                        writeError = error
                    }
                }
                if follow {
                    // The follower reads what is there first, and waits at a frame still being written
                    // instead of calling it a torn tail.
                    _ = try LogFiles.follow(
                        directory: directory,
                        fromSequence: from,
                        filter: filter,
                        stopAfterIdleNanoseconds: idleExit.map { UInt64(($0 * 1e9).rounded()) },  // ≤ 365 days
                        print
                    )
                } else {
                    _ = try LogFiles.forEachRecord(
                        directory: directory,
                        fromSequence: from,
                        fromTimestampMicroseconds: fromTimestamp,
                        filter: filter,
                        print
                    )
                }
                if let writeError { throw writeError }
                try writer.close()
            } catch {
                printError("error: \(error)")
                throw ExitStatus.invalidInput
            }
        }
    }
}
