#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// A failed system call: the operation, the path it concerned and `errno`.
public struct SystemCallError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Int32

    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String {
        let reason = unsafe strerror(errno).map { unsafe String(cString: $0) } ?? "errno \(errno)"
        return "\(operation) \(path): \(reason)"
    }
}

/// Runs a system call, retrying on `EINTR`; throws with `errno` on failure (the one syscall funnel).
@inline(__always)
func retryingOnInterrupt<Result: FixedWidthInteger>(
    _ operation: String,
    path: String,
    _ body: () -> Result
) throws(SystemCallError) -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SystemCallError(operation: operation, path: path, errno: code)
    }
}
