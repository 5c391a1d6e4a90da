internal import CLibURing
import SluiceSystem

#if canImport(Glibc)
internal import Glibc
#endif

/// Which kernel interface a loop uses.
package enum IOBackendKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// io_uring through liburing: one `io_uring_enter` submits a batch and waits.
    case uring
    /// epoll readiness plus non-blocking system calls, for machines where io_uring is disabled.
    case epoll

    package var description: String { self == .uring ? "io_uring" : "epoll" }
}

/// The completion-style interface both loops implement, so the HTTP client and the sink run unchanged
/// on either one. Operations are queued and start no later than the next ``run(waitDeadlineNanoseconds:_:)``;
/// each one completes exactly once with a result in io_uring's convention: a byte count (or a descriptor,
/// for accept) when non-negative, `-errno` when negative. A deadline that passes first completes the
/// operation with `-ETIME`.
///
/// `userData` is the caller's, below ``IOBackendUserData/reservedMin`` (the backends use the top bit).
/// Pointers passed in must stay valid until the operation completes. Deadlines are
/// ``monotonicNanoseconds()`` values; 0 means none.
///
/// Not thread-safe; owned by one loop thread.
package protocol IOBackend: AnyObject {
    var kind: IOBackendKind { get }
    /// Arms `descriptor` (an eventfd) as the loop's wake-up: each signal completes with
    /// ``IOBackendUserData/wakeup`` and the backend re-arms it.
    func armWakeup(descriptor: Int32)
    func connect(
        socket: Int32,
        address: UnsafeRawPointer,
        length: UInt32,
        userData: UInt64,
        deadlineNanoseconds: UInt64
    )
    func send(socket: Int32, bytes: UnsafeRawPointer, count: Int, userData: UInt64)
    func receive(
        socket: Int32,
        into buffer: UnsafeMutableRawPointer,
        capacity: Int,
        userData: UInt64,
        deadlineNanoseconds: UInt64
    )
    func accept(socket: Int32, userData: UInt64)
    /// Completes with 0 at `deadlineNanoseconds` (or `-ETIME`, which callers treat the same).
    func timer(deadlineNanoseconds: UInt64, userData: UInt64)
    /// Drops what the backend knows about `socket`; call after its last completion and before closing it.
    func forget(socket: Int32)
    /// Starts every queued operation (one `io_uring_enter` on io_uring), waits until at least one
    /// completion is ready or `waitDeadlineNanoseconds` passes (`nil`: no deadline, 0: do not wait),
    /// then hands every ready completion to `handler`.
    func run(
        waitDeadlineNanoseconds: UInt64?,
        _ handler: (_ userData: UInt64, _ result: Int32) -> Void
    ) throws(IOError)
}

/// `userData` values and bits the backends reserve.
package enum IOBackendUserData {
    /// Caller `userData` must be below this.
    package static let reservedMin: UInt64 = 1 << 62
    /// The wake-up eventfd fired.
    package static let wakeup: UInt64 = (1 << 63) | 1
}

/// The backend chosen at start and why, for the log line.
package struct IOBackendSelection: Sendable, CustomStringConvertible {
    package var kind: IOBackendKind
    package var reason: String

    /// Picks a backend: `SLUICE_IO=uring|epoll` forces one; otherwise io_uring when a probe ring can be
    /// created, else epoll. Forcing io_uring where it is unavailable is an error.
    package static func detect(override: String? = environmentValue("SLUICE_IO")) throws(IOError) -> Self {
        switch override {
        case "uring", "io_uring":
            if let failure = URingBackend.probe() {
                throw IOError(
                    code: .unavailable,
                    operation: "SLUICE_IO=uring",
                    subject: "io_uring_queue_init",
                    errno: failure
                )
            }
            return Self(kind: .uring, reason: "forced by SLUICE_IO=uring")
        case "epoll":
            return Self(kind: .epoll, reason: "forced by SLUICE_IO=epoll")
        case nil, "":
            if let failure = URingBackend.probe() {
                return Self(kind: .epoll, reason: "io_uring unavailable: \(errnoDescription(failure))")
            }
            return Self(kind: .uring, reason: "io_uring probe succeeded")
        case .some(let other):
            throw IOError(
                code: .configuration,
                operation: "SLUICE_IO",
                subject: "'\(other)' is not one of uring, epoll"
            )
        }
    }

    /// The line a command prints at start, e.g. `I/O backend: io_uring (io_uring probe succeeded)`.
    package var description: String { "I/O backend: \(kind) (\(reason))" }

    /// - Parameter onLoopThread: the caller is the loop thread that will use the backend for its whole
    ///   life (io_uring then defers completion work to that thread's `io_uring_enter`).
    package func makeBackend(onLoopThread: Bool = false) throws(IOError) -> any IOBackend {
        switch kind {
        case .uring: try URingBackend(singleIssuer: onLoopThread)
        case .epoll: try EpollBackend()
        }
    }
}

/// An environment variable's value, or `nil`.
package func environmentValue(_ name: String) -> String? {
    unsafe getenv(name).map { unsafe String(cString: $0) }
}

/// An eventfd other threads signal to wake a loop.
package final class LoopWakeup: Sendable {
    package let descriptor: Int32

    package init() throws(IOError) {
        descriptor = try systemCall("eventfd") { eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK)) }
    }

    deinit { Socket.close(descriptor) }

    /// Wakes the loop; callable from any thread.
    package func signal() {
        var one: UInt64 = 1
        // An eventfd write fails only when the counter would overflow, which still leaves it readable.
        _ = unsafe write(descriptor, &one, 8)
    }
}

/// A dedicated thread for a loop (blocking `io_uring_enter` / `epoll_wait` never run on Swift's
/// cooperative pool).
package final class LoopThread: @unchecked Sendable {
    // @unchecked: `thread` is written once in init before any other thread sees the object and read
    // only by `join`, which the owner calls once.
    private var thread = pthread_t()
    private var joined = false

    private final class Start {
        let name: String?
        let body: () -> Void
        init(name: String?, body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// - Parameter name: the thread's name in `top -H`, `perf` and debuggers (at most 15 bytes are kept).
    package init(name: String? = nil, body: @escaping @Sendable () -> Void) throws(IOError) {
        let start = unsafe Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
        let result = unsafe pthread_create(
            &thread,
            nil,
            { context in
                let start = unsafe Unmanaged<Start>.fromOpaque(context!).takeRetainedValue()
                if let name = start.name { _ = unsafe cliburing_set_thread_name(name) }
                start.body()
                return nil
            },
            start
        )
        guard result == 0 else {
            unsafe Unmanaged<Start>.fromOpaque(start).release()
            throw IOError(operation: "pthread_create", errno: result)
        }
    }

    /// Waits for the thread to end. Called on the thread itself (its owner's last reference went away
    /// in a callback there), it detaches instead: the thread ends on its own once its loop returns.
    package func join() {
        guard !joined else { return }
        joined = true
        if pthread_equal(thread, pthread_self()) != 0 {
            _ = pthread_detach(thread)
            return
        }
        _ = pthread_join(thread, nil)
    }
}
