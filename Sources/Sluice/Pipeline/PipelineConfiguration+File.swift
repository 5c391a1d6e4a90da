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
        func located(_ field: String, _ message: String) -> ConfigurationError {
            let mark = ConfigurationFile.nearestMark(field, marks)
            return ConfigurationError(
                file: path,
                line: mark?.line,
                column: mark?.column,
                field: field,
                message: message
            )
        }
        let triggers: TriggerConfiguration
        let webhooks: WebhookConfiguration
        do {
            triggers = try TriggerConfiguration(json: json)
            webhooks = try WebhookConfiguration(json: json, environment: environment)
        } catch {
            throw located(error.path, error.message)
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
            throw located(error.field, error.message)
        }
        return configuration
    }

    /// Applies the `log` and `pipeline` sections.
    mutating func read(log: JSONValue?, pipeline: JSONValue?) throws(PipelineConfigurationError) {
        func fail(_ field: String, _ message: String) -> PipelineConfigurationError {
            PipelineConfigurationError(field: field, message: message)
        }
        func section(
            _ value: JSONValue?,
            _ name: String,
            keys: Set<String>
        ) throws(PipelineConfigurationError)
            -> JSONObject?
        {
            guard let value else { return nil }
            guard let object = value.objectValue else { throw fail(name, "must be a mapping") }
            for member in object.members where !keys.contains(member.key) {
                throw fail("\(name).\(member.key)", "unknown setting (known: \(keys.sorted().joined(separator: ", ")))")
            }
            return object
        }
        func integer(_ object: JSONObject, _ name: String, _ key: String) throws(PipelineConfigurationError) -> Int? {
            guard let value = object[key] else { return nil }
            guard let number = value.int64Value, number >= 0 else {
                throw fail("\(name).\(key)", "must be a non-negative integer")
            }
            return Int(number)
        }
        if let log = try section(
            log,
            "log",
            keys: ["directory", "fsync", "compression", "segment_bytes", "segment_age_s", "frame_bytes"]
        ) {
            if let fsync = log["fsync"] {
                guard let text = fsync.stringValue, let policy = FsyncPolicy(parsing: text) else {
                    throw fail("log.fsync", "must be always, never or interval:MILLISECONDS")
                }
                self.log.fsync = policy
            }
            if let compression = log["compression"] {
                switch compression.stringValue {
                case "lz4": self.log.compression = .lz4Block
                case "none": self.log.compression = .none
                default: throw fail("log.compression", "must be lz4 or none")
                }
            }
            if let bytes = try integer(log, "log", "segment_bytes") { self.log.segmentByteCountMax = bytes }
            if let bytes = try integer(log, "log", "frame_bytes") { self.log.frameByteCountMax = bytes }
            if let seconds = try integer(log, "log", "segment_age_s") {
                self.log.segmentAgeMaxMicroseconds = Int64(seconds) * 1_000_000
            }
        }
        let keys: Set<String> = [
            "ring_capacity", "job_queue_capacity", "outcome_queue_capacity", "wait", "delivery_shards", "connections",
            "in_flight_max", "pending_deliveries_max", "request_timeout_ms", "retry_schedule_s",
            "retry_jitter_percent", "io", "ca_file", "circuit_breaker", "transform_concurrency", "allowed_networks",
        ]
        guard let pipeline = try section(pipeline, "pipeline", keys: keys) else { return }
        if let value = try integer(pipeline, "pipeline", "ring_capacity") { ringCapacity = value }
        if let value = try integer(pipeline, "pipeline", "job_queue_capacity") { jobQueueCapacity = value }
        if let value = try integer(pipeline, "pipeline", "outcome_queue_capacity") { outcomeQueueCapacity = value }
        if let value = try integer(pipeline, "pipeline", "delivery_shards") { deliveryShardCount = value }
        if let value = try integer(pipeline, "pipeline", "connections") { connectionCountMax = value }
        if let value = try integer(pipeline, "pipeline", "in_flight_max") { inFlightMax = value }
        if let value = try integer(pipeline, "pipeline", "pending_deliveries_max") { pendingDeliveryCountMax = value }
        if let value = try integer(pipeline, "pipeline", "transform_concurrency") { transformConcurrency = value }
        if let value = try integer(pipeline, "pipeline", "request_timeout_ms") {
            requestTimeoutNanoseconds = UInt64(value) * 1_000_000
        }
        if let wait = pipeline["wait"] {
            guard let kind = wait.stringValue.flatMap(RingWaitStrategyKind.init(rawValue:)) else {
                throw fail("pipeline.wait", "must be spin, yield or park")
            }
            waitStrategy = kind
        }
        if let schedule = pipeline["retry_schedule_s"] {
            guard let list = schedule.arrayValue, !list.isEmpty else {
                throw fail("pipeline.retry_schedule_s", "must be a non-empty list of seconds")
            }
            var delays: [UInt64] = []
            for (position, element) in list.enumerated() {
                guard case .number(let text) = element, let seconds = Double(text), seconds >= 0 else {
                    throw fail("pipeline.retry_schedule_s[\(position)]", "must be a non-negative number of seconds")
                }
                delays.append(UInt64(seconds * 1e9))
            }
            retryPolicy.delayNanoseconds = delays
        }
        if let jitter = try integer(pipeline, "pipeline", "retry_jitter_percent") { retryPolicy.jitterPercent = jitter }
        if let io = pipeline["io"] {
            guard let text = io.stringValue else { throw fail("pipeline.io", "must be uring or epoll") }
            ioBackend = text
        }
        if let breaker = try section(
            pipeline["circuit_breaker"],
            "pipeline.circuit_breaker",
            keys: ["window_s", "request_count_min", "failure_rate_percent", "open_s", "half_open_probes"]
        ) {
            let name = "pipeline.circuit_breaker"
            if let seconds = try integer(breaker, name, "window_s") {
                circuitBreaker.windowNanoseconds = UInt64(seconds) * 1_000_000_000
            }
            if let count = try integer(breaker, name, "request_count_min") { circuitBreaker.requestCountMin = count }
            if let percent = try integer(breaker, name, "failure_rate_percent") {
                circuitBreaker.failureRatePercent = percent
            }
            if let seconds = try integer(breaker, name, "open_s") {
                circuitBreaker.openNanoseconds = UInt64(seconds) * 1_000_000_000
            }
            if let count = try integer(breaker, name, "half_open_probes") {
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
                throw fail("pipeline.ca_file", "must be a path")
            }
            self.caFile = text
        }
    }
}

extension FsyncPolicy {
    /// `always`, `never` or `interval:MILLISECONDS` (as `sluice log append --fsync` takes it).
    public init?(parsing text: String) {
        switch text {
        case "always": self = .always
        case "never": self = .never
        default:
            guard text.hasPrefix("interval:"), let milliseconds = Int(text.dropFirst("interval:".count)),
                milliseconds > 0
            else { return nil }
            self = .interval(milliseconds: milliseconds)
        }
    }
}
