import SluiceCore
import SluiceIO
import SluiceStorage
import Synchronization

/// An event read back by recovery, with what its deliveries send: a stateful trigger's firing gives its
/// webhooks the firing's body, the rest take the event's.
struct RecoveredEvent: Sendable {
    var event: Event
    var firing: (count: Int, body: [UInt8])?
    var firingWebhooks: [Int]
}

/// What one pass over the log from the re-match point found besides the plan.
private struct RecoveryPass {
    var plan: RecoveryPlanner<RecoveredEvent>.Plan
    var disabled: [String: DisabledEndpoint]
    var disabledChanged: Bool
    /// The earliest timestamp of an event record at or after the re-match point (stateful triggers).
    var firstEventMicroseconds: Int64?
}

/// Recovery's matcher: decodes an event record read back (with the ingest decoder, whose lock the caller
/// holds) and re-matches it.
private struct RecoveryMatching: ~Copyable {
    let routing: PipelineRouting
    var matcher: TriggerMatcher
    var hits: [TriggerHit] = []
    /// Event records that no longer decode (the start is refused, naming the first).
    var undecodable: [String] = []

    init(routing: PipelineRouting) {
        self.routing = routing
        matcher = TriggerMatcher(index: routing.index)
    }

    /// The event's payload for the planner and the (webhook, trigger) pairs it matches now.
    mutating func recovered(
        _ record: StoredRecord,
        state: inout PipelineCore.Ingest
    ) -> (RecoveredEvent, [RecoveryPlanner<RecoveredEvent>.Pair])? {
        guard let event = PipelineCore.decodeRecovered(record, state: &state, undecodable: &undecodable) else {
            return nil
        }
        var pairs = PipelineCore.deliveries(of: event, matcher: &matcher, hits: &hits, routing: routing)
        let firing =
            routing.hasStatefulTriggers
            ? PipelineCore.firingDeliveries(of: event, pairs: &pairs, routing: routing) : nil
        let firingWebhooks = pairs.prefix(firing?.count ?? 0).map(\.webhook)
        return (
            RecoveredEvent(event: event, firing: firing, firingWebhooks: firingWebhooks),
            pairs.map { .init(webhook: $0.webhook, trigger: $0.trigger) }
        )
    }
}

/// Recovery's reading of outcome records: endpoint states (a record wins over the state file: it is
/// journaled before the file is rewritten, and a crash may fall in between), the rest for the planner.
private struct RecoveryOutcomes: Sendable {
    var disabled: [String: DisabledEndpoint]
    var disabledChanged = false
    var unreadable = 0

    init(disabled: [DisabledEndpoint]) {
        self.disabled = Dictionary(disabled.map { ($0.webhook, $0) }, uniquingKeysWith: { _, last in last })
    }

    mutating func fold(_ record: StoredRecord, into planner: inout RecoveryPlanner<RecoveredEvent>) {
        guard let outcome = try? DeliveryOutcomeRecord(decoding: record.body) else {
            unreadable += 1
            return
        }
        if outcome.outcome.isEndpointState {
            disabledChanged = EndpointStateFiles.apply(outcome, to: &disabled) || disabledChanged
        } else if let outcome = PipelineCore.plannerOutcome(outcome) {
            planner.outcome(outcome)
        }
    }
}

extension PipelineCore {
    // MARK: Start and recovery

    /// Opens the log, recovers (one pass over the log from the re-match point, ``RecoveryPlanner``), then
    /// starts the threads.
    func start() throws -> PipelineRecovery {
        precondition(writer == nil, "a pipeline starts once")
        let opened = try SegmentLogWriter(
            configuration: configuration.log,
            nowMicroseconds: Timestamp.now().microsecondsSinceEpoch,
            statistics: recorders.log
        )
        writer = opened
        let store = try CheckpointStore(directory: configuration.log.directory)
        checkpoints = store
        checkpointWriter = try CheckpointWriter(store: store) { [weak self] text in self?.fail(text) }
        let loaded = try RecoveryCheckpoints.load(store: store, logEnd: opened.nextSequence)
        var recovery = PipelineRecovery(
            log: opened.recovery,
            checkpoint: loaded.rematchFrom,
            eventsRematched: 0,
            deliveriesResumed: 0,
            deliveriesAlreadyFinal: 0,
            ioBackend: "",
            deliveriesCarried: 0,
            deliveriesDropped: 0,
            checkpointNote: loaded.note
        )
        recovery.checkpointIncidents = loaded.incidents
        let routing = routingBox.withLock { $0 }
        let pass = try recoveryPass(loaded: loaded, routing: routing, store: store)
        try applyEndpointStates(pass, routing: routing, store: store)
        recoveredLogEnd = opened.nextSequence
        apply(pass.plan, routing: routing, rematchFrom: loaded.rematchFrom)
        let counts = pass.plan.counts
        recovery.eventsRematched = counts.eventsRematched
        recovery.deliveriesResumed = counts.deliveriesResumed
        recovery.deliveriesAlreadyFinal = counts.deliveriesAlreadyFinal
        recovery.deliveriesCarried = counts.deliveriesCarried
        recovery.deliveriesDropped = counts.deliveriesDropped
        recovery.webhooksSpilled = pass.plan.spills.count
        if routing.hasStatefulTriggers {
            try recoverStateful(routing: routing, rematchFrom: loaded.rematchFrom, first: pass.firstEventMicroseconds)
        }
        recovery.workflows = try recoverWorkflows(routing: routing, store: store, logEnd: opened.nextSequence)
        PipelineCounters.add(counters.recoveredDeliveries, recovery.deliveriesResumed)
        PipelineCounters.add(counters.deliveriesQueued, recovery.deliveriesResumed)
        recovery.ioBackend = try startThreads()
        return recovery
    }

    /// Feeds the log to a ``RecoveryPlanner``: the carried events below the re-match point (index seeks),
    /// every record from the re-match point on (the one pass), then the events a redrive re-opened.
    private func recoveryPass(
        loaded: RecoveryCheckpoints,
        routing: PipelineRouting,
        store: CheckpointStore
    ) throws -> RecoveryPass {
        let directory = configuration.log.directory
        let gap = configuration.limits.recoveryReadRunSequenceGapMax
        var planner = RecoveryPlanner<RecoveredEvent>(
            rematchFrom: loaded.rematchFrom,
            webhookNames: routing.definitions.map(\.name),
            checkpointOfWebhook: routing.definitions.map { loaded.checkpointOf[$0.name] ?? loaded.newWebhookStart },
            carried: loaded.pendingOf,
            bound: endpointBound
        )
        var outcomes = RecoveryOutcomes(disabled: try EndpointStateFiles.read(store: store))
        var firstEventMicroseconds: Int64?
        let undecodable = try ingest.withLock { state throws(SegmentLogError) -> [String] in
            var matching = RecoveryMatching(routing: routing)
            try Self.readEvents(directory: directory, at: planner.carriedSequencesBelowRematch, gap: gap) { record in
                guard let (payload, pairs) = matching.recovered(record, state: &state) else { return }
                planner.carriedEvent(record.sequence, pairs: pairs, payload: payload)
            }
            _ = try LogReader.forEachRecord(directory: directory, fromSequence: loaded.rematchFrom) { record in
                if record.type == .event {
                    firstEventMicroseconds = min(firstEventMicroseconds ?? .max, record.timestampMicroseconds)
                    guard let (payload, pairs) = matching.recovered(record, state: &state) else { return }
                    planner.event(record.sequence, pairs: pairs, payload: payload)
                } else if record.type == .deliveryOutcome {
                    outcomes.fold(record, into: &planner)
                }
            }
            try Self.readEvents(directory: directory, at: planner.sequencesToRefetch, gap: gap) { record in
                guard let (payload, _) = matching.recovered(record, state: &state) else { return }
                planner.supply(record.sequence, payload: payload)
            }
            return matching.undecodable
        }
        guard outcomes.unreadable == 0 else {
            throw PipelineConfigurationError(
                field: "log",
                message:
                    "\(outcomes.unreadable) delivery outcome records after sequence \(loaded.rematchFrom) cannot be read"
            )
        }
        if let first = undecodable.first {
            throw PipelineConfigurationError(
                field: "event_limits",
                message: "\(undecodable.count) event records after the checkpoint no longer decode (first: \(first)); "
                    + "restore the limits they were accepted with"
            )
        }
        return RecoveryPass(
            plan: planner.finish(),
            disabled: outcomes.disabled,
            disabledChanged: outcomes.disabledChanged,
            firstEventMicroseconds: firstEventMicroseconds
        )
    }

    /// What the planner needs of an outcome record (endpoint states are the driver's).
    static func plannerOutcome(_ record: DeliveryOutcomeRecord) -> RecoveryPlanner<RecoveredEvent>.Outcome? {
        let kind: RecoveryPlanner<RecoveredEvent>.OutcomeKind
        switch record.outcome {
        case .delivered, .deadLettered: kind = .final
        case .retrying: kind = .retrying(attempt: record.attempt)
        case .redriveRequested: kind = .redriveRequested
        case .endpointDisabled, .endpointEnabled: return nil
        }
        return .init(eventSequence: record.eventSequence, webhook: record.webhook, kind: kind)
    }

    /// Reads the event records at `sequences` (sorted): runs of sequences closer than `gap` in one indexed
    /// read each.
    static func readEvents(
        directory: String,
        at sequences: [UInt64],
        gap: UInt64,
        _ body: (StoredRecord) -> Void
    ) throws(SegmentLogError) {
        let wanted = Set(sequences)
        var runStart = 0
        while runStart < sequences.count {
            var runEnd = runStart + 1
            while runEnd < sequences.count, sequences[runEnd] - sequences[runEnd - 1] < gap { runEnd += 1 }
            _ = try LogReader.forEachRecord(
                directory: directory,
                fromSequence: sequences[runStart],
                toSequence: sequences[runEnd - 1] + 1
            ) { record in
                if record.type == .event, wanted.contains(record.sequence) { body(record) }
            }
            runStart = runEnd
        }
    }

    /// The endpoint states the pass read: the state file rewritten when the log says more, the shards told.
    private func applyEndpointStates(
        _ pass: RecoveryPass,
        routing: PipelineRouting,
        store: CheckpointStore
    ) throws(SegmentLogError) {
        let disabled = pass.disabled
        if pass.disabledChanged { try EndpointStateFiles.write(store: store, Array(disabled.values)) }
        disabledEndpoints.withLock { $0 = disabled }
        for (number, shard) in shards.enumerated() {
            shard.setDisabled(
                Set(
                    routing.definitions.indices.filter {
                        routing.shardOfWebhook[$0] == number && disabled[routing.definitions[$0].name] != nil
                    }.map { routing.definitions[$0].name }
                )
            )
        }
    }

    /// Executes the plan: jobs to their shards, the tracker told in log order, spills left for the matcher.
    private func apply(_ plan: RecoveryPlanner<RecoveredEvent>.Plan, routing: PipelineRouting, rematchFrom: UInt64) {
        tracker = SettledTracker(matchedEnd: rematchFrom, carryAgeNanoseconds: configuration.limits.carryAgeNanoseconds)
        let slots = tracker.slots(for: routing.definitions.map(\.name))
        var cachedBody: (sequence: UInt64, body: [UInt8])?
        for job in plan.jobs {
            let payload = job.payload
            let body: [UInt8]
            if let firing = payload.firing, payload.firingWebhooks.contains(job.webhook) {
                body = firing.body
            } else if let cached = cachedBody, cached.sequence == job.sequence {
                body = cached.body
            } else {
                body = payload.event.webhookBody()
                cachedBody = (job.sequence, body)
            }
            let budget = budget(of: routing.definitions[job.webhook].name)
            budget.add()
            shards[routing.shardOfWebhook[job.webhook]].addRecovered(
                DeliveryJob(
                    routing: routing,
                    webhook: job.webhook,
                    trigger: job.trigger,
                    eventSequence: job.sequence,
                    eventID: payload.event.header.id,
                    body: body,
                    firstAttempt: job.attemptsMade + 1,
                    budget: budget,
                    emittedNanoseconds: 0,
                    durableNanoseconds: 0,
                    matchedNanoseconds: 0
                )
            )
            if job.carried { tracker.carry(job.sequence, slot: slots[job.webhook], attempt: job.attemptsMade) }
        }
        for entry in plan.matched {
            for webhook in entry.spillsStarting { tracker.spill(slot: slots[webhook], from: entry.sequence) }
            tracker.matched(entry.sequence, webhooks: entry.pairs.map { ($0.webhook, $0.trigger) }, slots: slots)
        }
        if let end = plan.matchedEnd, plan.matched.last?.sequence != end - 1 {
            tracker.matched(end - 1, webhooks: [], slots: slots)
        }
        for (webhook, planned) in plan.spills {
            let name = routing.definitions[webhook].name
            var spill = WebhookSpill(next: planned.start)
            spill.final = planned.final
            spill.attempts = planned.attempts
            recoveredSpills[name] = spill
            budget(of: name).spilling.store(true, ordering: .relaxed)
        }
    }

    /// Stateful triggers: their windows rebuilt from the log (``StatefulTriggers/recover``: the second read,
    /// from the windows' horizon, which lies before the re-match point).
    private func recoverStateful(routing: PipelineRouting, rematchFrom: UInt64, first: Int64?) throws {
        let directory = configuration.log.directory
        let configuration = self.configuration
        recoveredStateful = try ingest.withLock { state throws(SegmentLogError) in
            try StatefulTriggers.recover(
                routing: routing,
                symbols: state.decoder.symbols,
                directory: directory,
                firstEventMicrosecondsAfterCheckpoint: first,
                now: Timestamp.now(),
                configuration: configuration
            ) { bytes in
                var header = EventHeader()
                guard (try? state.decoder.decodeHeader(bytes, into: &header)) != nil else { return nil }
                return Event(header: header, bytes: bytes)
            }
        }
        for sequence in recoveredStateful?.recoveredHolds ?? [] { tracker.hold(sequence) }
    }

    /// The delivery shards (and their I/O loops), the matcher and the journaler; returns the I/O backend
    /// chosen and why.
    private func startThreads() throws -> String {
        let backend = try IOBackendSelection.detect(override: configuration.ioBackend ?? environmentValue("SLUICE_IO"))
        for shard in shards {
            shard.timing = timing
            shard.outcomeHook = outcomeHook
            try shard.startClient(backend: backend)
        }
        for shard in shards {
            threads.append(
                try LoopThread(name: "sluice-deliver\(shard.number)") { [self] in
                    shard.run()
                    shardsDone.wrappingAdd(1, ordering: .releasing)
                    journalWake.wakeAll()
                }
            )
        }
        try workflowDispatcher?.start()
        threads.append(try LoopThread(name: "sluice-match") { [self] in runMatcher() })
        journalerThread = try LoopThread(name: "sluice-journal") { [self] in runJournaler() }
        ingest.withLock { $0.running = true }
        return "\(backend.kind) (\(backend.reason))"
    }
}
