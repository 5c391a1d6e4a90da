#if canImport(Glibc)
internal import Glibc
#endif

/// SIGINT and SIGTERM as a request to stop cleanly, for long-running commands (`sluice run`, `sluice
/// replay`): ``block()`` them first thing (threads started afterwards inherit the mask), then poll
/// ``received(waitingNanoseconds:)`` from the main loop; a stop drains the pipeline instead of killing it.
public enum StopSignals {
    /// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts afterwards.
    public static func block() {
        var signals = set()
        _ = unsafe pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    /// Whether a stop signal arrived, waiting up to `waitingNanoseconds` for one.
    public static func received(waitingNanoseconds: UInt64 = 0) -> Bool { wait(nanoseconds: waitingNanoseconds) != nil }

    /// The stop signal (SIGINT or SIGTERM) that arrived within `nanoseconds`, if any.
    public static func wait(nanoseconds: UInt64) -> Int32? {
        var signals = set()
        var timeout = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        let signal = unsafe sigtimedwait(&signals, nil, &timeout)
        return signal == SIGINT || signal == SIGTERM ? signal : nil
    }

    private static func set() -> sigset_t {
        var signals = sigset_t()
        unsafe sigemptyset(&signals)
        unsafe sigaddset(&signals, SIGINT)
        unsafe sigaddset(&signals, SIGTERM)
        return signals
    }
}
