import SluiceCore
public import SluiceStorage
import Yams

extension PipelineConfiguration {
    /// Reads a pipeline configuration from a YAML or JSON file (see ``PipelineConfiguration``): the
    /// webhooks and triggers, the `log` section (`directory`, `fsync`: `always | never | interval:MS`,
    /// `compression`: `lz4 | none`, `segment_bytes`, `segment_age_s`) and the `pipeline` section. A
    /// relative log directory is relative to the configuration file; `logDirectory` overrides it.
    /// - Throws: ``SystemCallError`` when the file cannot be read, ``ConfigurationError`` (file, line,
    ///   column and field) when it is invalid.
    public static func load(
        path: String,
        environment: [String: String],
        logDirectory: String? = nil
    ) throws -> PipelineConfiguration {
        let bytes = try readWholeFile(path: path, byteCountMax: ConfigurationFile.byteCountMax)
        let (json, marks) = try ConfigurationFile.parseTree(
            bytes,
            format: .detect(path: path, bytes: bytes),
            file: path
        )
        let triggers: TriggerConfiguration
        let webhooks: WebhookConfiguration
        do {
            triggers = try TriggerConfiguration(json: json)
            webhooks = try WebhookConfiguration(json: json, environment: environment)
        } catch {
            throw ConfigurationFile.located(error, file: path, marks: marks)
        }
        var directory = logDirectory ?? json[path: ["log", "directory"]]?.stringValue ?? "sluice-log"
        if logDirectory == nil, !directory.hasPrefix("/"), let slash = path.lastIndex(of: "/") {
            directory = String(path[...slash]) + directory
        }
        var configuration = PipelineConfiguration(log: LogConfiguration(directory: directory), triggers: triggers)
        configuration.webhooks = webhooks
        do throws(PipelineConfigurationError) {
            try configuration.read(log: json["log"], pipeline: json["pipeline"])
            try configuration.validate()
        } catch {
            throw ConfigurationFile.located(
                field: error.field,
                message: error.message,
                isKey: error.isKey,
                file: path,
                marks: marks
            )
        }
        return configuration
    }

    /// The keys of the `log` section.
    public static let logKeys = ["directory", "fsync", "compression", "segment_bytes", "segment_age_s", "frame_bytes"]
    /// The keys of the `pipeline` section.
    public static let pipelineKeys = [
        "ring_capacity", "job_queue_capacity", "outcome_queue_capacity", "wait", "delivery_shards", "connections",
        "in_flight_max", "pending_deliveries_max", "endpoint_pending_max", "request_timeout_ms", "retry_schedule_s",
        "retry_jitter_percent",
        "io", "ca_file", "circuit_breaker", "transform_concurrency", "allowed_networks", "workflow_queue_max",
    ]
    /// The keys of `pipeline.circuit_breaker`.
    public static let circuitBreakerKeys = [
        "window_s", "request_count_min", "failure_rate_percent", "open_s", "half_open_probes",
    ]

    /// The range of every integer setting of the `log` and `pipeline` sections, by its field.
    public static let integerRanges: [String: ClosedRange<Int64>] = [
        "log.segment_bytes": 16_384...(1 << 40),
        "log.frame_bytes": 4_096...(1 << 30),
        "log.segment_age_s": 1...31_536_000,
        "pipeline.ring_capacity": 2...(1 << 24),
        "pipeline.job_queue_capacity": 2...(1 << 24),
        "pipeline.outcome_queue_capacity": 2...(1 << 24),
        "pipeline.delivery_shards": 1...64,
        "pipeline.connections": 1...4_096,
        "pipeline.in_flight_max": 1...1_000_000,
        "pipeline.pending_deliveries_max": 1...100_000_000,
        "pipeline.endpoint_pending_max": 1...100_000_000,
        "pipeline.transform_concurrency": 1...256,
        "pipeline.workflow_queue_max": 1...10_000_000,
        "pipeline.request_timeout_ms": 1...3_600_000,
        "pipeline.retry_jitter_percent": 0...100,
        "pipeline.circuit_breaker.window_s": 1...86_400,
        "pipeline.circuit_breaker.request_count_min": 1...1_000_000,
        "pipeline.circuit_breaker.failure_rate_percent": 1...100,
        "pipeline.circuit_breaker.open_s": 0...86_400,
        "pipeline.circuit_breaker.half_open_probes": 1...1_000,
    ]
    /// The longest delay of `pipeline.retry_schedule_s`: 30 days.
    public static let retryDelaySecondsMax: Double = 2_592_000

    /// Applies the `log` and `pipeline` sections. Every key is known, every number in its range
    /// (``integerRanges``), and errors name the key as written in the file.
    mutating func read(log: JSONValue?, pipeline: JSONValue?) throws(PipelineConfigurationError) {
        func fail(_ field: String, _ message: String) -> PipelineConfigurationError {
            PipelineConfigurationError(field: field, message: message)
        }
        func section(
            _ value: JSONValue?,
            _ name: String,
            keys: [String]
        ) throws(PipelineConfigurationError)
            -> JSONObject?
        {
            guard let value else { return nil }
            guard let object = value.objectValue else { throw fail(name, "must be a mapping") }
            if let key = ConfigurationKeys.firstUnknownKey(in: object, known: keys) {
                var error = fail("\(name).\(key)", ConfigurationKeys.unknownKeyMessage(key, known: keys))
                error.isKey = true
                throw error
            }
            return object
        }
        func integer(_ object: JSONObject, _ name: String, _ key: String) throws(PipelineConfigurationError) -> Int? {
            guard let value = object[key] else { return nil }
            let field = "\(name).\(key)"
            guard let range = Self.integerRanges[field] else {
                preconditionFailure("\(field) has no range in PipelineConfiguration.integerRanges")
            }
            guard let number = value.int64Value, range.contains(number) else {
                throw fail(
                    field,
                    "must be an integer from \(range.lowerBound) to \(range.upperBound), not \(value.text)"
                )
            }
            return Int(number)
        }
        if let log = try section(log, "log", keys: Self.logKeys) {
            if let directory = log["directory"] {
                guard let text = directory.stringValue, !text.isEmpty else {
                    throw fail("log.directory", "must be a path (a non-empty string)")
                }
            }
            if let fsync = log["fsync"] {
                guard let text = fsync.stringValue, let policy = FsyncPolicy(parsing: text) else {
                    throw fail("log.fsync", "must be \(FsyncPolicy.syntax), not \(fsync.text)")
                }
                self.log.fsync = policy
            }
            if let compression = log["compression"] {
                switch compression.stringValue {
                case "lz4": self.log.compression = .lz4Block
                case "none": self.log.compression = .none
                default: throw fail("log.compression", "must be lz4 or none, not \(compression.text)")
                }
            }
            if let bytes = try integer(log, "log", "segment_bytes") { self.log.segmentByteCountMax = bytes }
            if let bytes = try integer(log, "log", "frame_bytes") { self.log.frameByteCountMax = bytes }
            if let seconds = try integer(log, "log", "segment_age_s") {
                self.log.segmentAgeMaxMicroseconds = Int64(seconds) * 1_000_000  // ≤ 365 days: no overflow
            }
        }
        guard let pipeline = try section(pipeline, "pipeline", keys: Self.pipelineKeys) else { return }
        if let value = try integer(pipeline, "pipeline", "ring_capacity") { ringCapacity = value }
        if let value = try integer(pipeline, "pipeline", "job_queue_capacity") { jobQueueCapacity = value }
        if let value = try integer(pipeline, "pipeline", "outcome_queue_capacity") { outcomeQueueCapacity = value }
        if let value = try integer(pipeline, "pipeline", "delivery_shards") { deliveryShardCount = value }
        if let value = try integer(pipeline, "pipeline", "connections") { connectionCountMax = value }
        if let value = try integer(pipeline, "pipeline", "in_flight_max") { inFlightMax = value }
        if let value = try integer(pipeline, "pipeline", "pending_deliveries_max") { pendingDeliveryCountMax = value }
        if let value = try integer(pipeline, "pipeline", "endpoint_pending_max") { endpointPendingMax = value }
        if let value = try integer(pipeline, "pipeline", "transform_concurrency") { transformConcurrency = value }
        if let value = try integer(pipeline, "pipeline", "workflow_queue_max") { workflowQueueMax = value }
        if let value = try integer(pipeline, "pipeline", "request_timeout_ms") {
            requestTimeoutNanoseconds = UInt64(value) * 1_000_000  // ≤ 1 hour: no overflow
        }
        if let wait = pipeline["wait"] {
            guard let kind = wait.stringValue.flatMap(RingWaitStrategyKind.init(rawValue:)) else {
                throw fail("pipeline.wait", "must be spin, yield or park, not \(wait.text)")
            }
            waitStrategy = kind
        }
        if let schedule = pipeline["retry_schedule_s"] {
            guard let list = schedule.arrayValue, (1...64).contains(list.count) else {
                throw fail("pipeline.retry_schedule_s", "must be a list of 1 to 64 delays in seconds")
            }
            var delays: [UInt64] = []
            for (position, element) in list.enumerated() {
                guard case .number(let text) = element, let seconds = Double(text), seconds >= 0,
                    seconds <= Self.retryDelaySecondsMax
                else {
                    throw fail(
                        "pipeline.retry_schedule_s[\(position)]",
                        "must be a number of seconds from 0 to \(Int(Self.retryDelaySecondsMax)) (30 days), not \(element.text)"
                    )
                }
                delays.append(UInt64((seconds * 1e9).rounded()))  // ≤ 2.6e15: no overflow
            }
            retryPolicy.delayNanoseconds = delays
        }
        if let jitter = try integer(pipeline, "pipeline", "retry_jitter_percent") { retryPolicy.jitterPercent = jitter }
        if let io = pipeline["io"] {
            guard let text = io.stringValue, text == "uring" || text == "epoll" else {
                throw fail("pipeline.io", "must be uring or epoll, not \(io.text)")
            }
            ioBackend = text
        }
        let breakerName = "pipeline.circuit_breaker"
        if let breaker = try section(pipeline["circuit_breaker"], breakerName, keys: Self.circuitBreakerKeys) {
            if let seconds = try integer(breaker, breakerName, "window_s") {
                circuitBreaker.windowNanoseconds = UInt64(seconds) * 1_000_000_000  // ≤ 1 day: no overflow
            }
            if let count = try integer(breaker, breakerName, "request_count_min") {
                circuitBreaker.requestCountMin = count
            }
            if let percent = try integer(breaker, breakerName, "failure_rate_percent") {
                circuitBreaker.failureRatePercent = percent
            }
            if let seconds = try integer(breaker, breakerName, "open_s") {
                circuitBreaker.openNanoseconds = UInt64(seconds) * 1_000_000_000  // ≤ 1 day: no overflow
            }
            if let count = try integer(breaker, breakerName, "half_open_probes") {
                circuitBreaker.halfOpenProbeCountMax = count
            }
        }
        if let networks = pipeline["allowed_networks"] {
            do throws(AllowedNetworksError) {
                allowedNetworks = try AddressPolicy.allowedNetworks(json: networks)
            } catch {
                throw fail(error.field("pipeline.allowed_networks"), error.message)
            }
        }
        if let caFile = pipeline["ca_file"] {
            guard let text = caFile.stringValue, !text.isEmpty else {
                throw fail("pipeline.ca_file", "must be a path (a non-empty string)")
            }
            self.caFile = text
        }
    }
}

extension JSONValue {
    /// The value as an error message shows it: a number or string as written (strings quoted and cut at
    /// 40 characters), a list or mapping by its kind (also for the server's configuration errors).
    package var text: String {
        switch self {
        case .null: "null"
        case .bool(let value): String(value)
        case .number(let text): text.count > 40 ? String(text.prefix(40)) + "…" : text
        case .string(let text): "'" + (text.count > 40 ? String(text.prefix(40)) + "…" : text) + "'"
        case .array: "a list"
        case .object: "a mapping"
        }
    }
}

extension FsyncPolicy {
    /// The longest `interval:MILLISECONDS`: one hour.
    public static let intervalMillisecondsMax = 3_600_000
    /// What ``init(parsing:)`` takes, for error messages.
    public static let syntax = "always, never or interval:MILLISECONDS (1 to \(intervalMillisecondsMax))"

    /// `always`, `never` or `interval:MILLISECONDS` with 1 ≤ MILLISECONDS ≤ ``intervalMillisecondsMax`` (as
    /// `sluice log append --fsync` takes it).
    public init?(parsing text: String) {
        switch text {
        case "always": self = .always
        case "never": self = .never
        default:
            guard text.hasPrefix("interval:"), let milliseconds = Int(text.dropFirst("interval:".count)),
                (1...Self.intervalMillisecondsMax).contains(milliseconds)
            else { return nil }
            self = .interval(milliseconds: milliseconds)
        }
    }
}
