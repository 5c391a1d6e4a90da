import SluiceIO
import SluiceStorage

/// Writes the pipeline's checkpoint files (`pipeline.webhooks`, then `pipeline.checkpoint`, FORMAT.md) on a
/// thread of its own, so their fsyncs (file, then directory, for each) never stall the journaler between
/// two log batches.
///
/// The journaler submits each snapshot it takes of durable state; the writer keeps only the latest one
/// not yet written (a snapshot supersedes every older one), so the files move forward in order, at most
/// one write behind. ``drain()`` waits until everything submitted is on disk (the journaler's last
/// settle calls it before the pipeline stops).
final class CheckpointWriter: @unchecked Sendable {
    // @unchecked: `pending`, `writing` and `stopping` are touched only with `condition`'s mutex held;
    // `store` only by the writer thread once it runs.
    private struct Pending {
        var webhooks: [UInt8]
        /// The settled sequence for `pipeline.checkpoint` when it changed since the last submitted one.
        var settled: UInt64?
    }

    private let condition = MonotonicCondition()
    private var pending: Pending?
    private var writing = false
    private var stopping = false
    private let store: CheckpointStore
    private let onError: @Sendable (String) -> Void
    private var thread: LoopThread?

    init(store: CheckpointStore, onError: @escaping @Sendable (String) -> Void) throws(IOError) {
        self.store = store
        self.onError = onError
        thread = try LoopThread(name: "sluice-checkpoint") { [self] in run() }
    }

    /// Queues `webhooks` (the encoded `pipeline.webhooks`) and, when given, a new settled sequence.
    func submit(webhooks: [UInt8], settled: UInt64?) {
        condition.withLock {
            // A superseded snapshot's settled change still has to be written: keep it unless replaced.
            pending = Pending(webhooks: webhooks, settled: settled ?? pending?.settled)
        }
        condition.broadcast()
    }

    /// Returns once everything submitted so far is written (or failed).
    func drain() {
        condition.withLock {
            while pending != nil || writing {
                _ = condition.wait(untilNanoseconds: MonotonicCondition.monotonicNanoseconds() + 100_000_000)
            }
        }
    }

    /// Drains, then ends the thread.
    func stop() {
        drain()
        condition.withLock { stopping = true }
        condition.broadcast()
        thread?.join()
        thread = nil
    }

    private func run() {
        while true {
            let next: Pending? = condition.withLock {
                while pending == nil && !stopping {
                    _ = condition.wait(untilNanoseconds: MonotonicCondition.monotonicNanoseconds() + 1_000_000_000)
                }
                let next = pending
                pending = nil
                writing = next != nil
                return next
            }
            guard let next else { return }
            do {
                try store.replaceFile(named: pipelineWebhookCheckpointsFileName, with: next.webhooks)
                if let settled = next.settled { try store.write(name: pipelineCheckpointName, sequence: settled) }
            } catch {
                onError("checkpoint: \(error)")
            }
            condition.withLock { writing = false }
            condition.broadcast()
        }
    }
}
