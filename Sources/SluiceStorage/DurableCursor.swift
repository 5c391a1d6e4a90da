import Synchronization

/// The log's published durable position, and a way to wait for it to move without polling.
///
/// Every record with a sequence below ``current`` is durable (per the fsync policy). The writer calls
/// ``publish(_:)``; any number of readers call ``current`` (an acquiring load) or ``wait(beyond:timeoutNanoseconds:)``,
/// which sleeps on a condition variable until the writer publishes past the given sequence (the value is
/// re-read under the condition's mutex, so no wake-up is lost).
@safe
public final class DurableCursor: Sendable {
    private let value: Atomic<UInt64>
    private let condition = MonotonicCondition()

    public init(_ sequence: UInt64) { value = Atomic(sequence) }

    /// The first sequence that is not yet durable.
    public var current: UInt64 { value.load(ordering: .acquiring) }

    /// Publishes `sequence` (never moves backwards) and wakes every waiter.
    public func publish(_ sequence: UInt64) {
        condition.withLock {
            precondition(sequence >= value.load(ordering: .relaxed), "the durable cursor never moves backwards")
            value.store(sequence, ordering: .releasing)
            condition.broadcast()
        }
    }

    /// Waits until ``current`` is above `sequence` or `timeoutNanoseconds` pass; returns ``current``.
    @discardableResult
    public func wait(beyond sequence: UInt64, timeoutNanoseconds: UInt64) -> UInt64 {
        if current > sequence { return current }
        let deadline = MonotonicCondition.monotonicNanoseconds() + timeoutNanoseconds
        condition.withLock {
            while value.load(ordering: .relaxed) <= sequence {
                if !condition.wait(untilNanoseconds: deadline) { break }
            }
        }
        return current
    }
}
