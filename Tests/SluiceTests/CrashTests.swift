import Foundation
import Sluice
import SluiceTestSupport
import SluiceTools
import Testing

/// An acknowledged record survives `kill -9`: a child `sluice log append --fsync always` reports each
/// acknowledged batch; the parent SIGKILLs it at random moments, recovers the log and checks that every
/// acknowledged record is there, intact and in order, and that nothing unacknowledged is invented.
/// `SLUICE_CRASH_ROUNDS` sets the number of rounds (default 50).
@Suite(.serialized) struct CrashTests {
    @Test(.timeLimit(.minutes(5)), .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"))
    func acknowledgedRecordsSurviveSIGKILL() throws {
        let rounds = ProcessInfo.processInfo.environment["SLUICE_CRASH_ROUNDS"].flatMap(Int.init) ?? 50
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let eventsPath = temporary.path + "/events.jsonl"
        let logDirectory = temporary.path + "/log"
        try FixtureFiles.generateEvents(.init(eventCount: 600, seed: seed), path: eventsPath)
        var inputs: [[UInt8]] = []
        try LineReader(path: eventsPath, lineByteCountMax: 1 << 21).forEachLine(
            onOversizeLine: { _, _, _ in },
            onLine: { _, _, bytes in inputs.append(Array(bytes)) }
        )
        var expected: [UInt64: Int] = [:]  // sequence → input line
        var acknowledgedEnd: UInt64 = 0
        var repairs = 0
        for round in 0..<rounds {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLineTests.executable)
            process.arguments = [
                "log", "append", logDirectory, eventsPath, "--batch-events", String(1 + random.next(below: 24)),
                "--report-acknowledged",
            ]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let killAfterAcks = random.next(below: 12)
            var buffered = Data()
            var acks = 0
            var start: UInt64?
            reading: while true {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }  // the child finished on its own
                buffered.append(chunk)
                while let newline = buffered.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffered[buffered.startIndex..<newline], as: UTF8.self)
                    buffered.removeSubrange(buffered.startIndex...newline)
                    let fields = line.split(separator: " ")
                    if fields.first == "start", let first = UInt64(fields[1]) {
                        start = first
                        for index in inputs.indices { expected[first + UInt64(index)] = index }
                    } else if fields.first == "ack", let end = UInt64(fields[2]) {
                        acknowledgedEnd = max(acknowledgedEnd, end)
                        acks += 1
                        if acks >= killAfterAcks { break reading }
                    }
                }
            }
            usleep(UInt32(random.next(below: 3000)))
            kill(process.processIdentifier, SIGKILL)
            _ = process.reapedStatus()
            #expect(start != nil, "round \(round), seed \(seed): the child reported its start")

            // Recover (truncates a torn tail), then read everything back.
            let writer = try SegmentLogWriter(
                configuration: LogConfiguration(directory: logDirectory),
                nowMicroseconds: 0
            )
            if writer.recovery.repairedAnything { repairs += 1 }
            #expect(writer.nextSequence >= acknowledgedEnd, "round \(round), seed \(seed): acknowledged records lost")
            var nextExpected: UInt64 = 0
            _ = try LogFiles.forEachRecord(directory: logDirectory) { record in
                #expect(record.sequence == nextExpected, "round \(round), seed \(seed): records in order")
                nextExpected = record.sequence + 1
                guard let index = expected[record.sequence] else {
                    Issue.record("round \(round), seed \(seed): sequence \(record.sequence) was never written")
                    return
                }
                #expect(record.body == inputs[index], "round \(round), seed \(seed): record \(record.sequence) intact")
            }
            #expect(nextExpected == writer.nextSequence)
            #expect(nextExpected >= acknowledgedEnd)
        }
        print(
            "crash test: \(rounds) rounds, \(acknowledgedEnd) records acknowledged and all recovered, \(repairs) torn tails repaired (seed \(seed))"
        )
    }
}
