import SluiceCore
import SluiceStorage
import Synchronization

/// The matcher thread's own state between turns.
struct MatcherState: ~Copyable {
    var routing: PipelineRouting
    var matcher: TriggerMatcher
    var trackerSlots: [Int]
    var budgetOfWebhook: [WebhookBudget]
    var hits: [TriggerHit] = []
    /// The next ring position to match.
    var next = 0
    var idle = 0
    /// Shards given a job since they were last woken.
    var touched: [Bool]
    /// Only with stateful triggers (or while outcome events of earlier ones are on their way).
    var stateful: StatefulTriggers?
    /// Webhooks whose backlog is in the log (``WebhookSpill``), by name.
    var spills: [String: WebhookSpill]
    /// One past the log sequence of the last event matched: where a spill's read-back meets the live stream.
    var logEnd: UInt64
}

extension PipelineCore {
    // MARK: Matcher

    /// Matches each durable event (compiled ``TriggerIndex``), queues its deliveries to the shards, keeps
    /// the stateful triggers' windows and reads spilled backlogs back, until stopped.
    func runMatcher() {
        let barrier = RingBarrier(sequencer: sequencer, dependencies: [journalCursor])
        let routing = routingBox.withLock { $0 }
        var state = MatcherState(
            routing: routing,
            matcher: TriggerMatcher(index: routing.index),
            trackerSlots: tracker.slots(for: routing.definitions.map(\.name)),
            budgetOfWebhook: routing.definitions.map { budget(of: $0.name) },
            touched: [Bool](repeating: false, count: shards.count),
            stateful: recoveredStateful,
            spills: recoveredSpills,
            logEnd: recoveredLogEnd
        )
        recoveredStateful = nil
        recoveredSpills = [:]
        while true {
            if state.routing.hasStatefulTriggers || state.stateful != nil {
                statefulTurn(&state.stateful, routing: state.routing)
            }
            if !state.spills.isEmpty { readBackSpills(&state) }
            if redriveSignal.isRaised { redriveTurn(&state) }
            let end = barrier.available(from: state.next)
            if end == state.next {
                if stopping.load(ordering: .acquiring),
                    ingest.withLock({ !$0.running }), state.next == sequencer.claimed || failure != nil
                {
                    break
                }
                let next = state.next
                let spilling = !state.spills.isEmpty
                matchWake.wait(iteration: state.idle) {
                    barrier.available(from: next) > next || stopping.load(ordering: .relaxed)
                        || (spilling && readBackSignal.isRaised) || redriveSignal.isRaised
                }
                state.idle += 1
                continue
            }
            state.idle = 0
            if routingGeneration.load(ordering: .acquiring) != state.routing.generation { followRouting(&state) }
            // A stop with a full shard gives up: the rest is re-matched after a restart.
            guard matchBatch(&state, end: end) else { break }
            workflowDispatcher?.matchedEnd.store(state.logEnd, ordering: .releasing)
            PipelineCounters.addReleasing(counters.matched, end - state.next)
            state.next = end
            matchCursor.advance(to: end)
            for (shard, wasTouched) in state.touched.enumerated() where wasTouched {
                shards[shard].wakeUp()
                state.touched[shard] = false
            }
        }
        matcherDone.store(true, ordering: .releasing)
        for shard in shards {
            shard.noMoreJobs.store(true, ordering: .releasing)
            shard.wakeUp()
        }
        journalWake.wakeAll()
    }

    /// One read-back step for every spilling webhook; those caught up with the live stream end.
    private func readBackSpills(_ state: inout MatcherState) {
        _ = readBackSignal.take()
        for name in Array(state.spills.keys) {
            if readBack(
                &state.spills[name]!,
                name: name,
                logEnd: state.logEnd,
                routing: state.routing,
                matcher: &state.matcher,
                trackerSlots: state.trackerSlots
            ) {
                state.spills[name] = nil
            }
        }
    }

    /// A reconfiguration: the new routing, its matcher, slots and budgets.
    func followRouting(_ state: inout MatcherState) {
        let routing = routingBox.withLock { $0 }
        state.routing = routing
        state.matcher = TriggerMatcher(index: routing.index)
        state.trackerSlots = tracker.slots(for: routing.definitions.map(\.name))
        state.budgetOfWebhook = routing.definitions.map { budget(of: $0.name) }
        // The machine follows before this batch: hits number the new routing's triggers.
        if routing.hasStatefulTriggers || state.stateful != nil { statefulTurn(&state.stateful, routing: routing) }
    }

    /// Matches ring positions `state.next..<end`; `false` when a stop made it give up with a shard full.
    private func matchBatch(_ state: inout MatcherState, end: Int) -> Bool {
        let matchedAt = monotonicNanoseconds()
        for position in state.next..<end {
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
            var pairs = Self.deliveries(of: event, matcher: &state.matcher, hits: &state.hits, routing: state.routing)
            var firing: (count: Int, body: [UInt8])?
            var held = 0
            if state.stateful != nil {
                if let released = state.stateful!.arrived(event) { tracker.released(released) }
                if state.routing.hasStatefulTriggers {
                    firing = Self.firingDeliveries(of: event, pairs: &pairs, routing: state.routing)
                    held = state.stateful!.observe(
                        event,
                        hits: state.hits,
                        routing: state.routing,
                        sequence: slot.logSequence
                    )
                }
            }
            if state.routing.hasWorkflowActions, let dispatcher = workflowDispatcher {
                let jobs = Self.workflowJobs(
                    of: event,
                    sequence: slot.logSequence,
                    hits: state.hits,
                    routing: state.routing
                )
                for job in jobs { guard submit(job, to: dispatcher) else { return false } }
            }
            state.logEnd = slot.logSequence + 1
            recorders.match.record(from: slot.durableNanoseconds, to: matchedAt)
            // A firing's webhooks come first and take its body; the rest take the event's.
            let firingCount = admit(&pairs, firingCount: firing?.count ?? 0, sequence: slot.logSequence, state: &state)
            tracker.matched(slot.logSequence, webhooks: pairs, slots: state.trackerSlots, holds: held)
            guard !pairs.isEmpty else { continue }
            let eventBody = firingCount < pairs.count ? event.webhookBody() : []
            for (position, (webhook, trigger)) in pairs.enumerated() {
                let job = DeliveryJob(
                    routing: state.routing,
                    webhook: webhook,
                    trigger: trigger,
                    eventSequence: slot.logSequence,
                    eventID: event.header.id,
                    body: position < firingCount ? firing!.body : eventBody,
                    firstAttempt: 1,
                    budget: state.budgetOfWebhook[webhook],
                    emittedNanoseconds: slot.emittedNanoseconds,
                    durableNanoseconds: slot.durableNanoseconds,
                    matchedNanoseconds: matchedAt
                )
                guard push(job, toShard: state.routing.shardOfWebhook[webhook]) else { return false }
                state.touched[state.routing.shardOfWebhook[webhook]] = true
            }
        }
        return true
    }

    /// Per-endpoint isolation: removes from `pairs` the webhooks that spill (already, or from this event
    /// on: they hold their bound) and returns how many of the first `firingCount` pairs remain.
    private func admit(
        _ pairs: inout [(webhook: Int, trigger: Int)],
        firingCount: Int,
        sequence: UInt64,
        state: inout MatcherState
    ) -> Int {
        guard !pairs.isEmpty else { return firingCount }
        var remaining = firingCount
        var position = 0
        let bound = endpointBound
        pairs.removeAll { pair in
            defer { position += 1 }
            let name = state.routing.definitions[pair.webhook].name
            let keep: Bool
            if state.spills[name] != nil {
                keep = false
            } else if WebhookSpill.decide(held: state.budgetOfWebhook[pair.webhook].count, bound: bound) == .spill {
                state.spills[name] = startSpill(name, slot: state.trackerSlots[pair.webhook], from: sequence)
                keep = false
            } else {
                keep = true
            }
            if !keep && position < firingCount { remaining -= 1 }
            return !keep
        }
        return remaining
    }

    /// Queues `job` to its shard, waiting while the shard is full (this is what backs up to `emit`).
    /// `false`: a stop gave up here; the event stays unsettled, so the next start re-matches it.
    func push(_ job: DeliveryJob, toShard shard: Int) -> Bool {
        job.budget.add()
        var waited = 0
        while !shards[shard].jobs.tryPush(job) {
            if stopping.load(ordering: .relaxed) || failure != nil {
                job.budget.remove()
                return false
            }
            shards[shard].wakeUp()
            let full = shards[shard]
            full.jobSpace.wait(iteration: waited) {
                full.hasJobSpace || stopping.load(ordering: .relaxed) || failure != nil
            }
            waited += 1
        }
        PipelineCounters.add(counters.deliveriesQueued)
        return true
    }

    /// One matcher turn of the stateful triggers: (re)build the machine for a new routing (a
    /// reconfiguration carries the windows of unchanged triggers, see `StatefulTriggers.replaceMachine`;
    /// queued outcome events and holds carry over), move its clock to the wall clock, and emit the outcome
    /// events it queued. The matcher parks at most 10 ms, so a window ends at most that late.
    func statefulTurn(_ stateful: inout StatefulTriggers?, routing: PipelineRouting) {
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

    /// The (webhook, trigger) pairs `event` is delivered to: each webhook once, for the first trigger that
    /// fires for it.
    static func deliveries(
        of event: Event,
        matcher: inout TriggerMatcher,
        hits: inout [TriggerHit],
        routing: PipelineRouting
    ) -> [(webhook: Int, trigger: Int)] {
        hits.removeAll(keepingCapacity: true)
        // Workflow run records are journal entries, not events for triggers (docs/workflows.md).
        if event.slice(event.header.nameReference.range).starts(with: WorkflowRunRecord.eventNamePrefix.utf8) {
            return []
        }
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
}
