internal import Histogram

/// HDR latency histograms and counters for one thread of a load test (`sluice replay`).
///
/// Each thread that observes something (the replayer calling `emit`, the journaler, the matcher,
/// each delivery loop) owns its own recorder and records into it without locks; when the run is
/// over the recorders are handed back (they are `Sendable` values) and ``LoadTestReport`` merges
/// them. All recorders of one run must share one ``Layout``.
///
/// Every histogram is preallocated at `init` for the layout's triggers and time-series seconds, so
/// recording allocates nothing. Move a recorder into its thread rather than keeping a copy: the
/// first write to a histogram whose storage a copy shares pays copy-on-write once.
/// Times are monotonic nanoseconds on one clock for the whole run (`monotonicNanoseconds()`);
/// latencies above ``Layout/latencyNanosecondsMax`` are recorded as the maximum and counted in
/// ``latencyOverflowCount``.
///
/// How the pipeline uses it:
/// ```swift
/// let layout = LatencyRecorder.Layout(triggerNames: names, startNanoseconds: monotonicNanoseconds())
/// var recorder = LatencyRecorder(layout: layout)          // one per thread, moved into it
/// let trigger = recorder.triggerIndex(named: "devices")    // at setup, not per delivery
/// recorder.recordStage(.response, fromNanoseconds: sentNanoseconds, toNanoseconds: now)
/// recorder.recordDelivered(triggerIndex: trigger, emitNanoseconds: emitted, responseNanoseconds: now, attempt: 1)
/// // when the run is over, each thread hands its recorder back:
/// let report = LoadTestReport(configuration: summary, recorders: all, endNanoseconds: monotonicNanoseconds())
/// print(report.text())
/// ```
///
/// Not thread-safe: owned by one thread at a time.
public struct LatencyRecorder: Sendable {
    /// What every recorder of a run agrees on: triggers, clock origin and histogram bounds.
    public struct Layout: Sendable, Equatable {
        /// The configured triggers' names; trigger latencies are recorded by index into this list.
        public var triggerNames: [String]
        /// Monotonic nanoseconds when the run started: second 0 of the time series.
        public var startNanoseconds: UInt64
        /// Highest latency tracked exactly; larger ones are clamped to it.
        public var latencyNanosecondsMax: UInt64
        /// Seconds of per-second time series kept (throughput and p99); later samples still count in
        /// the histograms and counters but not in the series. Each second costs about 10 KiB.
        public var timeSeriesSecondCountMax: Int
        /// Significant digits of the per-trigger histograms (1…5). The overall and per-stage
        /// histograms always keep 3. Per-trigger histograms resolve 1 µs and cost about 10 KiB each
        /// at 2 digits and 70 KiB at 3, so 1,000 triggers cost 10 MiB or 70 MiB per recorder.
        public var triggerSignificantDigits: Int

        public init(
            triggerNames: [String],
            startNanoseconds: UInt64,
            latencyNanosecondsMax: UInt64 = 60_000_000_000,
            timeSeriesSecondCountMax: Int = 600,
            triggerSignificantDigits: Int = 2
        ) {
            self.triggerNames = triggerNames
            self.startNanoseconds = startNanoseconds
            self.latencyNanosecondsMax = latencyNanosecondsMax
            self.timeSeriesSecondCountMax = timeSeriesSecondCountMax
            self.triggerSignificantDigits = triggerSignificantDigits
        }
    }

    /// The layout this recorder was built for.
    public let layout: Layout
    /// Counts besides latencies.
    public private(set) var counters = LoadTestCounters()
    /// Latencies that exceeded ``Layout/latencyNanosecondsMax`` and were recorded as the maximum.
    public private(set) var latencyOverflowCount: UInt64 = 0
    /// Samples that fell after the last second of the time series.
    public private(set) var timeSeriesOverflowCount: UInt64 = 0

    /// Emit → 2xx, every delivery.
    var endToEnd: Histogram<UInt64>
    /// One per ``LoadTestStage``, in `allCases` order.
    var stages: [Histogram<UInt64>]
    /// Emit → 2xx per trigger, in ``Layout/triggerNames`` order.
    var triggers: [Histogram<UInt32>]
    /// Emit → 2xx per second of completion (coarse: 2 digits, 1 µs resolution).
    var seconds: [Histogram<UInt32>]
    /// Events accepted per second.
    var secondAccepted: [UInt64]
    /// Deliveries that got their 2xx per second.
    var secondDelivered: [UInt64]
    let triggerIndexByName: [String: Int]

    /// Allocates every histogram for `layout`.
    /// - Precondition: `latencyNanosecondsMax >= 2_000_000`, `timeSeriesSecondCountMax >= 0`,
    ///   `triggerSignificantDigits` in 1…5.
    public init(layout: Layout) {
        precondition(layout.latencyNanosecondsMax >= 2_000_000, "track latencies up to at least 2 ms")
        precondition(layout.timeSeriesSecondCountMax >= 0, "the time series cannot be negative")
        precondition((1...5).contains(layout.triggerSignificantDigits), "1 to 5 significant digits")
        self.layout = layout
        // One `init` per histogram: `Array(repeating:count:)` would share one counts buffer among
        // all elements, and the first write to each would then allocate its copy mid-run.
        func fine() -> Histogram<UInt64> {
            Histogram(
                lowestDiscernibleValue: 1,
                highestTrackableValue: layout.latencyNanosecondsMax,
                numberOfSignificantValueDigits: .three
            )
        }
        func coarse(_ digits: SignificantDigits) -> Histogram<UInt32> {
            Histogram(
                lowestDiscernibleValue: 1_000,
                highestTrackableValue: layout.latencyNanosecondsMax,
                numberOfSignificantValueDigits: digits
            )
        }
        endToEnd = fine()
        stages = LoadTestStage.allCases.map { _ in fine() }
        let triggerDigits = SignificantDigits(rawValue: Int8(layout.triggerSignificantDigits)) ?? .two
        triggers = layout.triggerNames.map { _ in coarse(triggerDigits) }
        seconds = (0..<layout.timeSeriesSecondCountMax).map { _ in coarse(.two) }
        secondAccepted = Array(repeating: 0, count: layout.timeSeriesSecondCountMax)
        secondDelivered = Array(repeating: 0, count: layout.timeSeriesSecondCountMax)
        var byName: [String: Int] = [:]
        for (index, name) in layout.triggerNames.enumerated() where byName[name] == nil { byName[name] = index }
        triggerIndexByName = byName
    }

    /// The index to pass to ``recordDelivered(triggerIndex:emitNanoseconds:responseNanoseconds:attempt:)``
    /// for a trigger name (look it up once at setup, not per delivery).
    public func triggerIndex(named name: String) -> Int? { triggerIndexByName[name] }

    // MARK: Recording (allocation-free)

    /// Counts one `emit` call and, when accepted, its bytes and its second in the time series.
    public mutating func recordEmit(_ result: LoadTestEmitResult, byteCount: Int, atNanoseconds: UInt64) {
        precondition(byteCount >= 0, "byte counts are not negative")
        counters.eventsEmitted &+= 1
        switch result {
        case .accepted:
            counters.eventsAccepted &+= 1
            counters.eventByteCount &+= UInt64(byteCount)
            if let second = secondIndex(atNanoseconds) { secondAccepted[second] &+= 1 }
        case .backpressured: counters.eventsBackpressured &+= 1
        case .invalid: counters.eventsInvalid &+= 1
        }
    }

    /// Records one event or delivery passing `stage`, from its start to its end time.
    public mutating func recordStage(_ stage: LoadTestStage, fromNanoseconds: UInt64, toNanoseconds: UInt64) {
        let latency = clamped(fromNanoseconds: fromNanoseconds, toNanoseconds: toNanoseconds)
        stages[stage.rawValue].record(latency)
    }

    /// Counts the (event, webhook) pairs the matcher produced for one event.
    public mutating func recordMatched(pairCount: Int) {
        precondition(pairCount >= 0, "pair counts are not negative")
        counters.matchedPairs &+= UInt64(pairCount)
    }

    /// Counts one written request (any attempt) and its bytes.
    public mutating func recordRequestSent(byteCount: Int) {
        precondition(byteCount >= 0, "byte counts are not negative")
        counters.requestByteCount &+= UInt64(byteCount)
    }

    /// Counts one failed attempt by its §c.8 class (retried or not).
    public mutating func recordFailedAttempt(_ failureClass: DeliveryFailureClass) {
        counters.countFailedAttempt(failureClass)
    }

    /// Counts a delivery that was dead-lettered.
    public mutating func recordDeadLettered() {
        counters.deliveriesDeadLettered &+= 1
    }

    /// Records a delivery's 2xx: the end-to-end latency overall, for its trigger and in the time
    /// series (by the second of the response).
    /// - Parameters:
    ///   - triggerIndex: index into ``Layout/triggerNames``, or `nil` when the delivery comes from
    ///     no named trigger (it then counts overall only).
    ///   - attempt: 1-based attempt that succeeded; above 1 counts as retried.
    public mutating func recordDelivered(
        triggerIndex: Int?,
        emitNanoseconds: UInt64,
        responseNanoseconds: UInt64,
        attempt: Int
    ) {
        precondition(attempt >= 1, "attempts are numbered from 1")
        let latency = clamped(fromNanoseconds: emitNanoseconds, toNanoseconds: responseNanoseconds)
        endToEnd.record(latency)
        if let triggerIndex {
            precondition(triggers.indices.contains(triggerIndex), "trigger index outside the layout")
            triggers[triggerIndex].record(latency)
        }
        counters.deliveriesSucceeded &+= 1
        if attempt > 1 { counters.deliveriesRetried &+= 1 }
        if let second = secondIndex(responseNanoseconds) {
            seconds[second].record(latency)
            secondDelivered[second] &+= 1
        }
    }

    /// Adds everything `other` recorded into this recorder.
    /// - Precondition: both were built for the same layout.
    /// - Complexity: O(total histogram size).
    public mutating func merge(_ other: LatencyRecorder) {
        precondition(layout == other.layout, "recorders of one run share one layout")
        counters.add(other.counters)
        latencyOverflowCount &+= other.latencyOverflowCount
        timeSeriesOverflowCount &+= other.timeSeriesOverflowCount
        endToEnd.add(other.endToEnd)
        for index in stages.indices { stages[index].add(other.stages[index]) }
        for index in triggers.indices { triggers[index].add(other.triggers[index]) }
        for index in seconds.indices {
            seconds[index].add(other.seconds[index])
            secondAccepted[index] &+= other.secondAccepted[index]
            secondDelivered[index] &+= other.secondDelivered[index]
        }
    }

    /// What the live progress line shows, read by the owning thread.
    /// - Complexity: O(histogram size) for the p99; call it about once a second, not per event.
    public func progressSnapshot(atNanoseconds: UInt64) -> ProgressLine.Snapshot {
        ProgressLine.Snapshot(
            elapsedNanoseconds: atNanoseconds &- min(atNanoseconds, layout.startNanoseconds),
            eventsAccepted: counters.eventsAccepted,
            deliveriesSucceeded: counters.deliveriesSucceeded,
            deliveriesRetried: counters.deliveriesRetried,
            deliveriesDeadLettered: counters.deliveriesDeadLettered,
            p99Nanoseconds: endToEnd.totalCount == 0 ? nil : endToEnd.valueAtPercentile(99)
        )
    }

    /// `to - from`, or 0 if the clock went backwards, clamped to the layout's maximum.
    mutating func clamped(fromNanoseconds: UInt64, toNanoseconds: UInt64) -> UInt64 {
        let latency = toNanoseconds >= fromNanoseconds ? toNanoseconds - fromNanoseconds : 0
        guard latency <= layout.latencyNanosecondsMax else {
            latencyOverflowCount &+= 1
            return layout.latencyNanosecondsMax
        }
        return latency
    }

    /// The time-series second of a timestamp, or `nil` (counted) past the series' end.
    mutating func secondIndex(_ nanoseconds: UInt64) -> Int? {
        let since = nanoseconds >= layout.startNanoseconds ? nanoseconds - layout.startNanoseconds : 0
        let second = since / 1_000_000_000
        guard second < UInt64(seconds.count) else {
            timeSeriesOverflowCount &+= 1
            return nil
        }
        return Int(second)
    }
}
