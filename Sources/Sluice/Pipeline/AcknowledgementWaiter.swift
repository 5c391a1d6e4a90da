import SluiceIO
import SluiceStorage
import Synchronization

/// Lets async callers wait until an accepted event is acknowledged (durable in the log, per the fsync
/// policy): an HTTP ingest route answers its producer only then (ARCHITECTURE.md §7).
///
/// Acknowledgement is a prefix: ``Pipeline/acknowledgedCount`` passing a ring position acknowledges every
/// position below it, so a batch waits for its last position only. One thread of its own (`sluice-acks`,
/// started at the first wait) serves all waiters: it parks on the condition the journaler broadcasts after
/// each advance of the durable cursor, and resumes the waiters that advance covers. No timer polls: a
/// `Task.sleep` every 100 µs cost 10,000 timer wake-ups a second while anyone waited, which serve-bench
/// showed to be most of the server's CPU at 1,000 requests a second. Idle, the thread parks until a waiter
/// registers (re-checking every `pollInterval` × 1,000 at most, and ending once the waiter is gone).
///
/// Thread-safe.
public final class AcknowledgementWaiter: Sendable {
    public let pipeline: Pipeline
    /// The longest the thread parks before it re-checks while waiters wait (a lost broadcast costs at most this).
    private let pollInterval: Duration
    private let state = Mutex(State())
    /// Wakes the thread when a waiter registers while it is idle.
    private let registered = MonotonicCondition()

    private struct State: ~Copyable {
        var waiters: [(position: Int, continuation: CheckedContinuation<Bool, Never>)] = []
        var threadStarted = false
        var idle = false
    }

    public init(pipeline: Pipeline, pollInterval: Duration = .milliseconds(10)) {
        precondition(pollInterval > .zero, "the poll interval must be positive")
        self.pipeline = pipeline
        self.pollInterval = pollInterval
    }

    /// Waits until the event at ring `position` is acknowledged; returns `true` then, or `false` as soon as
    /// the pipeline failed (the log could not be written: the event is not durable and never will be).
    /// A stop does not end the wait early: a stopping pipeline journals every accepted event first.
    public func wait(untilAcknowledged position: Int) async -> Bool {
        precondition(position >= 0, "a ring position is never negative")
        if pipeline.acknowledgedCount > position { return true }
        if pipeline.failure != nil { return false }
        return await withCheckedContinuation { continuation in
            let (starts, wakes) = state.withLock { state in
                state.waiters.append((position, continuation))
                let starts = !state.threadStarted
                state.threadStarted = true
                return (starts, state.idle)
            }
            if wakes { registered.withLock { registered.broadcast() } }
            // The pipeline's journaler broadcasts its park condition after each durable advance.
            if starts {
                do {
                    _ = try LoopThread(name: "sluice-acks") { [weak self] in
                        while let waiter = self, waiter.serve() {}
                    }
                } catch {
                    state.withLock { $0.threadStarted = false }
                    continuation.resume(returning: false)  // unreachable in practice: pthread_create failed
                }
            }
        }
    }

    private var parkNanoseconds: UInt64 {
        let (seconds, attoseconds) = pollInterval.components
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// One turn of the thread: resumes the waiters that are ready, then parks until the durable cursor moves
    /// (or, with none waiting, until one registers). Returns false to end the thread (never while this
    /// object lives: `wait` relies on the thread once started).
    private func serve() -> Bool {
        let acknowledged = pipeline.acknowledgedCount
        let failed = pipeline.failure != nil
        let (ready, lowest) = state.withLock { state in
            // Each with whether its events are durable: after a log failure, those acknowledged before it
            // still are (the reply must not call them lost).
            var ready: [(CheckedContinuation<Bool, Never>, Bool)] = []
            state.waiters.removeAll { waiter in
                let durable = waiter.position < acknowledged
                guard failed || durable else { return false }
                ready.append((waiter.continuation, durable))
                return true
            }
            let lowest = state.waiters.map(\.position).min()
            state.idle = lowest == nil
            return (ready, lowest)
        }
        for (continuation, durable) in ready { continuation.resume(returning: durable) }
        if let lowest {
            let pipeline = self.pipeline
            pipeline.core.matchWake.wait(iteration: Int.max) {
                pipeline.acknowledgedCount > lowest || pipeline.failure != nil
            }
        } else {
            let deadline = MonotonicCondition.monotonicNanoseconds() + parkNanoseconds * 1_000
            registered.withLock {
                if state.withLock({ $0.waiters.isEmpty }) { _ = registered.wait(untilNanoseconds: deadline) }
            }
        }
        return true
    }
}
