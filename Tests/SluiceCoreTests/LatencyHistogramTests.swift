import SluiceCore
import Testing

/// The latency histogram `/metrics` shows: a sample lands in the first bucket whose bound it does not
/// exceed, the overflow bucket takes the rest, snapshots merge, and unknown times are not recorded.
@Suite struct LatencyHistogramTests {
    @Test func samplesLandInTheirBuckets() {
        let bounds = LatencyHistogram.upperBoundsNanoseconds
        #expect(LatencyHistogram.bucket(of: 0) == 0)
        #expect(LatencyHistogram.bucket(of: bounds[0]) == 0, "a bound belongs to its own bucket (le)")
        #expect(LatencyHistogram.bucket(of: bounds[0] + 1) == 1)
        #expect(LatencyHistogram.bucket(of: bounds[bounds.count - 1]) == bounds.count - 1)
        #expect(LatencyHistogram.bucket(of: .max) == bounds.count, "the overflow bucket (+Inf)")
        #expect(bounds == bounds.sorted() && Set(bounds).count == bounds.count, "strictly increasing")
    }

    @Test func recordSnapshotAndMerge() {
        let recorder = LatencyHistogramRecorder()
        recorder.record(nanoseconds: 40_000)
        recorder.record(nanoseconds: 3_000_000)
        recorder.record(from: 1_000, to: 2_000)
        recorder.record(from: 0, to: 5_000)  // start unknown: not a sample
        recorder.record(from: 9_000, to: 1_000)  // end before start: not a sample
        let snapshot = recorder.snapshot
        #expect(snapshot.count == 3)
        #expect(snapshot.sumNanoseconds == 40_000 + 3_000_000 + 1_000)
        #expect(snapshot.counts[0] == 2)
        #expect(snapshot.counts[LatencyHistogram.bucket(of: 3_000_000)] == 1)
        var merged = snapshot
        merged.add(snapshot)
        #expect(merged.count == 6)
        #expect(merged.sumNanoseconds == 2 * snapshot.sumNanoseconds)
    }
}
