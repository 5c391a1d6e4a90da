/// What a record holds; the log keeps events, delivery outcomes and configuration changes together.
public enum RecordType: UInt8, Sendable, CaseIterable {
    case event = 1
    case deliveryOutcome = 2
    case configurationChange = 3
}

/// One record as read back: its sequence, type, timestamp and body location in the payload.
public struct FrameRecord: Sendable, Equatable {
    public var sequence: UInt64
    public var type: RecordType
    public var timestampMicroseconds: Int64
    /// Byte range of the body inside the uncompressed frame payload.
    public var bodyRange: Range<Int>
}

/// The uncompressed payload of a frame: records back to back, each a 16-byte record header and a body.
///
/// ```
///  0             4      5          8                       16
///  +-------------+------+----------+-----------------------+------------------+
///  | bodyBytes   | type | reserved | timestampMicroseconds | body (bodyBytes) |
///  +-------------+------+----------+-----------------------+------------------+
/// ```
/// Sequences are implicit: the frame header's `firstSequence` plus the record's position.
public enum FramePayload {
    public static let recordHeaderByteCount = 16

    /// Appends one record to `payload`.
    public static func appendRecord(
        type: RecordType,
        timestampMicroseconds: Int64,
        body: UnsafeRawBufferPointer,
        to payload: inout [UInt8]
    ) {
        precondition(body.count <= Int(UInt32.max), "record body fits a UInt32 length")
        payload.appendLittleEndian(UInt32(body.count))
        payload.append(type.rawValue)
        payload.append(contentsOf: [0, 0, 0])
        payload.appendLittleEndian(timestampMicroseconds)
        unsafe payload.append(contentsOf: body)
    }

    /// Walks the records of a decoded payload, checking each against `header`.
    /// - Throws: `invalidField` when a record overruns the payload, has an unknown type, lies outside the
    ///   header's timestamp range or type mask, or the count disagrees with `header.recordCount`
    ///   (a payload whose checksum matched but whose contents are inconsistent: a writer bug).
    public static func forEachRecord(
        in payload: UnsafeRawBufferPointer,
        header: FrameHeader,
        fileOffset: UInt64,
        _ body: (FrameRecord) -> Void
    ) throws(FormatError) {
        var position = 0
        var index: UInt32 = 0
        while position < payload.count {
            func fail(_ message: String) -> FormatError {
                FormatError(code: .invalidField, fileOffset: fileOffset, message: "record \(index): \(message)")
            }
            guard position + recordHeaderByteCount <= payload.count else { throw fail("header overruns the payload") }
            let bodyByteCount = Int(unsafe payload.loadLittleEndian(position, as: UInt32.self))
            guard let type = RecordType(rawValue: unsafe payload[position + 4]) else {
                throw fail("unknown record type \(unsafe payload[position + 4])")
            }
            let timestamp = unsafe payload.loadLittleEndian(position + 8, as: Int64.self)
            let bodyStart = position + recordHeaderByteCount
            guard bodyByteCount <= payload.count - bodyStart else { throw fail("body overruns the payload") }
            guard timestamp >= header.minTimestampMicroseconds, timestamp <= header.maxTimestampMicroseconds else {
                throw fail("timestamp outside the frame's range")
            }
            guard header.recordTypeMask & (UInt8(1) << type.rawValue) != 0 else {
                throw fail("type missing from the frame's type mask")
            }
            guard index < header.recordCount else { throw fail("more records than the header's count") }
            body(
                FrameRecord(
                    sequence: header.firstSequence + UInt64(index),
                    type: type,
                    timestampMicroseconds: timestamp,
                    bodyRange: bodyStart..<(bodyStart + bodyByteCount)
                )
            )
            position = bodyStart + bodyByteCount
            index += 1
        }
        guard index == header.recordCount else {
            throw FormatError(
                code: .invalidField,
                fileOffset: fileOffset,
                message: "frame holds \(index) records, its header says \(header.recordCount)"
            )
        }
    }
}
