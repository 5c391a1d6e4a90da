import SluiceStorage
import Testing

/// Segment file names are exactly 20 ASCII digits and `.segment` (found by review: `UInt64(_:)` also took
/// a sign, so a stray `+000….segment` sorted as sequence 0 and trapped a query's `nextFirst - 1`).
@Suite struct SegmentFileNameTests {
    @Test func onlyTwentyDigitsNameASegment() {
        #expect(SegmentFileName.firstSequence(of: "00000000000000000042.segment") == 42)
        #expect(SegmentFileName.firstSequence(of: SegmentFileName.name(firstSequence: .max)) == .max)
        for name in [
            "+0000000000000000000.segment", "-0000000000000000001.segment", " 0000000000000000001.segment",
            "0000000000000000001.segment", "99999999999999999999.segment", "0000000000000000000a.segment",
            "00000000000000000042.summary",
        ] {
            #expect(SegmentFileName.firstSequence(of: name) == nil, "\(name)")
        }
    }
}
