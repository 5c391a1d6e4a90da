import Foundation
import Sluice
import SluiceTestSupport
import SluiceTools
import Testing

/// `sluice log dump --follow` in a child process follows a log this process writes: every record, in
/// order, byte for byte, across segment rolls and across a writer that closes and a new one that
/// recovers and continues, woken by inotify (the child exits after 3 s without a record).
@Suite(.serialized) struct CrossProcessFollowTests {
    @Test(.timeLimit(.minutes(2)), .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"))
    func dumpFollowSeesEveryAppendAcrossRollsAndWriters() throws {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)

        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLineTests.executable)
        child.arguments = ["log", "dump", directory, "--follow", "--idle-exit", "3"]
        let output = Pipe()
        child.standardOutput = output
        child.standardError = FileHandle.nullDevice
        try child.run()
        usleep(200_000)  // let it start watching (it also reads whatever is there first)

        var generator = FixtureGenerator(.init(eventCount: 1_200, seed: seed))
        var written: [[UInt8]] = []
        for session in 0..<2 {
            var configuration = LogConfiguration(directory: directory)
            configuration.fsync = .never
            configuration.frameByteCountMax = 64 << 10
            configuration.segmentByteCountMax = 256 << 10  // rolls every few dozen events
            let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
            for _ in 0..<20 {
                var batch: [LogRecord] = []
                for _ in 0..<(1 + random.next(below: 40)) {
                    guard let event = generator.next() else { break }
                    batch.append(LogRecord(type: .event, timestampMicroseconds: Int64(written.count), body: event))
                    written.append(event)
                }
                guard !batch.isEmpty else { break }
                _ = try writer.append(batch, nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
                usleep(UInt32(random.next(below: 20_000)))
            }
            #expect(writer.nextSequence == UInt64(written.count), "seed \(seed), session \(session)")
        }
        let segmentCount = try SegmentDirectory.segments(in: directory).count
        #expect(segmentCount > 2, "seed \(seed): the log rolled")

        let data = output.fileHandleForReading.readDataToEndOfFile()
        #expect(child.reapedStatus() == 0)
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == written.count, "seed \(seed): every record once")
        for (index, line) in lines.enumerated() where index < written.count {
            let prefix = Array("\(index) event ".utf8)
            let bytes = Array(line)
            #expect(bytes.starts(with: prefix), "seed \(seed): record \(index) in order")
            #expect(Array(bytes.dropFirst(prefix.count)) == written[index], "seed \(seed): record \(index) intact")
        }
    }
}
