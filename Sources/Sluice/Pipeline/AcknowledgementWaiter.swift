import Synchronization

/// Lets async callers wait until an accepted event is acknowledged (durable in the log, per the fsync
/// policy): an HTTP ingest route answers its producer only then (ARCHITECTURE.md §7).
///
/// Acknowledgement is a prefix: ``Pipeline/acknowledgedCount`` passing a ring position acknowledges every
/// position below it, so a batch waits for its last position only. One polling task serves all waiters
/// while there are any (every `pollInterval`, 100 µs by default; none runs while nobody waits) — the
/// journaler is not touched, so waiting costs the data plane nothing.
///
/// Thread-safe.
public final class AcknowledgementWaiter: Sendable {
    public let pipeline: Pipeline
    private let pollInterval: Duration
    private let state = Mutex(State())

    private struct State: ~Copyable {
        var waiters: [(position: Int, continuation: CheckedContinuation<Bool, Never>)] = []
        var polling = false
    }

    public init(pipeline: Pipeline, pollInterval: Duration = .microseconds(100)) {
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
            let startsPolling = state.withLock { state in
                state.waiters.append((position, continuation))
                guard !state.polling else { return false }
                state.polling = true
                return true
            }
            if startsPolling { Task { await poll() } }
        }
    }

    /// Resumes the waiters whose position is acknowledged until none is left.
    private func poll() async {
        while true {
            let acknowledged = pipeline.acknowledgedCount
            let failed = pipeline.failure != nil
            let ready = state.withLock { state in
                // Each with whether its events are durable: after a log failure, those acknowledged before it
                // still are (the reply must not call them lost).
                var ready: [(CheckedContinuation<Bool, Never>, Bool)] = []
                state.waiters.removeAll { waiter in
                    let durable = waiter.position < acknowledged
                    guard failed || durable else { return false }
                    ready.append((waiter.continuation, durable))
                    return true
                }
                if state.waiters.isEmpty { state.polling = false }
                return (ready, state.waiters.isEmpty)
            }
            for (continuation, durable) in ready.0 { continuation.resume(returning: durable) }
            if ready.1 { return }
            try? await Task.sleep(for: pollInterval)  // cancellation only shortens a sleep
        }
    }
}
