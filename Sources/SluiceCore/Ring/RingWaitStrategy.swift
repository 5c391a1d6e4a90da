/// How a ring consumer waits for work and how publishers wake it (Disruptor's wait strategies).
///
/// A consumer calls ``wait(iteration:until:)`` in its loop each time it found nothing new (`iteration`
/// counts the empty checks since it last found work); the strategy may return at any time (the caller
/// checks again) but must not sleep past the moment `isReady` turns true and a publisher has called
/// ``wakeAll()``, which publishers do after each publish.
/// `SluiceCore` has no system calls, so it ships only ``SpinWaitStrategy``; the `Sluice` module adds
/// strategies that yield the processor or park the thread.
public protocol RingWaitStrategy: AnyObject, Sendable {
    /// Called after the `iteration`-th consecutive check that found nothing to do (0, 1, 2, …).
    func wait(iteration: Int, until isReady: () -> Bool)
    /// Called by a publisher after it made new items visible.
    func wakeAll()
}

/// Busy-spins: the lowest latency and a whole core burnt while idle. For dedicated cores only.
public final class SpinWaitStrategy: RingWaitStrategy {
    public init() {}

    @inline(__always)
    public func wait(iteration: Int, until isReady: () -> Bool) {}

    @inline(__always)
    public func wakeAll() {}
}
