import SluiceCore
import SluiceTestSupport
import Testing

@Suite struct SegmentHeaderTests {
    static func encoded(
        _ header: SegmentHeader = SegmentHeader(firstSequence: 42, createdMicroseconds: 1_741_884_272_321_142)
    )
        -> [UInt8]
    {
        var bytes: [UInt8] = []
        header.encode(into: &bytes)
        return bytes
    }

    @Test func roundTrips() throws {
        let bytes = Self.encoded()
        #expect(bytes.count == SegmentHeader.byteCount)
        #expect(Array(bytes[0..<8]) == Array("SLUICESG".utf8))
        let header = try SegmentHeader.decode(bytes)
        #expect(header.firstSequence == 42)
        #expect(header.formatVersion == 1)
        #expect(header.minimumReaderVersion == 1)
        #expect(header.createdMicroseconds == 1_741_884_272_321_142)
    }

    @Test func detectsEveryBitFlipAndTruncation() {
        let original = Self.encoded()
        for byteIndex in 0..<original.count {
            for bit in 0..<8 {
                var bytes = original
                bytes[byteIndex] ^= UInt8(1) << bit
                do {
                    _ = try SegmentHeader.decode(bytes)
                    Issue.record("flip of bit \(bit) in byte \(byteIndex) went undetected")
                } catch {
                    #expect(error.code == .headerChecksumMismatch)
                }
            }
        }
        for count in 0..<original.count {
            #expect(throws: FormatError.self) { try SegmentHeader.decode(Array(original[0..<count])) }
        }
    }

    /// A segment from a future format that old readers must not read is refused by name.
    @Test func refusesANewerMinimumReaderVersion() {
        var header = SegmentHeader(firstSequence: 1, createdMicroseconds: 0)
        header.formatVersion = 3
        header.minimumReaderVersion = 2
        do {
            _ = try SegmentHeader.decode(Self.encoded(header))
            Issue.record("read a segment needing reader version 2")
        } catch {
            #expect(error.code == .unsupportedVersion)
            #expect(error.description.contains("needs reader version 2"))
        }
    }
}

@Suite struct FramePayloadTests {
    struct Written: Equatable {
        var type: RecordType
        var timestamp: Int64
        var body: [UInt8]
    }

    static func frame(_ records: [Written], firstSequence: UInt64) -> (FrameHeader, [UInt8]) {
        var payload: [UInt8] = []
        var mask: UInt8 = 0
        for record in records {
            record.body.withUnsafeBytes { body in
                FramePayload.appendRecord(
                    type: record.type,
                    timestampMicroseconds: record.timestamp,
                    body: body,
                    to: &payload
                )
            }
            mask |= UInt8(1) << record.type.rawValue
        }
        let header = FrameHeader(
            compression: .none,
            recordTypeMask: mask,
            firstSequence: firstSequence,
            recordCount: UInt32(records.count),
            storedByteCount: UInt32(payload.count),
            uncompressedByteCount: UInt32(payload.count),
            payloadChecksum: CRC32C.checksum(payload),
            minTimestampMicroseconds: records.map(\.timestamp).min()!,
            maxTimestampMicroseconds: records.map(\.timestamp).max()!
        )
        return (header, payload)
    }

    static func read(_ payload: [UInt8], _ header: FrameHeader) throws(FormatError) -> [(FrameRecord, [UInt8])] {
        var records: [(FrameRecord, [UInt8])] = []
        let result: Result<Void, FormatError> = payload.withUnsafeBytes { raw in
            do throws(FormatError) {
                try FramePayload.forEachRecord(in: raw, header: header, fileOffset: 0) { record in
                    records.append((record, Array(payload[record.bodyRange])))
                }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        return records
    }

    @Test func recordsRoundTrip() throws {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        for _ in 0..<200 {
            let written = (0..<(1 + random.next(below: 20))).map { _ in
                Written(
                    type: random.pick(RecordType.allCases),
                    timestamp: Int64(random.next(below: 1_000_000)),
                    body: (0..<random.next(below: 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                )
            }
            let (header, payload) = Self.frame(written, firstSequence: 1000)
            let read = try Self.read(payload, header)
            #expect(
                read.map { Written(type: $0.0.type, timestamp: $0.0.timestampMicroseconds, body: $0.1) } == written,
                "seed \(seed)"
            )
            #expect(read.map(\.0.sequence) == Array(1000..<(1000 + UInt64(written.count))), "seed \(seed)")
        }
    }

    @Test func rejectsInconsistentPayloads() {
        let written = [
            Written(type: .event, timestamp: 5, body: [1, 2, 3]), Written(type: .event, timestamp: 6, body: [4]),
        ]
        let (header, payload) = Self.frame(written, firstSequence: 0)
        var countMismatch = header
        countMismatch.recordCount = 3
        #expect(throws: FormatError.self) { try Self.read(payload, countMismatch) }
        var overrun = payload
        overrun[0] = 200
        #expect(throws: FormatError.self) { try Self.read(overrun, header) }
        var badType = payload
        badType[4] = 9
        #expect(throws: FormatError.self) { try Self.read(badType, header) }
        var outOfRange = header
        outOfRange.maxTimestampMicroseconds = 5
        #expect(throws: FormatError.self) { try Self.read(payload, outOfRange) }
        #expect(throws: FormatError.self) { try Self.read(Array(payload.dropLast()), header) }
    }
}
