import SluiceCore
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// The summaries of one log directory kept in memory between queries, for a long-lived reader (the
/// server, a benchmark): the sealed segments' ``SegmentSummary`` (loaded or rebuilt once, checked against
/// the segment's size at every query), and a summary of the **newest** segment's frames, extended by the
/// frames appended since the last query — so a point query reads neither the summary files nor the
/// active segment whole, only the frames that may match.
///
/// Derived data only: a segment whose size changed (repair) or that is gone (retention) is summarized
/// again. Any thread; summaries are built outside the lock (two queries may build the same one; the
/// last stored wins, both are equal).
public final class EventQueryIndex: Sendable {
    /// The newest segment's frames summarized so far, and where the next frame starts.
    struct Active: Sendable {
        var path: String
        var frames: [SegmentSummary.Frame]
        var endOffset: UInt64
        var nextSequence: UInt64
    }

    struct State: Sendable {
        var sealed: [String: SegmentSummary] = [:]
        var active: Active?
    }

    private let state = Mutex(State())
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// The summary of the sealed segment at `path`, cached while its size is unchanged.
    func sealedSummary(
        path: String,
        firstSequence: UInt64
    ) throws(SegmentLogError) -> (summary: SegmentSummary, rebuiltBecause: String?) {
        let byteCount = try Self.byteCount(path)
        if let cached = state.withLock({ $0.sealed[path] }), cached.segmentByteCount == byteCount {
            return (cached, nil)
        }
        let loaded = try SegmentSummary.loadOrRebuild(segmentPath: path, segmentFirstSequence: firstSequence)
        state.withLock { state in
            state.sealed[path] = loaded.summary
            if state.active?.path == path { state.active = nil }
        }
        return loaded
    }

    /// Summaries of every complete frame of the newest segment at `path`: the cached ones, extended by
    /// the frames appended since. A partial frame at the end (an append in progress) ends the scan; other
    /// damage is a `corrupt` error.
    func activeFrames(path: String) throws(SegmentLogError) -> [SegmentSummary.Frame] {
        let byteCount = try Self.byteCount(path)
        var active = state.withLock { $0.active }
        if let cached = active, cached.path != path || cached.endOffset > byteCount { active = nil }
        let reader = try SegmentReader(path: path)
        var current =
            active
            ?? Active(
                path: path,
                frames: [],
                endOffset: UInt64(SegmentHeader.byteCount),
                nextSequence: reader.header.firstSequence
            )
        guard current.endOffset < reader.byteCount else { return current.frames }
        reader.seek(
            to: SegmentIndexEntry(
                firstSequence: current.nextSequence,
                fileOffset: current.endOffset,
                minTimestampMicroseconds: 0,
                maxTimestampMicroseconds: 0
            )
        )
        var decoder = EventDecoder()
        var header = EventHeader()
        scan: while true {
            switch try reader.nextFrame() {
            case .frame(let frame, let fileOffset):
                current.frames.append(
                    try SegmentSummary.summarizeFrame(reader, frame, fileOffset, &decoder, &header)
                )
                current.endOffset = reader.fileOffset
                current.nextSequence = reader.nextSequence
            case .end:
                break scan
            case .invalid(let fileOffset, let error, let reachesEnd):
                if reachesEnd { break scan }
                throw SegmentLogError(
                    code: .corrupt,
                    path: path,
                    fileOffset: fileOffset,
                    message: "damaged frame",
                    format: error
                )
            }
        }
        let result = current
        state.withLock { state in
            if (state.active?.endOffset ?? 0) <= result.endOffset || state.active?.path != result.path {
                state.active = result
            }
        }
        return result.frames
    }

    /// Drops what belongs to segments no longer in `names` (removed by retention).
    func keep(paths: Set<String>) {
        state.withLock { state in
            state.sealed = state.sealed.filter { paths.contains($0.key) }
            if let active = state.active, !paths.contains(active.path) { state.active = nil }
        }
    }

    static func byteCount(_ path: String) throws(SegmentLogError) -> UInt64 {
        var status = stat()
        _ = try systemCall("stat", path: path) { unsafe stat(path, &status) }
        return UInt64(status.st_size)
    }
}
