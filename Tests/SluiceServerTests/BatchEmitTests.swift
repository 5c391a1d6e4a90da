import Foundation
import Sluice
import SluiceTestSupport
import Synchronization
import Testing

/// `Pipeline.emit(batch:admit:)`, the ingest route's all-or-nothing emit, on a real pipeline with a tiny ring:
/// under contention some batches meet a full ring, and none of those leaves an event behind — the log
/// holds exactly the events of the batches answered `emitted`.
@Suite struct BatchEmitTests {
    static func event(_ number: Int) -> [UInt8] {
        let id = String(format: "0e5a7c1e-0000-4000-8000-%012d", number)
        return Array(
            #"{"event":"batch.test","occurred":"2025-01-01T00:00:00Z","id":"\#(id)","resource":{"prefect.resource.id":"n"}}"#
                .utf8
        )
    }

    @Test(.timeLimit(.minutes(2)))
    func aFullRingTakesNothingOfABatch() throws {
        let directory = TemporaryDirectory()
        var configuration = PipelineConfiguration(log: LogConfiguration(directory: directory.path))
        configuration.ringCapacity = 4
        let pipeline = try Pipeline(configuration: configuration)
        pipeline.scrubsSealedSegmentsAtStart = false
        try pipeline.start()
        let accepted = Mutex<Set<String>>([])
        let backpressured = Atomic<Int>(0)
        let exceeded = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 2) { producer in
            for round in 0..<1_500 {
                let first = (producer * 1_500 + round) * 3
                let batch = [Self.event(first), Self.event(first + 1), Self.event(first + 2)]
                switch pipeline.emit(batch: batch) {
                case .emitted(let results):
                    for case .accepted(_, let id) in results { accepted.withLock { _ = $0.insert(id.description) } }
                    #expect(results.allSatisfy { if case .accepted = $0 { true } else { false } })
                case .backpressure: backpressured.add(1, ordering: .relaxed)
                case .exceedsRing: exceeded.add(1, ordering: .relaxed)
                case .stopped: Issue.record("the pipeline stopped")
                }
            }
        }
        #expect(exceeded.load(ordering: .relaxed) == 0)
        #expect(backpressured.load(ordering: .relaxed) > 0, "a 4-slot ring under 2 producers of 3-event batches fills")
        #expect(pipeline.emit(batch: (0..<5).map { Self.event(100_000 + $0) }) == .exceedsRing(capacity: 4))
        pipeline.stop()
        var logged: [String] = []
        var decoder = EventDecoder()
        _ = try LogFiles.forEachRecord(directory: directory.path) { record in
            guard record.type == .event, let event = try? decoder.decode(record.body) else { return }
            logged.append(event.header.id.description)
        }
        #expect(logged.count == accepted.withLock { $0.count }, "no event of a refused batch reached the log")
        let difference = Set(logged).symmetricDifference(accepted.withLock { $0 })
        #expect(difference.isEmpty, "\(difference.count) ids differ, e.g. \(difference.prefix(3))")
        #expect(pipeline.statistics.accepted == logged.count)
    }

    @Test func admitRefusesIDsAndInvalidEventsAreReported() async throws {
        let directory = TemporaryDirectory()
        let pipeline = try Pipeline(
            configuration: PipelineConfiguration(log: LogConfiguration(directory: directory.path))
        )
        pipeline.scrubsSealedSegmentsAtStart = false
        #expect(pipeline.emit(batch: [Self.event(1)]) == .stopped)
        try pipeline.start()
        let refusedID = try #require(EventID.parse("0e5a7c1e-0000-4000-8000-000000000002"))
        let result = pipeline.emit(batch: [Self.event(1), Self.event(2), Array("{".utf8), Self.event(3)]) { id in
            id != refusedID
        }
        guard case .emitted(let results) = result else {
            Issue.record("expected emitted, got \(result)")
            return
        }
        #expect(results.count == 4)
        if case .accepted(let position, _) = results[0] {
            #expect(position == 0)
        } else {
            Issue.record("\(results[0])")
        }
        #expect(results[1] == .refused(id: refusedID))
        if case .invalid(let error) = results[2] {
            #expect(error.code == .invalidJSON)
        } else {
            Issue.record("\(results[2])")
        }
        if case .accepted(let position, _) = results[3] {
            #expect(position == 1)
        } else {
            Issue.record("\(results[3])")
        }
        let waiter = AcknowledgementWaiter(pipeline: pipeline)
        #expect(await waiter.wait(untilAcknowledged: 1))
        #expect(pipeline.acknowledgedCount >= 2)
        #expect(pipeline.logSequence(ofAcknowledged: 0) == 0)
        #expect(pipeline.logSequence(ofAcknowledged: 1) == 1)
        #expect(pipeline.logSequence(ofAcknowledged: 2) == nil, "not acknowledged yet: never emitted")
        pipeline.stop()
    }
}
