import Foundation
import SluiceTestSupport
import Synchronization
import Testing

@testable import Sluice

/// The log tells the truth about damage: verification finds gaps, reads flush and report before failing
/// or step over damage, recovery reports every repair, scrubs find damage in sealed segments, and a
/// repair sets damage aside and says exactly which sequences were lost.
@Suite struct LogDamageTests {
    /// A log of 400 events in more than four segments (LogFilesTests.makeLog: 16 KiB frames, 100 kB segments).
    static func makeLog(_ temporary: TemporaryDirectory) throws -> (directory: String, records: [LogRecord]) {
        let directory = temporary.path + "/log"
        let records = try LogFilesTests.makeLog(directory, eventCount: 400)
        return (directory, records)
    }

    static func segmentPaths(_ directory: String) throws -> [(first: UInt64, path: String)] {
        try SegmentDirectory.segments(in: directory).map { ($0.firstSequence, directory + "/" + $0.name) }
    }

    /// The frames of a segment: file offset and sequences, from a fresh scan.
    static func frames(_ path: String) throws -> [(fileOffset: UInt64, sequences: Range<UInt64>)] {
        let reader = try SegmentReader(path: path)
        var frames: [(fileOffset: UInt64, sequences: Range<UInt64>)] = []
        while case .frame(let header, let fileOffset) = try reader.nextFrame() {
            frames.append((fileOffset, header.firstSequence..<(header.firstSequence + UInt64(header.recordCount))))
        }
        return frames
    }

    static func flip(_ path: String, at fileOffset: UInt64) {
        var bytes = Array(FileManager.default.contents(atPath: path)!)
        bytes[Int(fileOffset)] ^= 0x40
        writeFile(path, bytes)
    }

    static func readSequences(_ directory: String) throws -> [UInt64] {
        var sequences: [UInt64] = []
        _ = try LogFiles.forEachRecord(directory: directory) { sequences.append($0.sequence) }
        return sequences
    }

    // MARK: - Gaps

    /// A missing middle segment is damage: verification and reads name both files and the missing range.
    @Test func verifyFailsOnAMissingMiddleSegment() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let (directory, _) = try Self.makeLog(temporary)
        let segments = try Self.segmentPaths(directory)
        try #require(segments.count > 3)
        unlink(segments[2].path)
        let missing = segments[2].first..<segments[3].first
        let report = try LogCheck.run(directory: directory, sealedOnly: false)
        let damage = report.damage
        #expect(damage.count == 1)
        #expect(damage.first?.kind == .missingSequences)
        #expect(damage.first?.sequences == missing)
        let text = damage.first?.description ?? ""
        #expect(text.contains(segments[1].path) && text.contains(segments[3].path))
        #expect(text.contains("\(missing.lowerBound)..<\(missing.upperBound)"))
        #expect(throws: SegmentLogError.self) { try Self.readSequences(directory) }
        // The scrub of sealed segments sees it too.
        #expect(try LogCheck.run(directory: directory, sealedOnly: true).damage.first?.sequences == missing)
    }

    @Test(.enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)")) func verifyCommandFailsOnAGap()
        throws
    {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let (directory, _) = try Self.makeLog(temporary)
        #expect(try CommandLineTests.run(["log", "verify", directory]).status == 0)
        let segments = try Self.segmentPaths(directory)
        unlink(segments[1].path)
        let outcome = try CommandLineTests.run(["log", "verify", directory])
        #expect(outcome.status == 1)
        #expect(outcome.standardError.contains(segments[0].path))
        #expect(outcome.standardError.contains(segments[2].path))
        #expect(outcome.standardError.contains("sequences \(segments[1].first)..<\(segments[2].first) missing"))
    }

    // MARK: - Dump

    /// `log dump` prints every record before a damaged frame (its buffer is flushed on the error path),
    /// then names the file and offset; `--skip-damaged` prints everything else and reports the range.
    @Test(.enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"))
    func dumpFlushesBeforeDamageAndCanSkipIt() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let (directory, records) = try Self.makeLog(temporary)
        let segment = try Self.segmentPaths(directory)[1]
        let frames = try Self.frames(segment.path)
        try #require(frames.count > 3)
        let damaged = frames[2]
        Self.flip(segment.path, at: damaged.fileOffset + 60)  // inside the payload
        let outcome = try CommandLineTests.run(["log", "dump", directory])
        #expect(outcome.status == 1)
        let lines = outcome.standardOutput.split(separator: "\n")
        #expect(lines.count == Int(damaged.sequences.lowerBound), "every record before the damage is printed")
        #expect(lines.last?.hasPrefix("\(damaged.sequences.lowerBound - 1) event ") == true)
        #expect(outcome.standardError.contains(segment.path))
        #expect(outcome.standardError.contains("at file offset \(damaged.fileOffset)"))

        let skipping = try CommandLineTests.run(["log", "dump", "--skip-damaged", directory])
        #expect(skipping.status == 1, "skipping anything is not success")
        let printed = skipping.standardOutput.split(separator: "\n").compactMap { UInt64($0.prefix { $0 != " " }) }
        #expect(printed == (0..<UInt64(records.count)).filter { !damaged.sequences.contains($0) })
        #expect(
            skipping.standardError.contains(
                "skipped: damaged bytes in \(segment.path) at file offset \(damaged.fileOffset) ("
            )
        )
        #expect(
            skipping.standardError.contains(
                "sequences \(damaged.sequences.lowerBound)..<\(damaged.sequences.upperBound) unreadable"
            )
        )
    }

    /// Skipping resynchronises on the next valid frame header after a damaged header (found by scanning
    /// for the frame magic), and across a missing segment; each skipped range is reported exactly.
    @Test func skipDamagedResynchronisesAfterADamagedHeader() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let (directory, records) = try Self.makeLog(temporary)
        let segments = try Self.segmentPaths(directory)
        let frames = try Self.frames(segments[0].path)
        let damaged = frames[1]
        Self.flip(segments[0].path, at: damaged.fileOffset + 9)  // the frame header's firstSequence
        unlink(segments[3].path)
        var incidents: [LogIncident] = []
        var read: [UInt64] = []
        let summary = try LogFiles.forEachRecord(
            directory: directory,
            skipDamaged: true,
            onIncident: { incidents.append($0) },
            { read.append($0.sequence) }
        )
        let gap = segments[3].first..<segments[4].first
        #expect(summary.damagedRangeCount == 2)
        #expect(incidents.map(\.sequences) == [damaged.sequences, gap])
        #expect(incidents.first?.fileOffset == damaged.fileOffset)
        #expect(incidents.first?.byteCount == frames[2].fileOffset - damaged.fileOffset)
        let expected = (0..<UInt64(records.count)).filter { !damaged.sequences.contains($0) && !gap.contains($0) }
        #expect(read == expected)
    }

    // MARK: - Recovery

    /// A newest segment torn inside its header is moved to the quarantine folder (not deleted) and reported.
    @Test func recoveryQuarantinesATornNewestSegmentAndSaysSo() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let (directory, _) = try Self.makeLog(temporary)
        let torn = directory + "/" + SegmentFileName.name(firstSequence: 400)
        writeFile(torn, Array("SLUICESG".utf8) + [1, 0, 1])
        var configuration = LogConfiguration(directory: directory)
        configuration.frameByteCountMax = 16_384
        configuration.segmentByteCountMax = 100_000
        let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 1_000_000)
        let incident = try #require(writer.recovery.incidents.first)
        #expect(incident.kind == .incompleteSegmentQuarantined)
        #expect(incident.path == torn && incident.byteCount == 11)
        let kept = try #require(incident.destination)
        #expect(kept.hasPrefix(directory + "/quarantine/"))
        #expect(FileManager.default.contents(atPath: kept)?.count == 11, "kept aside, never deleted")
        #expect(writer.recovery.description.contains("recovered: moved \(torn)"))
        #expect(writer.nextSequence == 400)
    }

    /// A truncated torn tail is reported with its file, offset, bytes and sequences, and the bytes are kept.
    @Test func recoveryReportsATornTailAndKeepsItsBytes() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let (directory, _) = try Self.makeLog(temporary)
        let newest = try #require(try Self.segmentPaths(directory).last)
        let last = try #require(try Self.frames(newest.path).last)
        let size = UInt64(FileManager.default.contents(atPath: newest.path)!.count)
        truncate(newest.path, off_t(size - 10))
        let writer = try SegmentLogWriter(configuration: LogConfiguration(directory: directory), nowMicroseconds: 0)
        let incident = try #require(writer.recovery.incidents.first)
        #expect(incident.kind == .tornTailTruncated)
        #expect(incident.fileOffset == last.fileOffset)
        #expect(incident.sequences == last.sequences)
        #expect(incident.byteCount == size - 10 - last.fileOffset)
        #expect(FileManager.default.contents(atPath: incident.destination ?? "")?.count == Int(incident.byteCount))
    }

    /// A checkpoint past the recovered log's end is lowered, and the lowering is a reported incident.
    @Test func recoveryReportsACheckpointMovedBack() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let store = try CheckpointStore(directory: temporary.path)
        try store.write(name: pipelineCheckpointName, sequence: 500)
        let loaded = try RecoveryCheckpoints.load(store: store, logEnd: 420)
        #expect(loaded.rematchFrom == 420)
        let incident = try #require(loaded.incidents.first)
        #expect(incident.kind == .checkpointMovedBack)
        #expect(incident.path == temporary.path + "/pipeline.checkpoint" && incident.fileOffset == 8)
        #expect(incident.sequences == 420..<500)
    }

    // MARK: - Scrub

    /// Damage in a sealed segment that start never reads is found by the pipeline's background scrub
    /// and reported through `onLogDamage`; start does not wait for it.
    @Test(.timeLimit(.minutes(1))) func pipelineScrubsSealedSegmentsInTheBackground() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let (directory, _) = try Self.makeLog(temporary)
        let segment = try Self.segmentPaths(directory)[1]
        let damaged = try Self.frames(segment.path)[1]
        Self.flip(segment.path, at: damaged.fileOffset + 100)
        try CheckpointStore(directory: directory).write(name: pipelineCheckpointName, sequence: 400)
        let configuration = try pipelineConfiguration(json: #"{"webhooks": []}"#, logDirectory: directory)
        let pipeline = try Pipeline(configuration: configuration)
        let found = Mutex<[LogIncident]>([])
        pipeline.onLogDamage { incident in found.withLock { $0.append(incident) } }
        try pipeline.start()
        var waited = 0
        while pipeline.scrubReport == nil && waited < 5_000 {
            usleep(1_000)
            waited += 1
        }
        pipeline.stop()
        let report = try #require(try pipeline.scrubReport?.get())
        #expect(report.damage.count == 1)
        let incidents = found.withLock { $0 }
        #expect(incidents.map(\.path) == [segment.path])
        #expect(incidents.first?.fileOffset == damaged.fileOffset)
        #expect(incidents.first?.sequences == damaged.sequences)
    }

    // MARK: - Repair

    /// A damaged frame in the middle of a sealed segment: moved aside with its segment, the readable frames
    /// rewritten, exactly its sequences reported and recorded; the log then verifies (with a note), opens
    /// and reads everything else.
    @Test func repairSetsADamagedFrameAsideAndReportsExactlyItsSequences() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let (directory, records) = try Self.makeLog(temporary)
        let segment = try Self.segmentPaths(directory)[1]
        let frames = try Self.frames(segment.path)
        let damaged = frames[2]
        let original = FileManager.default.contents(atPath: segment.path)!
        Self.flip(segment.path, at: damaged.fileOffset + 70)
        #expect(!(try LogCheck.run(directory: directory, sealedOnly: false).damage.isEmpty))
        let report = try LogRepair.repair(directory: directory, nowMicroseconds: 1_765_000_000_000_000)
        #expect(report.lostSequences == [damaged.sequences])
        let folder = try #require(report.quarantineFolder)
        #expect(
            FileManager.default.contents(atPath: folder + "/" + SegmentFileName.name(firstSequence: segment.first))?
                .count == original.count,
            "the damaged segment is kept whole"
        )
        try Self.expectRepaired(directory, records: records, lost: [damaged.sequences])
    }

    /// A missing middle segment: recorded as lost (nothing to move), and the log verifies again.
    @Test func repairRecordsAMissingMiddleSegment() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let (directory, records) = try Self.makeLog(temporary)
        let segments = try Self.segmentPaths(directory)
        unlink(segments[2].path)
        let missing = segments[2].first..<segments[3].first
        let report = try LogRepair.repair(directory: directory, nowMicroseconds: 0)
        #expect(report.lostSequences == [missing])
        try Self.expectRepaired(directory, records: records, lost: [missing])
        let again = try LogRepair.repair(directory: directory, nowMicroseconds: 0)
        #expect(!again.repairedAnything, "a recorded loss is not repaired twice")
    }

    /// A follower crosses a gap a repair recorded (and only such a gap).
    @Test(.timeLimit(.minutes(1))) func followerCrossesARecordedGap() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let (directory, records) = try Self.makeLog(temporary)
        let segments = try Self.segmentPaths(directory)
        unlink(segments[2].path)
        let missing = segments[2].first..<segments[3].first
        func follow() throws -> [UInt64] {
            let follower = try LogFollower(directory: directory, watchingFromSequence: 0)
            var read: [UInt64] = []
            while try follower.next(timeoutNanoseconds: 1_000_000, { sequence, _, _, _ in read.append(sequence) }) > 0 {
            }
            return read
        }
        #expect(try follow().last == missing.lowerBound - 1, "an unrecorded gap is not crossed")
        _ = try LogRepair.repair(directory: directory, nowMicroseconds: 0)
        #expect(try follow() == (0..<UInt64(records.count)).filter { !missing.contains($0) })
    }

    /// A newest segment torn inside its header is moved aside; nothing is lost.
    @Test func repairQuarantinesATornNewestSegmentHeader() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let (directory, records) = try Self.makeLog(temporary)
        let torn = directory + "/" + SegmentFileName.name(firstSequence: 400)
        writeFile(torn, [UInt8](repeating: 0, count: 64))
        #expect(!(try LogCheck.run(directory: directory, sealedOnly: false).damage.isEmpty))
        let report = try LogRepair.repair(directory: directory, nowMicroseconds: 0)
        #expect(report.lostSequences.isEmpty)
        #expect(report.incidents.map(\.kind) == [.incompleteSegmentQuarantined])
        #expect(FileManager.default.fileExists(atPath: try #require(report.incidents.first?.destination)))
        try Self.expectRepaired(directory, records: records, lost: [])
    }

    /// Any single flipped byte in any frame (but the newest segment's last, a torn tail) costs exactly
    /// that frame's sequences, wherever in the frame it is; a flipped segment header byte costs nothing.
    @Test func repairLosesExactlyTheDamagedFrameWhereverTheByteIs() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let (pristine, records) = try Self.makeLog(temporary)
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        for round in 0..<12 {
            let directory = temporary.path + "/round\(round)"
            try FileManager.default.copyItem(atPath: pristine, toPath: directory)
            let segments = try Self.segmentPaths(directory)
            let segment = segments[random.next(below: segments.count)]
            let allFrames = try Self.frames(segment.path)
            var frames = allFrames
            if segment.path == segments.last?.path { frames.removeLast() }  // its last frame is a torn tail
            let lost: [Range<UInt64>]
            if round % 4 == 3 {
                Self.flip(segment.path, at: UInt64(random.next(below: 64)))
                lost = []
            } else {
                let frame = frames[random.next(below: frames.count)]
                let frameEnd =
                    allFrames.first { $0.fileOffset > frame.fileOffset }?.fileOffset
                    ?? UInt64(FileManager.default.contents(atPath: segment.path)!.count)
                Self.flip(
                    segment.path,
                    at: frame.fileOffset + UInt64(random.next(below: Int(frameEnd - frame.fileOffset)))
                )
                lost = [frame.sequences]
            }
            let report = try LogRepair.repair(directory: directory, nowMicroseconds: 0)
            #expect(report.lostSequences == lost, "seed \(seed) round \(round): \(report.incidents)")
            #expect(report.quarantineFolder != nil, "seed \(seed) round \(round)")
            try Self.expectRepaired(directory, records: records, lost: lost)
        }
    }

    /// A damaged frame in the middle of the newest segment stops recovery (it is not a torn tail); a
    /// repair makes the log open again and appends continue after the last frame.
    @Test(.enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"))
    func repairCommandFixesTheNewestSegment() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let (directory, records) = try Self.makeLog(temporary)
        let newest = try #require(try Self.segmentPaths(directory).last)
        let frames = try Self.frames(newest.path)
        try #require(frames.count > 2)
        Self.flip(newest.path, at: frames[0].fileOffset + 80)
        #expect(throws: SegmentLogError.self) {
            try SegmentLogWriter(configuration: LogConfiguration(directory: directory), nowMicroseconds: 0)
        }
        let outcome = try CommandLineTests.run(["log", "repair", directory])
        #expect(outcome.status == 0)
        let range = "\(frames[0].sequences.lowerBound)..<\(frames[0].sequences.upperBound)"
        #expect(outcome.standardOutput.contains("lost sequences: \(range)\n"))
        #expect(outcome.standardOutput.contains("quarantine: \(directory)/quarantine/"))
        try Self.expectRepaired(directory, records: records, lost: [frames[0].sequences])
        let verified = try CommandLineTests.run(["log", "verify", directory])
        #expect(verified.status == 0)
        #expect(verified.standardError.contains("note: sequences \(range) were lost in a repair"))
    }

    /// After a repair: verification passes (recorded losses are notes), recovery opens the log without
    /// repairing anything more, every record not lost reads back, and appends continue the sequences.
    static func expectRepaired(_ directory: String, records: [LogRecord], lost: [Range<UInt64>]) throws {
        let check = try LogCheck.run(directory: directory, sealedOnly: false)
        #expect(check.damage.isEmpty, "\(check.damage)")
        #expect(check.incidents.filter { $0.kind == .recordedLoss }.map(\.sequences) == lost)
        let expected = (0..<UInt64(records.count)).filter { sequence in !lost.contains { $0.contains(sequence) } }
        var bodies: [UInt64: [UInt8]] = [:]
        _ = try LogFiles.forEachRecord(directory: directory) { bodies[$0.sequence] = $0.body }
        #expect(bodies.keys.sorted() == expected)
        #expect(expected.allSatisfy { bodies[$0] == records[Int($0)].body })
        let writer = try SegmentLogWriter(configuration: LogConfiguration(directory: directory), nowMicroseconds: 0)
        #expect(writer.recovery.incidents.isEmpty)
        #expect(writer.nextSequence == UInt64(records.count))
        try writer.append([records[0]], nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
        #expect(try Self.readSequences(directory).last == UInt64(records.count))
    }
}
