public import SluiceCore
import SluiceIO
public import SluiceStorage
import Synchronization

/// The assembled event pipeline, embeddable in any process (ARCHITECTURE.md §1, §7):
///
/// ```
/// emit ─► decode + validate ─► event ring ─► journaler (segment log, fsync policy, durable)
///                                             └► matcher (trigger index) ─► delivery shards
///                                                  (sign, HTTP/1.1 over io_uring or epoll, retries, dead letters)
///                                                  └► outcomes ─► journaler (log) ─► checkpoint
/// ```
///
/// - ``emit(_:)`` never blocks and never drops: a full ring answers ``EmitResult/backpressure``.
/// - An event is *acknowledged* once it is durable (``acknowledgedCount``); nothing is delivered before.
/// - Every acknowledged event that matches a webhook is delivered at least once (a 2xx recorded in the
///   log) or dead-lettered with its last failure; after a crash, ``start()`` re-matches the events after
///   the checkpoint and re-sends every delivery without a recorded final outcome, with the same
///   `webhook-id`, continuing retries.
/// - Every ring and queue is bounded (``PipelineConfiguration``).
///
/// Threads: a journaler, a matcher, and per delivery shard a delivery loop plus its HTTP client's I/O loop.
/// `emit` may be called from any thread (producers serialize on one decoder, whose symbol table the trigger
/// index shares).
public final class Pipeline: Sendable {
    /// What ``emit(_:)`` did with an event.
    public enum EmitResult: Sendable, Equatable {
        /// In the ring at this position (acknowledged once ``acknowledgedCount`` passes it).
        case accepted(position: Int)
        /// The ring is full: try again later (nothing was taken). Answered before the event is decoded, so
        /// an invalid event on a full ring is reported as `invalid` only once there is room.
        case backpressure
        /// Not a valid event; nothing was taken.
        case invalid(EventDecodingError)
        /// The pipeline is not running (not started, stopping, or failed: see ``failure``).
        case stopped
    }

    public let configuration: PipelineConfiguration
    let counters = PipelineCounters()
    let core: PipelineCore

    /// Validates `configuration` and compiles it; nothing runs before ``start()``.
    public init(configuration: PipelineConfiguration) throws(PipelineConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        core = try PipelineCore(configuration: configuration, counters: counters)
    }

    /// Called on a delivery thread for each 2xx, with the delivery's stage times (set before ``start()``).
    public func onDelivered(_ body: @escaping @Sendable (DeliveryTiming) -> Void) { core.setTiming(body) }

    /// Called on a delivery thread with every outcome record as it is handed to the journaler: each
    /// failed attempt (`retrying`), each dead letter and each 2xx (set before ``start()``).
    public func onOutcome(_ body: @escaping @Sendable (DeliveryOutcomeRecord) -> Void) { core.setOutcomeHook(body) }

    /// Enables the webhook `name` that `410 Gone` disabled: journals it (`endpoint_enabled`), rewrites the
    /// state file, closes its circuit breaker; its new deliveries go out again (those dead-lettered while
    /// it was disabled stay dead letters: redrive them). Any thread, while running.
    /// - Throws: ``PipelineConfigurationError`` when `name` is not disabled.
    public func enableEndpoint(_ name: String) throws(PipelineConfigurationError) { try core.enableEndpoint(name) }

    /// The webhooks disabled now, with why and since when.
    public var disabledEndpoints: [DisabledEndpoint] {
        core.disabledEndpoints.withLock { $0.values.sorted { $0.webhook < $1.webhook } }
    }

    /// Recovers the log, re-queues unfinished deliveries from the checkpoint on, and starts the threads.
    /// Unless ``scrubsSealedSegmentsAtStart`` was turned off, it then starts a ``BackgroundScrub`` of the
    /// sealed segments, whose incidents go to the ``onLogDamage(_:)`` handler (its report:
    /// ``scrubReport``); start and ingest never wait for it.
    /// - Returns: what recovery found and repaired (``PipelineRecovery/incidents``).
    @discardableResult
    public func start() throws -> PipelineRecovery {
        let recovery = try core.start()
        cursorBox.withLock { $0 = core.writer?.cursor }
        let (enabled, handler) = scrubSettings.withLock { ($0.enabled, $0.onIncident) }
        if enabled {
            do {
                let scrub = try BackgroundScrub(directory: configuration.log.directory) { incident in
                    handler?(incident)
                }
                scrubSettings.withLock { $0.scrub = scrub }
            } catch {
                // No thread for the scrub: the start fails as a whole, so nothing runs half-started.
                core.stop(drainTimeoutNanoseconds: 0)
                throw error
            }
        }
        return recovery
    }

    /// The log writer's durable cursor, once started (what subscriptions sleep on).
    private let cursorBox = Mutex<DurableCursor?>(nil)

    /// The log's durable position (every record below ``DurableCursor/current`` is durable); `nil` before
    /// ``start()``.
    public var durableCursor: DurableCursor? { cursorBox.withLock { $0 } }

    private struct ScrubSettings {
        var enabled = true
        var onIncident: (@Sendable (LogIncident) -> Void)?
        var scrub: BackgroundScrub?
    }
    private let scrubSettings = Mutex(ScrubSettings())

    /// Whether ``start()`` scrubs the sealed segments in the background (default `true`). Set before start.
    public var scrubsSealedSegmentsAtStart: Bool {
        get { scrubSettings.withLock { $0.enabled } }
        set { scrubSettings.withLock { $0.enabled = newValue } }
    }

    /// Called on the scrub's thread with each damaged range (and each note of a loss a repair recorded)
    /// the background scrub finds, with its file and offset (set before ``start()``).
    public func onLogDamage(_ body: @escaping @Sendable (LogIncident) -> Void) {
        scrubSettings.withLock { $0.onIncident = body }
    }

    /// The background scrub's report once it finished; `nil` while it runs or when there is none.
    public var scrubReport: Result<LogCheckReport, SegmentLogError>? {
        scrubSettings.withLock { $0.scrub }?.report
    }

    /// Hands one event (its JSON in the Prefect wire shape) to the pipeline. Never blocks.
    public func emit(_ bytes: [UInt8]) -> EmitResult { core.emit(bytes) }

    /// Normalizes a GitHub delivery (spec §f: its `X-GitHub-Event`, `X-GitHub-Delivery` and body, after the
    /// receiver verified `X-Hub-Signature-256`) and emits it as a `github.*` event.
    public func emit(gitHub delivery: GitHubDelivery) -> EmitResult {
        let draft: EventDraft
        do {
            draft = try GitHubNormalizer.draft(for: delivery)
        } catch {
            return .invalid(
                EventDecodingError(code: .invalidField, byteOffset: 0, fieldPath: "github", message: "\(error)")
            )
        }
        return emit(draft.encoded())
    }

    /// Events emitted so far that are durable in the log (the ring positions below this are acknowledged).
    /// Counts the outcome events of stateful triggers too, which the pipeline emits itself.
    public var acknowledgedCount: Int { core.acknowledgedCount }

    /// Of the events the callers of ``emit(_:)`` got `accepted` for, how many are durable: the first N in
    /// acceptance order (the outcome events stateful triggers emit are left out). With no stateful
    /// trigger it equals ``acknowledgedCount``.
    public var acknowledgedEmittedCount: Int { core.acknowledgedEmittedCount }

    /// Waits until every accepted event is journaled and matched and every delivery has a final outcome
    /// (delivered or dead-lettered), or until `timeoutNanoseconds` pass. Returns whether it got there.
    /// Deliveries waiting for a later retry keep it from getting there.
    public func flush(timeoutNanoseconds: UInt64) -> Bool { core.flush(timeoutNanoseconds: timeoutNanoseconds) }

    /// Stops taking events, drains what is in the ring, waits up to `drainTimeoutNanoseconds` for the
    /// requests in flight, journals their outcomes, writes the checkpoint and ends every thread. Deliveries
    /// still waiting for a retry are picked up again by the next ``start()``.
    public func stop(drainTimeoutNanoseconds: UInt64 = 30_000_000_000) {
        scrubSettings.withLock { $0.scrub }?.stop()
        core.stop(drainTimeoutNanoseconds: drainTimeoutNanoseconds)
    }

    /// Swaps in a new set of webhooks and triggers while running (the log and bounds stay). Matching goes on;
    /// events matched after the swap use the new configuration. The change is recorded in the log as a
    /// version 1 summary, which a restart cannot replay: to make a change a restart restores, use
    /// ``reconfigure(document:environment:timeoutNanoseconds:)``.
    public func reconfigure(
        webhooks: WebhookConfiguration,
        triggers: TriggerConfiguration
    ) throws(PipelineConfigurationError) {
        try core.reconfigure(webhooks: webhooks, triggers: triggers)
    }

    /// A snapshot of the counters.
    public var statistics: PipelineStatistics { core.statistics }

    /// Called on a workflow runner thread as each attempt's process starts, with when its firing was
    /// handed over (set before ``start()``; the workflow benchmark's probe).
    public func onWorkflowStarted(_ body: @escaping @Sendable (WorkflowStartTiming) -> Void) {
        core.workflowStartHook = body
    }

    /// Variables every workflow run gets besides its own, e.g. `SLUICE_SERVER_URL` and `SLUICE_TOKEN` for
    /// `sluice emit` (the embedder or the configuration provides them). Call before ``start()``.
    public func setWorkflowEnvironment(_ variables: [(name: String, value: String)]) {
        core.workflowEnvironment = variables
    }

    /// The error that stopped the pipeline (a log write or sync failed), if any.
    public var failure: String? { core.failure }
}

/// Counters of a running pipeline (a snapshot; each counter is exact, they are not read atomically together).
public struct PipelineStatistics: Sendable, Equatable {
    public var accepted: Int
    public var backpressured: Int
    public var invalid: Int
    /// Events durable in the log.
    public var journaled: Int
    public var matched: Int
    /// (event, webhook) deliveries created (recovered ones included).
    public var deliveriesQueued: Int
    public var delivered: Int
    /// Attempts that failed (each retried or dead-lettered).
    public var failedAttempts: Int
    public var deadLettered: Int
    /// Deliveries matched and not yet final (queued, in flight, or waiting for a retry).
    public var pendingDeliveries: Int
    public var inFlight: Int
    public var outcomesJournaled: Int
    public var recoveredDeliveries: Int
    /// Webhooks whose backlog is partly left in the log (they hold `endpoint_pending_max` deliveries in
    /// memory; the rest is read back as they make room). Their deliveries there are not in
    /// ``pendingDeliveries``.
    public var spillingWebhooks: Int = 0
    /// Webhooks disabled by `410 Gone` (or by hand), by name: they get no deliveries until enabled
    /// (``Pipeline/enableEndpoint(_:)``, `sluice endpoints enable`).
    public var disabledEndpoints: [String] = []
    /// Dead letters queued again while running (``Pipeline/redrive(_:timeoutNanoseconds:)``).
    public var redriven: Int = 0
    /// Redriven dead letters not queued: their webhook is no longer configured or no longer sent the event, the
    /// pair was not final any more, or the event could not be read back.
    public var redrivesSkipped: Int = 0
    /// The workflow runs, when the configuration has workflows.
    public var workflows: WorkflowStatistics? = nil
}

/// Counters of the workflow runs since start (docs/workflows.md).
public struct WorkflowStatistics: Sendable, Equatable {
    /// Attempts started (a retry is another).
    public var started: Int
    public var succeeded: Int
    /// Attempts that failed (non-zero exit, signal, timeout, cannot start), retried or dead-lettered.
    public var failedAttempts: Int
    public var deadLettered: Int
    /// Firings refused by `workflows_depth_max` (each journaled with outcome `refused`).
    public var refused: Int
    /// Firings a restart found without a final record and queued again.
    public var recovered: Int
    /// Firings queued, waiting for a retry, or running now.
    public var pending: Int
}

/// What ``Pipeline/start()`` found in the log.
public struct PipelineRecovery: Sendable, Equatable {
    /// The segment log's own recovery (torn tail truncated, …).
    public var log: RecoveryReport
    /// Where it re-matched from: the lowest per-webhook checkpoint (`pipeline.webhooks`), or
    /// `pipeline.checkpoint` when that file is missing or unusable (see `checkpointNote`).
    public var checkpoint: UInt64
    /// Events after the checkpoint, re-matched.
    public var eventsRematched: Int
    /// Deliveries without a final outcome, queued again (`deliveriesCarried` included).
    public var deliveriesResumed: Int
    /// Deliveries found final (delivered or dead-lettered) after the checkpoint.
    public var deliveriesAlreadyFinal: Int
    /// The I/O backend the delivery loops use, and why (`SLUICE_IO`, detection).
    public var ioBackend: String
    /// Pending deliveries below their webhook's checkpoint, carried by `pipeline.webhooks`, queued again.
    public var deliveriesCarried: Int
    /// Carried pending deliveries not queued again: their webhook is no longer configured (removed or
    /// renamed), their triggers no longer send the event to it, or the event is gone from the log.
    public var deliveriesDropped: Int
    /// Why `pipeline.webhooks` was not used as written (damaged, stale, or `pipeline.checkpoint` moved
    /// back below it), with the file and what the start did instead; `nil` when it was.
    public var checkpointNote: String?
    /// Webhooks with more deliveries to resume than `endpoint_pending_max`: the rest of their backlog is
    /// read back from the log as they make room (per-endpoint isolation), not queued at start.
    public var webhooksSpilled: Int = 0
    /// The workflow runs recovery queued again; `nil` when the configuration has no workflow.
    public var workflows: WorkflowRecovery? = nil

    /// Checkpoints lowered because they pointed past the end of the recovered log.
    public var checkpointIncidents: [LogIncident] = []

    /// Every repair recovery made, with its file, offset and cost: the log's own (``RecoveryReport/incidents``)
    /// and the checkpoints it moved back.
    public var incidents: [LogIncident] { log.incidents + checkpointIncidents }
}
