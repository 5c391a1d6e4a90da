public import SluiceCore
public import SluiceSystem

/// A segment-log operation failed: what, in which file, where, and why.
public struct SegmentLogError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case ioFailed, corrupt, invalidConfiguration, recordTooLarge, closed, locked
        }
        private let base: Base
        /// A system call failed (`errno` in ``SegmentLogError/errno``).
        public static let ioFailed = Code(base: .ioFailed)
        /// Stored bytes failed validation somewhere other than a torn tail (``SegmentLogError/format``).
        public static let corrupt = Code(base: .corrupt)
        public static let invalidConfiguration = Code(base: .invalidConfiguration)
        /// A record cannot fit in one frame (``LogConfiguration/frameByteCountMax``).
        public static let recordTooLarge = Code(base: .recordTooLarge)
        public static let closed = Code(base: .closed)
        /// Another writer (in this or another process) holds the log directory's `writer.lock`.
        public static let locked = Code(base: .locked)
        public var description: String { String(describing: base) }
    }

    public var code: Code
    public var path: String
    public var fileOffset: UInt64?
    public var message: String
    public var errno: Int32?
    public var format: FormatError?

    public init(
        code: Code,
        path: String,
        fileOffset: UInt64? = nil,
        message: String,
        errno: Int32? = nil,
        format: FormatError? = nil
    ) {
        self.code = code
        self.path = path
        self.fileOffset = fileOffset
        self.message = message
        self.errno = errno
        self.format = format
    }

    /// A failed system call of the log (code ``Code/ioFailed``).
    public init(_ systemCall: SystemCallError) {
        self.init(
            code: .ioFailed,
            path: systemCall.path,
            fileOffset: systemCall.fileOffset,
            message: systemCall.operation,
            errno: systemCall.errno
        )
    }

    public var description: String {
        var text = "\(code) in \(path)"
        if let fileOffset { text += " at file offset \(fileOffset)" }
        text += ": \(message)"
        if let errno { text += " (\(errnoDescription(errno)))" }
        if let format { text += ": \(format)" }
        return text
    }
}

/// ``SluiceSystem/systemCall(_:path:fileOffset:_:)`` with its failure as this module's error.
@inline(__always)
func systemCall<Result: FixedWidthInteger>(
    _ operation: String,
    path: String,
    fileOffset: UInt64? = nil,
    _ body: () -> Result
) throws(SegmentLogError) -> Result {
    do {
        return try SluiceSystem.systemCall(operation, path: path, fileOffset: fileOffset, body)
    } catch {
        throw SegmentLogError(error)
    }
}
