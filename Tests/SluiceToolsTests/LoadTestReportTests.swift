import Foundation
import Sluice
import SluiceTestSupport
import SluiceTools
import Testing

/// The load-test report: HDR percentiles against a brute-force sort, per-thread recorders merging to
/// what one recorder sees, and the text, JSON and HTML renderings.
@Suite struct LoadTestReportTests {
    static let startNanoseconds: UInt64 = 1_000_000_000_000
    static let configuration = LoadTestReport.Configuration(
        fixture: "fixtures/generated-10k.jsonl",
        eventCount: 60_000,
        rateTarget: 2_000,
        durationTarget: .seconds(30),
        triggerCount: 40,
        webhookCount: 12,
        ioBackend: "io_uring"
    )

    static func triggerNames(_ count: Int) -> [String] { (0..<count).map { "trigger-\($0)" } }

    /// One synthetic delivery's timestamps: stage latencies from skewed distributions.
    struct Delivery {
        var emit: UInt64
        var journaled: UInt64
        var matched: UInt64
        var sent: UInt64
        var responded: UInt64
        var trigger: Int
        var attempt: Int
    }

    /// A skewed latency: mostly `base…2·base`, sometimes up to 50× (the tail a plot must show).
    static func skewed(_ random: inout SplitMix64, base: UInt64) -> UInt64 {
        let tail: UInt64 = random.chance(2) ? UInt64(random.next(below: 50) + 1) : 1
        return (base + random.next() % base) * tail
    }

    /// A 30-second run at about 2,000 events/s, one delivery per event, Zipf-like trigger counts.
    static func deliveries(seed: UInt64, count: Int = 60_000, triggerCount: Int = 40) -> [Delivery] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { index in
            let emit = startNanoseconds + UInt64(index) * 500_000 + random.next() % 100_000
            let journaled = emit + skewed(&random, base: 150_000)
            let matched = journaled + skewed(&random, base: 4_000)
            let sent = matched + skewed(&random, base: 20_000)
            let responded = sent + skewed(&random, base: 300_000)
            let rank = random.next(below: triggerCount)
            let trigger = random.next(below: rank + 1)
            let attempt = random.chance(1) ? 2 : 1
            return Delivery(
                emit: emit,
                journaled: journaled,
                matched: matched,
                sent: sent,
                responded: responded,
                trigger: trigger,
                attempt: attempt
            )
        }
    }

    static func record(_ delivery: Delivery, into recorder: inout LatencyRecorder) {
        recorder.recordEmit(.accepted, byteCount: 700, atNanoseconds: delivery.emit)
        recorder.recordStage(.journal, fromNanoseconds: delivery.emit, toNanoseconds: delivery.journaled)
        recorder.recordStage(.match, fromNanoseconds: delivery.journaled, toNanoseconds: delivery.matched)
        recorder.recordMatched(pairCount: 1)
        recorder.recordStage(.send, fromNanoseconds: delivery.matched, toNanoseconds: delivery.sent)
        if delivery.attempt > 1 {
            recorder.recordFailedAttempt(.httpServerError)
            recorder.recordRequestSent(byteCount: 1_200)
        }
        recorder.recordRequestSent(byteCount: 1_200)
        recorder.recordStage(.response, fromNanoseconds: delivery.sent, toNanoseconds: delivery.responded)
        recorder.recordDelivered(
            triggerIndex: delivery.trigger,
            emitNanoseconds: delivery.emit,
            responseNanoseconds: delivery.responded,
            attempt: delivery.attempt
        )
    }

    static func layout(triggerCount: Int = 40) -> LatencyRecorder.Layout {
        LatencyRecorder.Layout(
            triggerNames: triggerNames(triggerCount),
            startNanoseconds: startNanoseconds,
            timeSeriesSecondCountMax: 60
        )
    }

    /// A report of a synthetic run, also with some backpressure, invalid events and dead letters.
    static func sampleReport(seed: UInt64 = 7) -> LoadTestReport {
        var recorder = LatencyRecorder(layout: layout())
        for delivery in deliveries(seed: seed) { record(delivery, into: &recorder) }
        for index in 0..<25 {
            recorder.recordEmit(.backpressured, byteCount: 700, atNanoseconds: startNanoseconds + UInt64(index))
        }
        recorder.recordEmit(.invalid, byteCount: 12, atNanoseconds: startNanoseconds)
        recorder.recordMatched(pairCount: 3)
        for failureClass in [DeliveryFailureClass.connection, .timeout, .timeout] {
            recorder.recordFailedAttempt(failureClass)
        }
        recorder.recordDeadLettered()
        return LoadTestReport(
            configuration: configuration,
            recorders: [recorder],
            endNanoseconds: startNanoseconds + 30_000_000_000
        )
    }

    /// The value at `percentile` of sorted samples: the smallest sample with at least that share at or
    /// below it (HDR's definition before bucket rounding, including its one-ulp step down so that
    /// 99.9% of 20,000 is rank 19,980 and not 19,981 through rounding).
    static func exactPercentile(_ sorted: [UInt64], _ percentile: Double) -> UInt64 {
        let rank = max(1, Int((percentile.nextDown * Double(sorted.count) / 100).rounded(.up)))
        return sorted[min(rank, sorted.count) - 1]
    }

    static func expectWithin(
        _ measured: UInt64,
        _ exact: UInt64,
        relative: Double,
        absolute: UInt64,
        _ what: String,
        seed: UInt64
    ) {
        let difference = measured > exact ? measured - exact : exact - measured
        let bound = UInt64(Double(exact) * relative) + absolute
        #expect(difference <= bound, "\(what): HDR \(measured) vs exact \(exact) (seed \(seed))")
    }

    @Test func percentilesMatchABruteForceSortWithinHDRPrecision() {
        let seed = testSeed()
        let runs = Self.deliveries(seed: seed, count: 20_000)
        var recorder = LatencyRecorder(layout: Self.layout())
        for delivery in runs { Self.record(delivery, into: &recorder) }
        let report = LoadTestReport(
            configuration: Self.configuration,
            recorders: [recorder],
            endNanoseconds: Self.startNanoseconds + 10_000_000_000
        )
        let endToEnd = runs.map { $0.responded - $0.emit }.sorted()
        let journal = runs.map { $0.journaled - $0.emit }.sorted()
        let checks: [(Double, KeyPath<LoadTestReport.LatencySummary, UInt64>)] = [
            (50, \.p50Nanoseconds), (90, \.p90Nanoseconds), (99, \.p99Nanoseconds), (99.9, \.p999Nanoseconds),
        ]
        for (percentile, field) in checks {
            // 3 significant digits: buckets are at most 1/1024 of the value wide.
            Self.expectWithin(
                report.endToEnd[keyPath: field],
                Self.exactPercentile(endToEnd, percentile),
                relative: 1.0 / 1024,
                absolute: 1,
                "end-to-end p\(percentile)",
                seed: seed
            )
            Self.expectWithin(
                report.stages[0].latency[keyPath: field],
                Self.exactPercentile(journal, percentile),
                relative: 1.0 / 1024,
                absolute: 1,
                "journal p\(percentile)",
                seed: seed
            )
        }
        #expect(report.endToEnd.minNanoseconds == endToEnd.first)
        #expect(report.endToEnd.maxNanoseconds == endToEnd.last)
        #expect(report.endToEnd.count == UInt64(runs.count))
        // Per trigger: 2 significant digits (buckets at most 1/128 wide) at 1 µs resolution.
        let top = report.triggers[0]
        let topIndex = Int(top.name.dropFirst("trigger-".count))!
        let topSamples = runs.filter { $0.trigger == topIndex }.map { $0.responded - $0.emit }.sorted()
        #expect(top.latency.count == UInt64(topSamples.count))
        Self.expectWithin(
            top.latency.p99Nanoseconds,
            Self.exactPercentile(topSamples, 99),
            relative: 1.0 / 128,
            absolute: 1_024,
            "top trigger p99",
            seed: seed
        )
    }

    @Test func perThreadRecordersMergeToWhatOneRecorderSees() {
        let seed = testSeed()
        let runs = Self.deliveries(seed: seed, count: 9_000)
        var single = LatencyRecorder(layout: Self.layout())
        var perThread = (0..<3).map { _ in LatencyRecorder(layout: Self.layout()) }
        for (index, delivery) in runs.enumerated() {
            Self.record(delivery, into: &single)
            Self.record(delivery, into: &perThread[index % 3])
        }
        single.recordFailedAttempt(.tls)
        perThread[2].recordFailedAttempt(.tls)
        single.recordEmit(.backpressured, byteCount: 10, atNanoseconds: Self.startNanoseconds)
        perThread[1].recordEmit(.backpressured, byteCount: 10, atNanoseconds: Self.startNanoseconds)
        let end = Self.startNanoseconds + 5_000_000_000
        let one = LoadTestReport(configuration: Self.configuration, recorders: [single], endNanoseconds: end)
        let merged = LoadTestReport(configuration: Self.configuration, recorders: perThread, endNanoseconds: end)
        #expect(one == merged, "seed \(seed)")
        #expect(merged.counters.failedAttempts(.tls) == 1)
        #expect(merged.counters.eventsBackpressured == 1)
        #expect(merged.endToEnd.count == UInt64(runs.count))
    }

    @Test func countersTimeSeriesAndOverflow() {
        var recorder = LatencyRecorder(
            layout: LatencyRecorder.Layout(
                triggerNames: ["a", "b"],
                startNanoseconds: Self.startNanoseconds,
                latencyNanosecondsMax: 10_000_000_000,
                timeSeriesSecondCountMax: 2
            )
        )
        #expect(recorder.triggerIndex(named: "b") == 1)
        #expect(recorder.triggerIndex(named: "c") == nil)
        let second: UInt64 = 1_000_000_000
        recorder.recordEmit(.accepted, byteCount: 100, atNanoseconds: Self.startNanoseconds)
        recorder.recordEmit(.accepted, byteCount: 50, atNanoseconds: Self.startNanoseconds + second + 1)
        recorder.recordEmit(.accepted, byteCount: 50, atNanoseconds: Self.startNanoseconds + 3 * second)
        let start = Self.startNanoseconds
        recorder.recordDelivered(
            triggerIndex: 0,
            emitNanoseconds: start,
            responseNanoseconds: start + 2_000,
            attempt: 1
        )
        // 20 s exceeds the 10 s maximum: clamped and counted; delivered after the series ends.
        recorder.recordDelivered(
            triggerIndex: nil,
            emitNanoseconds: start,
            responseNanoseconds: start + 20 * second,
            attempt: 3
        )
        let report = LoadTestReport(
            configuration: Self.configuration,
            recorders: [recorder],
            endNanoseconds: start + 4 * second
        )
        #expect(report.counters.eventsAccepted == 3)
        #expect(report.counters.eventByteCount == 200)
        #expect(report.counters.deliveriesSucceeded == 2)
        #expect(report.counters.deliveriesRetried == 1)
        #expect(report.latencyOverflowCount == 1)
        #expect(report.timeSeriesOverflowCount == 2)
        #expect(report.endToEnd.maxNanoseconds == 10_000_000_000)
        #expect(report.timeSeries.map(\.eventsAccepted) == [1, 1])
        #expect(report.timeSeries.map(\.deliveriesSucceeded) == [1, 0])
        #expect(report.triggers.map(\.name) == ["a"])
        #expect(report.eventsAcceptedPerSecond == 0.75)
        // A later window start (the replayer's first emit) shortens the rates' window, not the series.
        let fromFirstEmit = LoadTestReport(
            configuration: Self.configuration,
            recorders: [recorder],
            startNanoseconds: start + second,
            endNanoseconds: start + 4 * second
        )
        #expect(fromFirstEmit.elapsedNanoseconds == 3 * second)
        #expect(fromFirstEmit.eventsAcceptedPerSecond == 1)
        #expect(fromFirstEmit.timeSeries.map(\.eventsAccepted) == [1, 1])
        // Each failure class counts in its own slot and nowhere else.
        let classes = DeliveryFailureClass.allCases
        for (row, failureClass) in classes.enumerated() {
            var counters = LoadTestCounters()
            counters.countFailedAttempt(failureClass)
            #expect(classes.map { counters.failedAttempts($0) } == classes.indices.map { $0 == row ? 1 : 0 })
            #expect(counters.failedAttemptCount == 1)
        }
    }
}
