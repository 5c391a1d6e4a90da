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
        abstract: "The segment log: append, inspect, verify, dump, scrub and repair (FORMAT.md has the format).",
        subcommands: [Append.self, Inspect.self, Verify.self, Dump.self, Scrub.self, Repair.self]
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
                for incident in writer.recovery.incidents { printError("recovered: \(incident)") }
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
                throw exitStatus(reporting: error, ExitStatus.ioFailure)
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
                throw exitStatus(reporting: error, ExitStatus.invalidInput)
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
            abstract: "Check every segment header, frame checksum and record, and gap-free sequences.",
            discussion: """
                Reports every damaged range (file, byte offsets, the sequences it holds) and every sequence \
                gap between segments, and exits 1 when there is any. A gap a repair recorded \
                (lost-sequences.txt) is printed as a note and passes.
                """
        )
        @Argument(help: "The log directory.")
        var directory: String

        func run() throws {
            try checkLog(directory: directory, sealedOnly: false, segments: "segments", repairHint: true)
        }
    }

    struct Scrub: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check the sealed segments (every frame checksum, record and sequence), also while a writer runs.",
            discussion: """
                What `sluice run` does in the background at start, on demand: every segment but the newest \
                (which a running writer appends to) is read and verified. Exits 1 naming the file, offsets \
                and sequences of any damage.
                """
        )
        @Argument(help: "The log directory.")
        var directory: String

        func run() throws {
            try checkLog(directory: directory, sealedOnly: true, segments: "sealed segments", repairHint: false)
        }
    }

    struct Repair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Set damaged segments aside in DIR/quarantine/ and rewrite what is readable; print the sequences lost.",
            discussion: """
                Nothing is deleted: a damaged segment is moved to DIR/quarantine/<time>/ and replaced by \
                segments holding its verified frames (byte for byte); a newest segment torn inside its \
                header is moved there too. The lost sequences (damaged frames, missing segments) are \
                recorded in DIR/lost-sequences.txt, which `log verify`, `log dump` and the pipeline honour. \
                Stop any writer first. Exit 0 when the log is repaired (or needed nothing), 3 when the \
                repair could not finish.
                """
        )
        @Argument(help: "The log directory.")
        var directory: String

        func run() throws {
            let report: LogRepairReport
            do {
                report = try LogRepair.repair(
                    directory: directory,
                    nowMicroseconds: Timestamp.now().microsecondsSinceEpoch
                )
            } catch {
                throw exitStatus(reporting: error, ExitStatus.ioFailure)
            }
            guard report.repairedAnything else {
                print("nothing to repair")
                return
            }
            for incident in report.incidents { print(incident.description) }
            if let folder = report.quarantineFolder { print("quarantine: \(folder)") }
            let lost = report.lostSequences.map { "\($0.lowerBound)..<\($0.upperBound)" }
            print("lost sequences: " + (lost.isEmpty ? "none" : lost.joined(separator: ", ")))
            if let tail = report.droppedTail {
                print("dropped at the end of the newest segment (the next append reuses them): \(tail.sequenceText)")
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
        @Flag(
            help:
                "Step over damaged frames and missing sequences (each reported on standard error: file, offsets, sequences) and go on; exit 1 if anything was skipped."
        )
        var skipDamaged = false

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
            if skipDamaged && follow {
                throw ValidationError("--skip-damaged reads what is there; it does not combine with --follow")
            }
            let output = try CommandOutput()
            func print(_ record: StoredRecord) {
                if follow, let fromTimestamp, record.timestampMicroseconds < fromTimestamp { return }
                output.write { writer throws(SystemCallError) in
                    try writer.write("\(record.sequence) \(record.type) ")
                    try writer.write(record.body)
                    try writer.write("\n")
                    if follow { try writer.flush() }
                }
            }
            var skipped = 0
            var failure: (any Error)?
            do {
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
                    let summary = try LogFiles.forEachRecord(
                        directory: directory,
                        fromSequence: from,
                        fromTimestampMicroseconds: fromTimestamp,
                        filter: filter,
                        skipDamaged: skipDamaged,
                        onIncident: { incident in
                            // What was read before the damage is on standard output before the report.
                            output.write { writer throws(SystemCallError) in try writer.flush() }
                            printError(incident.isDamage ? "skipped: \(incident)" : "\(incident)")
                        },
                        print
                    )
                    skipped = summary.damagedRangeCount
                }
            } catch {
                failure = error
            }
            // Everything read before any failure reaches standard output first, on every path.
            try output.finish(after: failure, status: ExitStatus.invalidInput)
            if skipped > 0 {
                printError("skipped \(skipped) damaged ranges (above); everything else was printed")
                throw ExitStatus.invalidInput
            }
        }
    }
}

/// `log verify` and `log scrub`: checks the log (or its sealed segments), prints every incident and a
/// summary, and exits 1 on damage.
private func checkLog(directory: String, sealedOnly: Bool, segments: String, repairHint: Bool) throws {
    let report: LogCheckReport
    do {
        report = try LogCheck.run(
            directory: directory,
            sealedOnly: sealedOnly,
            onIncident: { incident in printError(incident.isDamage ? "damage: \(incident)" : "\(incident)") }
        )
    } catch {
        throw exitStatus(reporting: error, ExitStatus.invalidInput)
    }
    let counts = "\(report.segmentCount) \(segments), \(report.frameCount) frames, \(report.recordCount) records"
    guard report.damage.isEmpty else {
        let hint = repairHint ? " ('sluice log repair' sets them aside)" : ""
        printError("damaged: \(report.damage.count) damaged ranges or gaps in \(counts)\(hint)")
        throw ExitStatus.invalidInput
    }
    print("ok: \(counts)")
}
