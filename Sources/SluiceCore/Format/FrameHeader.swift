/// How a frame's payload is stored.
public enum FrameCompression: UInt8, Sendable, CaseIterable {
    case none = 0
    /// One LZ4 block (`LZ4_compress_default`); the header holds the uncompressed byte count.
    case lz4Block = 1
}

/// The header in front of every frame (a batch of records) in a segment file. FORMAT.md has the table.
///
/// ```
///  0        4     5     6        8                16           20             24               28           32
///  +--------+-----+-----+--------+----------------+------------+--------------+----------------+------------+
///  | magic  |comp |types|reserved| firstSequence  | recordCount| storedBytes  | uncompressedB. | payloadCRC |
///  +--------+-----+-----+--------+----------------+------------+--------------+----------------+------------+
///  32                  40                  48          52          56
///  +-------------------+-------------------+-----------+-----------+
///  | minTimestamp (µs) | maxTimestamp (µs) | reserved  | headerCRC |
///  +-------------------+-------------------+-----------+-----------+
/// ```
/// All integers little-endian. `headerCRC` is CRC-32C over bytes 0..<52 and is checked before any
/// length in the header is trusted; `payloadCRC` covers the stored (possibly compressed) payload bytes.
public struct FrameHeader: Sendable, Equatable {
    public static let byteCount = 56
    /// `SLFR` read as a little-endian UInt32.
    public static let magic: UInt32 = 0x5246_4C53
    /// The most an LZ4 block can expand: its uncompressed size is at most this many times its stored size.
    public static let lz4ExpansionMax: UInt64 = 255

    public var compression: FrameCompression
    /// Bit `t` set when a record of type `t` (0–7) is in the frame, so scans can skip frames early.
    public var recordTypeMask: UInt8
    public var firstSequence: UInt64
    public var recordCount: UInt32
    public var storedByteCount: UInt32
    public var uncompressedByteCount: UInt32
    public var payloadChecksum: UInt32
    public var minTimestampMicroseconds: Int64
    public var maxTimestampMicroseconds: Int64

    public init(
        compression: FrameCompression,
        recordTypeMask: UInt8,
        firstSequence: UInt64,
        recordCount: UInt32,
        storedByteCount: UInt32,
        uncompressedByteCount: UInt32,
        payloadChecksum: UInt32,
        minTimestampMicroseconds: Int64,
        maxTimestampMicroseconds: Int64
    ) {
        self.compression = compression
        self.recordTypeMask = recordTypeMask
        self.firstSequence = firstSequence
        self.recordCount = recordCount
        self.storedByteCount = storedByteCount
        self.uncompressedByteCount = uncompressedByteCount
        self.payloadChecksum = payloadChecksum
        self.minTimestampMicroseconds = minTimestampMicroseconds
        self.maxTimestampMicroseconds = maxTimestampMicroseconds
    }

    /// Appends the 56 header bytes.
    public func encode(into target: inout [UInt8]) {
        precondition(recordCount > 0, "a frame holds at least one record")
        precondition(minTimestampMicroseconds <= maxTimestampMicroseconds, "timestamp range is ordered")
        precondition(compression != .none || storedByteCount == uncompressedByteCount, "uncompressed sizes agree")
        let start = target.count
        target.appendLittleEndian(Self.magic)
        target.append(compression.rawValue)
        target.append(recordTypeMask)
        target.appendLittleEndian(UInt16(0))
        target.appendLittleEndian(firstSequence)
        target.appendLittleEndian(recordCount)
        target.appendLittleEndian(storedByteCount)
        target.appendLittleEndian(uncompressedByteCount)
        target.appendLittleEndian(payloadChecksum)
        target.appendLittleEndian(minTimestampMicroseconds)
        target.appendLittleEndian(maxTimestampMicroseconds)
        target.appendLittleEndian(UInt32(0))
        let checksum = unsafe target.withUnsafeBytes { raw in
            unsafe CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[start..<(start + 52)]))
        }
        target.appendLittleEndian(checksum)
        assert(target.count - start == Self.byteCount)
    }

    /// Decodes and validates a header: checksum first, then magic and fields.
    /// - Parameters:
    ///   - bytes: at least ``byteCount`` bytes starting at the header.
    ///   - fileOffset: where the header is in its file (for errors).
    public static func decode(_ bytes: UnsafeRawBufferPointer, fileOffset: UInt64) throws(FormatError) -> FrameHeader {
        guard bytes.count >= byteCount else {
            throw FormatError(
                code: .truncated,
                fileOffset: fileOffset,
                message: "frame header needs \(byteCount) bytes, \(bytes.count) remain"
            )
        }
        let stored = unsafe bytes.loadLittleEndian(52, as: UInt32.self)
        let computed = unsafe CRC32C.update(0, UnsafeRawBufferPointer(rebasing: bytes[0..<52]))
        guard stored == computed else {
            throw FormatError(
                code: .headerChecksumMismatch,
                fileOffset: fileOffset,
                message: "frame header checksum mismatch",
                storedChecksum: stored,
                computedChecksum: computed
            )
        }
        guard unsafe bytes.loadLittleEndian(0, as: UInt32.self) == magic else {
            throw FormatError(code: .badMagic, fileOffset: fileOffset, message: "not a frame header")
        }
        guard let compression = FrameCompression(rawValue: unsafe bytes[4]) else {
            throw FormatError(
                code: .invalidField,
                fileOffset: fileOffset + 4,
                message: "unknown compression code \(unsafe bytes[4])"
            )
        }
        let header = unsafe FrameHeader(
            compression: compression,
            recordTypeMask: bytes[5],
            firstSequence: bytes.loadLittleEndian(8, as: UInt64.self),
            recordCount: bytes.loadLittleEndian(16, as: UInt32.self),
            storedByteCount: bytes.loadLittleEndian(20, as: UInt32.self),
            uncompressedByteCount: bytes.loadLittleEndian(24, as: UInt32.self),
            payloadChecksum: bytes.loadLittleEndian(28, as: UInt32.self),
            minTimestampMicroseconds: bytes.loadLittleEndian(32, as: Int64.self),
            maxTimestampMicroseconds: bytes.loadLittleEndian(40, as: Int64.self)
        )
        guard header.recordCount > 0, header.minTimestampMicroseconds <= header.maxTimestampMicroseconds,
            header.compression != .none || header.storedByteCount == header.uncompressedByteCount
        else {
            throw FormatError(code: .invalidField, fileOffset: fileOffset, message: "frame header fields disagree")
        }
        // Readers compute the next frame's sequence as firstSequence + recordCount: it must not wrap.
        guard header.firstSequence <= UInt64.max - UInt64(header.recordCount) else {
            throw FormatError(
                code: .invalidField,
                fileOffset: fileOffset,
                message:
                    "frame sequences \(header.firstSequence) + \(header.recordCount) records pass the largest sequence"
            )
        }
        // A reader allocates the uncompressed size, so it must be possible, not only checksummed: an LZ4
        // block expands at most 255-fold (a match-length byte of 255 is its densest code), and every record
        // takes at least its 16-byte header.
        let uncompressed = UInt64(header.uncompressedByteCount)
        guard header.compression != .lz4Block || uncompressed <= UInt64(header.storedByteCount) * lz4ExpansionMax,
            uncompressed >= UInt64(header.recordCount) * UInt64(FramePayload.recordHeaderByteCount)
        else {
            throw FormatError(
                code: .invalidField,
                fileOffset: fileOffset,
                message: "frame header sizes are impossible: \(header.recordCount) records, "
                    + "\(header.storedByteCount) bytes stored, \(header.uncompressedByteCount) uncompressed"
            )
        }
        return header
    }

    /// Decodes a header from the start of `bytes` (see ``decode(_:fileOffset:)-(UnsafeRawBufferPointer,_)``).
    public static func decode(_ bytes: [UInt8], fileOffset: UInt64) throws(FormatError) -> FrameHeader {
        let result: Result<FrameHeader, FormatError> = unsafe bytes.withUnsafeBytes { raw in
            do throws(FormatError) {
                return .success(try unsafe decode(raw, fileOffset: fileOffset))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
