import SluiceCore
import SluiceStorage
import SluiceTestSupport
import Testing

@Suite struct CRC32CTests {
    @Test func portablePathGivesTheCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == CRC32C.checkValue)
        #expect(CRC32C.checksum([]) == 0)
        // RFC 3720 (iSCSI) B.4 vectors: 32 zero bytes and 32 0xFF bytes.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum(Array(0..<32)) == 0x46DD_794E)
    }

    @Test(.enabled(if: FrameChecksum.usesHardware, "this CPU has no SSE4.2; the portable path is used"))
    func hardwarePathGivesTheCheckValue() {
        let bytes = Array("123456789".utf8)
        let crc = bytes.withUnsafeBytes { FrameChecksum.hardwareUpdate(0, $0) }
        #expect(crc == CRC32C.checkValue)
    }

    /// Both paths agree on random buffers, whole and fed in random pieces.
    @Test func pathsAgreeAndChain() {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        for _ in 0..<500 {
            let bytes = (0..<random.next(below: 300)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let whole = CRC32C.checksum(bytes)
            #expect(FrameChecksum.checksum(bytes) == whole, "seed \(seed)")
            let split = random.next(below: bytes.count + 1)
            let chained = bytes.withUnsafeBytes { raw in
                FrameChecksum.update(
                    FrameChecksum.update(0, UnsafeRawBufferPointer(rebasing: raw[0..<split])),
                    UnsafeRawBufferPointer(rebasing: raw[split...])
                )
            }
            #expect(chained == whole, "seed \(seed)")
        }
    }
}
