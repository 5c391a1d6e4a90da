import Foundation
import Sluice
import SluiceTestSupport
import Synchronization
import Testing

/// `Pipeline.subscribe`: durable matching events in log order, resume after a cursor without gap or
/// duplicate, and a consumer that reads nothing cut off at its buffer limit while the pipeline goes on.
@Suite(.serialized)
struct EventSubscriptionTests {
    static func event(_ number: Int, name: String) -> [UInt8] {
        let id = String(format: "7a1b2c3d-0000-4000-8000-%012d", number)
        return Array(
            #"{"event":"\#(name)","occurred":"2026-01-01T00:00:00Z","id":"\#(id)","resource":{"prefect.resource.id":"r-\#(number)"}}"#
                .utf8
        )
    }

    static func waitDurable(_ pipeline: Pipeline, _ count: Int) {
        let deadline = Date().addingTimeInterval(30)
        while pipeline.acknowledgedCount < count && Date() < deadline { usleep(1_000) }
    }

    @Test(.timeLimit(.minutes(2)))
    func matchingEventsArriveInLogOrderAndResumeAfterACursor() async throws {
        let temporary = TemporaryDirectory()
        let configuration = try pipelineConfiguration(json: #"{"webhooks": []}"#, logDirectory: temporary.path)
        let pipeline = try Pipeline(configuration: configuration)
        pipeline.scrubsSealedSegmentsAtStart = false
        try pipeline.start()
        defer { pipeline.stop() }
        var query = EventQuery()
        query.eventTypes = ["want.it"]
        let live = try pipeline.subscribe(query: query, after: nil, bufferLimit: 1_000)
        for number in 0..<200 {
            emitAll([Self.event(number, name: number % 3 == 0 ? "want.it" : "skip.it")], into: pipeline)
        }
        Self.waitDurable(pipeline, 200)
        var received: [UInt64] = []
        var iterator = live.makeAsyncIterator()
        while received.count < 67, let event = try await iterator.next() { received.append(event.sequence) }
        live.cancel()
        // The same events a query over the log finds, in the same order.
        var ascending = query
        ascending.order = .ascending
        var stored: [UInt64] = []
        try EventQueryEngine.run(directory: temporary.path, query: ascending) { event in
            stored.append(event.sequence)
            return true
        }
        #expect(stored.count == 67)
        #expect(received == stored)
        // Resume after the 10th: exactly the rest, from the log (already durable).
        let resumed = try pipeline.subscribe(query: query, after: received[9], bufferLimit: 1_000)
        var rest: [UInt64] = []
        var resumedIterator = resumed.makeAsyncIterator()
        while rest.count < 57, let event = try await resumedIterator.next() { rest.append(event.sequence) }
        resumed.cancel()
        #expect(rest == Array(received[10...]))
        #expect(throws: EventSubscriptionError.self) {
            try pipeline.subscribe(query: query, after: 1_000_000, bufferLimit: 10)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aConsumerThatReadsNothingIsCutOffAtItsBufferLimit() async throws {
        let temporary = TemporaryDirectory()
        let configuration = try pipelineConfiguration(json: #"{"webhooks": []}"#, logDirectory: temporary.path)
        let pipeline = try Pipeline(configuration: configuration)
        pipeline.scrubsSealedSegmentsAtStart = false
        try pipeline.start()
        defer { pipeline.stop() }
        var query = EventQuery()
        query.eventTypes = ["want.it"]
        let ended = Mutex<EventSubscriptionEnd?>(nil)
        let stalled = try pipeline.subscribe(query: query, after: nil, bufferLimit: 8) { end in
            ended.withLock { $0 = end }
        }
        let reader = try pipeline.subscribe(query: query, after: nil, bufferLimit: 1_000)
        emitAll((0..<100).map { Self.event($0, name: "want.it") }, into: pipeline)
        Self.waitDurable(pipeline, 100)
        var received = 0
        for try await _ in reader {
            received += 1
            if received == 100 { break }
        }
        #expect(received == 100, "the other subscriber got every event")
        let deadline = Date().addingTimeInterval(10)
        while ended.withLock({ $0 }) == nil && Date() < deadline { usleep(1_000) }
        #expect(ended.withLock { $0 } == .overflow(limit: 8))
        await #expect(throws: EventSubscriptionEnd.overflow(limit: 8)) {
            for try await _ in stalled {}
        }
        #expect(pipeline.acknowledgedCount == 100, "the pipeline did not wait for the stalled subscriber")
    }
}
