#if canImport(Glibc)
internal import Glibc
#endif

/// A pthread mutex and a condition variable on `CLOCK_MONOTONIC`, for threads that sleep until another
/// thread publishes something (the durable cursor, the ring's park wait strategy). Only for sleeping and
/// waking: the value waited for lives in an `Atomic` and is re-read under the mutex.
///
/// `@unchecked Sendable`: both pthread objects are heap-allocated (stable addresses) and used only through
/// the pthread calls, which synchronize by themselves.
@safe
package final class MonotonicCondition: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    package init() {
        unsafe mutex = .allocate(capacity: 1)
        unsafe condition = .allocate(capacity: 1)
        unsafe pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        unsafe pthread_condattr_init(&attributes)
        unsafe pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        unsafe pthread_cond_init(condition, &attributes)
        unsafe pthread_condattr_destroy(&attributes)
    }

    deinit {
        unsafe pthread_cond_destroy(condition)
        unsafe pthread_mutex_destroy(mutex)
        unsafe condition.deallocate()
        unsafe mutex.deallocate()
    }

    /// `CLOCK_MONOTONIC` now, in nanoseconds.
    package static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        unsafe clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// Runs `body` holding the mutex.
    package func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        unsafe pthread_mutex_lock(mutex)
        defer { unsafe pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// With the mutex held (inside ``withLock(_:)``): sleeps until woken or until the monotonic clock
    /// reaches `deadlineNanoseconds`. Returns `false` when the deadline passed. May wake spuriously.
    package func wait(untilNanoseconds deadlineNanoseconds: UInt64) -> Bool {
        var deadline = timespec(
            tv_sec: Int(deadlineNanoseconds / 1_000_000_000),
            tv_nsec: Int(deadlineNanoseconds % 1_000_000_000)
        )
        return unsafe pthread_cond_timedwait(condition, mutex, &deadline) != ETIMEDOUT
    }

    /// Wakes every sleeper (call with or without the mutex held).
    package func broadcast() { unsafe pthread_cond_broadcast(condition) }
}
