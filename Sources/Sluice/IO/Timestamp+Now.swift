#if canImport(Glibc)
internal import Glibc
#endif

extension Timestamp {
    /// The current wall-clock time (`CLOCK_REALTIME`). Lives in the facade: the core never reads a clock.
    public static func now() -> Timestamp {
        var spec = timespec()
        unsafe clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(secondsSinceEpoch: Int64(spec.tv_sec), microseconds: Int64(spec.tv_nsec / 1000))
    }
}
