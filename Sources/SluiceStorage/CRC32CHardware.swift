internal import CSluiceIntrinsics
import SluiceCore

/// CRC-32C with the SSE4.2 `crc32` instruction where the CPU has it, else ``CRC32C`` (portable).
///
/// Both paths give identical values. Thread-safe: the CPU probe runs once.
public enum FrameChecksum {
    /// `true` when the SSE4.2 path is used.
    public static let usesHardware: Bool = csluice_cpu_has_sse42() != 0

    /// Extends `crc` (0 to start) with `bytes`.
    @inline(__always)
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard usesHardware else { return unsafe CRC32C.update(crc, bytes) }
        return unsafe hardwareUpdate(crc, bytes)
    }

    /// The SSE4.2 path. - Precondition: ``usesHardware``.
    public static func hardwareUpdate(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        precondition(usesHardware, "the CPU has no SSE4.2")
        return unsafe csluice_crc32c_update(crc, bytes.baseAddress, bytes.count)
    }

    /// The CRC-32C of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        unsafe bytes.withUnsafeBytes { raw in unsafe update(0, raw) }
    }
}
