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
    /// Workflow firings queued (waiting or between retries) at most; more make the matcher wait
    /// (`pipeline.workflow_queue_max`). Each costs its triggering event's bytes.
    public var workflowQueueMax = 65_536
    /// Deliveries a shard holds at once (waiting for a retry, queued or in flight); when reached the
    /// shard stops taking jobs, which backs up to the matcher and then to `emit`.
    public var pendingDeliveryCountMax = 1_000_000
    /// Deliveries one webhook (one endpoint URL) holds in memory at most — queued to its shard, ready, in
    /// flight or waiting for a retry — and at most a quarter of ``pendingDeliveryCountMax``. Past it, the
    /// webhook's new deliveries stay in the log and are read back as it makes room (the log is the buffer),
    /// so a slow or dead endpoint never fills the shard for the others. The default is above what one
    /// healthy endpoint holds at saturation (the job queue and `in_flight_max` ahead).
    public var endpointPendingMax = 32_768
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
    /// The generation of ``webhooks`` and ``triggers``: 0 for a configuration file's, else the generation of
    /// the configuration change record they were restored from (``ConfigurationRecords``). Each
    /// reconfiguration's record carries the next one.
    public var configurationGeneration = 0
    /// The shortest Proactive window (Prefect's 10 s, which the configuration file enforces). Only tests
    /// in this package lower it, to see Proactive windows end without waiting 10 s.
    package var proactiveWithinMinimumSeconds: Double = 10
    /// The pipeline's internal bounds and cadences (batch sizes, linger, checkpoint cadence, …), each named
    /// with its unit and validated with the rest; not keys of the configuration file.
    package var limits = PipelineLimits()

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
        for (field, value) in [
            ("pipeline.delivery_shards", deliveryShardCount), ("pipeline.connections", connectionCountMax),
            ("pipeline.in_flight_max", inFlightMax), ("pipeline.transform_concurrency", transformConcurrency),
            ("pipeline.pending_deliveries_max", pendingDeliveryCountMax),
            ("pipeline.endpoint_pending_max", endpointPendingMax), ("pipeline.workflow_queue_max", workflowQueueMax),
        ] {
            let range = Self.integerRanges[field]!  // every field listed has a range
            guard range.contains(Int64(value)) else {
                throw fail(field, "must be from \(range.lowerBound) to \(range.upperBound), not \(value)")
            }
        }
        guard pendingDeliveryCountMax >= inFlightMax else {
            throw fail("pipeline.pending_deliveries_max", "must be at least in_flight_max (\(inFlightMax))")
        }
        guard (1_000_000...3_600_000_000_000).contains(requestTimeoutNanoseconds) else {
            throw fail("pipeline.request_timeout_ms", "must be from 1 to 3600000 (1 ms to 1 hour)")
        }
        do {
            try retryPolicy.validate()
        } catch {
            throw fail(Self.fileField(of: error.field), error.message)
        }
        do {
            try circuitBreaker.validate()
        } catch {
            throw fail(Self.fileField(of: error.field), error.message)
        }
        guard log.segmentByteCountMax >= 4 * log.frameByteCountMax else {
            throw fail(
                "log.segment_bytes",
                "must be at least 4 × log.frame_bytes (\(4 * log.frameByteCountMax) bytes), not \(log.segmentByteCountMax): a segment holds at least 4 frames"
            )
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
        do {
            try limits.validate()
        } catch {
            throw fail("limits.\(error.limit)", error.message)
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

    /// The configuration file's key for a field of the delivery policies' own errors (their names are the
    /// Swift properties'): an error names the key the user wrote.
    static func fileField(of policyField: String) -> String {
        switch policyField {
        case "retry.delays": "pipeline.retry_schedule_s"
        case "retry.jitter_percent": "pipeline.retry_jitter_percent"
        case "circuit_breaker.window": "pipeline.circuit_breaker.window_s"
        case "circuit_breaker.open": "pipeline.circuit_breaker.open_s"
        case "circuit_breaker.half_open_probe_count_max": "pipeline.circuit_breaker.half_open_probes"
        default: "pipeline." + policyField
        }
    }
}

/// A pipeline setting that is out of bounds or inconsistent, and which field.
public struct PipelineConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String
    /// The error is about the key itself (an unknown key), not its value.
    public var isKey = false
    public var description: String { "\(field): \(message)" }
}
