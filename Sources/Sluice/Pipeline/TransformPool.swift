import SluiceCore
import SluiceIO
import SluiceStorage
import Synchronization

/// Runs transform webhooks' commands (``TransformRunner``) off the delivery loop: a delivery loop is also
/// its endpoints' I/O loop, so a command that takes seconds must not stall every request of the loop. A
/// few threads block in the command's `poll`/`waitpid` instead; results come back through a queue the
/// loop drains each turn, and `onResult` (any thread) wakes it.
///
/// Bounded by the delivery loop: transforms count as requests in flight (``PipelineConfiguration/inFlightMax``).
final class TransformPool: @unchecked Sendable {
    // @unchecked: `jobs`, `head`, `stopping` and `threads` are touched only with `condition`'s mutex held.
    struct Job: Sendable {
        let key: UInt64
        let transform: WebhookDefinition.Transform
        let input: [UInt8]
    }

    struct Done: Sendable {
        let key: UInt64
        let result: Result<[UInt8], TransformFailure>
    }

    private let condition = MonotonicCondition()
    private var jobs: [Job] = []
    private var head = 0
    private var stopping = false
    private var threads: [LoopThread] = []
    private let finished = Mutex<[Done]>([])
    /// Results waiting for the loop (read without the lock to decide whether to sleep).
    private let finishedCount = Atomic<Int>(0)
    private let threadCount: Int
    private let onResult: @Sendable () -> Void

    /// Threads start with the first job, so a pipeline without transform webhooks starts none.
    init(threadCount: Int, onResult: @escaping @Sendable () -> Void) {
        self.threadCount = max(1, threadCount)
        self.onResult = onResult
    }

    var hasResults: Bool { finishedCount.load(ordering: .acquiring) > 0 }

    func submit(_ job: Job) throws(IOError) {
        let started: IOError? = condition.withLock {
            do throws(IOError) {
                while threads.count < threadCount {
                    threads.append(try LoopThread(name: "sluice-transform") { [self] in work() })
                }
            } catch {
                if threads.isEmpty { return error }  // with one thread running, jobs still run
            }
            jobs.append(job)
            return nil
        }
        if let started { throw started }
        condition.broadcast()
    }

    /// The results that arrived since the last call.
    func takeResults() -> [Done] {
        let taken = finished.withLock { finished in
            let taken = finished
            finished.removeAll(keepingCapacity: true)
            return taken
        }
        finishedCount.wrappingSubtract(taken.count, ordering: .relaxed)
        return taken
    }

    /// Stops the threads once the commands running now end (each is bounded by its timeout); queued jobs
    /// are dropped (their deliveries are not final, so a restart sends them).
    func shutdown() {
        let running = condition.withLock {
            stopping = true
            let running = threads
            threads.removeAll()
            return running
        }
        condition.broadcast()
        for thread in running { thread.join() }
    }

    private func work() {
        while let job = nextJob() {
            let result = TransformRunner.run(job.transform, input: job.input)
            finished.withLock { $0.append(Done(key: job.key, result: result)) }
            finishedCount.wrappingAdd(1, ordering: .releasing)
            onResult()
        }
    }

    /// The next job, or `nil` when stopping.
    private func nextJob() -> Job? {
        condition.withLock {
            while !stopping {
                if head < jobs.count {
                    let job = jobs[head]
                    head += 1
                    if head > 256, head * 2 > jobs.count {
                        jobs.removeFirst(head)
                        head = 0
                    }
                    return job
                }
                _ = condition.wait(untilNanoseconds: MonotonicCondition.monotonicNanoseconds() + 1_000_000_000)
            }
            return nil
        }
    }
}
