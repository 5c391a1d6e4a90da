import Glibc
import SluiceCore
import SluiceTestSupport
import Testing

@testable import SluiceStorage

/// Golden segment files (FORMAT.md): written once by `SLUICE_WRITE_GOLDEN_LOG=1 swift test --filter
/// GoldenLogTests` and committed; never regenerated. Every later reader must decode them to exactly these
/// records. A format change adds a new golden file next to these, it does not rewrite them.
@Suite struct GoldenLogTests {
    static let records: [LogRecord] = [
        LogRecord(
            type: .event,
            timestampMicroseconds: 1_741_884_272_321_142,
            body: Array(#"{"event":"infrahub.branch.created"}"#.utf8)
        ),
        LogRecord(
            type: .deliveryOutcome,
            timestampMicroseconds: 1_741_884_272_400_000,
            body: Array("delivered 200".utf8)
        ),
        LogRecord(type: .configurationChange, timestampMicroseconds: 1_741_884_272_500_000, body: []),
        LogRecord(
            type: .event,
            timestampMicroseconds: 1_741_884_273_000_000,
            body: Array(repeating: UInt8(ascii: "x"), count: 3000)
        ),
    ]

    static func goldenDirectory(_ compression: FrameCompression) -> String {
        packageRoot + "/fixtures/log/segment-v1-" + (compression == .none ? "uncompressed" : "lz4")
    }

    @Test(arguments: [FrameCompression.none, .lz4Block])
    func decodesTheGoldenSegments(compression: FrameCompression) throws {
        let directory = Self.goldenDirectory(compression)
        if getenv("SLUICE_WRITE_GOLDEN_LOG") != nil {
            var configuration = LogConfiguration(directory: directory)
            configuration.compression = compression
            let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 1_741_884_272_000_000)
            try writer.append(
                Array(Self.records[0..<2]),
                nowMicroseconds: 1_741_884_272_000_000,
                nowMonotonicNanoseconds: 0
            )
            try writer.append(
                Array(Self.records[2..<4]),
                nowMicroseconds: 1_741_884_272_000_000,
                nowMonotonicNanoseconds: 0
            )
        }
        let read = try readAllRecords(directory)
        #expect(read.map(\.sequence) == [0, 1, 2, 3])
        #expect(read.map(\.type) == Self.records.map(\.type))
        #expect(read.map(\.timestamp) == Self.records.map(\.timestampMicroseconds))
        #expect(read.map(\.body) == Self.records.map(\.body))
        let file = fileBytes(directory + "/00000000000000000000.segment")
        #expect(Array(file[0..<8]) == Array("SLUICESG".utf8))
        let segment = try SegmentHeader.decode(file)
        #expect(segment.formatVersion == 1)
        #expect(segment.createdMicroseconds == 1_741_884_272_000_000)
        let firstFrame = try FrameHeader.decode(Array(file[64..<120]), fileOffset: 64)
        #expect(firstFrame.firstSequence == 0)
        #expect(firstFrame.recordCount == 2)
        #expect(firstFrame.recordTypeMask == 0b0000_0110)
    }
}
