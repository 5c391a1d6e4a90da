public import SluiceCore
import SluiceStorage
import Synchronization

/// What the pipeline measured, for `/metrics` (docs/server.md "Metrics"): per-stage latency histograms,
/// ring and queue depths, per-webhook deliveries by outcome and failure class with the breaker state, and
/// the log's bytes, segments and `fdatasync` latency. A snapshot (``Pipeline/metrics``); each value is
/// exact, they are not read atomically together.
///
/// The stages record into histograms of their own thread (relaxed atomics, no lock, no allocation per
/// sample): the journaler `journal`, the matcher `match`, each delivery loop `send` and `response`.
public struct PipelineMetrics: Sendable {
    /// The four legs of a delivery, as the load-test report splits them (`sluice replay`).
    public enum Stage: String, CaseIterable, Sendable {
        /// `emit` accepted the event → durable in the log (fsync per policy). Every event.
        case journal = "emit_to_journaled"
        /// Durable → matched against the triggers. Every event.
        case match = "journaled_to_matched"
        /// Matched → the last request the delivery sent went to the socket. Every final delivery that sent one.
        case send = "matched_to_sent"
        /// That request → the final outcome (the 2xx, or the dead letter).
        case response = "sent_to_final"
    }

    /// Stage latencies by ``Stage``.
    public var stageLatency: [Stage: LatencyHistogram]
    /// Every `fdatasync` of a segment since start.
    public var syncLatency: LatencyHistogram
    /// Bytes written to segment files since start.
    public var logWrittenBytes: UInt64
    /// Segments started since start (rolls).
    public var logSegmentsStarted: Int
    /// Segment files in the log directory now (retention removes some); `nil` when it cannot be listed.
    public var logSegmentCount: Int?
    /// The ring's slots: events claimed and not yet matched (the matcher frees them), and the capacity.
    public var ringOccupied: Int
    public var ringCapacity: Int
    /// Delivery jobs the matcher handed to the delivery loops and they have not taken yet (all shards).
    public var deliveryJobsQueued: Int
    /// Outcome records the delivery loops handed to the journaler, not yet written.
    public var outcomesQueued: Int
    /// Per webhook ever configured since start, by name.
    public var webhooks: [Webhook]

    /// One webhook's counts since start.
    public struct Webhook: Sendable, Equatable {
        public var name: String
        public var delivered: Int
        /// Failed attempts that were retried.
        public var retried: Int
        public var deadLettered: Int
        /// Failed attempts by class (retried ones and those that ended in a dead letter).
        public var failures: [DeliveryFailureClass: Int]
        /// Its circuit breaker as of its last attempt (`closed` before any).
        public var breaker: CircuitBreaker.State.Kind
    }
}

/// One webhook's counters, shared by every routing that has a webhook of this name (so a reconfiguration
/// keeps them) and by every delivery loop (relaxed atomics; a loop writes only its own webhooks' in practice).
final class WebhookCounters: Sendable {
    final class Cell: Sendable {
        let value = Atomic<Int>(0)
    }

    let name: String
    let delivered = Atomic<Int>(0)
    let retried = Atomic<Int>(0)
    let deadLettered = Atomic<Int>(0)
    /// ``DeliveryFailureClass/allCases`` order.
    let failures: [Cell] = DeliveryFailureClass.allCases.map { _ in Cell() }
    /// ``CircuitBreaker/State/Kind/allCases`` position.
    let breaker = Atomic<Int>(0)

    init(name: String) {
        self.name = name
    }

    static let classNumbers: [DeliveryFailureClass: Int] = Dictionary(
        uniqueKeysWithValues: DeliveryFailureClass.allCases.enumerated().map { ($1, $0) }
    )

    func failed(_ failure: DeliveryFailure) {
        guard let number = Self.classNumbers[failure.failureClass] else { return }
        failures[number].value.wrappingAdd(1, ordering: .relaxed)
    }

    func breakerIs(_ kind: CircuitBreaker.State.Kind) {
        let number = CircuitBreaker.State.Kind.allCases.firstIndex(of: kind) ?? 0
        breaker.store(number, ordering: .relaxed)
    }

    var snapshot: PipelineMetrics.Webhook {
        var byClass: [DeliveryFailureClass: Int] = [:]
        for (number, failureClass) in DeliveryFailureClass.allCases.enumerated() {
            byClass[failureClass] = failures[number].value.load(ordering: .relaxed)
        }
        let kinds = CircuitBreaker.State.Kind.allCases
        let breakerNumber = breaker.load(ordering: .relaxed)
        return PipelineMetrics.Webhook(
            name: name,
            delivered: delivered.load(ordering: .relaxed),
            retried: retried.load(ordering: .relaxed),
            deadLettered: deadLettered.load(ordering: .relaxed),
            failures: byClass,
            breaker: kinds.indices.contains(breakerNumber) ? kinds[breakerNumber] : .closed
        )
    }
}

/// The ``WebhookCounters`` by webhook name; looked up when a routing is compiled (control plane), never per
/// delivery.
final class WebhookCounterRegistry: Sendable {
    private let byName = Mutex<[String: WebhookCounters]>([:])

    func counters(for name: String) -> WebhookCounters {
        byName.withLock { table in
            if let counters = table[name] { return counters }
            let counters = WebhookCounters(name: name)
            table[name] = counters
            return counters
        }
    }

    var all: [WebhookCounters] { byName.withLock { $0.values.sorted { $0.name < $1.name } } }
}

/// The histograms of the journaler and the matcher, and the log writer's statistics.
final class StageRecorders: Sendable {
    let journal = LatencyHistogramRecorder()
    let match = LatencyHistogramRecorder()
    let log = SegmentLogStatistics()
    let webhooks = WebhookCounterRegistry()
}

extension Pipeline {
    /// What the stages measured so far (see ``PipelineMetrics``). Cheap: a few hundred relaxed loads.
    public var metrics: PipelineMetrics { core.metrics }
}

extension PipelineCore {
    var metrics: PipelineMetrics {
        var send = LatencyHistogram()
        var response = LatencyHistogram()
        var jobs = 0
        var outcomes = 0
        for shard in shards {
            send.add(shard.sendLatency.snapshot)
            response.add(shard.responseLatency.snapshot)
            jobs += shard.jobs.count
            outcomes += shard.outcomes.count
        }
        return PipelineMetrics(
            stageLatency: [
                .journal: recorders.journal.snapshot, .match: recorders.match.snapshot, .send: send,
                .response: response,
            ],
            syncLatency: recorders.log.syncLatency.snapshot,
            logWrittenBytes: recorders.log.writtenBytes,
            logSegmentsStarted: recorders.log.segmentsStarted,
            // A directory that cannot be listed shows as an absent gauge; the log's own errors stop the pipeline.
            logSegmentCount: try? SegmentDirectory.segments(in: configuration.log.directory).count,
            ringOccupied: max(0, sequencer.claimed - matchCursor.value),
            ringCapacity: configuration.ringCapacity,
            deliveryJobsQueued: jobs,
            outcomesQueued: outcomes,
            webhooks: recorders.webhooks.all.map(\.snapshot)
        )
    }
}
