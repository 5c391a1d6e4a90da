import Glibc
import SluiceCore
import SluiceTestSupport
import Testing

@testable import SluiceStorage

/// Crashes found by `scripts/fuzz segment` (docs/fuzzing.md; inputs in `Fuzz/regressions/segment/`).
@Suite struct FuzzRegressionTests {
    /// A log of one segment with several frames and its index; returns the segment's path.
    static func makeSegment(_ directory: String) throws -> String {
        let writer = try SegmentLogWriter(configuration: SegmentLogTests.configuration(directory), nowMicroseconds: 0)
        let records = SegmentLogTests.records(12, seed: 3)
        for start in stride(from: 0, to: records.count, by: 3) {
            try writer.append(Array(records[start..<(start + 3)]), nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
        }
        return directory + "/" + SegmentFileName.name(firstSequence: 0)
    }

    /// `index-entry-inside-segment-header`, `index-entry-past-end-of-file`: index entries are offsets
    /// readers seek to, and a damaged one trapped `log dump --from` (the `seek` precondition, an unsigned
    /// underflow in `nextFrame`). An entry before the frames, past the end, out of order or with min > max
    /// now makes the index malformed (`nil`; readers rebuild it from the segment).
    @Test(arguments: [
        (field: 8, value: UInt64(0)), (field: 8, value: 63), (field: 8, value: 1 << 40), (field: 8, value: .max),
        (field: 0, value: .max), (field: 16, value: UInt64(Int64.max)),
    ])
    func damagedIndexEntriesAreNotTrusted(field: Int, value: UInt64) throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let segmentPath = try Self.makeSegment(temporary.path + "/log")
        let indexPath = SegmentIndex.path(forSegment: segmentPath)
        let intact = fileBytes(indexPath)
        let entryCount = (intact.count - SegmentIndex.headerByteCount) / SegmentIndex.entryByteCount
        try #require(entryCount >= 3)
        #expect(try SegmentIndex.load(segmentPath: segmentPath, segmentFirstSequence: 0)?.count == entryCount)
        // A too-large sequence is out of order except in the last entry (there only the frame can tell).
        for entry in field == 0 ? [0, entryCount / 2] : [0, entryCount / 2, entryCount - 1] {
            var damaged = intact
            let position = SegmentIndex.headerByteCount + entry * SegmentIndex.entryByteCount + field
            for byte in 0..<8 { damaged[position + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte))) }
            writeFile(indexPath, damaged)
            #expect(
                try SegmentIndex.load(segmentPath: segmentPath, segmentFirstSequence: 0) == nil,
                "entry \(entry), field at \(field) = \(value)"
            )
        }
    }

    /// A reader moved past the end of its file (a stale entry) reports damage instead of trapping.
    @Test func seekPastTheEndIsDamageNotATrap() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let segmentPath = try Self.makeSegment(temporary.path + "/log")
        let reader = try SegmentReader(path: segmentPath)
        guard case .frame(let header, _) = try reader.nextFrame() else {
            Issue.record("no first frame")
            return
        }
        reader.seek(to: SegmentIndexEntry(header, fileOffset: reader.byteCount + 1_000))
        guard case .invalid(_, let error, let reachesEnd) = try reader.nextFrame() else {
            Issue.record("a frame past the end")
            return
        }
        #expect(error.code == .truncated && reachesEnd)
    }
}
