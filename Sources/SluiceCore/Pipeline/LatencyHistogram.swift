import Synchronization

/// A latency distribution over fixed buckets (a snapshot: plain values, any thread).
///
/// The bucket bounds are ``upperBoundsNanoseconds`` (each bucket holds the samples `≤` its bound and
/// above the previous one); `counts` has one more element than the bounds, the samples above the last
/// bound (Prometheus's `+Inf`). `sumNanoseconds` wraps after 584 years of summed latency.
public struct LatencyHistogram: Sendable, Equatable {
    /// 50 µs to 60 s: the journal's fsync (~0.1 ms) and a slow receiver (seconds) both land in a bucket of
    /// their own. Changing these changes the `le` labels of `/metrics` (docs/server.md).
    public static let upperBoundsNanoseconds: [UInt64] = [
        50_000, 100_000, 250_000, 500_000,
        1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000, 250_000_000,
        500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000, 30_000_000_000, 60_000_000_000,
    ]

    /// Samples per bucket (not cumulative), ``upperBoundsNanoseconds`` order, then the overflow bucket.
    public var counts: [Int]
    public var sumNanoseconds: UInt64

    public init() {
        counts = Array(repeating: 0, count: Self.upperBoundsNanoseconds.count + 1)
        sumNanoseconds = 0
    }

    /// Every sample.
    public var count: Int { counts.reduce(0, &+) }

    /// The bucket `nanoseconds` falls in.
    @inlinable
    public static func bucket(of nanoseconds: UInt64) -> Int {
        // Linear over 19 bounds: at most 19 compares, no division, branch-predictable for steady latencies.
        var index = 0
        while index < upperBoundsNanoseconds.count, nanoseconds > upperBoundsNanoseconds[index] { index += 1 }
        return index
    }

    /// Adds `other`'s samples (the merge of two writers' histograms).
    public mutating func add(_ other: LatencyHistogram) {
        precondition(other.counts.count == counts.count, "histograms of one bucket layout")
        for index in counts.indices { counts[index] &+= other.counts[index] }
        sumNanoseconds &+= other.sumNanoseconds
    }
}

/// A ``LatencyHistogram`` that one thread records into and any thread snapshots: relaxed atomics (a
/// statistic, not a synchronization), no lock and no allocation per sample.
///
/// Meant for one writer (a pipeline stage's thread); several writers stay correct, each add is atomic, at
/// the price of a shared cache line.
public final class LatencyHistogramRecorder: Sendable {
    /// One bucket's count: a class so that the counts can sit in an array (an `Atomic` cannot be copied).
    final class Cell: Sendable {
        let value = Atomic<Int>(0)
    }

    let cells: [Cell]
    let sum = Atomic<UInt64>(0)

    public init() {
        cells = (0...LatencyHistogram.upperBoundsNanoseconds.count).map { _ in Cell() }
    }

    /// Records one sample of `nanoseconds`. (Not inlinable across modules: the atomics are internal to this
    /// module; one call per sample.)
    public func record(nanoseconds: UInt64) {
        cells[LatencyHistogram.bucket(of: nanoseconds)].value.wrappingAdd(1, ordering: .relaxed)
        sum.wrappingAdd(nanoseconds, ordering: .relaxed)
    }

    /// Records `end - start`; nothing when either is unknown (0) or `end` is before `start` (a slot reused
    /// from recovery, a clock that was not read).
    public func record(from start: UInt64, to end: UInt64) {
        guard start != 0, end >= start else { return }
        record(nanoseconds: end - start)
    }

    /// The samples so far. The buckets are read one by one, so a snapshot taken while the writer records
    /// can be one sample off between `counts` and `sumNanoseconds`; each counter is exact.
    public var snapshot: LatencyHistogram {
        var histogram = LatencyHistogram()
        for (index, cell) in cells.enumerated() { histogram.counts[index] = cell.value.load(ordering: .relaxed) }
        histogram.sumNanoseconds = sum.load(ordering: .relaxed)
        return histogram
    }
}
