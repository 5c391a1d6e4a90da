import Foundation
import Sluice
import SluiceIO
import SluiceTestSupport
import SluiceTools
import Synchronization
import Testing

/// The delivery driver (`DeliveryShard` executing `DeliveryStateMachine` and the circuit breaker) over real
/// loopback HTTP on both backends, seen through the outcome records it journals: a retry schedule that ends
/// in a 2xx, `Retry-After` outweighing the schedule, and a refused connection classified and dead-lettered.
/// (Dead letters after 5xx and `410 Gone` are in `PipelineBehaviourTests` and `EndpointGoneTests`.)
@Suite(.serialized) struct DeliveryDriverTests {
    /// One webhook taking every event, a retry schedule of `delays` without jitter, and a breaker that never
    /// opens (these tests count attempts), delivering to `url`.
    static func configuration(
        url: String,
        directory: String,
        delays: [UInt64],
        backend: IOBackendSelection
    ) throws
        -> PipelineConfiguration
    {
        let json = """
            {"webhooks": [{"name": "hook", "url": "\(url)", "shared_key": "k",
                           "event_type": "all", "branch_scope": "all_branches"}]}
            """
        var configuration = try pipelineConfiguration(
            json: json,
            logDirectory: directory,
            backend: backend.kind.rawValue
        )
        configuration.retryPolicy.delayNanoseconds = delays
        configuration.retryPolicy.jitterPercent = 0
        configuration.circuitBreaker.requestCountMin = 1_000_000
        return configuration
    }

    /// The outcome records a pipeline journals, as they are handed to the journaler.
    final class Outcomes: Sendable {
        private let records = Mutex<[DeliveryOutcomeRecord]>([])
        func append(_ record: DeliveryOutcomeRecord) { records.withLock { $0.append(record) } }
        var all: [DeliveryOutcomeRecord] { records.withLock { $0 } }
    }

    /// A pipeline from `configuration` whose outcome records land in the returned list, started, with one
    /// generated event emitted.
    static func startWithOneEvent(_ configuration: PipelineConfiguration) throws -> (Pipeline, Outcomes) {
        let outcomes = Outcomes()
        let pipeline = try Pipeline(configuration: configuration)
        pipeline.onOutcome { record in outcomes.append(record) }
        try pipeline.start()
        var generator = FixtureGenerator(.init(eventCount: 1, seed: 5))
        let event = generator.next()
        emitAll([try #require(event)], into: pipeline)
        return (pipeline, outcomes)
    }

    /// Waits up to 20 s for `condition`.
    static func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while !condition() {
            if Date() >= deadline { return false }
            usleep(2_000)
        }
        return true
    }

    @Test(.timeLimit(.minutes(2)), arguments: pipelineBackends())
    func failedAttemptsAreRetriedOnTheScheduleUntilA2xx(backend: IOBackendSelection) throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let answered = Atomic<Int>(0)
        let statuses = [503, 503, 204]
        let receiver = try RecordingReceiver(backend: backend) { _ in
            statuses[min(answered.wrappingAdd(1, ordering: .relaxed).oldValue, statuses.count - 1)]
        }
        let configuration = try Self.configuration(
            url: receiver.url("/hook"),
            directory: temporary.path + "/log",
            delays: [0, 20_000_000, 20_000_000],
            backend: backend
        )
        let (pipeline, outcomes) = try Self.startWithOneEvent(configuration)
        #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
        pipeline.stop()
        let records = outcomes.all
        #expect(records.map(\.outcome) == [.retrying, .retrying, .delivered])
        #expect(records.map(\.attempt) == [1, 2, 3])
        #expect(records.map(\.statusCode) == [503, 503, 204])
        #expect(records.prefix(2).allSatisfy { $0.failureClass == .httpServerError })
        #expect(Set(records.map(\.webhookID)).count == 1, "one webhook-id across the retries")
        #expect(receiver.requests.count == 3)
        #expect(pipeline.statistics.delivered == 1 && pipeline.statistics.failedAttempts == 2)
    }

    @Test(.timeLimit(.minutes(2)), arguments: pipelineBackends())
    func retryAfterOutweighsTheSchedule(backend: IOBackendSelection) throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(
            backend: backend,
            replyHeaderFields: [HTTPHeaderField("Retry-After", "30")]
        ) { _ in 429 }
        // The schedule alone would send the second (last) attempt after 10 ms and dead-letter it.
        let configuration = try Self.configuration(
            url: receiver.url("/hook"),
            directory: temporary.path + "/log",
            delays: [0, 10_000_000],
            backend: backend
        )
        let (pipeline, outcomes) = try Self.startWithOneEvent(configuration)
        #expect(Self.eventually { !outcomes.all.isEmpty })
        usleep(500_000)  // 50 times the schedule's delay
        let records = outcomes.all
        #expect(records.count == 1, "\(records)")
        #expect(records.first?.outcome == .retrying)
        #expect(records.first?.statusCode == 429)
        #expect(records.first?.failureClass == .httpClientError)
        #expect(receiver.requests.count == 1, "Retry-After: 30 holds the second attempt back")
        #expect(pipeline.statistics.deadLettered == 0)
        pipeline.stop(drainTimeoutNanoseconds: 1_000_000_000)
    }

    @Test(.timeLimit(.minutes(2)), arguments: pipelineBackends())
    func refusedConnectionsAreRetriedThenDeadLettered(backend: IOBackendSelection) throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        // A port on 127.0.0.1 that nothing listens on any more: connects are refused.
        let listener = try Socket.makeListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!)
        Socket.close(listener.descriptor)
        let configuration = try Self.configuration(
            url: "http://127.0.0.1:\(listener.address.port)/hook",
            directory: temporary.path + "/log",
            delays: [0, 10_000_000],
            backend: backend
        )
        let (pipeline, outcomes) = try Self.startWithOneEvent(configuration)
        #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
        pipeline.stop()
        let records = outcomes.all
        #expect(records.map(\.outcome) == [.retrying, .deadLettered])
        #expect(records.map(\.attempt) == [1, 2])
        #expect(records.allSatisfy { $0.failureClass == .connection && $0.statusCode == nil }, "\(records)")
        #expect(pipeline.statistics.deadLettered == 1)
    }
}
