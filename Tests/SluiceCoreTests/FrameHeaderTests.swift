import SluiceCore
import SluiceTestSupport
import Testing

@Suite struct FrameHeaderTests {
    static let header = FrameHeader(
        compression: .lz4Block,
        recordTypeMask: 0b0000_0010,
        firstSequence: 1_000_000_007,
        recordCount: 312,
        storedByteCount: 23_901,
        uncompressedByteCount: 65_310,
        payloadChecksum: 0xDEAD_BEEF,
        minTimestampMicroseconds: 1_741_884_272_321_142,
        maxTimestampMicroseconds: 1_741_884_273_000_001
    )

    static func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        header.encode(into: &bytes)
        return bytes
    }

    @Test func roundTrips() throws {
        let bytes = Self.encoded()
        #expect(bytes.count == FrameHeader.byteCount)
        #expect(Array(bytes[0..<4]) == Array("SLFR".utf8))
        let decoded = try FrameHeader.decode(bytes, fileOffset: 64)
        #expect(decoded == Self.header)
    }

    /// Every single-bit flip anywhere in the header is detected before any field is trusted.
    @Test func detectsEveryBitFlip() {
        let original = Self.encoded()
        for byteIndex in 0..<original.count {
            for bit in 0..<8 {
                var bytes = original
                bytes[byteIndex] ^= UInt8(1) << bit
                do {
                    _ = try FrameHeader.decode(bytes, fileOffset: 4096)
                    Issue.record("flip of bit \(bit) in byte \(byteIndex) went undetected")
                } catch {
                    #expect(error.code == .headerChecksumMismatch)
                    #expect(error.fileOffset == 4096)
                }
            }
        }
    }

    @Test func detectsEveryTruncation() {
        let original = Self.encoded()
        for count in 0..<original.count {
            do {
                _ = try FrameHeader.decode(Array(original[0..<count]), fileOffset: 0)
                Issue.record("accepted \(count) bytes")
            } catch {
                #expect(error.code == .truncated)
            }
        }
    }

    /// A header whose checksum matches but whose magic is wrong (not a frame at all) is named as such.
    @Test func rejectsBadMagicWithValidChecksum() {
        var bytes = Self.encoded()
        bytes[0] = UInt8(ascii: "X")
        let checksum = CRC32C.checksum(Array(bytes[0..<52]))
        withUnsafeBytes(of: checksum.littleEndian) { raw in bytes.replaceSubrange(52..<56, with: raw) }
        do {
            _ = try FrameHeader.decode(bytes, fileOffset: 0)
            Issue.record("accepted a bad magic")
        } catch {
            #expect(error.code == .badMagic)
        }
    }
}
