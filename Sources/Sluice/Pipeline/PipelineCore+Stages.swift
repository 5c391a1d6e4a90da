import SluiceCore
import SluiceIO
import SluiceStorage
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

extension PipelineCore {
    /// Decodes an event record read back from the log, or notes why it does not decode.
    static func decodeRecovered(
        _ record: StoredRecord,
        state: inout Ingest,
        undecodable: inout [String]
    ) -> Event? {
        do throws(EventDecodingError) {
            try state.decoder.decodeHeader(record.body, into: &state.scratch)
        } catch {
            // Validated when emitted, so the limits or the log changed: refuse to start rather than pass
            // the checkpoint over an event whose deliveries would then be lost.
            undecodable.append("event record \(record.sequence): \(error)")
            return nil
        }
        return Event(header: state.scratch, bytes: record.body)
    }

    // MARK: Ingest

    /// `fromMatcher`: an outcome event of the matcher's (its position is recorded before it is published).
    func emit(_ bytes: [UInt8], fromMatcher: Bool = false) -> Pipeline.EmitResult {
        let sequencer = self.sequencer
        let slots = self.slots
        let counters = self.counters
        return ingest.withLock { state in
            guard state.running else { return .stopped }
            // Full: answered before decoding (claims are serialized by this lock, so the space stays).
            guard sequencer.hasCapacity(1) else {
                PipelineCounters.add(counters.backpressured)
                return .backpressure
            }
            do throws(EventDecodingError) {
                try state.decoder.decodeHeader(bytes, into: &state.scratch)
            } catch {
                PipelineCounters.add(counters.invalid)
                return .invalid(error)
            }
            guard let claim = sequencer.tryClaim(1) else {
                PipelineCounters.add(counters.backpressured)
                return .backpressure
            }
            let position = claim.lowerBound
            slots.withSlot(position) { slot in
                swap(&slot.header, &state.scratch)
                slot.bytes = bytes
                slot.emittedNanoseconds = monotonicNanoseconds()
            }
            if fromMatcher { internalPositions.withLock { $0.positions.append(position) } }
            sequencer.publish(claim)
            PipelineCounters.add(counters.accepted)
            return .accepted(position: position)
        }
    }

    var acknowledgedCount: Int { journalCursor.value }

    var acknowledgedEmittedCount: Int {
        let acknowledged = journalCursor.value  // first: every internal position below it is recorded
        return internalPositions.withLock { state in
            let below = state.positions.prefix { $0 < acknowledged }.count
            if below > 0 {
                state.positions.removeFirst(below)
                state.folded += below
            }
            return acknowledged - state.folded
        }
    }

    // MARK: Control

    func flush(timeoutNanoseconds: UInt64) -> Bool {
        let deadline = monotonicNanoseconds() + timeoutNanoseconds
        while true {
            let accepted = counters.accepted.load(ordering: .acquiring)
            if counters.matched.load(ordering: .acquiring) >= accepted, tracker.pendingDeliveries == 0,
                tracker.spillingCount == 0, workflowDispatcher?.isSettled ?? true
            {
                return true
            }
            if failure != nil || monotonicNanoseconds() >= deadline { return false }
            usleep(UInt32(clamping: configuration.limits.flushPollNanoseconds / 1_000))
        }
    }

    func stop(drainTimeoutNanoseconds: UInt64) {
        guard journalerThread != nil else {  // never started, or start failed before the threads
            checkpointWriter?.stop()
            return
        }
        ingest.withLock { $0.running = false }
        stopping.store(true, ordering: .releasing)
        journalWake.wakeAll()
        matchWake.wakeAll()
        let deadline = monotonicNanoseconds() + drainTimeoutNanoseconds
        while shardsDone.load(ordering: .acquiring) < shards.count {
            if monotonicNanoseconds() >= deadline {
                for shard in shards { shard.abandon.store(true, ordering: .relaxed) }
            }
            for shard in shards { shard.wakeUp() }
            usleep(UInt32(clamping: configuration.limits.stopPollNanoseconds / 1_000))
        }
        for thread in threads { thread.join() }
        threads.removeAll()
        stopWorkflows(deadlineNanoseconds: deadline)
        journalWake.wakeAll()
        journalerThread?.join()
        journalerThread = nil
        workflowDispatcher?.writeFinalCheckpoint()
    }

    func enableEndpoint(_ name: String) throws(PipelineConfigurationError) {
        guard disabledEndpoints.withLock({ $0[name] != nil }) else {
            let disabled = disabledEndpoints.withLock { $0.keys.sorted() }
            throw PipelineConfigurationError(
                field: "webhooks",
                message:
                    "'\(name)' is not disabled (disabled: \(disabled.isEmpty ? "none" : disabled.joined(separator: ", ")))"
            )
        }
        for shard in shards { shard.requestEnable(name) }
    }

    /// Swaps in `webhooks` and `triggers` and queues the configuration change record for the journaler: the
    /// body `makeBody` makes for the new generation (counted from `configuration.configurationGeneration`),
    /// or the version 1 summary when it is `nil`. Returns the record's control ticket
    /// (``waitUntilDurable(ticket:timeoutNanoseconds:)``) and the generation.
    @discardableResult
    func reconfigure(
        webhooks: WebhookConfiguration,
        triggers: TriggerConfiguration,
        makeBody: ((Int) -> [UInt8])? = nil
    ) throws(PipelineConfigurationError) -> (ticket: Int, generation: Int) {
        var updated = configuration
        updated.webhooks = webhooks
        updated.triggers = triggers
        try updated.validate()
        if workflowDispatcher == nil, !triggers.workflows.workflows.isEmpty {
            throw PipelineConfigurationError(
                field: "workflows",
                message: "this pipeline started without workflows; restart it to add some"
            )
        }
        let recordByteCountMax = configuration.log.frameByteCountMax - FramePayload.recordHeaderByteCount
        return try ingest.withLock { state throws(PipelineConfigurationError) -> (ticket: Int, generation: Int) in
            let routing = try PipelineRouting(
                configuration: updated,
                symbols: state.decoder.symbols,
                generation: state.generation + 1,
                webhookCounters: recorders.webhooks
            )
            let generation = configuration.configurationGeneration + state.generation + 1
            let body =
                makeBody?(generation) ?? Self.reconfigureSummary(generation, webhooks: webhooks, triggers: triggers)
            // A record larger than a frame would fail the log: refused before anything changes.
            guard body.count <= recordByteCountMax else {
                throw PipelineConfigurationError(
                    field: "webhooks",
                    message:
                        "the configuration is \(body.count) bytes as a log record; one record holds at most \(recordByteCountMax) (log.frame_bytes less 16)"
                )
            }
            state.generation += 1
            routingBox.withLock { $0 = routing }
            routingGeneration.store(state.generation, ordering: .releasing)
            // Queued under the ingest lock: records reach the log in the order of the swaps.
            let ticket = queueControl([
                LogRecord(
                    type: .configurationChange,
                    timestampMicroseconds: Timestamp.now().microsecondsSinceEpoch,
                    body: body
                )
            ])
            return (ticket, generation)
        }
    }

    /// The version 1 body of a configuration change record: what changed, not replayable (FORMAT.md).
    private static func reconfigureSummary(
        _ generation: Int,
        webhooks: WebhookConfiguration,
        triggers: TriggerConfiguration
    ) -> [UInt8] {
        var body: [UInt8] = Array("{\"generation\":\(generation),\"webhooks\":[".utf8)
        for (position, webhook) in webhooks.webhooks.enumerated() {
            if position > 0 { body.append(UInt8(ascii: ",")) }
            JSONString.appendQuoted(webhook.name, to: &body)
        }
        body.append(contentsOf: "],\"triggers\":\(triggers.allTriggers.count),\"at\":\"".utf8)
        Timestamp.now().append(.prefect, to: &body)
        body.append(contentsOf: "\"}".utf8)
        return body
    }

    /// Queues `records` for the journaler's next frame and wakes it; returns the ticket of the last one.
    func queueControl(_ records: [LogRecord]) -> Int {
        precondition(!records.isEmpty, "a control ticket covers at least one record")
        let ticket = control.withLock { queue in
            queue.records.append(contentsOf: records)
            queue.ticket += records.count
            return queue.ticket
        }
        journalWake.wakeAll()
        return ticket
    }

    /// Waits (polling, on the caller's thread: never on the concurrency pool) until the control record of
    /// `ticket` is durable. Returns `false` when the log failed or `timeoutNanoseconds` passed.
    func waitUntilDurable(ticket: Int, timeoutNanoseconds: UInt64) -> Bool {
        precondition(ticket > 0, "tickets count from 1")
        let deadline = monotonicNanoseconds() &+ timeoutNanoseconds
        while controlDurableTicket.load(ordering: .acquiring) < ticket {
            if failure != nil { return false }
            // A stopping journaler writes what is queued before it ends: no need to watch for the stop.
            if monotonicNanoseconds() >= deadline { return false }
            usleep(200)
        }
        return true

    }

    /// Queues a record for the journaler; returns its ticket (durable once ``controlDurableTicket`` reaches it).
    func journalControl(_ record: LogRecord) -> Int {
        queueControl([record])
    }

    var statistics: PipelineStatistics {
        PipelineStatistics(
            accepted: counters.accepted.load(ordering: .relaxed),
            backpressured: counters.backpressured.load(ordering: .relaxed),
            invalid: counters.invalid.load(ordering: .relaxed),
            journaled: counters.journaled.load(ordering: .relaxed),
            matched: counters.matched.load(ordering: .relaxed),
            deliveriesQueued: counters.deliveriesQueued.load(ordering: .relaxed),
            delivered: counters.delivered.load(ordering: .relaxed),
            failedAttempts: counters.failedAttempts.load(ordering: .relaxed),
            deadLettered: counters.deadLettered.load(ordering: .relaxed),
            pendingDeliveries: tracker.pendingDeliveries,
            inFlight: shards.reduce(0) { $0 + $1.inFlightSnapshot },
            outcomesJournaled: counters.outcomesJournaled.load(ordering: .relaxed),
            recoveredDeliveries: counters.recoveredDeliveries.load(ordering: .relaxed),
            spillingWebhooks: tracker.spillingCount,
            disabledEndpoints: disabledEndpoints.withLock { $0.keys.sorted() },
            redriven: counters.redriven.load(ordering: .relaxed),
            redrivesSkipped: counters.redrivesSkipped.load(ordering: .relaxed),
            workflows: workflowDispatcher.map { dispatcher in
                let counters = dispatcher.counters
                return WorkflowStatistics(
                    started: counters.started.load(ordering: .relaxed),
                    succeeded: counters.succeeded.load(ordering: .relaxed),
                    failedAttempts: counters.failedAttempts.load(ordering: .relaxed),
                    deadLettered: counters.deadLettered.load(ordering: .relaxed),
                    refused: counters.refused.load(ordering: .relaxed),
                    recovered: counters.recovered.load(ordering: .relaxed),
                    pending: dispatcher.queuedCount
                )
            }
        )
    }
}
