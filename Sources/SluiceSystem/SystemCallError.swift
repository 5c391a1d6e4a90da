#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A failed system call: the operation, what it concerned (a path, an address, an origin), the file
/// offset where it applies, and `errno`. The one system-call error of the package: `SluiceStorage`,
/// `SluiceIO` and the facade throw it from ``systemCall(_:path:fileOffset:_:)``, and their own errors
/// (`SegmentLogError`, `IOError`) are built from it.
public struct SystemCallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The system call (`open`, `pwrite`, `epoll_wait`, …).
    public var operation: String
    /// What the call concerned: a file path, a socket address, an origin; empty when nothing applies.
    public var path: String
    /// The byte position in the file, for positioned reads and writes.
    public var fileOffset: UInt64?
    public var errno: Int32

    public init(operation: String, path: String = "", fileOffset: UInt64? = nil, errno: Int32) {
        self.operation = operation
        self.path = path
        self.fileOffset = fileOffset
        self.errno = errno
    }

    /// `strerror` text for ``errno``.
    public var reason: String { errnoDescription(errno) }

    public var description: String {
        var text = operation
        if !path.isEmpty { text += " \(path)" }
        if let fileOffset { text += " at file offset \(fileOffset)" }
        return text + ": \(reason)"
    }
}

/// `strerror` text for an errno value.
package func errnoDescription(_ code: Int32) -> String {
    unsafe strerror(code).map { unsafe String(cString: $0) } ?? "errno \(code)"
}

/// The package's one system-call funnel: runs `body`, retries on `EINTR`, and throws with `errno` and
/// context when it returns -1. `EFAULT` and `EBADF` mean a bug in the caller, not an operating error: they trap.
@inline(__always)
package func systemCall<Result: FixedWidthInteger>(
    _ operation: String,
    path: String = "",
    fileOffset: UInt64? = nil,
    _ body: () -> Result
) throws(SystemCallError) -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        precondition(code != EFAULT, "\(operation): programmer error, errno \(code)")
        precondition(code != EBADF, "\(operation): programmer error, errno \(code)")
        throw SystemCallError(operation: operation, path: path, fileOffset: fileOffset, errno: code)
    }
}
