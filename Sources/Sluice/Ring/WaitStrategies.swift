public import SluiceCore
import SluiceStorage
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// The ring wait strategy a pipeline stage uses, chosen by configuration (`spin | yield | park`).
public enum RingWaitStrategyKind: String, Sendable, CaseIterable {
    /// Busy-spin: lowest latency, one core burnt per idle consumer.
    case spin
    /// Spin briefly, then `sched_yield` between checks: low latency, gives the core to runnable threads.
    case yield
    /// Spin, yield, then sleep on a condition variable until a publisher wakes it: idle stages cost nothing.
    case park

    /// A new strategy of this kind.
    public func make() -> any RingWaitStrategy {
        switch self {
        case .spin: SpinWaitStrategy()
        case .yield: YieldWaitStrategy()
        case .park: ParkWaitStrategy()
        }
    }
}

/// Spins for `spinIterations` empty checks, then yields the processor between checks.
public final class YieldWaitStrategy: RingWaitStrategy {
    public let spinIterations: Int

    public init(spinIterations: Int = 100) { self.spinIterations = spinIterations }

    public func wait(iteration: Int, until isReady: () -> Bool) {
        if iteration >= spinIterations { sched_yield() }
    }

    public func wakeAll() {}
}

/// Spins, then yields, then parks the waiting thread on a condition variable; publishers wake parked
/// threads only when there are any, so the publish path stays one atomic load when nobody sleeps.
///
/// No lost wake-up: a waiter registers itself (a sequentially consistent increment of `waiters` and a fence) and then
/// re-checks `isReady` under the mutex before sleeping; a publisher makes its items visible, issues a
/// sequentially consistent fence and then reads `waiters`, broadcasting under the mutex. Either the
/// publisher sees the waiter and wakes it, or the waiter's re-check sees the items. A sleep is also
/// bounded by `parkTimeoutNanoseconds`, so a consumer re-checks cancellation at least that often.
///
@safe
public final class ParkWaitStrategy: RingWaitStrategy {
    public let spinIterations: Int
    public let yieldIterations: Int
    public let parkTimeoutNanoseconds: Int
    private let waiters = Atomic<Int>(0)
    private let condition = MonotonicCondition()

    public init(spinIterations: Int = 100, yieldIterations: Int = 2, parkTimeoutNanoseconds: Int = 10_000_000) {
        self.spinIterations = spinIterations
        self.yieldIterations = yieldIterations
        self.parkTimeoutNanoseconds = parkTimeoutNanoseconds
    }

    public func wait(iteration: Int, until isReady: () -> Bool) {
        if iteration < spinIterations { return }
        if iteration < spinIterations + yieldIterations {
            sched_yield()
            return
        }
        waiters.wrappingAdd(1, ordering: .sequentiallyConsistent)
        atomicMemoryFence(ordering: .sequentiallyConsistent)  // pairs with the fence in wakeAll (Dekker)
        let deadline = MonotonicCondition.monotonicNanoseconds() + UInt64(parkTimeoutNanoseconds)
        condition.withLock {
            if !isReady() { _ = condition.wait(untilNanoseconds: deadline) }
        }
        waiters.wrappingSubtract(1, ordering: .relaxed)
    }

    public func wakeAll() {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        guard waiters.load(ordering: .relaxed) > 0 else { return }
        condition.withLock { condition.broadcast() }
    }
}
