package import SluiceSystem

#if canImport(Glibc)
internal import Glibc
#endif

/// A failed operation of the delivery I/O layer: a stable code, the operation, what it concerned
/// (an address, a path, an origin) and `errno` where the kernel gave one.
package struct IOError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stable part of the error; new cases do not break exhaustive switches elsewhere.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case systemCall, unavailable, resolution, tls, configuration
        }
        private let base: Base
        /// A system call failed (`errno` says why).
        package static let systemCall = Code(base: .systemCall)
        /// The requested backend is not usable on this machine (io_uring disabled, seccomp).
        package static let unavailable = Code(base: .unavailable)
        /// A host name did not resolve.
        package static let resolution = Code(base: .resolution)
        /// TLS setup failed (context, CA file, certificate or key).
        package static let tls = Code(base: .tls)
        /// A configuration value is out of range.
        package static let configuration = Code(base: .configuration)
        package var description: String {
            switch base {
            case .systemCall: "system call failed"
            case .unavailable: "unavailable"
            case .resolution: "name resolution failed"
            case .tls: "TLS setup failed"
            case .configuration: "invalid configuration"
            }
        }
    }

    package var code: Code
    package var operation: String
    package var subject: String
    package var errno: Int32

    package init(code: Code = .systemCall, operation: String, subject: String = "", errno: Int32 = 0) {
        self.code = code
        self.operation = operation
        self.subject = subject
        self.errno = errno
    }

    /// A failed system call (code ``Code/systemCall``), the subject being what the call concerned.
    package init(_ systemCall: SystemCallError) {
        self.init(operation: systemCall.operation, subject: systemCall.path, errno: systemCall.errno)
    }

    package var description: String {
        var text = "\(operation)"
        if !subject.isEmpty { text += " \(subject)" }
        text += ": \(code)"
        if errno != 0 { text += " (\(errnoDescription(errno)))" }
        return text
    }
}

/// ``SluiceSystem/systemCall(_:path:fileOffset:_:)`` with its failure as this module's error.
@inline(__always)
package func systemCall<Result: FixedWidthInteger>(
    _ operation: String,
    subject: String = "",
    _ body: () -> Result
) throws(IOError) -> Result {
    do {
        return try SluiceSystem.systemCall(operation, path: subject, body)
    } catch {
        throw IOError(error)
    }
}

/// Nanoseconds on `CLOCK_MONOTONIC`, the only clock the loops use (deadlines, latency).
package func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    unsafe clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}

/// Nanoseconds since the Unix epoch (`CLOCK_REALTIME`), for arrival times the sink records.
package func wallClockNanoseconds() -> UInt64 {
    var time = timespec()
    unsafe clock_gettime(CLOCK_REALTIME, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}
