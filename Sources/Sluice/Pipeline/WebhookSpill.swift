import SluiceCore
import SluiceStorage
import Synchronization

/// How many deliveries of one webhook are in memory: queued to its delivery shard or held by it (ready, in
/// flight, waiting for a retry). The matcher (and recovery) adds one per job it queues; the shard takes one
/// away when the delivery ends (delivered, dead-lettered, cancelled). Shared by name, so it survives a
/// reconfiguration that keeps the webhook.
final class WebhookBudget: Sendable {
    let held = Atomic<Int>(0)
    /// Set by the matcher while the webhook spills: the delivery that brings ``held`` down to
    /// ``readBackAt`` then raises ``readBackReady`` and wakes the matcher to read the backlog back.
    let spilling = Atomic<Bool>(false)
    let readBackAt: Int
    private let readBackReady: ReadBackSignal

    init(readBackAt: Int, signal: ReadBackSignal) {
        self.readBackAt = readBackAt
        readBackReady = signal
    }

    func add() { held.wrappingAdd(1, ordering: .relaxed) }

    func remove() {
        let left = held.wrappingSubtract(1, ordering: .relaxed).newValue
        if left == readBackAt, spilling.load(ordering: .relaxed) { readBackReady.raise() }
    }

    var count: Int { held.load(ordering: .relaxed) }
}

/// A spilling webhook has room to read its backlog back: the flag the matcher's park re-checks, and its wake-up.
final class ReadBackSignal: Sendable {
    private let ready = Atomic<Bool>(false)
    private let wake: ParkWaitStrategy

    init(wake: ParkWaitStrategy) { self.wake = wake }

    func raise() {
        ready.store(true, ordering: .releasing)
        wake.wakeAll()
    }

    /// Whether it was raised since the last call (the matcher clears it before reading back).
    func take() -> Bool { ready.exchange(false, ordering: .acquiring) }
    var isRaised: Bool { ready.load(ordering: .relaxed) }
}

/// A webhook whose backlog is left in the log (per-endpoint isolation, ARCHITECTURE.md §6): once it holds
/// ``PipelineConfiguration/endpointPendingMax`` deliveries in memory, the matcher stops queueing its new
/// deliveries and remembers only where they start; when the webhook is down to half of that, the matcher reads
/// the log back from there, re-matches the events for this webhook alone and queues its deliveries, until it
/// has caught up with the live stream. A slow or dead endpoint then holds a bounded amount of memory and of
/// the shard's capacity, and nothing of it is lost: its checkpoint stays at ``next`` (``SettledTracker``), so
/// a restart reads the same backlog again.
///
/// The decisions are values (``WebhookSpill/decide(held:bound:)``); the matcher thread executes them.
struct WebhookSpill: Sendable {
    /// The first log sequence not yet examined for this webhook.
    var next: UInt64
    /// Pairs of this webhook at or after ``next`` that are already final in the log (known from recovery:
    /// they ended before the restart).
    var final: Set<UInt64> = []
    /// Attempts already made of pairs at or after ``next`` (recovery: retried before the restart).
    var attempts: [UInt64: Int] = [:]
    /// The read-back failed at this sequence (the log could not be read); retried on a later turn.
    var lastError: String?
    /// Event records read from the log at or after ``next`` and not yet examined (a read covers up to
    /// ``PipelineLimits/spillReadBackRecordCountMax`` records; what the webhook has no room for waits here for the next turn).
    var buffered: [StoredRecord] = []
    /// One past the last sequence ``buffered`` covers (``next`` when nothing is buffered).
    var bufferedEnd: UInt64 = 0

    /// What the matcher does with a live delivery of a webhook.
    enum Admission: Equatable {
        /// Queue it.
        case queue
        /// Leave it in the log: the webhook holds `bound` deliveries (start a spill here).
        case spill
    }

    /// A live delivery of a webhook that is not spilling: queue it while it holds fewer than `bound`.
    static func decide(held: Int, bound: Int) -> Admission { held < bound ? .queue : .spill }

    /// Whether a spilling webhook has room to read its backlog back: at most half of `bound` held.
    static func mayReadBack(held: Int, bound: Int) -> Bool { held <= bound / 2 }
}

extension PipelineCore {
    /// The effective per-webhook bound: `endpoint_pending_max`, and at most a quarter of
    /// `pending_deliveries_max` (so that four dead endpoints still leave a shard room for the healthy ones).
    var endpointBound: Int {
        max(1, min(configuration.endpointPendingMax, configuration.pendingDeliveryCountMax / 4))
    }

    /// The budget of the webhook named `name` (created on first use). Recovery, then the matcher thread only.
    func budget(of name: String) -> WebhookBudget {
        if let budget = budgets[name] { return budget }
        let budget = WebhookBudget(readBackAt: endpointBound / 2, signal: readBackSignal)
        budgets[name] = budget
        return budget
    }

    /// One read-back step for the spilling webhook `name` (matcher thread): reads up to
    /// ``PipelineLimits/spillReadBackRecordCountMax`` records (a bounded pause of the live stream) from `spill.next`, re-matches their events for this
    /// webhook and queues its deliveries while it has room. Returns `true` when the spill has caught up with
    /// `logEnd` (the live stream takes over: the caller removes it).
    func readBack(
        _ spill: inout WebhookSpill,
        name: String,
        logEnd: UInt64,
        routing: PipelineRouting,
        matcher: inout TriggerMatcher,
        trackerSlots: [Int]
    ) -> Bool {
        guard let webhook = routing.definitions.firstIndex(where: { $0.name == name }) else {
            // No longer configured (removed, or renamed: names are the identity): its backlog is dropped, as a
            // restart drops it.
            endSpill(name, slot: tracker.slots(for: [name])[0])
            return true
        }
        let slot = trackerSlots[webhook]
        let budget = budget(of: name)
        let bound = endpointBound
        guard WebhookSpill.mayReadBack(held: budget.count, bound: bound) else { return false }
        if spill.bufferedEnd <= spill.next {
            spill.buffered.removeAll()
            let windowEnd = min(logEnd, spill.next + UInt64(configuration.limits.spillReadBackRecordCountMax))
            guard spill.next < windowEnd else {
                endSpill(name, slot: slot)
                return true
            }
            var records: [StoredRecord] = []
            var lastSeen: UInt64?
            do {
                _ = try LogReader.forEachRecord(
                    directory: configuration.log.directory,
                    fromSequence: spill.next,
                    toSequence: windowEnd
                ) { record in
                    lastSeen = record.sequence
                    if record.type == .event { records.append(record) }
                }
            } catch {
                // The frame after the window may be one the journaler is writing: only damage inside the
                // window matters, and it is retried (the checkpoint stays, so nothing is lost).
                if lastSeen == nil || lastSeen! + 1 < windowEnd {
                    spill.lastError = "\(error)"
                    return false
                }
            }
            spill.lastError = nil
            spill.buffered = records.reversed()  // popLast takes them in log order
            spill.bufferedEnd = windowEnd
        }
        var undecodable: [String] = []
        let shard = shards[routing.shardOfWebhook[webhook]]
        var hits: [TriggerHit] = []
        var queued = false
        defer { if queued { shard.wakeUp() } }
        // Decoded a batch at a time: the decoder is the ingest's (one symbol table with the live stream), and
        // taking its lock per record handed it back and forth with `emit` thousands of times a second.
        var decoded: [Event] = []  // the events of `spill.buffered`'s last records, the next one last
        while let record = spill.buffered.popLast() {
            let sequence = record.sequence
            if decoded.isEmpty {
                let batch =
                    [record] + spill.buffered.suffix(configuration.limits.spillReadBackDecodeBatchMax - 1).reversed()
                decoded = ingest.withLock { state in
                    var events: [Event] = []
                    for record in batch {
                        guard let event = Self.decodeRecovered(record, state: &state, undecodable: &undecodable)
                        else { break }
                        events.append(event)
                    }
                    return events
                }
                decoded.reverse()
            }
            guard let event = decoded.popLast() else {
                spill.buffered.append(record)
                spill.lastError = undecodable.first
                return false
            }
            var pairs = Self.deliveries(of: event, matcher: &matcher, hits: &hits, routing: routing)
            let firing =
                routing.hasStatefulTriggers ? Self.firingDeliveries(of: event, pairs: &pairs, routing: routing) : nil
            guard let position = pairs.firstIndex(where: { $0.webhook == webhook }) else { continue }
            if spill.final.remove(sequence) != nil { continue }
            let job = DeliveryJob(
                routing: routing,
                webhook: webhook,
                trigger: pairs[position].trigger,
                eventSequence: sequence,
                eventID: event.header.id,
                body: position < (firing?.count ?? 0) ? firing!.body : event.webhookBody(),
                firstAttempt: (spill.attempts.removeValue(forKey: sequence) ?? 0) + 1,
                budget: budget,
                emittedNanoseconds: 0,
                durableNanoseconds: 0,
                matchedNanoseconds: monotonicNanoseconds()
            )
            guard shard.jobs.count < shard.jobs.capacity else {
                // The shard's queue is full: continue from this event on a later turn.
                spill.buffered.append(record)
                tracker.spillAdvanced(slot: slot, to: sequence)
                spill.next = sequence
                return false
            }
            // The tracker and the budget learn of the delivery before the shard can see it: the shard may
            // finish it and the journaler report its outcome before this thread runs again (a delivery
            // reported before it was read back trapped the tracker as "finished twice or never matched").
            budget.add()
            tracker.readBack(sequence, slot: slot)
            let pushed = shard.jobs.tryPush(job)
            precondition(pushed, "the matcher is the only producer of a shard's job queue, and it had room")
            queued = true
            PipelineCounters.add(counters.deliveriesQueued)
            if budget.count >= bound {
                spill.next = sequence + 1
                tracker.spillAdvanced(slot: slot, to: spill.next)
                return false
            }
        }
        spill.next = spill.bufferedEnd
        if spill.next >= logEnd {
            endSpill(name, slot: slot)
            return true
        }
        tracker.spillAdvanced(slot: slot, to: spill.next)
        // More to read and room left: the next matcher turn goes on without waiting for a signal.
        readBackSignal.raise()
        return false
    }

    /// The webhook `name` queues its live deliveries again.
    private func endSpill(_ name: String, slot: Int) {
        budget(of: name).spilling.store(false, ordering: .relaxed)
        tracker.spillEnded(slot: slot)
    }

    /// The webhook `name` starts leaving its deliveries from `sequence` on in the log.
    func startSpill(_ name: String, slot: Int, from sequence: UInt64) -> WebhookSpill {
        budget(of: name).spilling.store(true, ordering: .relaxed)
        tracker.spill(slot: slot, from: sequence)
        return WebhookSpill(next: sequence)
    }
}
