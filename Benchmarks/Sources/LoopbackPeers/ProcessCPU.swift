// CPU time of the benchmark process, for the per-event and per-delivery CPU figures.
import Foundation

/// CPU time (user + system, nanoseconds) this process has used so far, its exited threads included.
public func processCPUNanoseconds() -> UInt64 {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let microseconds =
        (Int64(usage.ru_utime.tv_sec) + Int64(usage.ru_stime.tv_sec)) * 1_000_000 + Int64(usage.ru_utime.tv_usec)
        + Int64(usage.ru_stime.tv_usec)
    return UInt64(microseconds) * 1_000
}
