import Glibc
import SluiceCore
import SluiceTestSupport
import SluiceTools
import Testing

@testable import SluiceStorage

/// Reads every record of every segment in `directory`, verifying frames as it goes.
func readAllRecords(
    _ directory: String
) throws -> [(sequence: UInt64, type: RecordType, timestamp: Int64, body: [UInt8])] {
    var records: [(sequence: UInt64, type: RecordType, timestamp: Int64, body: [UInt8])] = []
    for segment in try LogDirectory.segments(in: directory) {
        let reader = try SegmentReader(path: directory + "/" + segment.name)
        frames: while true {
            switch try reader.nextFrame() {
            case .frame(let header, let fileOffset):
                try reader.forEachRecord(of: header, at: fileOffset) { record, payload in
                    records.append(
                        (record.sequence, record.type, record.timestampMicroseconds, Array(payload[record.bodyRange]))
                    )
                }
            case .end:
                break frames
            case .invalid(let fileOffset, let error, _):
                throw SegmentLogError(
                    code: .corrupt,
                    path: reader.path,
                    fileOffset: fileOffset,
                    message: "test read",
                    format: error
                )
            }
        }
    }
    return records
}

func fileBytes(_ path: String) -> [UInt8] {
    let file = fopen(path, "rb")!
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if count == 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return bytes
}

@Suite struct SegmentLogTests {
    static func configuration(_ directory: String, compression: FrameCompression = .lz4Block) -> LogConfiguration {
        var configuration = LogConfiguration(directory: directory)
        configuration.frameByteCountMax = 8192
        configuration.segmentByteCountMax = 40_000
        configuration.compression = compression
        return configuration
    }

    static func records(_ count: Int, seed: UInt64) -> [LogRecord] {
        var generator = FixtureGenerator(.init(eventCount: count, seed: seed))
        var records: [LogRecord] = []
        var timestamp: Int64 = 1_741_884_272_000_000
        while let event = generator.next() {
            timestamp += 1000
            // Shorter bodies keep frames several records long at this test's 8 KiB frame size.
            records.append(LogRecord(type: .event, timestampMicroseconds: timestamp, body: Array(event.prefix(1500))))
        }
        return records
    }

    @Test(arguments: [FrameCompression.lz4Block, .none])
    func appendsRollsAndReadsBack(compression: FrameCompression) throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        let written = Self.records(300, seed: 4)
        do {
            let writer = try SegmentLogWriter(
                configuration: Self.configuration(directory, compression: compression),
                nowMicroseconds: 0
            )
            #expect(writer.recovery.nextSequence == 0)
            var start = 0
            while start < written.count {
                let end = min(written.count, start + 1 + start % 37)
                let range = try writer.append(
                    Array(written[start..<end]),
                    nowMicroseconds: 1,
                    nowMonotonicNanoseconds: 1
                )
                #expect(range == UInt64(start)..<UInt64(end))
                #expect(writer.durableSequence == UInt64(end))
                start = end
            }
        }
        let segments = try LogDirectory.segments(in: directory)
        #expect(segments.count > 3, "the log rolled by size")
        let read = try readAllRecords(directory)
        #expect(read.map(\.sequence) == Array(0..<300))
        #expect(read.map(\.body) == written.map(\.body))
        #expect(read.map(\.timestamp) == written.map(\.timestampMicroseconds))
        let reopened = try SegmentLogWriter(configuration: Self.configuration(directory), nowMicroseconds: 2)
        #expect(!reopened.recovery.repairedAnything)
        #expect(reopened.nextSequence == 300)
        try reopened.append(Array(written[0..<5]), nowMicroseconds: 3, nowMonotonicNanoseconds: 3)
        #expect(try readAllRecords(directory).count == 305)
    }

    /// Cutting the active segment at every byte of its last frame loses exactly that frame, reports it, and
    /// leaves a log that accepts appends again.
    @Test func truncatesATornTailAtEveryByteOfTheLastFrame() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        var configuration = Self.configuration(directory)
        configuration.segmentByteCountMax = 1 << 20
        let written = Self.records(12, seed: 9)
        let path = directory + "/" + SegmentFileName.name(firstSequence: 0)
        let lastFrameStart: Int
        do {  // the writer (and its directory lock) ends before the log is reopened
            let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
            try writer.append(Array(written[0..<8]), nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
            lastFrameStart = fileBytes(path).count
            try writer.append(Array(written[8..<12]), nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
        }
        let full = fileBytes(path)
        for cut in (lastFrameStart + 1)..<full.count {
            writeFile(path, Array(full[0..<cut]))
            let recovered = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
            #expect(recovered.recovery.truncatedPath == path, "cut at \(cut)")
            #expect(recovered.recovery.droppedByteCount == UInt64(cut - lastFrameStart), "cut at \(cut)")
            #expect(recovered.nextSequence == 8, "cut at \(cut)")
            #expect(fileBytes(path).count == lastFrameStart)
        }
        let recovered = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
        try recovered.append(Array(written[8..<12]), nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
        #expect(try readAllRecords(directory).map(\.body) == written.map(\.body))
    }

    /// One writer per log directory: a second one fails with `locked` until the first goes away.
    @Test func secondWriterIsRefusedWhileTheFirstIsOpen() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let configuration = Self.configuration(temporary.path + "/log")
        do {
            let first = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
            #expect(throws: SegmentLogError.self) {
                _ = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
            }
            do {
                _ = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
            } catch {
                #expect(error.code == .locked)
                #expect(error.path.hasSuffix("/writer.lock"))
            }
            withExtendedLifetime(first) {}
        }
        _ = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
    }

    /// A flipped bit in any header byte of a frame that has frames after it is corruption: opening fails
    /// with the file and the frame's offset; nothing is truncated.
    @Test func reportsCorruptionBeforeTheTail() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        var configuration = Self.configuration(directory)
        configuration.segmentByteCountMax = 1 << 20
        let written = Self.records(12, seed: 5)
        let path = directory + "/" + SegmentFileName.name(firstSequence: 0)
        let secondFrameStart: Int
        do {  // the writer (and its directory lock) ends before the log is reopened
            let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
            try writer.append(Array(written[0..<4]), nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
            secondFrameStart = fileBytes(path).count
            try writer.append(Array(written[4..<8]), nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
            try writer.append(Array(written[8..<12]), nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
        }
        let original = fileBytes(path)
        for byteIndex in secondFrameStart..<(secondFrameStart + FrameHeader.byteCount) {
            var damaged = original
            damaged[byteIndex] ^= 0x10
            writeFile(path, damaged)
            do {
                _ = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
                Issue.record("opened a log with a damaged frame header at byte \(byteIndex)")
            } catch {
                #expect(error.code == .corrupt)
                #expect(error.fileOffset == UInt64(secondFrameStart))
                #expect(error.path == path)
            }
            #expect(fileBytes(path) == damaged, "nothing is truncated")
        }
        var payloadDamaged = original
        payloadDamaged[secondFrameStart + FrameHeader.byteCount + 3] ^= 0x01
        writeFile(path, payloadDamaged)
        #expect(throws: SegmentLogError.self) { try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0) }
    }

    @Test func removesASegmentWhoseHeaderNeverCompleted() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        let configuration = Self.configuration(directory)
        let written = Self.records(40, seed: 2)
        do {
            let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
            try writer.append(written, nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
        }
        let next = UInt64(40)
        let path = directory + "/" + SegmentFileName.name(firstSequence: next)
        writeFile(path, Array(repeating: 0, count: 10))
        let recovered = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
        #expect(recovered.recovery.removedIncompleteSegment == path)
        #expect(recovered.nextSequence == next)
        try recovered.append(Array(written[0..<1]), nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
        #expect(try readAllRecords(directory).count == 41)
    }

    @Test func rejectsARecordLargerThanAFrame() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let writer = try SegmentLogWriter(
            configuration: Self.configuration(temporary.path + "/log"),
            nowMicroseconds: 0
        )
        let record = LogRecord(type: .event, timestampMicroseconds: 0, body: [UInt8](repeating: 1, count: 9000))
        do {
            try writer.append([record], nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
            Issue.record("accepted")
        } catch {
            #expect(error.code == .recordTooLarge)
        }
        #expect(writer.nextSequence == 0)
    }

    @Test func rollsByAge() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        var configuration = Self.configuration(directory)
        configuration.segmentByteCountMax = 1 << 20
        configuration.segmentAgeMaxMicroseconds = 1_000_000
        let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
        let written = Self.records(3, seed: 1)
        try writer.append([written[0]], nowMicroseconds: 10, nowMonotonicNanoseconds: 0)
        try writer.append([written[1]], nowMicroseconds: 500_000, nowMonotonicNanoseconds: 0)
        try writer.append([written[2]], nowMicroseconds: 1_000_001, nowMonotonicNanoseconds: 0)
        #expect(try LogDirectory.segments(in: directory).map(\.firstSequence) == [0, 2])
    }

    @Test func intervalPolicyPublishesTheDurableCursorWhenDue() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        var configuration = Self.configuration(temporary.path + "/log")
        configuration.fsync = .interval(milliseconds: 5)
        let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
        let written = Self.records(3, seed: 1)
        try writer.append([written[0]], nowMicroseconds: 0, nowMonotonicNanoseconds: 10_000_000)
        #expect(writer.durableSequence == 1)
        try writer.append([written[1]], nowMicroseconds: 0, nowMonotonicNanoseconds: 11_000_000)
        #expect(writer.durableSequence == 1, "not due yet")
        try writer.syncIfDue(nowMonotonicNanoseconds: 15_000_001)
        #expect(writer.durableSequence == 2)
    }
}
