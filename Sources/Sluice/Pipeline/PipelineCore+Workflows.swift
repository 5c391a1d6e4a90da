import SluiceCore
import SluiceStorage
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// What a restart found of the workflow runs (``PipelineRecovery/workflows``).
public struct WorkflowRecovery: Sendable, Equatable {
    /// Where the workflow re-match started (`workflows.checkpoint`).
    public var checkpoint: UInt64
    /// Firings without a final record, queued again (a `started` without `finished` runs the same attempt).
    public var runsResumed: Int
    /// Firings after the checkpoint whose run was already final.
    public var runsAlreadyFinal: Int
}

extension PipelineCore {
    // MARK: Workflows

    /// The workflow firings of `event`: each workflow action of each stateless trigger it fires, and of
    /// the stateful trigger a `sluice.trigger.fired` event stands for.
    static func workflowJobs(
        of event: Event,
        sequence: UInt64,
        hits: [TriggerHit],
        routing: PipelineRouting
    ) -> [WorkflowJob] {
        var jobs: [WorkflowJob] = []
        func add(trigger number: Int, firing: [UInt8]?) {
            let trigger = routing.index.triggers[number]
            guard trigger.enabled else { return }
            for action in routing.workflowActionsOfTrigger[number] {
                jobs.append(
                    WorkflowJob(
                        runID: WorkflowRunInput.runID(
                            eventID: event.header.id,
                            trigger: trigger.name,
                            action: action.action
                        ),
                        definition: routing.workflows[action.workflow],
                        trigger: trigger.name,
                        action: action.action,
                        eventSequence: sequence,
                        eventID: event.header.id,
                        eventLevel: Int(event.header.level),
                        eventBytes: event.bytes,
                        parameters: action.parameters,
                        firing: firing,
                        attempt: 1
                    )
                )
            }
        }
        for hit in hits where hit.expects && !routing.isStatefulTrigger[hit.trigger] {
            add(trigger: hit.trigger, firing: nil)
        }
        if routing.hasStatefulTriggers, let firing = StatefulTriggers.firing(of: event, routing: routing) {
            add(trigger: firing.trigger, firing: event.header.payloadDataRange.map { Array(event.bytes[$0]) })
        }
        return jobs
    }

    /// Hands `job` to the dispatcher, waiting while its queue is full (backs up to `emit`). `false`: a stop
    /// gave up here; the event stays below the workflow checkpoint, so the next start fires it again.
    func submit(_ job: WorkflowJob, to dispatcher: WorkflowDispatcher) -> Bool {
        while !dispatcher.trySubmit(job) {
            if stopping.load(ordering: .relaxed) || failure != nil { return false }
            usleep(1_000)  // rare: the queue holds `workflow_queue_max` firings
        }
        return true
    }

    /// Makes the dispatcher when the configuration has workflows, reads `workflows.checkpoint` (written as
    /// the log's end when missing: a log that had no workflow has no firing to recover) and queues every
    /// firing after it without a final run record.
    func recoverWorkflows(routing: PipelineRouting, store: CheckpointStore, logEnd: UInt64) throws -> WorkflowRecovery?
    {
        guard !configuration.triggers.workflows.workflows.isEmpty else { return nil }
        var checkpoint = try store.read(name: "workflows") ?? logEnd
        if checkpoint > logEnd { checkpoint = logEnd }  // `fsync: never` lost the tail it covered
        try store.write(name: "workflows", sequence: checkpoint)
        let dispatcher = WorkflowDispatcher(
            workflows: routing.workflows,
            depthMax: routing.workflowDepthMax,
            capacity: configuration.workflowQueueMax,
            recordByteCountMax: configuration.eventLimits.eventByteCountMax - 4_096,
            checkpoint: checkpoint,
            store: store,
            extraEnvironment: workflowEnvironment,
            journal: { [weak self] record in self?.journalControl(record) ?? 0 },
            durableTicket: { [weak self] in self?.controlDurableTicket.load(ordering: .acquiring) ?? 0 },
            emitEvent: { [weak self] bytes in self?.emit(bytes, fromMatcher: true) ?? .stopped },
            onFailure: { [weak self] text in self?.fail(text) }
        )
        var plan = WorkflowRecoveryPlan()
        var jobs: [String: WorkflowJob] = [:]
        var unreadable: [String] = []
        try ingest.withLock { state throws(SegmentLogError) in
            var matcher = TriggerMatcher(index: routing.index)
            var hits: [TriggerHit] = []
            _ = try LogReader.forEachRecord(directory: configuration.log.directory, fromSequence: checkpoint) {
                record in
                guard record.type == .event else { return }
                var ignored: [String] = []
                guard let event = Self.decodeRecovered(record, state: &state, undecodable: &ignored) else { return }
                if event.slice(event.header.nameReference.range).starts(with: WorkflowRunRecord.eventNamePrefix.utf8) {
                    guard let range = event.header.payloadDataRange,
                        let data = try? JSONValue.parse(Array(event.bytes[range])),
                        let run = try? WorkflowRunRecord(data: data)
                    else {
                        unreadable.append("sequence \(record.sequence)")
                        return
                    }
                    plan.record(run)
                    return
                }
                _ = Self.deliveries(of: event, matcher: &matcher, hits: &hits, routing: routing)
                for job in Self.workflowJobs(of: event, sequence: record.sequence, hits: hits, routing: routing) {
                    plan.firing(.init(runID: job.runID, eventSequence: record.sequence))
                    jobs[job.runID] = jobs[job.runID] ?? job
                }
            }
        }
        guard unreadable.isEmpty else {
            throw PipelineConfigurationError(
                field: "log",
                message: "\(unreadable.count) workflow run records after sequence \(checkpoint) cannot be read "
                    + "(first: \(unreadable[0]))"
            )
        }
        let (resume, final) = plan.finish()
        for entry in resume {
            guard var job = jobs[entry.runID] else { continue }
            job.attempt = entry.attempt
            dispatcher.submitRecovered(job)
        }
        dispatcher.onStart = workflowStartHook
        workflowDispatcher = dispatcher
        workflowsDone.store(false, ordering: .releasing)
        return WorkflowRecovery(checkpoint: checkpoint, runsResumed: resume.count, runsAlreadyFinal: final)
    }

    /// Stops the workflow runners (running attempts get until `deadlineNanoseconds`), then lets the
    /// journaler end.
    func stopWorkflows(deadlineNanoseconds: UInt64) {
        guard let dispatcher = workflowDispatcher else { return }
        dispatcher.stop(deadlineNanoseconds: deadlineNanoseconds)
        workflowsDone.store(true, ordering: .releasing)
        journalWake.wakeAll()
    }
}
