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
                tracker.spillingCount == 0
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
        journalWake.wakeAll()
        journalerThread?.join()
        journalerThread = nil
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

    func reconfigure(webhooks: WebhookConfiguration, triggers: TriggerConfiguration) throws(PipelineConfigurationError)
    {
        var updated = configuration
        updated.webhooks = webhooks
        updated.triggers = triggers
        try updated.validate()
        let generation = try ingest.withLock { state throws(PipelineConfigurationError) -> Int in
            let routing = try PipelineRouting(
                configuration: updated,
                symbols: state.decoder.symbols,
                generation: state.generation + 1,
                webhookCounters: recorders.webhooks
            )
            state.generation += 1
            routingBox.withLock { $0 = routing }
            routingGeneration.store(state.generation, ordering: .releasing)
            return state.generation
        }
        var body: [UInt8] = Array("{\"generation\":\(generation),\"webhooks\":[".utf8)
        for (position, webhook) in webhooks.webhooks.enumerated() {
            if position > 0 { body.append(UInt8(ascii: ",")) }
            JSONString.appendQuoted(webhook.name, to: &body)
        }
        body.append(contentsOf: "],\"triggers\":\(triggers.allTriggers.count),\"at\":\"".utf8)
        Timestamp.now().append(.prefect, to: &body)
        body.append(contentsOf: "\"}".utf8)
        let record = LogRecord(
            type: .configurationChange,
            timestampMicroseconds: Timestamp.now().microsecondsSinceEpoch,
            body: body
        )
        control.withLock { $0.append(record) }
        journalWake.wakeAll()
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
            disabledEndpoints: disabledEndpoints.withLock { $0.keys.sorted() }
        )
    }
}
