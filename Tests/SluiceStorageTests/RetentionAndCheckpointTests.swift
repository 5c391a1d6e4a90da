import Glibc
import SluiceCore
import SluiceTestSupport
import Testing

@testable import SluiceStorage

@Suite struct CheckpointTests {
    @Test func writesReadsAndReplacesAtomically() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let store = try CheckpointStore(directory: temporary.path + "/checkpoints")
        #expect(try store.read(name: "webhook-1") == nil)
        try store.write(name: "webhook-1", sequence: 42)
        #expect(try store.read(name: "webhook-1") == 42)
        try store.write(name: "webhook-1", sequence: UInt64.max - 1)
        #expect(try store.read(name: "webhook-1") == UInt64.max - 1)
        #expect(
            access(temporary.path + "/checkpoints/webhook-1.checkpoint.tmp", F_OK) != 0,
            "no temporary file is left"
        )
        #expect(throws: SegmentLogError.self) { try store.write(name: "../escape", sequence: 1) }
    }

    @Test func reportsADamagedCheckpoint() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let store = try CheckpointStore(directory: temporary.path)
        try store.write(name: "c", sequence: 7)
        let path = temporary.path + "/c.checkpoint"
        var bytes = fileBytes(path)
        for index in bytes.indices {
            bytes[index] ^= 0x04
            writeFile(path, bytes)
            do {
                _ = try store.read(name: "c")
                Issue.record("accepted a flip in byte \(index)")
            } catch {
                #expect(error.code == .corrupt)
                #expect(error.path == path)
            }
            bytes[index] ^= 0x04
        }
        writeFile(path, Array(bytes.prefix(10)))
        #expect(throws: SegmentLogError.self) { try store.read(name: "c") }
    }
}

@Suite struct RetentionTests {
    /// A log of several sealed segments created at known times.
    static func makeLog(_ directory: String) throws -> [UInt64] {
        var configuration = SegmentLogTests.configuration(directory)
        configuration.segmentAgeMaxMicroseconds = 1000
        let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
        let records = SegmentLogTests.records(5, seed: 3)
        for (index, record) in records.enumerated() {
            // Each append after the first lands 1000 µs later, so each rolls a new segment created at that time.
            try writer.append([record], nowMicroseconds: Int64(index) * 1000, nowMonotonicNanoseconds: 0)
        }
        return try SegmentDirectory.segments(in: directory).map(\.firstSequence)
    }

    @Test func removesOldSealedSegmentsOnly() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        #expect(try Self.makeLog(directory) == [0, 1, 2, 3, 4])
        let report = try Retention.apply(
            directory: directory,
            ageMaxMicroseconds: 2500,
            totalByteCountMax: nil,
            nowMicroseconds: 5000
        )
        // Segment i was sealed when segment i+1 was created at (i+1)*1000; older than 5000-2500 = 2500 means i+1 ≤ 2.
        #expect(report.removedSegments.count == 2)
        #expect(report.firstSequence == 2)
        #expect(try SegmentDirectory.segments(in: directory).map(\.firstSequence) == [2, 3, 4])
        let everything = try Retention.apply(
            directory: directory,
            ageMaxMicroseconds: 1,
            totalByteCountMax: nil,
            nowMicroseconds: 1 << 40
        )
        #expect(everything.firstSequence == 4, "the active segment stays")
        let writer = try SegmentLogWriter(
            configuration: SegmentLogTests.configuration(directory),
            nowMicroseconds: 1 << 40
        )
        #expect(writer.nextSequence == 5)
        #expect(try readAllRecords(directory).map(\.sequence) == [4])
    }

    @Test func removesOldestSegmentsBySize() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        _ = try Self.makeLog(directory)
        let sizes = try SegmentDirectory.segments(in: directory).map {
            UInt64(fileBytes(directory + "/" + $0.name).count)
        }
        let limit = sizes.suffix(2).reduce(0, +)
        let report = try Retention.apply(
            directory: directory,
            ageMaxMicroseconds: nil,
            totalByteCountMax: limit,
            nowMicroseconds: 0
        )
        #expect(report.removedSegments.count == 3)
        #expect(try SegmentDirectory.segments(in: directory).map(\.firstSequence) == [3, 4])
        #expect(try readAllRecords(directory).map(\.sequence) == [3, 4])
    }

    /// A crash part-way through retention leaves a readable log: simulate each possible prefix of deletions.
    @Test func everyPartialDeletionLeavesAReadableLog() throws {
        for deleted in 0...4 {
            let temporary = TemporaryDirectory()
            defer { withExtendedLifetime(temporary) {} }
            let directory = temporary.path + "/log"
            let segments = try Self.makeLog(directory)
            for first in segments.prefix(deleted) {
                unlink(directory + "/" + SegmentFileName.name(firstSequence: first))
            }
            let writer = try SegmentLogWriter(
                configuration: SegmentLogTests.configuration(directory),
                nowMicroseconds: 0
            )
            #expect(writer.nextSequence == 5)
            #expect(try readAllRecords(directory).map(\.sequence) == Array(UInt64(deleted)..<5))
        }
    }
}
