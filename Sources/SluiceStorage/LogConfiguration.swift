public import SluiceCore

/// When appended frames are made durable.
public enum FsyncPolicy: Sendable, Equatable {
    /// `fdatasync` after every append call (group commit: one sync per batch the caller hands in).
    case always
    /// `fdatasync` at most every `milliseconds`; the durable cursor trails the written one by up to that.
    case interval(milliseconds: Int)
    /// Never sync; the page cache decides. The durable cursor then only means "written".
    case never
}

/// Configuration of one segment log. Every bound is checked once by ``validate()``.
public struct LogConfiguration: Sendable, Equatable {
    /// The directory holding the segment files (created if missing).
    public var directory: String
    public var fsync: FsyncPolicy = .always
    public var compression: FrameCompression = .lz4Block
    /// A segment is sealed and a new one started before it would grow past this.
    public var segmentByteCountMax: Int = 128 << 20
    /// A segment older than this (by its creation time) is sealed at the next append; `nil`: no age roll.
    public var segmentAgeMaxMicroseconds: Int64? = nil
    /// Largest uncompressed frame payload; an append is cut into frames of at most this size. Costs two
    /// buffers of about this size per writer (payload and LZ4 scratch).
    public var frameByteCountMax: Int = 1 << 20

    public init(directory: String) { self.directory = directory }

    public func validate() throws(SegmentLogError) {
        func fail(_ message: String) -> SegmentLogError {
            SegmentLogError(code: .invalidConfiguration, path: directory, message: message)
        }
        guard frameByteCountMax >= 4096, frameByteCountMax < Int(UInt32.max) / 2 else {
            throw fail("frameByteCountMax must be between 4 KiB and 1 GiB")
        }
        guard segmentByteCountMax >= 4 * frameByteCountMax else {
            throw fail(
                "a segment must hold at least 4 frames: segmentByteCountMax (\(segmentByteCountMax)) must be at least 4 × frameByteCountMax (\(4 * frameByteCountMax))"
            )
        }
        if case .interval(let milliseconds) = fsync, !(1...3_600_000).contains(milliseconds) {
            throw fail("fsync interval must be from 1 to 3600000 ms, not \(milliseconds)")
        }
        if let age = segmentAgeMaxMicroseconds, age <= 0 { throw fail("segment age must be positive") }
    }
}

/// One record to append: its type, time and body bytes (for events, the event's Prefect JSON).
public struct LogRecord: Sendable, Equatable {
    public var type: RecordType
    public var timestampMicroseconds: Int64
    public var body: [UInt8]

    public init(type: RecordType, timestampMicroseconds: Int64, body: [UInt8]) {
        self.type = type
        self.timestampMicroseconds = timestampMicroseconds
        self.body = body
    }
}

/// Segment file names: the first sequence, 20 decimal digits, `.segment`.
public enum SegmentFileName {
    public static let suffix = ".segment"

    public static func name(firstSequence: UInt64) -> String {
        let digits = String(firstSequence)
        return String(repeating: "0", count: 20 - digits.count) + digits + suffix
    }

    /// The first sequence of a segment file name, or `nil` for other files.
    public static func firstSequence(of name: String) -> UInt64? {
        // Twenty ASCII digits: `UInt64(_:)` alone would also take a sign (`+000…`).
        guard name.hasSuffix(suffix), name.utf8.count == 20 + suffix.utf8.count,
            name.utf8.prefix(20).allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return UInt64(name.prefix(20))
    }
}
