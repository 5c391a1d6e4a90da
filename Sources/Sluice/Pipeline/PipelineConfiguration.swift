public import SluiceCore
public import SluiceStorage

/// Everything a ``Pipeline`` runs with: the log, the webhooks and triggers, and the bounds of every
/// ring and queue (ARCHITECTURE.md §7: every buffer has a configured maximum).
///
/// Built in Swift, or read from the same YAML/JSON file as the triggers and webhooks with
/// ``load(path:environment:)``, whose optional `log` and `pipeline` sections set the rest:
///
/// ```yaml
/// default_branch: main
/// webhooks: [...]          # as in "Webhooks and signing"
/// triggers: [...]          # as in "Triggers"
/// log: {directory: /var/lib/sluice, fsync: always, compression: lz4}
/// pipeline: {ring_capacity: 16384, wait: park, delivery_shards: 1, connections: 64,
///            request_timeout_ms: 10000, retry_schedule_s: [0, 5, 300, 1800, 7200, 18000, 36000, 36000],
///            retry_jitter_percent: 10, in_flight_max: 4096, pending_deliveries_max: 1000000,
///            transform_concurrency: 4, allowed_networks: ["10.20.0.0/16"]}
/// ```
public struct PipelineConfiguration: Sendable {
    /// The segment log: the source of truth (events, delivery outcomes).
    public var log: LogConfiguration
    /// Webhooks (their subscription fields) and explicit triggers; ``TriggerConfiguration/allTriggers``
    /// is what the index is compiled from.
    public var triggers: TriggerConfiguration
    /// The full webhook definitions (URL, kind, keys, headers, transform), by name.
    public var webhooks: WebhookConfiguration
    /// Slots of the event ring (a power of two). A full ring is backpressure for `emit`.
    public var ringCapacity = 16_384
    /// Delivery jobs queued from the matcher to each delivery shard (a power of two).
    public var jobQueueCapacity = 16_384
    /// Outcome records queued from each delivery shard to the journaler (a power of two).
    public var outcomeQueueCapacity = 16_384
    /// How idle stages wait (`park` costs nothing while idle; `spin` and `yield` trade a core for latency).
    public var waitStrategy: RingWaitStrategyKind = .park
    /// Delivery loops (each with its own I/O loop thread); webhooks are assigned by endpoint.
    public var deliveryShardCount = 1
    /// Keep-alive connections per endpoint per shard.
    public var connectionCountMax = 64
    /// Requests in flight per shard (sent, response not yet handled); more wait in the shard.
    public var inFlightMax = 4_096
    /// Transform commands run at once per delivery loop (on threads of their own, never on the loop).
    public var transformConcurrency = 4
    /// Deliveries a shard holds at once (waiting for a retry, queued or in flight); when reached the
    /// shard stops taking jobs, which backs up to the matcher and then to `emit`.
    public var pendingDeliveryCountMax = 1_000_000
    /// From sending a request to its complete response, including waiting for a connection.
    public var requestTimeoutNanoseconds: UInt64 = 10_000_000_000
    /// The retry schedule, jitter and dead-letter rules.
    public var retryPolicy = RetryPolicy()
    /// When an endpoint's circuit opens (due attempts then wait without using an attempt) and recovers.
    public var circuitBreaker = CircuitBreakerPolicy()
    /// Bounds on each event's size and shape.
    public var eventLimits = EventLimits()
    /// `uring` or `epoll`; `nil` detects (and honours `SLUICE_IO`).
    public var ioBackend: String?
    /// A CA file for HTTPS endpoints (`nil`: the system store).
    public var caFile: String?
    /// Networks deliveries may connect to although the SSRF guard refuses them by default (loopback,
    /// private, link-local, metadata, …; ``AddressPolicy``). Each webhook's own `allowed_networks` adds to
    /// these. Empty by default: the guard is on.
    public var allowedNetworks: [IPNetwork] = []
    /// The shortest Proactive window (Prefect's 10 s, which the configuration file enforces). Only tests
    /// in this package lower it, to see Proactive windows end without waiting 10 s.
    package var proactiveWithinMinimumSeconds: Double = 10

    /// With the default event limits (1.5 MB events), a log configuration whose frames are smaller than
    /// the largest event gets 2 MiB frames, so every valid event fits in one frame.
    public init(log: LogConfiguration, triggers: TriggerConfiguration = TriggerConfiguration()) {
        var log = log
        if log.frameByteCountMax < EventLimits().eventByteCountMax + Self.recordOverheadByteCount {
            log.frameByteCountMax = 2 << 20
        }
        self.log = log
        self.triggers = triggers
        webhooks = WebhookConfiguration()
        webhooks.defaultBranch = triggers.defaultBranch
    }

    /// Checks every bound, that each trigger action names a configured webhook, that each webhook URL can
    /// be sent to, and that stateful triggers have unique names.
    public func validate() throws(PipelineConfigurationError) {
        func fail(_ field: String, _ message: String) -> PipelineConfigurationError {
            PipelineConfigurationError(field: field, message: message)
        }
        for (field, value) in [
            ("pipeline.ring_capacity", ringCapacity), ("pipeline.job_queue_capacity", jobQueueCapacity),
            ("pipeline.outcome_queue_capacity", outcomeQueueCapacity),
        ] where value < 2 || value.nonzeroBitCount != 1 || value > 1 << 24 {
            throw fail(field, "must be a power of two from 2 to 16777216, not \(value)")
        }
        guard (1...64).contains(deliveryShardCount) else { throw fail("pipeline.delivery_shards", "must be 1 to 64") }
        guard (1...4096).contains(connectionCountMax) else {
            throw fail("pipeline.connections", "must be 1 to 4096")
        }
        guard (1...1_000_000).contains(inFlightMax) else {
            throw fail("pipeline.in_flight_max", "must be 1 to 1000000")
        }
        guard (1...256).contains(transformConcurrency) else {
            throw fail("pipeline.transform_concurrency", "must be 1 to 256")
        }
        guard pendingDeliveryCountMax >= inFlightMax else {
            throw fail("pipeline.pending_deliveries_max", "must be at least in_flight_max (\(inFlightMax))")
        }
        guard requestTimeoutNanoseconds >= 1_000_000 else {
            throw fail("pipeline.request_timeout_ms", "must be at least 1 ms")
        }
        do {
            try retryPolicy.validate()
        } catch {
            throw fail("pipeline.retry_schedule_s", "\(error)")
        }
        do {
            try circuitBreaker.validate()
        } catch {
            throw fail("pipeline.\(error.field)", error.message)
        }
        do {
            try log.validate()
        } catch {
            throw fail("log", error.message)
        }
        guard eventLimits.eventByteCountMax + Self.recordOverheadByteCount <= log.frameByteCountMax else {
            throw fail(
                "log.frame_bytes",
                "must hold the largest event (\(eventLimits.eventByteCountMax) bytes + \(Self.recordOverheadByteCount)): an accepted event must fit in one frame"
            )
        }
        if let ioBackend, ioBackend != "uring", ioBackend != "epoll" {
            throw fail("pipeline.io", "must be uring or epoll")
        }
        var names: Set<String> = []
        for (position, webhook) in webhooks.webhooks.enumerated() {
            names.insert(webhook.name)
            do {
                _ = try HTTPURL(webhook.url)
            } catch {
                throw fail("webhooks[\(position)].url", error.description)
            }
        }
        var statefulNames: [String: Int] = [:]
        for (position, trigger) in triggers.allTriggers.enumerated() {
            for (actionPosition, action) in trigger.actions.enumerated()
            where action.kind == .webhook && !names.contains(action.reference) {
                throw fail(
                    "triggers[\(position)].actions[\(actionPosition)]",
                    "names webhook '\(action.reference)', which is not configured"
                )
            }
            // A stateful trigger's outcome events name it (`sluice.trigger.<name>`): the name must be unique.
            if !TriggerStateMachine.isStateless(trigger), let first = statefulNames[trigger.name] {
                throw fail(
                    "triggers[\(position)].name",
                    "stateful trigger '\(trigger.name)' has the same name as triggers[\(first)]; its fired/resolved events name it, so stateful trigger names must be unique"
                )
            }
            if !TriggerStateMachine.isStateless(trigger) { statefulNames[trigger.name] = position }
        }
    }
}

extension PipelineConfiguration {
    /// A record's header in a frame (FORMAT.md "Records").
    static let recordOverheadByteCount = 16
}

/// A pipeline setting that is out of bounds or inconsistent, and which field.
public struct PipelineConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String
    public var description: String { "\(field): \(message)" }
}
