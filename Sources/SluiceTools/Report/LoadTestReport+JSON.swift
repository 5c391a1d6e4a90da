extension LoadTestReport {
    /// The report's JSON `format` value.
    public static let jsonFormat = "sluice-load-test-report"
    /// The report's JSON `version`; bumped when a key changes meaning or disappears.
    public static let jsonVersion = 1

    /// The report as one compact JSON object with stable snake_case keys (docs/load-testing.md, "Load-test
    /// report"). Every figure is a JSON number; latencies are integer nanoseconds (`…_ns`), rates
    /// are per second; a missing target is `null`.
    public func json() -> String {
        jsonValue().encodedString() + "\n"
    }

    /// The report as a JSON tree (what ``json()`` encodes).
    public func jsonValue() -> JSONValue {
        let failedAttempts = JSONObject(
            DeliveryFailureClass.allCases.map { .init($0.rawValue, .integer(counters.failedAttempts($0))) }
        )
        let counterObject: JSONObject = [
            "events_emitted": .integer(counters.eventsEmitted),
            "events_accepted": .integer(counters.eventsAccepted),
            "events_backpressured": .integer(counters.eventsBackpressured),
            "events_invalid": .integer(counters.eventsInvalid),
            "event_bytes": .integer(counters.eventByteCount),
            "matched_pairs": .integer(counters.matchedPairs),
            "deliveries_succeeded": .integer(counters.deliveriesSucceeded),
            "deliveries_retried": .integer(counters.deliveriesRetried),
            "deliveries_dead_lettered": .integer(counters.deliveriesDeadLettered),
            "deliveries_unfinished": .integer(deliveriesUnfinished),
            "request_bytes": .integer(counters.requestByteCount),
            "failed_attempts": .object(failedAttempts),
        ]
        let root: JSONObject = [
            "format": .string(Self.jsonFormat),
            "version": .integer(Self.jsonVersion),
            "configuration": .object(configurationJSON()),
            "elapsed_ns": .integer(elapsedNanoseconds),
            "counters": .object(counterObject),
            "events_accepted_per_second": Self.number(eventsAcceptedPerSecond),
            "deliveries_per_second": Self.number(deliveriesPerSecond),
            "end_to_end": .object(Self.latencyJSON(endToEnd, distribution: endToEndDistribution)),
            "stages": .array(stages.map(Self.stageJSON)),
            "triggers": .array(
                triggers.map { .object(["name": .string($0.name), "latency": .object(Self.latencyJSON($0.latency))]) }
            ),
            "time_series": .array(timeSeries.map(Self.secondJSON)),
            "latency_overflow_count": .integer(latencyOverflowCount),
            "time_series_overflow_count": .integer(timeSeriesOverflowCount),
        ]
        return .object(root)
    }

    func configurationJSON() -> JSONObject {
        [
            "fixture": .string(configuration.fixture),
            "event_count": .integer(configuration.eventCount),
            "rate_target": configuration.rateTarget.map(Self.number) ?? .null,
            "duration_target_seconds": configuration.durationTargetSeconds.map(Self.number) ?? .null,
            "trigger_count": .integer(configuration.triggerCount),
            "webhook_count": .integer(configuration.webhookCount),
            "io_backend": .string(configuration.ioBackend),
        ]
    }

    static func latencyJSON(_ latency: LatencySummary, distribution: [PercentilePoint]? = nil) -> JSONObject {
        var object: JSONObject = [
            "count": .integer(latency.count),
            "min_ns": .integer(latency.minNanoseconds),
            "p50_ns": .integer(latency.p50Nanoseconds),
            "p90_ns": .integer(latency.p90Nanoseconds),
            "p99_ns": .integer(latency.p99Nanoseconds),
            "p999_ns": .integer(latency.p999Nanoseconds),
            "max_ns": .integer(latency.maxNanoseconds),
            "mean_ns": number(latency.meanNanoseconds),
        ]
        if let distribution {
            let points: [JSONValue] = distribution.map {
                .object(["percentile": number($0.percentile), "ns": .integer($0.nanoseconds)])
            }
            object.members.append(.init("distribution", .array(points)))
        }
        return object
    }

    static func stageJSON(_ stage: StageSummary) -> JSONValue {
        .object([
            "name": .string(stage.stage.name),
            "label": .string(stage.stage.label),
            "per_second": number(stage.perSecond),
            "latency": .object(latencyJSON(stage.latency, distribution: stage.distribution)),
        ])
    }

    static func secondJSON(_ sample: SecondSample) -> JSONValue {
        .object([
            "second": .integer(sample.second),
            "events_accepted": .integer(sample.eventsAccepted),
            "deliveries_succeeded": .integer(sample.deliveriesSucceeded),
            "p99_ns": .integer(sample.p99Nanoseconds),
        ])
    }

    /// A finite double as a JSON number (Swift's shortest round-trip text is valid JSON); `null`
    /// otherwise, which the report never produces (rates over an empty run are 0).
    static func number(_ value: Double) -> JSONValue {
        guard value.isFinite else { return .null }
        return .number(value.description)
    }
}
