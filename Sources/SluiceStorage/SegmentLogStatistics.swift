public import SluiceCore
import Synchronization

/// What a ``SegmentLogWriter`` has done since it opened, for `/metrics`: bytes written, segments started,
/// and how long each `fdatasync` took. Written by the writer's thread (relaxed atomics: statistics only),
/// read by any thread.
public final class SegmentLogStatistics: Sendable {
    let writtenByteCount = Atomic<UInt64>(0)
    let segmentsCreated = Atomic<Int>(0)
    /// Every `fdatasync` of a segment (the policy's syncs and those that seal a segment at a roll).
    public let syncLatency = LatencyHistogramRecorder()

    public init() {}

    func wrote(byteCount: Int) { writtenByteCount.wrappingAdd(UInt64(byteCount), ordering: .relaxed) }
    func startedSegment() { segmentsCreated.wrappingAdd(1, ordering: .relaxed) }

    /// Bytes of frames (and segment headers) written to segment files.
    public var writtenBytes: UInt64 { writtenByteCount.load(ordering: .relaxed) }
    /// Segments this writer started (rolls; the segment it opened at recovery is not counted).
    public var segmentsStarted: Int { segmentsCreated.load(ordering: .relaxed) }
}
