import SluiceCore
import SluiceIO
import SluiceStorage
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

extension PipelineCore {
    // MARK: Start and recovery

    func start() throws -> PipelineRecovery {
        precondition(writer == nil, "a pipeline starts once")
        let log = configuration.log
        let opened = try SegmentLogWriter(configuration: log, nowMicroseconds: Timestamp.now().microsecondsSinceEpoch)
        writer = opened
        let store = try CheckpointStore(directory: log.directory)
        checkpoints = store
        checkpointWriter = try CheckpointWriter(store: store) { [weak self] text in self?.fail(text) }
        let loaded = try RecoveryCheckpoints.load(store: store, logEnd: opened.nextSequence)
        let checkpoint = loaded.rematchFrom
        var recovery = PipelineRecovery(
            log: opened.recovery,
            checkpoint: checkpoint,
            eventsRematched: 0,
            deliveriesResumed: 0,
            deliveriesAlreadyFinal: 0,
            ioBackend: "",
            deliveriesCarried: 0,
            deliveriesDropped: 0,
            checkpointNote: loaded.note
        )
        recovery.checkpointIncidents = loaded.incidents

        // Pass 1: what the log says about deliveries after the checkpoint, in log order.
        struct Pair: Hashable {
            var event: UInt64
            var webhook: String
        }
        var final: Set<Pair> = []
        var lastAttempt: [Pair: Int] = [:]
        var disabled = Dictionary(
            try EndpointStateFiles.read(store: store).map { ($0.webhook, $0) },
            uniquingKeysWith: { _, last in last }
        )
        var disabledChanged = false
        var unreadable = 0
        _ = try LogReader.forEachRecord(directory: log.directory, fromSequence: checkpoint) { record in
            guard record.type == .deliveryOutcome else { return }
            guard let outcome = try? DeliveryOutcomeRecord(decoding: record.body) else {
                unreadable += 1
                return
            }
            let pair = Pair(event: outcome.eventSequence, webhook: outcome.webhook)
            switch outcome.outcome {
            case .delivered, .deadLettered: final.insert(pair)
            case .retrying: lastAttempt[pair] = max(lastAttempt[pair] ?? 0, outcome.attempt)
            case .redriveRequested:
                final.remove(pair)
                lastAttempt[pair] = 0
            case .endpointDisabled, .endpointEnabled:
                // Journaled before the state file was rewritten: the record wins (a crash in between).
                disabledChanged = EndpointStateFiles.apply(outcome, to: &disabled) || disabledChanged
            }
        }
        guard unreadable == 0 else {
            throw PipelineConfigurationError(
                field: "log",
                message: "\(unreadable) delivery outcome records after sequence \(checkpoint) cannot be read"
            )
        }

        if disabledChanged { try EndpointStateFiles.write(store: store, Array(disabled.values)) }
        disabledEndpoints.withLock { $0 = disabled }
        let routing = routingBox.withLock { $0 }
        for (number, shard) in shards.enumerated() {
            shard.setDisabled(
                Set(
                    routing.definitions.indices.filter {
                        routing.shardOfWebhook[$0] == number && disabled[routing.definitions[$0].name] != nil
                    }.map { routing.definitions[$0].name }
                )
            )
        }
        tracker = SettledTracker(matchedEnd: checkpoint)
        let tracker = self.tracker
        let slots = tracker.slots(for: routing.definitions.map(\.name))
        // Per webhook (routing number): events below this are not re-matched for it.
        let checkpointOfWebhook = routing.definitions.map { loaded.checkpointOf[$0.name] ?? loaded.newWebhookStart }
        // The pending pairs the checkpoints carry, by event: (webhook number, attempts made).
        var carried: [UInt64: [(webhook: Int, attempt: Int)]] = [:]
        var numberOfName: [String: Int] = [:]
        for (number, definition) in routing.definitions.enumerated() { numberOfName[definition.name] = number }
        for (name, pending) in loaded.pendingOf {
            guard let number = numberOfName[name] else {
                // A webhook no longer configured (removed, or renamed: names are the identity).
                recovery.deliveriesDropped += pending.count
                continue
            }
            for pair in pending {
                let key = Pair(event: pair.eventSequence, webhook: name)
                if final.contains(key) {
                    recovery.deliveriesAlreadyFinal += 1
                    continue
                }
                carried[pair.eventSequence, default: []].append((number, lastAttempt[key] ?? Int(pair.attempt)))
            }
        }

        let shards = self.shards
        let counters = self.counters
        let budgetOfWebhook = routing.definitions.map { budget(of: $0.name) }
        let bound = endpointBound
        /// Per webhook number: where recovery began leaving its deliveries in the log (``WebhookSpill``).
        var spillStart: [Int: UInt64] = [:]
        recoveredLogEnd = opened.nextSequence
        var undecodable: [String] = []
        try ingest.withLock { state throws(SegmentLogError) in
            var matcher = TriggerMatcher(index: routing.index)
            var hits: [TriggerHit] = []
            func queue(
                _ event: Event,
                sequence: UInt64,
                webhook: Int,
                trigger: Int,
                attempt: Int,
                body: inout [UInt8]?,
                firing: (count: Int, body: [UInt8])?,
                firingWebhooks: ArraySlice<(webhook: Int, trigger: Int)>
            ) {
                // A stateful trigger's firing: its webhooks take the firing's body; the rest the event's.
                let jobBody: [UInt8]
                if let firing, firingWebhooks.contains(where: { $0.webhook == webhook }) {
                    jobBody = firing.body
                } else {
                    if body == nil { body = event.webhookBody() }
                    jobBody = body!
                }
                let budget = budgetOfWebhook[webhook]
                budget.add()
                shards[routing.shardOfWebhook[webhook]].addRecovered(
                    DeliveryJob(
                        routing: routing,
                        webhook: webhook,
                        trigger: trigger,
                        eventSequence: sequence,
                        eventID: event.header.id,
                        body: jobBody,
                        firstAttempt: attempt + 1,
                        budget: budget,
                        emittedNanoseconds: 0,
                        durableNanoseconds: 0,
                        matchedNanoseconds: 0
                    )
                )
            }

            // The carried pairs: read their events (runs of nearby sequences in one read), re-match them
            // for the trigger, and queue each pair whose webhook still matches.
            let wanted = carried.keys.sorted()
            var runStart = 0
            while runStart < wanted.count {
                var runEnd = runStart + 1
                while runEnd < wanted.count, wanted[runEnd] - wanted[runEnd - 1] < 4096 { runEnd += 1 }
                var found = 0
                _ = try LogReader.forEachRecord(
                    directory: log.directory,
                    fromSequence: wanted[runStart],
                    toSequence: wanted[runEnd - 1] + 1
                ) { record in
                    guard record.type == .event, let pending = carried[record.sequence],
                        let event = Self.decodeRecovered(record, state: &state, undecodable: &undecodable)
                    else { return }
                    found += pending.count
                    var pairs = Self.deliveries(of: event, matcher: &matcher, hits: &hits, routing: routing)
                    let firing =
                        routing.hasStatefulTriggers
                        ? Self.firingDeliveries(of: event, pairs: &pairs, routing: routing) : nil
                    let firingWebhooks = pairs.prefix(firing?.count ?? 0)
                    var body: [UInt8]?
                    for (webhook, attempt) in pending {
                        guard let trigger = pairs.first(where: { $0.webhook == webhook })?.trigger else {
                            recovery.deliveriesDropped += 1  // its triggers no longer send this event to it
                            continue
                        }
                        queue(
                            event,
                            sequence: record.sequence,
                            webhook: webhook,
                            trigger: trigger,
                            attempt: attempt,
                            body: &body,
                            firing: firing,
                            firingWebhooks: firingWebhooks
                        )
                        tracker.carry(record.sequence, slot: slots[webhook], attempt: attempt)
                        recovery.deliveriesCarried += 1
                    }
                }
                let expected = wanted[runStart..<runEnd].reduce(0) { $0 + carried[$1]!.count }
                recovery.deliveriesDropped += expected - found  // the event is gone from the log (retention)
                runStart = runEnd
            }

            // Pass 2: re-match the events after the checkpoint; queue every pair without a final outcome
            // whose event is at or after its webhook's checkpoint.
            _ = try LogReader.forEachRecord(directory: log.directory, fromSequence: checkpoint) { record in
                guard record.type == .event,
                    let event = Self.decodeRecovered(record, state: &state, undecodable: &undecodable)
                else { return }
                recovery.eventsRematched += 1
                var pairs = Self.deliveries(of: event, matcher: &matcher, hits: &hits, routing: routing)
                let firing =
                    routing.hasStatefulTriggers
                    ? Self.firingDeliveries(of: event, pairs: &pairs, routing: routing) : nil
                let firingWebhooks = pairs.prefix(firing?.count ?? 0)
                var body: [UInt8]?
                pairs.removeAll { pair in
                    guard record.sequence >= checkpointOfWebhook[pair.webhook] else { return true }
                    let key = Pair(event: record.sequence, webhook: routing.definitions[pair.webhook].name)
                    if final.contains(key) {
                        recovery.deliveriesAlreadyFinal += 1
                        return true
                    }
                    if spillStart[pair.webhook] != nil { return true }
                    if WebhookSpill.decide(held: budgetOfWebhook[pair.webhook].count, bound: bound) == .spill {
                        // More than the webhook may hold: the rest of its backlog is read back by the matcher.
                        spillStart[pair.webhook] = record.sequence
                        tracker.spill(slot: slots[pair.webhook], from: record.sequence)
                        return true
                    }
                    queue(
                        event,
                        sequence: record.sequence,
                        webhook: pair.webhook,
                        trigger: pair.trigger,
                        attempt: lastAttempt[key] ?? 0,
                        body: &body,
                        firing: firing,
                        firingWebhooks: firingWebhooks
                    )
                    return false
                }
                tracker.matched(record.sequence, webhooks: pairs, slots: slots)
                recovery.deliveriesResumed += pairs.count
            }
        }
        if let first = undecodable.first {
            throw PipelineConfigurationError(
                field: "event_limits",
                message: "\(undecodable.count) event records after the checkpoint no longer decode (first: \(first)); "
                    + "restore the limits they were accepted with"
            )
        }
        recovery.deliveriesResumed += recovery.deliveriesCarried
        for (webhook, start) in spillStart {
            let name = routing.definitions[webhook].name
            var spill = WebhookSpill(next: start)
            for pair in final where pair.webhook == name && pair.event >= start { spill.final.insert(pair.event) }
            for (pair, attempt) in lastAttempt where pair.webhook == name && pair.event >= start {
                spill.attempts[pair.event] = attempt
            }
            recoveredSpills[name] = spill
            budget(of: name).spilling.store(true, ordering: .relaxed)
        }
        recovery.webhooksSpilled = spillStart.count
        if routing.hasStatefulTriggers {
            // Stateful triggers: rebuild their windows from the log (StatefulTriggers.recover).
            let directory = log.directory
            let configuration = self.configuration
            recoveredStateful = try ingest.withLock { state throws(SegmentLogError) in
                try StatefulTriggers.recover(
                    routing: routing,
                    symbols: state.decoder.symbols,
                    directory: directory,
                    checkpoint: checkpoint,
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
        PipelineCounters.add(counters.recoveredDeliveries, recovery.deliveriesResumed)
        PipelineCounters.add(counters.deliveriesQueued, recovery.deliveriesResumed)

        // Threads: delivery shards (and their I/O loops), the matcher, the journaler.
        let backend = try IOBackendSelection.detect(override: configuration.ioBackend ?? environmentValue("SLUICE_IO"))
        recovery.ioBackend = "\(backend.kind) (\(backend.reason))"
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
        threads.append(try LoopThread(name: "sluice-match") { [self] in runMatcher() })
        journalerThread = try LoopThread(name: "sluice-journal") { [self] in runJournaler() }
        ingest.withLock { $0.running = true }
        return recovery
    }

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

    /// The (webhook, trigger) pairs `event` is delivered to: each webhook once, for the first trigger that
    /// fires for it.
    static func deliveries(
        of event: Event,
        matcher: inout TriggerMatcher,
        hits: inout [TriggerHit],
        routing: PipelineRouting
    ) -> [(webhook: Int, trigger: Int)] {
        hits.removeAll(keepingCapacity: true)
        matcher.match(event, into: &hits)
        var pairs: [(webhook: Int, trigger: Int)] = []
        let skipsStateful = routing.hasStatefulTriggers
        for hit in hits where hit.expects {
            // Stateful triggers deliver through their `sluice.trigger.fired` events (StatefulTriggers).
            if skipsStateful && routing.isStatefulTrigger[hit.trigger] { continue }
            for webhook in routing.webhooksOfTrigger[hit.trigger]
            where !pairs.contains(where: { $0.webhook == webhook }) {
                pairs.append((webhook, hit.trigger))
            }
        }
        return pairs
    }

    /// With stateful triggers: when `event` is a `sluice.trigger.fired` of a stateful trigger, its webhooks
    /// come first in `pairs` (each webhook still once) and take `body`; `count` says how many they are.
    static func firingDeliveries(
        of event: Event,
        pairs: inout [(webhook: Int, trigger: Int)],
        routing: PipelineRouting
    ) -> (count: Int, body: [UInt8])? {
        guard let firing = StatefulTriggers.firing(of: event, routing: routing) else { return nil }
        let webhooks = routing.webhooksOfTrigger[firing.trigger]
        guard !webhooks.isEmpty else { return nil }
        pairs.removeAll { webhooks.contains($0.webhook) }
        pairs.insert(contentsOf: webhooks.map { ($0, firing.trigger) }, at: 0)
        return (webhooks.count, firing.body)
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

    // MARK: Journaler

    private func runJournaler() {
        guard let writer else { return }
        defer { checkpointWriter?.stop() }  // everything submitted is on disk before the journaler ends
        let barrier = RingBarrier(sequencer: sequencer)
        var next = 0
        var records: [LogRecord] = []
        /// Appended batches not yet durable: (ring end, log end).
        var appended: [(ringEnd: Int, logEnd: UInt64)] = []
        /// Outcomes (final and retrying) not yet durable, for the tracker: (log sequence of the record, the outcome).
        var finals: [(record: UInt64, outcome: SettledTracker.Journaled)] = []
        var durableOutcomes: [SettledTracker.Journaled] = []
        var checkpointed: WebhookCheckpoints?
        var checkpointedAt = monotonicNanoseconds()
        var checkpointIntervalNanoseconds: UInt64 = 100_000_000
        var idle = 0

        /// `final`: the last call before the journaler returns (the checkpoint is written then too).
        func settle(durable: UInt64, final: Bool = false) {
            var ringEnd = journalCursor.value
            var drop = 0
            for batch in appended {
                guard batch.logEnd <= durable else { break }
                ringEnd = batch.ringEnd
                drop += 1
            }
            if drop > 0 { appended.removeFirst(drop) }
            let passed = journalCursor.value
            if ringEnd > passed {
                let now = monotonicNanoseconds()
                for position in passed..<ringEnd { slots.withSlot(position) { $0.durableNanoseconds = now } }
                PipelineCounters.add(counters.journaled, ringEnd - passed)
                journalCursor.advance(to: ringEnd)
                matchWake.wakeAll()
            }
            durableOutcomes.removeAll(keepingCapacity: true)
            for waiting in finals {
                guard waiting.record < durable else { break }
                durableOutcomes.append(waiting.outcome)
            }
            if !durableOutcomes.isEmpty {
                finals.removeFirst(durableOutcomes.count)
                tracker.journaled(durableOutcomes)
            }
            let now = monotonicNanoseconds()
            if now - checkpointedAt >= checkpointIntervalNanoseconds || final {
                let snapshot = tracker.snapshot(nowNanoseconds: now)
                // Rewritten only when what a restart does changes: attempts alone changing need no write,
                // since a restart reads the outcome records from the re-match point on anyway.
                if checkpointed.map({ Self.sameRecovery($0, snapshot) }) != true {
                    // Written by the checkpoint thread: its fsyncs do not hold up the next log batch.
                    let bytes = snapshot.encoded()
                    checkpointWriter?.submit(
                        webhooks: bytes,
                        settled: checkpointed?.settled != snapshot.settled ? snapshot.settled : nil
                    )
                    checkpointed = snapshot
                    // Large files (many carried pairs) are written less often: about 2.5 MB/s at most.
                    checkpointIntervalNanoseconds = max(100_000_000, UInt64(bytes.count) * 400)
                }
                if final { checkpointWriter?.drain() }
                checkpointedAt = now
            }
        }

        // With `interval` or `never`, nothing waits for each write to be synced, so small batches linger up
        // to `lingerNanoseconds` to become one frame (fewer writes, better compression); `always` writes at
        // once, its batches grow while the previous sync runs.
        let lingers = configuration.log.fsync != .always
        let lingerNanoseconds: UInt64 = 1_000_000
        /// When the journaler first saw outcome records it has not written yet (0: none waiting).
        var outcomesWaitingSince: UInt64 = 0
        while true {
            if failure != nil {
                // The log failed: never call the writer again (a retried fsync may falsely succeed).
                // Outcome records are dropped, not journaled: those deliveries are not final, so the
                // next start sends them again. Nothing more is acknowledged.
                for shard in shards { _ = shard.outcomes.pop(maximum: 4096) { _ in } }
                if shardsDone.load(ordering: .acquiring) == shards.count { return }
                journalWake.wait(iteration: idle) { shards.contains { $0.outcomes.count > 0 } }
                idle += 1
                continue
            }
            records.removeAll(keepingCapacity: true)
            let end = min(barrier.available(from: next), next + 1024)
            if lingers, !stopping.load(ordering: .relaxed) {
                // Outcome records linger too: written alone, each batch of a few would be a frame (an LZ4
                // call, a checksum and a write) of its own.
                let outcomesWaiting = shards.reduce(0) { $0 + $1.outcomes.count }
                if end - next < 256, outcomesWaiting < 512, end > next || outcomesWaiting > 0 {
                    let now = monotonicNanoseconds()
                    if outcomesWaiting > 0, outcomesWaitingSince == 0 { outcomesWaitingSince = now }
                    var oldest = outcomesWaiting > 0 ? outcomesWaitingSince : now
                    if end > next { oldest = min(oldest, slots[next].emittedNanoseconds) }
                    if now - oldest < lingerNanoseconds {
                        // A timed sleep to the end of the linger, not a park: producers need not wake a
                        // lingering journaler (polling every 100 µs instead cost ~10,000 wake-ups a second).
                        usleep(UInt32(max(50_000, lingerNanoseconds - (now - oldest)) / 1_000))
                        continue
                    }
                }
            }
            outcomesWaitingSince = 0
            for position in next..<end {
                slots.withSlot(position) { slot in
                    records.append(
                        LogRecord(
                            type: .event,
                            timestampMicroseconds: slot.header.occurred.microsecondsSinceEpoch,
                            body: slot.bytes
                        )
                    )
                }
            }
            let eventCount = records.count
            var outcomeFinals: [(offset: Int, outcome: SettledTracker.Journaled)] = []
            var endpointChanges: [DeliveryOutcomeRecord] = []
            for shard in shards {
                _ = shard.outcomes.pop(maximum: 1024) { outcome in
                    if outcome.outcome.isEndpointState { endpointChanges.append(outcome) }
                    if outcome.outcome.isFinal || outcome.outcome == .retrying {
                        outcomeFinals.append(
                            (
                                records.count,
                                SettledTracker.Journaled(
                                    eventSequence: outcome.eventSequence,
                                    webhook: outcome.webhook,
                                    attempt: outcome.attempt,
                                    final: outcome.outcome.isFinal
                                )
                            )
                        )
                    }
                    records.append(
                        LogRecord(
                            type: .deliveryOutcome,
                            timestampMicroseconds: outcome.at.microsecondsSinceEpoch,
                            body: outcome.encoded()
                        )
                    )
                }
            }
            control.withLock { pending in
                records.append(contentsOf: pending)
                pending.removeAll()
            }
            do {
                if records.isEmpty {
                    try writer.syncIfDue(nowMonotonicNanoseconds: monotonicNanoseconds())
                    settle(durable: writer.durableSequence)
                    if stopping.load(ordering: .acquiring), matcherDone.load(ordering: .acquiring),
                        shardsDone.load(ordering: .acquiring) == shards.count,
                        shards.allSatisfy({ $0.outcomes.count == 0 }), next == sequencer.claimed
                    {
                        try writer.sync()
                        settle(durable: writer.durableSequence, final: true)
                        return
                    }
                    if failure != nil, shardsDone.load(ordering: .acquiring) == shards.count { return }
                    // While stopping, only the end of the matcher and the shards is news (each wakes this):
                    // waking on `stopping` alone spun a core for a whole drain.
                    journalWake.wait(iteration: idle) {
                        barrier.available(from: next) > next || shards.contains { $0.outcomes.count > 0 }
                            || !control.withLock({ $0.isEmpty })
                            || (stopping.load(ordering: .relaxed) && matcherDone.load(ordering: .acquiring)
                                && shardsDone.load(ordering: .acquiring) == shards.count)
                    }
                    idle += 1
                    continue
                }
                idle = 0
                let range = try writer.append(
                    records,
                    nowMicroseconds: Timestamp.now().microsecondsSinceEpoch,
                    nowMonotonicNanoseconds: monotonicNanoseconds()
                )
                if !endpointChanges.isEmpty {
                    // Rare (a 410, an operator): the state file is rewritten at once, after the records.
                    let disabled = disabledEndpoints.withLock { disabled in
                        for change in endpointChanges { _ = EndpointStateFiles.apply(change, to: &disabled) }
                        return disabled
                    }
                    if let checkpoints { try EndpointStateFiles.write(store: checkpoints, Array(disabled.values)) }
                }
                for (offset, position) in (next..<end).enumerated() {
                    slots.withSlot(position) { $0.logSequence = range.lowerBound + UInt64(offset) }
                }
                for final in outcomeFinals { finals.append((range.lowerBound + UInt64(final.offset), final.outcome)) }
                PipelineCounters.add(counters.outcomesJournaled, records.count - eventCount)
                next = end
                appended.append((end, range.upperBound))
                settle(durable: writer.durableSequence)
            } catch {
                fail("log: \(error)")
            }
        }
    }

    /// Whether a restart from `old` does the same as from `new`: equal but for attempts, which a restart
    /// also reads from the outcome records after the re-match point.
    static func sameRecovery(_ old: WebhookCheckpoints, _ new: WebhookCheckpoints) -> Bool {
        guard old.settled == new.settled, old.rematchFrom == new.rematchFrom, old.matchedEnd == new.matchedEnd,
            old.webhooks.count == new.webhooks.count
        else { return false }
        return zip(old.webhooks, new.webhooks).allSatisfy { old, new in
            old.name == new.name && old.checkpoint == new.checkpoint
                && old.pending.map(\.eventSequence) == new.pending.map(\.eventSequence)
        }
    }

    // MARK: Matcher

    private func runMatcher() {
        let barrier = RingBarrier(sequencer: sequencer, dependencies: [journalCursor])
        var routing = routingBox.withLock { $0 }
        var matcher = TriggerMatcher(index: routing.index)
        var trackerSlots = tracker.slots(for: routing.definitions.map(\.name))
        var hits: [TriggerHit] = []
        var next = 0
        var idle = 0
        var touched = [Bool](repeating: false, count: shards.count)
        /// Only with stateful triggers (or while outcome events of earlier ones are on their way).
        var stateful = recoveredStateful
        recoveredStateful = nil
        /// Webhooks whose backlog is in the log (``WebhookSpill``), by name; the bound each may hold.
        var spills = recoveredSpills
        recoveredSpills = [:]
        let bound = endpointBound
        var budgetOfWebhook = routing.definitions.map { budget(of: $0.name) }
        /// One past the log sequence of the last event matched: where a spill's read-back meets the live stream.
        var logEnd = recoveredLogEnd
        while true {
            if routing.hasStatefulTriggers || stateful != nil {
                statefulTurn(&stateful, routing: routing)
            }
            if !spills.isEmpty {
                _ = readBackSignal.take()
                for name in Array(spills.keys) {
                    if readBack(
                        &spills[name]!,
                        name: name,
                        logEnd: logEnd,
                        routing: routing,
                        matcher: &matcher,
                        trackerSlots: trackerSlots
                    ) {
                        spills[name] = nil
                    }
                }
            }
            let end = barrier.available(from: next)
            if end == next {
                if stopping.load(ordering: .acquiring),
                    ingest.withLock({ !$0.running }), next == sequencer.claimed || failure != nil
                {
                    break
                }
                matchWake.wait(iteration: idle) {
                    barrier.available(from: next) > next || stopping.load(ordering: .relaxed)
                        || (!spills.isEmpty && readBackSignal.isRaised)
                }
                idle += 1
                continue
            }
            idle = 0
            if routingGeneration.load(ordering: .acquiring) != routing.generation {
                routing = routingBox.withLock { $0 }
                matcher = TriggerMatcher(index: routing.index)
                trackerSlots = tracker.slots(for: routing.definitions.map(\.name))
                budgetOfWebhook = routing.definitions.map { budget(of: $0.name) }
                // The machine follows before this batch: hits number the new routing's triggers.
                if routing.hasStatefulTriggers || stateful != nil { statefulTurn(&stateful, routing: routing) }
            }
            let matchedAt = monotonicNanoseconds()
            var gaveUp = false
            matching: for position in next..<end {
                // Read in place: copying the whole slot out would retain its header's arrays and bytes twice.
                let (event, slot) = slots.withSlot(position) { slot in
                    (
                        Event(header: slot.header, bytes: slot.bytes),
                        (
                            logSequence: slot.logSequence, emittedNanoseconds: slot.emittedNanoseconds,
                            durableNanoseconds: slot.durableNanoseconds
                        )
                    )
                }
                var pairs = Self.deliveries(of: event, matcher: &matcher, hits: &hits, routing: routing)
                var firing: (count: Int, body: [UInt8])?
                var held = 0
                if stateful != nil {
                    if let released = stateful!.arrived(event) { tracker.released(released) }
                    if routing.hasStatefulTriggers {
                        firing = Self.firingDeliveries(of: event, pairs: &pairs, routing: routing)
                        held = stateful!.observe(event, hits: hits, routing: routing, sequence: slot.logSequence)
                    }
                }
                logEnd = slot.logSequence + 1
                // A firing's webhooks come first and take its body; the rest take the event's.
                var firingCount = firing?.count ?? 0
                if !pairs.isEmpty {
                    // Per-endpoint isolation: a webhook holding its bound leaves its deliveries in the log.
                    var position = 0
                    pairs.removeAll { pair in
                        defer { position += 1 }
                        let name = routing.definitions[pair.webhook].name
                        let keep: Bool
                        if spills[name] != nil {
                            keep = false
                        } else if WebhookSpill.decide(held: budgetOfWebhook[pair.webhook].count, bound: bound) == .spill
                        {
                            spills[name] = startSpill(name, slot: trackerSlots[pair.webhook], from: slot.logSequence)
                            keep = false
                        } else {
                            keep = true
                        }
                        if !keep && position < (firing?.count ?? 0) { firingCount -= 1 }
                        return !keep
                    }
                }
                tracker.matched(slot.logSequence, webhooks: pairs, slots: trackerSlots, holds: held)
                guard !pairs.isEmpty else { continue }
                let eventBody = firingCount < pairs.count ? event.webhookBody() : []
                for (position, (webhook, trigger)) in pairs.enumerated() {
                    let body = position < firingCount ? firing!.body : eventBody
                    let shard = routing.shardOfWebhook[webhook]
                    let budget = budgetOfWebhook[webhook]
                    let job = DeliveryJob(
                        routing: routing,
                        webhook: webhook,
                        trigger: trigger,
                        eventSequence: slot.logSequence,
                        eventID: event.header.id,
                        body: body,
                        firstAttempt: 1,
                        budget: budget,
                        emittedNanoseconds: slot.emittedNanoseconds,
                        durableNanoseconds: slot.durableNanoseconds,
                        matchedNanoseconds: matchedAt
                    )
                    budget.add()
                    var waited = 0
                    while !shards[shard].jobs.tryPush(job) {
                        // The shard is full: wake it and wait (this is what backs up to `emit`). A stop
                        // gives up here: the event stays unsettled, so the next start re-matches it.
                        if stopping.load(ordering: .relaxed) || failure != nil {
                            budget.remove()
                            gaveUp = true
                            break matching
                        }
                        shards[shard].wakeUp()
                        let full = shards[shard]
                        full.jobSpace.wait(iteration: waited) {
                            full.hasJobSpace || stopping.load(ordering: .relaxed) || failure != nil
                        }
                        waited += 1
                    }
                    touched[shard] = true
                    PipelineCounters.add(counters.deliveriesQueued)
                }
            }
            if gaveUp { break }  // see above; the rest is re-matched after a restart
            PipelineCounters.addReleasing(counters.matched, end - next)
            next = end
            matchCursor.advance(to: next)
            for (shard, wasTouched) in touched.enumerated() where wasTouched {
                shards[shard].wakeUp()
                touched[shard] = false
            }
        }
        matcherDone.store(true, ordering: .releasing)
        for shard in shards {
            shard.noMoreJobs.store(true, ordering: .releasing)
            shard.wakeUp()
        }
        journalWake.wakeAll()
    }

    /// One matcher turn of the stateful triggers: (re)build the machine for a new routing (a
    /// reconfiguration carries the windows of unchanged triggers, see `StatefulTriggers.replaceMachine`;
    /// queued outcome events and holds carry over), move its clock to the wall clock, and emit the outcome
    /// events it queued. The matcher parks at most 10 ms, so a window ends at most that late.
    private func statefulTurn(_ stateful: inout StatefulTriggers?, routing: PipelineRouting) {
        if routing.hasStatefulTriggers {
            if stateful?.generation != routing.generation {
                let configuration = self.configuration
                let now = Timestamp.now()
                let fresh = ingest.withLock { state in
                    StatefulTriggers(
                        routing: routing,
                        symbols: state.decoder.symbols,
                        start: now,
                        configuration: configuration
                    )
                }
                if stateful == nil { stateful = fresh } else { stateful!.replaceMachine(with: fresh) }
            }
            stateful!.advance(to: Timestamp.now(), routing: routing)
        }
        guard stateful!.hasUnsent else { return }
        let tracker = self.tracker
        stateful!.send({ self.emit($0, fromMatcher: true) }, release: { tracker.released($0) })
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
            usleep(500)
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
            usleep(1_000)
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
                generation: state.generation + 1
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
