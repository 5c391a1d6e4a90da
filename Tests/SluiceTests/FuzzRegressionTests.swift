import Glibc
import Sluice
import SluiceTestSupport
import Testing

/// Crashes found by `scripts/fuzz` (docs/fuzzing.md), through the file-level API the CLI calls.
@Suite struct FuzzRegressionTests {
    /// `Fuzz/regressions/segment/index-entry-*`: `log dump --from N` seeked to a damaged index entry and
    /// trapped. Now such an index is not trusted: the read rebuilds it from the segment and returns exactly
    /// the records from N on.
    @Test func readingFromASequenceThroughADamagedIndex() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let directory = temporary.path + "/log"
        let records = try LogFilesTests.makeLog(directory, eventCount: 120)
        let segments = try SegmentDirectory.segments(in: directory)
        let segmentPath = directory + "/" + segments[0].name
        let indexPath = SegmentIndex.path(forSegment: segmentPath)
        let intact = try readWholeFile(path: indexPath, byteCountMax: 1 << 20)
        let entries = try #require(try SegmentIndex.load(segmentPath: segmentPath, segmentFirstSequence: 0))
        try #require(entries.count >= 2)
        let fromSequence = entries[entries.count - 1].firstSequence
        for fileOffset: UInt64 in [0, 1 << 40] {
            var damaged = intact
            // The last entry (the one a read from `fromSequence` seeks to): its file offset.
            let position = intact.count - SegmentIndex.entryByteCount + 8
            for byte in 0..<8 { damaged[position + byte] = UInt8(truncatingIfNeeded: fileOffset >> (8 * UInt64(byte))) }
            writeFile(indexPath, damaged)
            var read: [UInt64] = []
            _ = try LogFiles.forEachRecord(directory: directory, fromSequence: fromSequence) {
                read.append($0.sequence)
            }
            #expect(read == Array(fromSequence..<UInt64(records.count)), "entry offset \(fileOffset)")
        }
    }
}
