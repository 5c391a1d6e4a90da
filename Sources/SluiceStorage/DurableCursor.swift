import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// The log's published durable position, and a way to wait for it to move without polling.
///
/// Every record with a sequence below ``current`` is durable (per the fsync policy). The writer calls
/// ``publish(_:)``; any number of readers call ``current`` (an acquiring load) or ``wait(beyond:timeoutNanoseconds:)``,
/// which sleeps on a condition variable until the writer publishes past the given sequence.
///
/// `@unchecked Sendable`: the value is an `Atomic`; the mutex and condition variable are heap-allocated
/// pthread objects (stable addresses) used only for sleeping and waking, with the value re-read under
/// the mutex so no wake-up is lost.
@safe
public final class DurableCursor: @unchecked Sendable {
    private let value: Atomic<UInt64>
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init(_ sequence: UInt64) {
        value = Atomic(sequence)
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

    /// The first sequence that is not yet durable.
    public var current: UInt64 { value.load(ordering: .acquiring) }

    /// Publishes `sequence` (never moves backwards) and wakes every waiter.
    public func publish(_ sequence: UInt64) {
        unsafe pthread_mutex_lock(mutex)
        precondition(sequence >= value.load(ordering: .relaxed), "the durable cursor never moves backwards")
        value.store(sequence, ordering: .releasing)
        unsafe pthread_cond_broadcast(condition)
        unsafe pthread_mutex_unlock(mutex)
    }

    /// Waits until ``current`` is above `sequence` or `timeoutNanoseconds` pass; returns ``current``.
    @discardableResult
    public func wait(beyond sequence: UInt64, timeoutNanoseconds: UInt64) -> UInt64 {
        if current > sequence { return current }
        var now = timespec()
        unsafe clock_gettime(CLOCK_MONOTONIC, &now)
        let deadlineNanoseconds = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec) + timeoutNanoseconds
        var deadline = timespec(
            tv_sec: Int(deadlineNanoseconds / 1_000_000_000),
            tv_nsec: Int(deadlineNanoseconds % 1_000_000_000)
        )
        unsafe pthread_mutex_lock(mutex)
        while value.load(ordering: .relaxed) <= sequence {
            if unsafe pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        unsafe pthread_mutex_unlock(mutex)
        return current
    }
}
