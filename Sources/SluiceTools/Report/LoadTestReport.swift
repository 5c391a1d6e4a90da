internal import Histogram

/// The result of a load test (`sluice replay`): what ran, what happened, and how long it took,
/// merged from the run's ``LatencyRecorder``s. Immutable once built.
///
/// Render it with ``text(topTriggerCount:)``, ``json()`` or ``html(topTriggerCount:)``; the
/// "Load-test report" section of docs/load-testing.md explains every figure and JSON key.
///
/// Immutable and `Sendable`: safe to share between threads.
public struct LoadTestReport: Sendable, Equatable {
    /// What was run, as the report's header states it.
    public struct Configuration: Sendable, Equatable {
        /// The fixture's path or name.
        public var fixture: String
        /// Events in the fixture (or to be replayed).
        public var eventCount: Int
        /// Target emit rate in events per second; `nil` replays as fast as the pipeline takes them.
        public var rateTarget: Double?
        /// Requested run length; `nil` stops when the fixture is exhausted and drained.
        public var durationTarget: Duration?
        /// Triggers configured.
        public var triggerCount: Int
        /// Webhooks configured.
        public var webhookCount: Int
        /// The delivery I/O backend (`io_uring` or `epoll`).
        public var ioBackend: String

        public init(
            fixture: String,
            eventCount: Int,
            rateTarget: Double?,
            durationTarget: Duration?,
            triggerCount: Int,
            webhookCount: Int,
            ioBackend: String
        ) {
            self.fixture = fixture
            self.eventCount = eventCount
            self.rateTarget = rateTarget
            self.durationTarget = durationTarget
            self.triggerCount = triggerCount
            self.webhookCount = webhookCount
            self.ioBackend = ioBackend
        }

        /// ``durationTarget`` in seconds (JSON `duration_target_seconds`).
        public var durationTargetSeconds: Double? {
            durationTarget.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
        }
    }

    /// Percentiles of one histogram, in nanoseconds (0 everywhere when `count` is 0).
    public struct LatencySummary: Sendable, Equatable {
        /// Samples recorded; the percentiles are HDR values (highest equivalent of the bucket).
        public var count: UInt64
        public var minNanoseconds: UInt64
        public var p50Nanoseconds: UInt64
        public var p90Nanoseconds: UInt64
        public var p99Nanoseconds: UInt64
        public var p999Nanoseconds: UInt64
        public var maxNanoseconds: UInt64
        public var meanNanoseconds: Double
    }

    /// One point of an HDR "latency by percentile" curve: `percentile` % of samples took at most
    /// `nanoseconds` (within the histogram's precision).
    public struct PercentilePoint: Sendable, Equatable {
        public var percentile: Double
        public var nanoseconds: UInt64
    }

    /// One stage: how many passed it, how fast, and its latency.
    public struct StageSummary: Sendable, Equatable {
        public var stage: LoadTestStage
        /// Events (journal, match) or requests (send, response) that passed the stage per second of
        /// the run.
        public var perSecond: Double
        public var latency: LatencySummary
        public var distribution: [PercentilePoint]
    }

    /// Emit → 2xx of the deliveries one trigger caused.
    public struct TriggerSummary: Sendable, Equatable {
        public var name: String
        public var latency: LatencySummary
    }

    /// One second of the run (by when things happened).
    public struct SecondSample: Sendable, Equatable {
        /// Seconds since the start (0-based).
        public var second: Int
        public var eventsAccepted: UInt64
        public var deliveriesSucceeded: UInt64
        /// Emit → 2xx p99 of the deliveries that completed in this second (2 significant digits);
        /// 0 when none did.
        public var p99Nanoseconds: UInt64
    }

    public let configuration: Configuration
    /// Wall length of the run: end minus start, monotonic nanoseconds.
    public let elapsedNanoseconds: UInt64
    public let counters: LoadTestCounters
    /// Accepted events per second over the run.
    public let eventsAcceptedPerSecond: Double
    /// Successful deliveries (2xx) per second over the run.
    public let deliveriesPerSecond: Double
    /// Emit → 2xx over all deliveries.
    public let endToEnd: LatencySummary
    public let endToEndDistribution: [PercentilePoint]
    /// In ``LoadTestStage`` order.
    public let stages: [StageSummary]
    /// Triggers that caused at least one delivery, most deliveries first (then by name).
    public let triggers: [TriggerSummary]
    public let timeSeries: [SecondSample]
    /// Latencies clamped to the layout's maximum.
    public let latencyOverflowCount: UInt64
    /// Samples after the time series' last second.
    public let timeSeriesOverflowCount: UInt64
    /// The histograms behind ``triggers``, same order: renderers merge the tail into "others".
    let triggerHistograms: [Histogram<UInt32>]

    /// Merges `recorders` (one per thread) and summarizes them over `[startNanoseconds, endNanoseconds)`.
    /// - Parameter startNanoseconds: where the rates' window starts (the replayer passes its first emit,
    ///   so the pipeline's start-up is not counted); `nil` is the layout's start. The time series is
    ///   always numbered from the layout's start.
    /// - Precondition: `recorders` is not empty and they share one layout.
    /// - Complexity: O(recorders × histogram sizes).
    public init(
        configuration: Configuration,
        recorders: [LatencyRecorder],
        startNanoseconds: UInt64? = nil,
        endNanoseconds: UInt64
    ) {
        precondition(!recorders.isEmpty, "a report needs at least one recorder")
        var merged = recorders[0]
        for recorder in recorders.dropFirst() { merged.merge(recorder) }
        let start = startNanoseconds ?? merged.layout.startNanoseconds
        let elapsed = endNanoseconds >= start ? endNanoseconds - start : 0
        let seconds = Double(elapsed) / 1e9
        func perSecond(_ count: UInt64) -> Double { seconds > 0 ? Double(count) / seconds : 0 }

        self.configuration = configuration
        elapsedNanoseconds = elapsed
        counters = merged.counters
        eventsAcceptedPerSecond = perSecond(merged.counters.eventsAccepted)
        deliveriesPerSecond = perSecond(merged.counters.deliveriesSucceeded)
        endToEnd = LatencySummary(merged.endToEnd)
        endToEndDistribution = Self.distribution(merged.endToEnd)
        stages = LoadTestStage.allCases.map { stage in
            let histogram = merged.stages[stage.rawValue]
            return StageSummary(
                stage: stage,
                perSecond: perSecond(histogram.totalCount),
                latency: LatencySummary(histogram),
                distribution: Self.distribution(histogram)
            )
        }
        let ranked = zip(merged.layout.triggerNames, merged.triggers)
            .filter { $0.1.totalCount > 0 }
            .sorted { ($0.1.totalCount, $1.0) > ($1.1.totalCount, $0.0) }
        triggers = ranked.map { TriggerSummary(name: $0.0, latency: LatencySummary($0.1)) }
        triggerHistograms = ranked.map(\.1)
        let secondCount = min(merged.seconds.count, Int((elapsed + 999_999_999) / 1_000_000_000))
        timeSeries = (0..<secondCount).map { second in
            let histogram = merged.seconds[second]
            return SecondSample(
                second: second,
                eventsAccepted: merged.secondAccepted[second],
                deliveriesSucceeded: merged.secondDelivered[second],
                p99Nanoseconds: histogram.totalCount == 0 ? 0 : histogram.valueAtPercentile(99)
            )
        }
        latencyOverflowCount = merged.latencyOverflowCount
        timeSeriesOverflowCount = merged.timeSeriesOverflowCount
    }

    /// Emit → 2xx of the triggers after the first `rankCount` in ``triggers``, merged; `nil` if none.
    func otherTriggersLatency(after rankCount: Int) -> (triggerCount: Int, latency: LatencySummary)? {
        guard triggerHistograms.count > rankCount else { return nil }
        var merged = triggerHistograms[rankCount]
        for histogram in triggerHistograms.dropFirst(rankCount + 1) { merged.add(histogram) }
        return (triggerHistograms.count - rankCount, LatencySummary(merged))
    }

    /// The HDR percentile iteration (5 ticks per half distance to 100%), as plotted.
    static func distribution<Count>(_ histogram: Histogram<Count>) -> [PercentilePoint] {
        guard histogram.totalCount > 0 else { return [] }
        var points: [PercentilePoint] = []
        for step in histogram.percentiles(ticksPerHalfDistance: 5) {
            points.append(PercentilePoint(percentile: step.percentileLevelIteratedTo, nanoseconds: step.value))
        }
        return points
    }
}

extension LoadTestReport.LatencySummary {
    init<Count>(_ histogram: Histogram<Count>) {
        count = histogram.totalCount
        guard count > 0 else {
            (minNanoseconds, p50Nanoseconds, p90Nanoseconds, p99Nanoseconds) = (0, 0, 0, 0)
            (p999Nanoseconds, maxNanoseconds, meanNanoseconds) = (0, 0, 0)
            return
        }
        minNanoseconds = histogram.min
        p50Nanoseconds = histogram.valueAtPercentile(50)
        p90Nanoseconds = histogram.valueAtPercentile(90)
        p99Nanoseconds = histogram.valueAtPercentile(99)
        p999Nanoseconds = histogram.valueAtPercentile(99.9)
        maxNanoseconds = histogram.maxRecorded
        meanNanoseconds = histogram.mean
    }
}
