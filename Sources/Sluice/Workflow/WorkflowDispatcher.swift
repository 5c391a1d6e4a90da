import SluiceCore
import SluiceIO
import SluiceStorage
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// One firing of a workflow action: what its runs need, whichever attempt.
struct WorkflowJob: Sendable {
    let runID: String
    let definition: WorkflowDefinition
    let trigger: String
    let action: Int
    let eventSequence: UInt64
    let eventID: EventID
    let eventLevel: Int
    /// The triggering event's Prefect JSON (for a stateful trigger: its `sluice.trigger.fired` event).
    let eventBytes: [UInt8]
    let parameters: ParameterTemplates
    /// A stateful trigger's firing (`payload.data` of its `sluice.trigger.fired`), else `nil`.
    let firing: [UInt8]?
    var attempt: Int
    var dueNanoseconds: UInt64 = 0
    /// When the matcher (or recovery) handed the firing over, monotonic (for ``WorkflowStartTiming``).
    var firedNanoseconds: UInt64 = 0
}

/// When one attempt's process started, against when its firing was handed to the dispatcher (monotonic
/// nanoseconds; `Pipeline.onWorkflowStarted`).
public struct WorkflowStartTiming: Sendable, Equatable {
    public var firedNanoseconds: UInt64
    public var startedNanoseconds: UInt64
    public var attempt: Int
}

/// Counters of the workflow runs (a snapshot is in ``PipelineStatistics``).
final class WorkflowCounters: Sendable {
    let started = Atomic<Int>(0)
    let succeeded = Atomic<Int>(0)
    let failedAttempts = Atomic<Int>(0)
    let deadLettered = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
    let recovered = Atomic<Int>(0)
}

/// Runs workflow firings off the pipeline's threads (docs/workflows.md "How runs are executed").
///
/// The matcher hands each firing over with ``trySubmit(_:)`` (a bounded queue: full means the matcher
/// waits, which backs up to `emit` like a full delivery shard). Runner threads — at most the sum of the
/// workflows' `concurrency`, capped at ``threadCountMax`` — each take a job whose workflow is below its
/// concurrency, journal `started`, run the command (``WorkflowProcess``; the thread blocks in `poll` and
/// `waitpid`, never a pipeline stage), journal `finished`, and schedule the retry or end the run.
///
/// Run records go to the journaler directly (`journal`, no ring slot, so a full ring never holds a
/// runner). The `workflows.checkpoint` file — every firing of every event below it has a durable final
/// record — follows the matcher (``matchedEnd``) and the oldest run without one; a restart re-matches
/// from it and runs again the firings without a final record (``WorkflowRecoveryPlan``).
///
/// Thread-safety: `@unchecked Sendable`; every mutable field is guarded by `condition`'s mutex.
final class WorkflowDispatcher: @unchecked Sendable {
    static let threadCountMax = 64
    /// Firings queued (ready or waiting for a retry) at most.
    let capacity: Int

    private let condition = MonotonicCondition()
    private var ready: [WorkflowJob] = []
    private var delayed: [WorkflowJob] = []
    private var runningOf: [String: Int] = [:]
    private var running = 0
    private var pids: Set<Int32> = []
    /// Event sequences of the firings without a durable final record (a multiset).
    private var pending: [UInt64: Int] = [:]
    /// Final records journaled but maybe not yet durable: (journal ticket, event sequence).
    private var awaiting: [(ticket: Int, sequence: UInt64)] = []
    private var lastTicket = 0
    private var stopping = false
    private var threads: [LoopThread] = []
    private var checkpointed: UInt64
    private var checkpointedAtNanoseconds: UInt64 = 0
    private var checkpointing = false

    /// Called on a runner thread as each attempt's process starts (set before ``start()``).
    var onStart: (@Sendable (WorkflowStartTiming) -> Void)?
    /// One past the last event whose firings the matcher handed over (set by the matcher after each batch).
    let matchedEnd: Atomic<UInt64>
    let counters = WorkflowCounters()
    private let threadCount: Int
    private let depthMax: Int
    private let store: CheckpointStore
    private let journal: @Sendable (LogRecord) -> Int
    private let durableTicket: @Sendable () -> Int
    private let baseEnvironment: [(name: String, value: String)]
    private let onFailure: @Sendable (String) -> Void
    /// Emits a child event a run wrote to `SLUICE_EMIT_FD` (the pipeline's `emit`).
    private let emitEvent: @Sendable ([UInt8]) -> Pipeline.EmitResult
    /// The largest run record (the event byte limit).
    private let recordByteCountMax: Int

    init(
        workflows: [WorkflowDefinition],
        depthMax: Int,
        capacity: Int,
        recordByteCountMax: Int,
        checkpoint: UInt64,
        store: CheckpointStore,
        extraEnvironment: [(name: String, value: String)],
        journal: @escaping @Sendable (LogRecord) -> Int,
        durableTicket: @escaping @Sendable () -> Int,
        emitEvent: @escaping @Sendable ([UInt8]) -> Pipeline.EmitResult,
        onFailure: @escaping @Sendable (String) -> Void
    ) {
        self.capacity = capacity
        self.recordByteCountMax = recordByteCountMax
        self.depthMax = depthMax
        self.store = store
        self.journal = journal
        self.durableTicket = durableTicket
        self.onFailure = onFailure
        self.emitEvent = emitEvent
        checkpointed = checkpoint
        matchedEnd = Atomic(checkpoint)
        threadCount = min(Self.threadCountMax, max(1, workflows.reduce(0) { $0 + $1.concurrency }))
        var environment = Self.processEnvironment().filter { !$0.name.hasPrefix("SLUICE_") }
        for (name, value) in extraEnvironment {
            environment.removeAll { $0.name == name }
            environment.append((name, value))
        }
        baseEnvironment = environment
    }

    /// The process's environment as (name, value) pairs.
    private static func processEnvironment() -> [(name: String, value: String)] {
        var result: [(name: String, value: String)] = []
        var cursor = unsafe environ
        while let entry = unsafe cursor.pointee {
            let text = unsafe String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result.append((String(text[..<equals]), String(text[text.index(after: equals)...])))
            }
            unsafe cursor = cursor.advanced(by: 1)
        }
        return result
    }

    func start() throws {
        for number in 0..<threadCount {
            threads.append(try LoopThread(name: "sluice-workflow\(number)") { [self] in runLoop() })
        }
    }

    // MARK: Submission

    /// Queues a firing from the matcher; `false` when the queue is full (the matcher waits and retries).
    func trySubmit(_ job: WorkflowJob) -> Bool {
        var job = job
        job.firedNanoseconds = MonotonicCondition.monotonicNanoseconds()
        let accepted = condition.withLock {
            guard ready.count + delayed.count < capacity else { return false }
            ready.append(job)
            pending[job.eventSequence, default: 0] += 1
            return true
        }
        if accepted { condition.broadcast() }
        return accepted
    }

    /// Queues a firing recovery found without a final record (before the threads start; never refused).
    func submitRecovered(_ job: WorkflowJob) {
        condition.withLock {
            ready.append(job)
            pending[job.eventSequence, default: 0] += 1
        }
        counters.recovered.wrappingAdd(1, ordering: .relaxed)
    }

    /// Nothing queued, running or waiting to be durable.
    var isSettled: Bool {
        let durable = durableTicket()
        return condition.withLock { ready.isEmpty && delayed.isEmpty && running == 0 && durable >= lastTicket }
    }

    var queuedCount: Int { condition.withLock { ready.count + delayed.count + running } }

    // MARK: Stop

    /// Stops taking jobs; waits for the running attempts until `deadlineNanoseconds`, then kills their
    /// process groups (their runs have no final record: the next start runs them again).
    func stop(deadlineNanoseconds: UInt64) {
        condition.withLock { stopping = true }
        condition.broadcast()
        while condition.withLock({ running > 0 }) {
            if MonotonicCondition.monotonicNanoseconds() >= deadlineNanoseconds {
                condition.withLock { for pid in pids { _ = kill(-pid, SIGKILL) } }
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 2_000_000)
            unsafe nanosleep(&pause, nil)
        }
        for thread in threads { thread.join() }
        threads.removeAll()
    }

    /// After the journaler's last sync: the checkpoint as far as it goes.
    func writeFinalCheckpoint() { maintain(force: true) }

    // MARK: Runner threads

    private func runLoop() {
        while let job = nextJob() {
            execute(job)
            maintain(force: false)
        }
    }

    /// The next job to run (ready, due, below its workflow's concurrency), waiting for one; `nil` at stop.
    private func nextJob() -> WorkflowJob? {
        while true {
            let now = MonotonicCondition.monotonicNanoseconds()
            let taken: WorkflowJob?? = condition.withLock {
                if stopping { return .some(nil) }
                var position = 0
                while position < delayed.count {
                    if delayed[position].dueNanoseconds <= now {
                        ready.append(delayed.remove(at: position))
                    } else {
                        position += 1
                    }
                }
                guard
                    let index = ready.firstIndex(where: {
                        runningOf[$0.definition.name, default: 0] < $0.definition.concurrency
                    })
                else {
                    let nextDue = delayed.map(\.dueNanoseconds).min() ?? (now + 100_000_000)
                    _ = condition.wait(untilNanoseconds: min(nextDue, now + 100_000_000))
                    return nil
                }
                let job = ready.remove(at: index)
                runningOf[job.definition.name, default: 0] += 1
                running += 1
                return .some(job)
            }
            if let taken { return taken }
            maintain(force: false)
        }
    }

    private func finishRunning(_ job: WorkflowJob, pid: Int32?) {
        condition.withLock {
            runningOf[job.definition.name, default: 1] -= 1
            running -= 1
            if let pid { pids.remove(pid) }
        }
        condition.broadcast()
    }

    /// Journals `record`; a final one is remembered until it is durable (the checkpoint waits for it).
    private func write(_ record: WorkflowRunRecord) {
        var record = record
        var body = record.event().encoded()
        // Escaped output can grow six-fold: halve what is kept until the record is a valid event.
        while body.count > recordByteCountMax, !(record.standardOutput.isEmpty && record.standardError.isEmpty) {
            record.standardOutput = String(record.standardOutput.prefix(record.standardOutput.count / 2))
            record.standardError = String(record.standardError.prefix(record.standardError.count / 2))
            body = record.event().encoded()
        }
        let ticket = journal(
            LogRecord(type: .event, timestampMicroseconds: record.at.microsecondsSinceEpoch, body: body)
        )
        guard let outcome = record.outcome, outcome.isFinal else { return }
        condition.withLock {
            awaiting.append((ticket, record.eventSequence))
            lastTicket = max(lastTicket, ticket)
        }
    }

    private func record(
        _ job: WorkflowJob,
        _ phase: WorkflowRunRecord.Phase,
        _ outcome: WorkflowRunRecord.Outcome? = nil
    ) -> WorkflowRunRecord {
        WorkflowRunRecord(
            runID: job.runID,
            workflow: job.definition.name,
            trigger: job.trigger,
            action: job.action,
            eventSequence: job.eventSequence,
            eventID: job.eventID,
            attempt: job.attempt,
            phase: phase,
            outcome: outcome,
            at: Timestamp.now()
        )
    }

    /// One attempt of `job`, journaled, then retried (queued with its delay) or ended.
    private func execute(_ job: WorkflowJob) {
        var pid: Int32?
        defer { finishRunning(job, pid: pid) }
        guard job.eventLevel < depthMax else {
            var refused = record(job, .finished, .refused)
            refused.message =
                "not run: the triggering event is at level \(job.eventLevel), workflows_depth_max is \(depthMax)"
            counters.refused.wrappingAdd(1, ordering: .relaxed)
            write(refused)
            return
        }
        let event = (try? JSONValue.parse(job.eventBytes)) ?? .null
        let context = WorkflowEventContext(event: event)
        let firing = job.firing.flatMap { try? JSONValue.parse($0) } ?? .null
        let parameters: JSONObject
        do throws(TemplateError) {
            parameters = try job.parameters.render([
                "event": event, "automation": .object(["name": .string(job.trigger)]), "firing": firing,
            ])
        } catch {
            var failed = record(job, .finished, .deadLettered)
            failed.message = "parameters do not render: \(error)"
            counters.deadLettered.wrappingAdd(1, ordering: .relaxed)
            write(failed)
            return
        }
        write(record(job, .started))
        counters.started.wrappingAdd(1, ordering: .relaxed)
        let process = WorkflowProcess(
            command: job.definition.command,
            environment: environment(for: job, context: context, parameters: parameters),
            input: WorkflowRunInput.standardInput(
                runID: job.runID,
                attempt: job.attempt,
                workflow: job.definition.name,
                trigger: job.trigger,
                action: job.action,
                parameters: parameters,
                context: context,
                event: event
            ),
            timeoutNanoseconds: job.definition.timeoutNanoseconds
        )
        let result = process.run { started in
            if let onStart {
                onStart(
                    WorkflowStartTiming(
                        firedNanoseconds: job.firedNanoseconds,
                        startedNanoseconds: MonotonicCondition.monotonicNanoseconds(),
                        attempt: job.attempt
                    )
                )
            }
            pid = started
            condition.withLock { _ = pids.insert(started) }
        }
        finish(job, result: result)
    }

    /// Emits the child events of an attempt, one JSON per line; the first refusal, if any.
    private func emitChildren(_ result: WorkflowProcess.Result) -> (count: Int, failure: String?) {
        guard !result.emittedOverflow else {
            return (
                0, "it wrote more than \(WorkflowProcess.emittedByteCountMax) bytes to SLUICE_EMIT_FD; none emitted"
            )
        }
        var count = 0
        for (number, line) in result.emitted.split(separator: 0x0A).enumerated() {
            guard line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { continue }
            var waited = 0
            while true {
                switch emitEvent(Array(line)) {
                case .accepted:
                    count += 1
                case .backpressure where waited < 10_000:
                    waited += 1
                    usleep(1_000)
                    continue
                case .backpressure:
                    return (count, "child event \(number + 1): the pipeline stayed full for 10 s")
                case .invalid(let error):
                    return (count, "child event \(number + 1) is not a valid event: \(error)")
                case .stopped:
                    return (count, "child event \(number + 1): the pipeline is stopping")
                }
                break
            }
        }
        return (count, nil)
    }

    private func finish(_ job: WorkflowJob, result: WorkflowProcess.Result) {
        let children = emitChildren(result)
        let succeeded = result.succeeded && children.failure == nil
        let retryDelay = succeeded ? nil : job.definition.retryDelay(afterFailedAttempt: job.attempt)
        let outcome: WorkflowRunRecord.Outcome = succeeded ? .succeeded : retryDelay == nil ? .deadLettered : .retrying
        var finished = record(job, .finished, outcome)
        finished.exitStatus = result.exitStatus
        finished.signal = result.signal
        finished.timedOut = result.timedOut
        finished.durationMicroseconds = result.durationMicroseconds
        finished.standardOutput = String(decoding: result.standardOutput, as: UTF8.self)
        finished.standardOutputByteCount = result.standardOutputByteCount
        finished.standardError = String(decoding: result.standardError, as: UTF8.self)
        finished.standardErrorByteCount = result.standardErrorByteCount
        finished.childEventCount = children.count
        if result.timedOut {
            finished.message = "killed (process group, SIGKILL) after its timeout"
        } else if let startError = result.startError {
            finished.message = startError
        } else if let failure = children.failure {
            finished.message = failure
        }
        write(finished)
        switch outcome {
        case .succeeded: counters.succeeded.wrappingAdd(1, ordering: .relaxed)
        case .deadLettered:
            counters.failedAttempts.wrappingAdd(1, ordering: .relaxed)
            counters.deadLettered.wrappingAdd(1, ordering: .relaxed)
        case .retrying, .refused:
            counters.failedAttempts.wrappingAdd(1, ordering: .relaxed)
        }
        guard let retryDelay else { return }
        var next = job
        next.attempt += 1
        next.dueNanoseconds = MonotonicCondition.monotonicNanoseconds() &+ retryDelay
        condition.withLock { delayed.append(next) }
    }

    /// `NAME=value` for the child: the inherited environment, the workflow's, then Sluice's variables.
    private func environment(
        for job: WorkflowJob,
        context: WorkflowEventContext,
        parameters: JSONObject
    ) -> [String] {
        var variables = baseEnvironment
        let own: [(name: String, value: String)] =
            job.definition.environment + [
                ("SLUICE_RUN_ID", job.runID), ("SLUICE_RUN_ATTEMPT", String(job.attempt)),
                ("SLUICE_WORKFLOW", job.definition.name), ("SLUICE_TRIGGER", job.trigger), ("SLUICE_EMIT_FD", "3"),
            ] + context.environment + WorkflowRunInput.parameterVariables(parameters)
        let names = Set(own.map(\.name))
        variables.removeAll { names.contains($0.name) }
        variables += own
        return variables.compactMap { $0.value.utf8.contains(0) ? nil : "\($0.name)=\($0.value)" }
    }

    // MARK: Checkpoint

    /// Forgets the final records that are durable now and, at most every 100 ms (or when `force`), writes
    /// `workflows.checkpoint`: the oldest event with a firing not yet final, else ``matchedEnd``.
    private func maintain(force: Bool) {
        let end = matchedEnd.load(ordering: .acquiring)  // first: every firing below it is in `pending`
        let durable = durableTicket()
        let now = MonotonicCondition.monotonicNanoseconds()
        let target: UInt64? = condition.withLock {
            var kept: [(ticket: Int, sequence: UInt64)] = []
            for entry in awaiting {
                if entry.ticket <= durable {
                    pending[entry.sequence, default: 1] -= 1
                    if pending[entry.sequence] == 0 { pending[entry.sequence] = nil }
                } else {
                    kept.append(entry)
                }
            }
            awaiting = kept
            guard !checkpointing, force || now &- checkpointedAtNanoseconds >= 100_000_000 else { return nil }
            let value = min(pending.keys.min() ?? end, end)
            guard value > checkpointed else { return nil }
            checkpointing = true
            checkpointedAtNanoseconds = now
            return value
        }
        guard let target else { return }
        do {
            try store.write(name: "workflows", sequence: target)
        } catch {
            onFailure("workflows.checkpoint: \(error)")
        }
        condition.withLock {
            checkpointed = max(checkpointed, target)
            checkpointing = false
        }
    }
}
