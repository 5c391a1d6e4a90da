public import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

/// Reads one segment file frame by frame, verifying each frame before handing it out.
///
/// Every frame is checked in FORMAT.md's order: header checksum (before any length is trusted), magic,
/// fields, sequence continuity, then the payload checksum over the stored bytes, then decompression to
/// exactly the header's uncompressed size. Not thread-safe: one reader per thread; reuses two buffers.
public final class SegmentReader {
    public let path: String
    public let header: SegmentHeader
    /// File size when the reader was opened or last ``refresh()``ed.
    public private(set) var byteCount: UInt64
    private let file: FileDescriptor
    private var stored: [UInt8] = []
    private var payload: [UInt8] = []
    private var lz4Source: [UInt8] = []
    /// Where the next frame starts.
    public private(set) var fileOffset = UInt64(SegmentHeader.byteCount)
    /// The sequence the next frame must start with.
    public private(set) var nextSequence: UInt64

    /// What ``nextFrame()`` found.
    public enum Step: Sendable {
        /// A verified frame; its uncompressed payload is available through ``withPayload(_:)``.
        case frame(FrameHeader, fileOffset: UInt64)
        /// The end of the file, exactly at a frame boundary.
        case end
        /// The bytes at `fileOffset` are not a valid frame. `reachesEnd` is `true` when the damage can be
        /// a torn tail: the frame runs past the end of the file, is the file's last frame, or no valid
        /// frame header exists anywhere after it.
        case invalid(fileOffset: UInt64, error: FormatError, reachesEnd: Bool)
    }

    /// Why the segment header did not verify, when the reader was opened with
    /// ``init(path:toleratingDamagedHeader:)`` and it did not (then ``header`` is a stand-in).
    public private(set) var headerDamage: SegmentLogError?

    /// Opens a segment; its header must verify.
    /// - Throws: `corrupt` at file offset 0 when the header does not verify; `ioFailed`.
    public convenience init(path: String) throws(SegmentLogError) {
        try self.init(path: path, fallbackFirstSequence: nil)
    }

    /// Opens a segment whose header may be damaged (scrub, repair): when it does not verify, the reader
    /// starts at `firstSequence` (from the file's name) after the 64 header bytes, and ``headerDamage``
    /// says why.
    public convenience init(path: String, toleratingDamagedHeader firstSequence: UInt64) throws(SegmentLogError) {
        try self.init(path: path, fallbackFirstSequence: firstSequence)
    }

    private init(path: String, fallbackFirstSequence: UInt64?) throws(SegmentLogError) {
        self.path = path
        file = try FileDescriptor(path: path, flags: O_RDONLY)
        byteCount = try file.byteCount()
        var headerBytes = [UInt8](repeating: 0, count: SegmentHeader.byteCount)
        let count = try file.read(into: &headerBytes, count: SegmentHeader.byteCount, fileOffset: 0)
        do {
            header = try SegmentHeader.decode(Array(headerBytes[0..<count]))
        } catch {
            let damage = SegmentLogError(
                code: .corrupt,
                path: path,
                fileOffset: 0,
                message: "bad segment header",
                format: error
            )
            guard let fallbackFirstSequence else { throw damage }
            header = SegmentHeader(firstSequence: fallbackFirstSequence, createdMicroseconds: 0)
            headerDamage = damage
            byteCount = max(byteCount, UInt64(SegmentHeader.byteCount))
        }
        nextSequence = header.firstSequence
    }

    /// Reads and verifies the next frame.
    public func nextFrame() throws(SegmentLogError) -> Step {
        let start = fileOffset
        // Past the end only after a seek to a stale index entry: damage, never an arithmetic trap.
        guard start <= byteCount else {
            return .invalid(
                fileOffset: start,
                error: FormatError(
                    code: .truncated,
                    fileOffset: start,
                    message: "frame offset is past the end of the file (\(byteCount) bytes)"
                ),
                reachesEnd: true
            )
        }
        let remaining = byteCount - start
        if remaining == 0 { return .end }
        guard remaining >= UInt64(FrameHeader.byteCount) else {
            return .invalid(
                fileOffset: start,
                error: FormatError(code: .truncated, fileOffset: start, message: "partial frame header"),
                reachesEnd: true
            )
        }
        if stored.count < FrameHeader.byteCount { stored = [UInt8](repeating: 0, count: 1 << 16) }
        _ = try file.read(into: &stored, count: FrameHeader.byteCount, fileOffset: start)
        let frame: FrameHeader
        do {
            frame = try FrameHeader.decode(Array(stored[0..<FrameHeader.byteCount]), fileOffset: start)
        } catch {
            return .invalid(fileOffset: start, error: error, reachesEnd: try !validFrameHeaderExists(after: start))
        }
        let frameEnd = start + UInt64(FrameHeader.byteCount) + UInt64(frame.storedByteCount)
        guard frameEnd <= byteCount else {
            return .invalid(
                fileOffset: start,
                error: FormatError(code: .truncated, fileOffset: start, message: "frame runs past the end of the file"),
                reachesEnd: true
            )
        }
        guard frame.firstSequence == nextSequence else {
            return .invalid(
                fileOffset: start,
                error: FormatError(
                    code: .invalidField,
                    fileOffset: start,
                    message: "frame starts at sequence \(frame.firstSequence), expected \(nextSequence)"
                ),
                reachesEnd: false
            )
        }
        if let error = try readPayload(frame, at: start) {
            let isLastFrame = frameEnd == byteCount
            var reachesEnd = isLastFrame
            if !reachesEnd { reachesEnd = try !validFrameHeaderExists(after: start) }
            return .invalid(fileOffset: start, error: error, reachesEnd: reachesEnd)
        }
        fileOffset = frameEnd
        nextSequence = frame.firstSequence + UInt64(frame.recordCount)
        return .frame(frame, fileOffset: start)
    }

    /// Re-reads the file size, so frames appended since are seen (followers of the active segment).
    public func refresh() throws(SegmentLogError) {
        byteCount = try file.byteCount()
    }

    /// Continues reading at an indexed frame (from ``SegmentIndex``). The entry is checked against the
    /// frame header found there when the frame is read: a stale entry shows up as an invalid frame.
    public func seek(to entry: SegmentIndexEntry) {
        precondition(entry.fileOffset >= UInt64(SegmentHeader.byteCount), "index entry inside the segment header")
        fileOffset = entry.fileOffset
        nextSequence = entry.firstSequence
    }

    /// Calls `body` with the uncompressed payload of the frame last returned by ``nextFrame()``.
    public func withPayload<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let result: Swift.Result<Result, Failure> = unsafe payload.withUnsafeBytes { raw in
            do throws(Failure) {
                return .success(try unsafe body(raw))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Calls `body` with each record of the frame last returned by ``nextFrame()`` (its `header` and
    /// `fileOffset`) and the payload the record's body range points into, after checking every record
    /// against the header (FORMAT.md).
    /// - Throws: `corrupt` naming the file and frame when the records disagree with the header.
    public func forEachRecord(
        of header: FrameHeader,
        at fileOffset: UInt64,
        _ body: (FrameRecord, UnsafeRawBufferPointer) -> Void
    ) throws(SegmentLogError) {
        let failure: FormatError? = unsafe withPayload { payload in
            do throws(FormatError) {
                try unsafe FramePayload.forEachRecord(in: payload, header: header, fileOffset: fileOffset) { record in
                    unsafe body(record, payload)
                }
                return nil
            } catch {
                return error
            }
        }
        if let failure {
            throw SegmentLogError(
                code: .corrupt,
                path: path,
                fileOffset: fileOffset,
                message: "bad records",
                format: failure
            )
        }
    }

    /// Reads the stored payload, checks its checksum and decompresses it; returns the error, if any.
    private func readPayload(_ frame: FrameHeader, at start: UInt64) throws(SegmentLogError) -> FormatError? {
        let storedCount = Int(frame.storedByteCount)
        if stored.count < storedCount { stored = [UInt8](repeating: 0, count: storedCount) }
        let payloadOffset = start + UInt64(FrameHeader.byteCount)
        _ = try file.read(into: &stored, count: storedCount, fileOffset: payloadOffset)
        let computed = unsafe stored.withUnsafeBytes { raw in
            unsafe FrameChecksum.update(0, UnsafeRawBufferPointer(rebasing: raw[0..<storedCount]))
        }
        guard computed == frame.payloadChecksum else {
            return FormatError(
                code: .payloadChecksumMismatch,
                fileOffset: payloadOffset,
                message: "frame payload checksum mismatch",
                storedChecksum: frame.payloadChecksum,
                computedChecksum: computed
            )
        }
        let uncompressedCount = Int(frame.uncompressedByteCount)
        if payload.count != uncompressedCount { payload = [UInt8](repeating: 0, count: uncompressedCount) }
        switch frame.compression {
        case .none:
            unsafe payload.withUnsafeMutableBufferPointer { target in
                _ = unsafe target.initialize(from: stored[0..<storedCount])
            }
        case .lz4Block:
            let ok = unsafe stored.withUnsafeBytes { source in
                unsafe payload.withUnsafeMutableBytes { target in
                    unsafe LZ4Block.decompress(UnsafeRawBufferPointer(rebasing: source[0..<storedCount]), into: target)
                }
            }
            guard ok else {
                return FormatError(
                    code: .invalidField,
                    fileOffset: payloadOffset,
                    message: "LZ4 block does not decompress"
                )
            }
        }
        return nil
    }

    /// Moves past damage reported by ``nextFrame()`` as `.invalid` at `damagedOffset`: to the first frame
    /// that verifies completely (header, payload checksum, decompression) and continues the sequences —
    /// the frame at `damagedOffset` itself when it is intact but starts later than ``nextSequence`` (a
    /// gap), else the next valid frame header found by scanning byte by byte for the frame magic, whose
    /// first sequence is at or after ``nextSequence``. ``nextSequence`` becomes that frame's first
    /// sequence, so `nextSequence` before the call ..< after it is what the damage cost.
    /// - Returns: the frame's file offset, or `nil` when no valid frame follows (the reader is then at the
    ///   end of the file and ``nextSequence`` is unchanged).
    /// - Complexity: O(bytes after the damage) reads, in 1 MiB chunks.
    public func resynchronize(after damagedOffset: UInt64) throws(SegmentLogError) -> UInt64? {
        if let frame = try verifiedFrame(at: damagedOffset), frame.firstSequence > nextSequence {
            return accept(frame, at: damagedOffset)
        }
        let chunkByteCount = 1 << 20
        var chunk = [UInt8](repeating: 0, count: chunkByteCount + FrameHeader.byteCount)
        var chunkOffset = damagedOffset + 1
        while chunkOffset + UInt64(FrameHeader.byteCount) <= byteCount {
            let count = try file.read(into: &chunk, count: chunk.count, fileOffset: chunkOffset)
            var position = 0
            while position + FrameHeader.byteCount <= count {
                if chunk[position] == 0x53, chunk[position + 1] == 0x4C, chunk[position + 2] == 0x46,
                    chunk[position + 3] == 0x52
                {
                    let candidate = chunkOffset + UInt64(position)
                    if let frame = try verifiedFrame(at: candidate), frame.firstSequence >= nextSequence {
                        return accept(frame, at: candidate)
                    }
                }
                position += 1
            }
            chunkOffset += UInt64(chunkByteCount)
        }
        fileOffset = byteCount
        return nil
    }

    private func accept(_ frame: FrameHeader, at candidate: UInt64) -> UInt64 {
        fileOffset = candidate
        nextSequence = frame.firstSequence
        return candidate
    }

    /// The frame header at `candidate` when the whole frame verifies (header, payload, decompression).
    private func verifiedFrame(at candidate: UInt64) throws(SegmentLogError) -> FrameHeader? {
        guard candidate >= UInt64(SegmentHeader.byteCount), candidate + UInt64(FrameHeader.byteCount) <= byteCount
        else { return nil }
        var bytes = [UInt8](repeating: 0, count: FrameHeader.byteCount)
        _ = try file.read(into: &bytes, count: FrameHeader.byteCount, fileOffset: candidate)
        guard let frame = try? FrameHeader.decode(bytes, fileOffset: candidate) else { return nil }
        guard candidate + UInt64(FrameHeader.byteCount) + UInt64(frame.storedByteCount) <= byteCount else { return nil }
        return try readPayload(frame, at: candidate) == nil ? frame : nil
    }

    /// `true` when a frame header with a valid checksum starts anywhere after `start` (then damage at
    /// `start` is corruption in the middle of the file, not a torn tail).
    private func validFrameHeaderExists(after start: UInt64) throws(SegmentLogError) -> Bool {
        let chunkByteCount = 1 << 20
        var chunk = [UInt8](repeating: 0, count: chunkByteCount + FrameHeader.byteCount)
        var chunkOffset = start + 1
        while chunkOffset + UInt64(FrameHeader.byteCount) <= byteCount {
            let count = try file.read(into: &chunk, count: chunk.count, fileOffset: chunkOffset)
            var position = 0
            while position + FrameHeader.byteCount <= count {
                if chunk[position] == 0x53, chunk[position + 1] == 0x4C, chunk[position + 2] == 0x46,
                    chunk[position + 3] == 0x52,
                    (try? FrameHeader.decode(
                        Array(chunk[position..<(position + FrameHeader.byteCount)]),
                        fileOffset: chunkOffset + UInt64(position)
                    )) != nil
                {
                    return true
                }
                position += 1
            }
            chunkOffset += UInt64(chunkByteCount)
        }
        return false
    }
}
