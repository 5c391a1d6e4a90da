import Foundation
import SluiceCore
import SluiceTestSupport
import Synchronization
import Testing

@testable import SluiceStorage

/// Shared state between the writer and follower threads of the test.
final class FollowerProgress: Sendable {
    let positions: [Position]
    let failures = Mutex<[String]>([])

    final class Position: Sendable {
        let value = Atomic<UInt64>(0)
    }

    init(count: Int) { positions = (0..<count).map { _ in Position() } }
}

@Suite struct FollowerTests {
    /// One writer appends while it rolls segments and applies retention; three followers read every record
    /// exactly once, in order, intact, across rolls, sleeping on the durable cursor between appends.
    @Test(.timeLimit(.minutes(2))) func followersSeeEveryRecordUnderRollAndRetention() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        var configuration = SegmentLogTests.configuration(directory)
        configuration.fsync = .never
        let records = SegmentLogTests.records(1500, seed: 12)
        let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
        let followerCount = 3
        let progress = FollowerProgress(count: followerCount)
        let cursor = writer.cursor
        let done = DispatchGroup()
        for index in 0..<followerCount {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                let follower = LogFollower(directory: directory, cursor: cursor, fromSequence: 0)
                var expected: UInt64 = 0
                do {
                    while expected < UInt64(records.count) {
                        try follower.next(timeoutNanoseconds: 200_000_000) { sequence, _, timestamp, body in
                            let record = records[Int(sequence)]
                            if sequence != expected || Array(body) != record.body
                                || timestamp != record.timestampMicroseconds
                            {
                                progress.failures.withLock {
                                    $0.append("follower \(index): bad record \(sequence), expected \(expected)")
                                }
                            }
                            expected = sequence + 1
                        }
                        progress.positions[index].value.store(follower.position, ordering: .releasing)
                    }
                } catch {
                    progress.failures.withLock { $0.append("follower \(index): \(error)") }
                }
            }
            thread.start()
        }
        var start = 0
        var removed = 0
        var batch = 0
        while start < records.count {
            let end = min(records.count, start + 1 + batch % 9)
            try writer.append(Array(records[start..<end]), nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
            start = end
            batch += 1
            if batch % 10 == 0 {
                // On a loaded machine the followers may not have run yet: give them up to 0.5 s to come
                // within 100 records, so retention has something it may remove while they read.
                for _ in 0..<500 {
                    let slowest = progress.positions.map { $0.value.load(ordering: .acquiring) }.min()!
                    if slowest + 100 >= UInt64(start) { break }
                    usleep(1_000)
                }
                let slowest = progress.positions.map { $0.value.load(ordering: .acquiring) }.min()!
                let report = try Retention.apply(
                    directory: directory,
                    ageMaxMicroseconds: nil,
                    totalByteCountMax: 60_000,
                    nowMicroseconds: 0,
                    protectedFromSequence: slowest
                )
                removed += report.removedSegments.count
            }
        }
        #expect(done.wait(timeout: .now() + 60) == .success)
        #expect(progress.failures.withLock { $0 } == [])
        #expect(removed > 0, "retention ran while followers were reading")
        #expect(try SegmentDirectory.segments(in: directory).count < 20)
    }

    @Test func waitTimesOutWithoutAnAppend() {
        let cursor = DurableCursor(5)
        #expect(cursor.wait(beyond: 5, timeoutNanoseconds: 20_000_000) == 5)
        #expect(cursor.wait(beyond: 4, timeoutNanoseconds: 1) == 5)
    }
}
