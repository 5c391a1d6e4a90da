import SluiceCore
import SluiceStorage
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// The journaler thread's own state between turns; its decisions are the ``JournalerPolicy``'s.
struct JournalerState {
    var policy: JournalerPolicy
    /// The next ring position to journal.
    var next = 0
    var idle = 0
    /// The checkpoints last submitted to the checkpoint writer.
    var checkpointed: WebhookCheckpoints?
    /// Control records appended and not yet durable: one past the last one's sequence, and its ticket.
    var controlWritten: [(logEnd: UInt64, ticket: Int)] = []
}

/// One batch for the log: the events of a ring range, the outcome records the shards queued, and the
/// configuration changes waiting.
struct JournalBatch {
    var records: [LogRecord] = []
    var eventCount = 0
    /// Outcome records the tracker learns of once durable, by their position in `records`.
    var outcomes: [(offset: Int, outcome: SettledState.Journaled)] = []
    /// Endpoint state changes (410, operator), written to `endpoints.disabled` after the records.
    var endpointChanges: [DeliveryOutcomeRecord] = []
    /// The ticket of the last control record in `records`, when there is one.
    var controlTicket: Int?
}

extension PipelineCore {
    // MARK: Journaler

    /// Batch → append → sync per policy → acknowledge what is durable → checkpoints, until stopped. The
    /// ``JournalerPolicy`` decides batch sizes, lingering, durability and the checkpoint cadence.
    func runJournaler() {
        guard let writer else { return }
        defer { checkpointWriter?.stop() }  // everything submitted is on disk before the journaler ends
        let barrier = RingBarrier(sequencer: sequencer)
        var state = JournalerState(
            policy: JournalerPolicy(
                limits: configuration.limits,
                lingers: configuration.log.fsync != .always,
                nowNanoseconds: monotonicNanoseconds()
            )
        )
        while true {
            if failure != nil {
                if journalerDrainAfterFailure(&state) { return }
                continue
            }
            let end = state.policy.batchEnd(next: state.next, available: barrier.available(from: state.next))
            if case .linger(let sleep) = journalerStep(&state, end: end) {
                // A timed sleep to the end of the linger, not a park: producers need not wake a lingering
                // journaler (polling every 100 µs instead cost ~10,000 wake-ups a second).
                usleep(UInt32(clamping: sleep / 1_000))
                continue
            }
            let batch = journalBatch(from: state.next, to: end)
            do {
                if batch.records.isEmpty {
                    if try journalerIdle(&state, writer: writer, barrier: barrier) { return }
                    continue
                }
                state.idle = 0
                try journal(batch, end: end, writer: writer, state: &state)
            } catch {
                fail("log: \(error)")
            }
        }
    }

    /// With `interval` or `never`, small batches (events and outcome records alike: written alone, each
    /// batch of a few would be a frame of its own) linger to become one frame; `always` writes at once, its
    /// batches grow while the previous sync runs.
    private func journalerStep(_ state: inout JournalerState, end: Int) -> JournalerPolicy.Step {
        let outcomesWaiting = state.policy.lingers ? shards.reduce(0) { $0 + $1.outcomes.count } : 0
        return state.policy.step(
            events: end - state.next,
            outcomes: outcomesWaiting,
            oldestEventNanoseconds: end > state.next ? slots[state.next].emittedNanoseconds : nil,
            stopping: stopping.load(ordering: .relaxed),
            nowNanoseconds: monotonicNanoseconds()
        )
    }

    /// The log failed: the writer is never called again (a retried fsync may falsely succeed). Outcome
    /// records are dropped, not journaled: those deliveries are not final, so the next start sends them
    /// again. Nothing more is acknowledged. Returns `true` when the journaler may end.
    private func journalerDrainAfterFailure(_ state: inout JournalerState) -> Bool {
        let dropMax = configuration.limits.journalFailedOutcomeDropCountMax
        for shard in shards { _ = shard.outcomes.pop(maximum: dropMax) { _ in } }
        if shardsDone.load(ordering: .acquiring) == shards.count { return true }
        journalWake.wait(iteration: state.idle) { shards.contains { $0.outcomes.count > 0 } }
        state.idle += 1
        return false
    }

    /// The records of the next frame: events `next..<end`, the shards' outcome records, the configuration
    /// changes waiting.
    private func journalBatch(from next: Int, to end: Int) -> JournalBatch {
        var batch = JournalBatch()
        for position in next..<end {
            slots.withSlot(position) { slot in
                batch.records.append(
                    LogRecord(
                        type: .event,
                        timestampMicroseconds: slot.header.occurred.microsecondsSinceEpoch,
                        body: slot.bytes
                    )
                )
            }
        }
        batch.eventCount = batch.records.count
        let outcomeMax = configuration.limits.journalBatchOutcomeCountMax
        for shard in shards {
            _ = shard.outcomes.pop(maximum: outcomeMax) { outcome in
                if outcome.outcome.isEndpointState { batch.endpointChanges.append(outcome) }
                if outcome.outcome.isFinal || outcome.outcome == .retrying {
                    let journaled = SettledState.Journaled(
                        eventSequence: outcome.eventSequence,
                        webhook: outcome.webhook,
                        attempt: outcome.attempt,
                        final: outcome.outcome.isFinal
                    )
                    batch.outcomes.append((batch.records.count, journaled))
                }
                batch.records.append(
                    LogRecord(
                        type: .deliveryOutcome,
                        timestampMicroseconds: outcome.at.microsecondsSinceEpoch,
                        body: outcome.encoded()
                    )
                )
            }
        }
        control.withLock { pending in
            guard !pending.records.isEmpty else { return }
            batch.records.append(contentsOf: pending.records)
            batch.controlTicket = pending.ticket
            pending.records.removeAll()
        }
        return batch
    }

    /// Appends `batch` (the ring up to `end`), rewrites the endpoint state file when it changed, and
    /// acknowledges what the log says is durable.
    private func journal(
        _ batch: JournalBatch,
        end: Int,
        writer: SegmentLogWriter,
        state: inout JournalerState
    ) throws(SegmentLogError) {
        let range = try writer.append(
            batch.records,
            nowMicroseconds: Timestamp.now().microsecondsSinceEpoch,
            nowMonotonicNanoseconds: monotonicNanoseconds()
        )
        if !batch.endpointChanges.isEmpty {
            // Rare (a 410, an operator): the state file is rewritten at once, after the records.
            let disabled = disabledEndpoints.withLock { disabled in
                for change in batch.endpointChanges { _ = EndpointStateFiles.apply(change, to: &disabled) }
                return disabled
            }
            if let checkpoints { try EndpointStateFiles.write(store: checkpoints, Array(disabled.values)) }
        }
        for (offset, position) in (state.next..<end).enumerated() {
            slots.withSlot(position) { $0.logSequence = range.lowerBound + UInt64(offset) }
        }
        state.policy.appended(
            ringEnd: end,
            logEnd: range.upperBound,
            outcomes: batch.outcomes.map { .init(record: range.lowerBound + UInt64($0.offset), outcome: $0.outcome) }
        )
        PipelineCounters.add(counters.outcomesJournaled, batch.records.count - batch.eventCount)
        if let ticket = batch.controlTicket { state.controlWritten.append((range.upperBound, ticket)) }
        state.next = end
        settle(durable: writer.durableSequence, state: &state)
    }

    /// Nothing to write: sync when due, settle, end when everything has stopped, else park. Returns `true`
    /// when the journaler ends.
    private func journalerIdle(
        _ state: inout JournalerState,
        writer: SegmentLogWriter,
        barrier: RingBarrier
    ) throws(SegmentLogError) -> Bool {
        try writer.syncIfDue(nowMonotonicNanoseconds: monotonicNanoseconds())
        settle(durable: writer.durableSequence, state: &state)
        let next = state.next
        if stopping.load(ordering: .acquiring), matcherDone.load(ordering: .acquiring),
            shardsDone.load(ordering: .acquiring) == shards.count,
            shards.allSatisfy({ $0.outcomes.count == 0 }), next == sequencer.claimed,
            workflowsDone.load(ordering: .acquiring), control.withLock({ $0.records.isEmpty })
        {
            try writer.sync()
            settle(durable: writer.durableSequence, state: &state, final: true)
            return true
        }
        if failure != nil, shardsDone.load(ordering: .acquiring) == shards.count { return true }
        // While stopping, only the end of the matcher and the shards is news (each wakes this): waking on
        // `stopping` alone spun a core for a whole drain.
        journalWake.wait(iteration: state.idle) {
            barrier.available(from: next) > next || shards.contains { $0.outcomes.count > 0 }
                || !control.withLock({ $0.records.isEmpty })
                || (stopping.load(ordering: .relaxed) && matcherDone.load(ordering: .acquiring)
                    && shardsDone.load(ordering: .acquiring) == shards.count
                    && workflowsDone.load(ordering: .acquiring))
        }
        state.idle += 1
        return false
    }

    /// The log is durable below `durable`: acknowledges the ring positions and hands the outcome records
    /// it covers to the tracker, then writes the checkpoints when due. `final`: the last call before the
    /// journaler returns (the checkpoint is written then too).
    private func settle(durable: UInt64, state: inout JournalerState, final: Bool = false) {
        let now = monotonicNanoseconds()
        let done = state.policy.durable(below: durable)
        let passed = journalCursor.value
        if let ringEnd = done.ringEnd, ringEnd > passed {
            for position in passed..<ringEnd {
                slots.withSlot(position) { slot in
                    slot.durableNanoseconds = now
                    recorders.journal.record(from: slot.emittedNanoseconds, to: now)
                }
            }
            PipelineCounters.add(counters.journaled, ringEnd - passed)
            journalCursor.advance(to: ringEnd)
            matchWake.wakeAll()
        }
        tracker.journaled(done.outcomes)
        while let first = state.controlWritten.first, first.logEnd <= durable {
            controlDurableTicket.store(first.ticket, ordering: .releasing)
            state.controlWritten.removeFirst()
        }
        let checkpointNow = monotonicNanoseconds()
        guard state.policy.checkpointDue(nowNanoseconds: checkpointNow, final: final) else { return }
        let snapshot = tracker.snapshot(nowNanoseconds: checkpointNow)
        var written: Int?
        if JournalerPolicy.mustWrite(snapshot, after: state.checkpointed) {
            // Written by the checkpoint thread: its fsyncs do not hold up the next log batch.
            let bytes = snapshot.encoded()
            checkpointWriter?.submit(
                webhooks: bytes,
                settled: state.checkpointed?.settled != snapshot.settled ? snapshot.settled : nil
            )
            state.checkpointed = snapshot
            written = bytes.count
        }
        if final { checkpointWriter?.drain() }
        state.policy.checkpointed(nowNanoseconds: checkpointNow, writtenByteCount: written)
    }
}
