/// The header at the start of every segment file. FORMAT.md has the table.
///
/// `headerChecksum` (CRC-32C over bytes 0..<60) is checked first; then the magic; then the version:
/// a segment whose `minimumReaderVersion` is above ``readerVersion`` is refused, never guessed at.
public struct SegmentHeader: Sendable, Equatable {
    public static let byteCount = 64
    /// `SLUICESG`.
    public static let magic: [UInt8] = Array("SLUICESG".utf8)
    /// The format version this code writes.
    public static let formatVersion: UInt16 = 1
    /// The newest format this code reads.
    public static let readerVersion: UInt16 = 1

    public var formatVersion: UInt16
    public var minimumReaderVersion: UInt16
    /// Sequence of the segment's first record (also the file's name).
    public var firstSequence: UInt64
    /// When the segment was created (wall clock, µs since the Unix epoch).
    public var createdMicroseconds: Int64

    public init(firstSequence: UInt64, createdMicroseconds: Int64) {
        self.formatVersion = Self.formatVersion
        self.minimumReaderVersion = 1
        self.firstSequence = firstSequence
        self.createdMicroseconds = createdMicroseconds
    }

    /// Appends the 64 header bytes.
    public func encode(into target: inout [UInt8]) {
        let start = target.count
        target.append(contentsOf: Self.magic)
        target.appendLittleEndian(formatVersion)
        target.appendLittleEndian(minimumReaderVersion)
        target.appendLittleEndian(UInt32(Self.byteCount))
        target.appendLittleEndian(firstSequence)
        target.appendLittleEndian(createdMicroseconds)
        target.append(contentsOf: repeatElement(0, count: 28))
        let checksum = unsafe target.withUnsafeBytes { raw in
            unsafe CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[start..<(start + 60)]))
        }
        target.appendLittleEndian(checksum)
        assert(target.count - start == Self.byteCount)
    }

    /// Decodes and validates the header at the start of `bytes`.
    public static func decode(_ bytes: [UInt8]) throws(FormatError) -> SegmentHeader {
        guard bytes.count >= byteCount else {
            throw FormatError(
                code: .truncated,
                fileOffset: 0,
                message: "segment header needs \(byteCount) bytes, the file has \(bytes.count)"
            )
        }
        return try unsafe bytes.withUnsafeBytes { raw in unsafe decodeValidated(raw) }.get()
    }

    private static func decodeValidated(_ raw: UnsafeRawBufferPointer) -> Result<SegmentHeader, FormatError> {
        let stored = unsafe raw.loadLittleEndian(60, as: UInt32.self)
        let computed = unsafe CRC32C.update(0, UnsafeRawBufferPointer(rebasing: raw[0..<60]))
        guard stored == computed else {
            return .failure(
                FormatError(
                    code: .headerChecksumMismatch,
                    fileOffset: 0,
                    message: "segment header checksum mismatch",
                    storedChecksum: stored,
                    computedChecksum: computed
                )
            )
        }
        guard unsafe raw[0..<8].elementsEqual(magic) else {
            return .failure(FormatError(code: .badMagic, fileOffset: 0, message: "not a Sluice segment file"))
        }
        var header = unsafe SegmentHeader(
            firstSequence: raw.loadLittleEndian(16, as: UInt64.self),
            createdMicroseconds: raw.loadLittleEndian(24, as: Int64.self)
        )
        header.formatVersion = unsafe raw.loadLittleEndian(8, as: UInt16.self)
        header.minimumReaderVersion = unsafe raw.loadLittleEndian(10, as: UInt16.self)
        guard header.minimumReaderVersion <= readerVersion else {
            return .failure(
                FormatError(
                    code: .unsupportedVersion,
                    fileOffset: 10,
                    message: "segment format \(header.formatVersion) needs reader version "
                        + "\(header.minimumReaderVersion); this reader is version \(readerVersion)"
                )
            )
        }
        guard unsafe raw.loadLittleEndian(12, as: UInt32.self) == UInt32(byteCount) else {
            return .failure(FormatError(code: .invalidField, fileOffset: 12, message: "unexpected header size"))
        }
        return .success(header)
    }
}
