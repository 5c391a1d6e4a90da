import SluiceCore
import SluiceIO
import SluiceStorage
import Synchronization

/// One slot of the event ring, preallocated and reused: the event's header (decoded once, interned by the
/// ingest decoder), its bytes, and what the stages add.
struct EventSlot {
    var header = EventHeader()
    var bytes: [UInt8] = []
    var emittedNanoseconds: UInt64 = 0
    /// Set by the journaler before it passes the slot on.
    var logSequence: UInt64 = 0
    var durableNanoseconds: UInt64 = 0
}

/// Records waiting for the journaler beside the events, and the tickets handed out for them.
struct ControlQueue {
    var records: [LogRecord] = []
    /// The ticket of the last record queued (tickets count from 1).
    var ticket = 0
}

/// A dead letter to deliver again (``Pipeline/redrive(_:timeoutNanoseconds:)``), for the matcher thread.
struct RedriveRequest {
    var eventSequence: UInt64
    var webhook: String
}

/// The pipeline's stages and their wiring (the public face is ``Pipeline``).
///
/// `@unchecked Sendable`: each mutable field is owned by one thread (journaler: `writer`, `appended`,
/// `pendingFinals`; matcher: the matcher state) or guarded (`ingest`, `routing` and `control` by mutexes;
/// `timing` set before start); the rings are the hand-offs.
final class PipelineCore: @unchecked Sendable {
    struct Ingest {
        var decoder: EventDecoder
        var scratch = EventHeader()
        var running = false
        var generation = 0
    }

    let configuration: PipelineConfiguration
    let counters: PipelineCounters
    /// The stages' latency histograms, the log's statistics and the per-webhook counters (``PipelineMetrics``).
    let recorders = StageRecorders()
    let ingest: Mutex<Ingest>
    let routingBox: Mutex<PipelineRouting>
    let routingGeneration = Atomic<Int>(0)
    /// Records the journaler writes beside the events (configuration changes, redrive requests), each with a
    /// ticket; the journaler publishes in ``controlDurableTicket`` the highest ticket that is durable.
    let control = Mutex<ControlQueue>(ControlQueue())
    /// The highest control ticket whose record is durable in the log (per the fsync policy).
    let controlDurableTicket = Atomic<Int>(0)
    /// Dead letters redriven while running, for the matcher to queue again (their `redrive_requested`
    /// records are durable first).
    let redriveRequests = Mutex<[RedriveRequest]>([])
    /// Runs workflow firings; `nil` when the configuration at start has no workflow.
    var workflowDispatcher: WorkflowDispatcher?
    /// Variables every workflow run gets besides its own (e.g. `sluice serve`'s URL and token); set before start.
    var workflowEnvironment: [(name: String, value: String)] = []
    /// Called as each workflow attempt's process starts (set before start).
    var workflowStartHook: (@Sendable (WorkflowStartTiming) -> Void)?
    /// Set once the workflow dispatcher has stopped (or when there is none): the journaler may end.
    let workflowsDone = Atomic<Bool>(true)
    let journalWake: ParkWaitStrategy
    let matchWake: ParkWaitStrategy
    let journalCursor = RingCursor()
    let matchCursor = RingCursor()
    let sequencer: RingSequencer
    let slots: RingSlots<EventSlot>
    let shards: [DeliveryShard]
    var tracker = SettledTracker(matchedEnd: 0)
    /// Stateful trigger windows rebuilt by `start()` for the matcher thread to take over.
    var recoveredStateful: StatefulTriggers?
    /// Webhooks whose backlog recovery left in the log (more than their bound), for the matcher to read back.
    var recoveredSpills: [String: WebhookSpill] = [:]
    /// The log's end at start: the matcher's first live event comes at or after it.
    var recoveredLogEnd: UInt64 = 0
    /// Deliveries in memory per webhook name (``WebhookBudget``): `start()`, then the matcher thread.
    var budgets: [String: WebhookBudget] = [:]
    /// Raised (and the matcher woken) when a spilling webhook can take its backlog back from the log.
    let readBackSignal: ReadBackSignal
    /// Raised (and the matcher woken) when ``redriveRequests`` has requests.
    let redriveSignal: ReadBackSignal
    /// Ring positions of the outcome events the matcher emitted (rare), recorded before they are published,
    /// and how many below the acknowledged ones were folded away: for ``acknowledgedEmittedCount``.
    let internalPositions = Mutex<(folded: Int, positions: [Int])>((0, []))
    var writer: SegmentLogWriter?
    var checkpoints: CheckpointStore?
    /// Writes the checkpoint files off the journaler (made by `start()`).
    var checkpointWriter: CheckpointWriter?
    var threads: [LoopThread] = []
    var journalerThread: LoopThread?
    var timing: (@Sendable (DeliveryTiming) -> Void)?
    var outcomeHook: (@Sendable (DeliveryOutcomeRecord) -> Void)?
    let stopping = Atomic<Bool>(false)
    let matcherDone = Atomic<Bool>(false)
    let shardsDone = Atomic<Int>(0)
    let failureText = Mutex<String?>(nil)
    /// Webhooks disabled by `410 Gone` (or by hand), by name: loaded at start, kept by the journaler as their
    /// records become durable, written to `endpoints.disabled`.
    let disabledEndpoints = Mutex<[String: DisabledEndpoint]>([:])

    init(configuration: PipelineConfiguration, counters: PipelineCounters) throws(PipelineConfigurationError) {
        self.configuration = configuration
        self.counters = counters
        let decoder = EventDecoder(limits: configuration.eventLimits)
        let routing = try PipelineRouting(
            configuration: configuration,
            symbols: decoder.symbols,
            generation: 0,
            webhookCounters: recorders.webhooks
        )
        ingest = Mutex(Ingest(decoder: decoder))
        routingBox = Mutex(routing)
        var fsyncIntervalMilliseconds: Int?
        if case .interval(let milliseconds) = configuration.log.fsync { fsyncIntervalMilliseconds = milliseconds }
        let parkNanoseconds = configuration.limits.journalParkNanoseconds(
            fsyncIntervalMilliseconds: fsyncIntervalMilliseconds
        )
        journalWake = ParkWaitStrategy(parkTimeoutNanoseconds: Int(clamping: parkNanoseconds))
        matchWake = ParkWaitStrategy()
        readBackSignal = ReadBackSignal(wake: matchWake)
        redriveSignal = ReadBackSignal(wake: matchWake)
        sequencer = RingSequencer(
            capacity: configuration.ringCapacity,
            gating: [matchCursor],
            waitStrategy: journalWake
        )
        slots = RingSlots(capacity: configuration.ringCapacity) { _ in EventSlot() }
        var shards: [DeliveryShard] = []
        for number in 0..<configuration.deliveryShardCount {
            shards.append(
                DeliveryShard(
                    number: number,
                    configuration: configuration,
                    counters: counters,
                    journalWake: journalWake,
                    seed: UInt64(number) &+ 0x5EED
                )
            )
        }
        self.shards = shards
    }

    func setTiming(_ body: @escaping @Sendable (DeliveryTiming) -> Void) { timing = body }
    func setOutcomeHook(_ body: @escaping @Sendable (DeliveryOutcomeRecord) -> Void) { outcomeHook = body }

    var failure: String? { failureText.withLock { $0 } }

    func fail(_ text: String) {
        failureText.withLock { if $0 == nil { $0 = text } }
        ingest.withLock { $0.running = false }
        stopping.store(true, ordering: .releasing)
        journalWake.wakeAll()
        matchWake.wakeAll()
        for shard in shards { shard.wakeUp() }
    }
}
