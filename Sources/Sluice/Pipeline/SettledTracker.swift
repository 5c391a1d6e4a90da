import SluiceCore
import Synchronization

/// Which deliveries are not final yet, per webhook: the state behind the per-webhook checkpoints
/// (`pipeline.webhooks`, FORMAT.md) and the settled checkpoint (`pipeline.checkpoint`).
///
/// Each webhook (by name: a slot, stable while the pipeline runs) keeps a queue of its matched deliveries in
/// log order, and a set of *carried* pairs: deliveries still pending that were moved out of the queue.
/// ``snapshot(nowNanoseconds:)`` (the journaler, every ~100 ms) moves every delivery that was already
/// pending at a snapshot at least ``carryAgeNanoseconds`` (1 s) old into the carried set, so one endpoint
/// retrying for hours neither holds back its webhook's checkpoint nor makes the queue grow with the events
/// since: the queues hold about a second of deliveries, and the carried sets hold only deliveries pending
/// for longer (bounded by `pendingDeliveryCountMax`). The age keeps a saturated run's deliveries, which
/// wait in the job queue for up to about half a second, out of the carried sets: carrying each of them (a
/// dictionary insert and removal, and its place in every snapshot's sorted pending list until it ends)
/// was 14 % of the journaler's time.
///
/// The matcher reports each event in log order with its deliveries (``matched(_:webhooks:slots:)``); the
/// journaler reports each durable outcome, final or retrying (``journaled(_:)``). A mutex guards it: one
/// short critical section per event and one per batch of outcomes.
final class SettledTracker: Sendable {
    private struct Entry {
        var sequence: UInt64
        var attempt: UInt32
        var final: Bool
    }

    private struct Webhook {
        var name: String
        /// Matched deliveries in log order from `head` on (`head` is the first not final).
        var entries: [Entry] = []
        var head = 0
        /// Pending deliveries moved out of `entries`: event sequence → attempts made.
        var carried: [UInt64: UInt32] = [:]
        /// While the webhook's backlog is left in the log (``WebhookSpill``): the first sequence not yet
        /// read back for it. Its deliveries from there on are neither queued nor in `entries`, so its
        /// checkpoint stays at or below this.
        var spillNext: UInt64?

        /// Binary search for the entry of `sequence` at or after `head`.
        func position(of sequence: UInt64) -> Int? {
            var low = head
            var high = entries.count
            while low < high {
                let middle = (low + high) / 2
                if entries[middle].sequence < sequence { low = middle + 1 } else { high = middle }
            }
            return low < entries.count && entries[low].sequence == sequence ? low : nil
        }

        mutating func advanceHead() {
            while head < entries.count, entries[head].final { head += 1 }
            if head > 1024, head * 2 > entries.count {
                entries.removeFirst(head)
                head = 0
            }
        }
    }

    private struct State {
        var webhooks: [Webhook] = []
        var slotOfName: [String: Int] = [:]
        /// One past the last event reported by the matcher.
        var matchedEnd: UInt64
        /// `matchedEnd` at the newest snapshot at least `carryAgeNanoseconds` old: deliveries below it and
        /// still pending get carried.
        var carryBelow: UInt64
        /// (monotonic time, `matchedEnd`) of the snapshots younger than the carry age, oldest first.
        var recentSnapshots: [(nanoseconds: UInt64, matchedEnd: UInt64)] = []
        var pendingDeliveries = 0
        var carriedCount = 0
        /// Webhooks with a ``Webhook/spillNext``.
        var spillingCount = 0
        /// Events held unsettled by something other than a delivery — a stateful trigger's outcome event not
        /// durable yet — in log order from `holdHead`: (sequence, holds left). Short-lived (the matcher's own
        /// events come back within a batch), never carried: they hold back `settled` and `rematchFrom`.
        var holds: [(sequence: UInt64, count: Int)] = []
        var holdHead = 0

        /// The position in `holds` (from `holdHead`) of the first hold at or after `sequence`.
        func holdPosition(of sequence: UInt64) -> Int {
            var low = holdHead
            var high = holds.count
            while low < high {
                let middle = (low + high) / 2
                if holds[middle].sequence < sequence { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }

    /// One outcome record that is durable: the pair, its attempt, and whether it is final.
    struct Journaled {
        var eventSequence: UInt64
        var webhook: String
        var attempt: Int
        var final: Bool
    }

    private let state: Mutex<State>
    /// How long a delivery stays pending in its webhook's queue before a snapshot carries it.
    let carryAgeNanoseconds: UInt64

    /// Starts with every delivery below `matchedEnd` settled or carried (see ``carry(_:slot:attempt:)``).
    init(matchedEnd: UInt64, carryAgeNanoseconds: UInt64 = 1_000_000_000) {
        state = Mutex(State(matchedEnd: matchedEnd, carryBelow: matchedEnd))
        self.carryAgeNanoseconds = carryAgeNanoseconds
    }

    /// The slot of each of `names` (created on first use); the matcher maps a routing's webhook numbers
    /// through this once per routing generation.
    func slots(for names: [String]) -> [Int] {
        state.withLock { state in
            names.map { name in
                if let slot = state.slotOfName[name] { return slot }
                state.webhooks.append(Webhook(name: name))
                state.slotOfName[name] = state.webhooks.count - 1
                return state.webhooks.count - 1
            }
        }
    }

    /// A pending delivery from a checkpoint: carried, not queued (call before the matcher runs).
    func carry(_ sequence: UInt64, slot: Int, attempt: Int) {
        state.withLock { state in
            precondition(state.webhooks[slot].carried.updateValue(UInt32(clamping: attempt), forKey: sequence) == nil)
            state.carriedCount += 1
            state.pendingDeliveries += 1
        }
    }

    /// The matcher matched the event at log `sequence` to `webhooks` (routing numbers; `slots` maps them;
    /// call in log order, for every event).
    /// `holds`: how many outcome events of stateful triggers this event caused (each ``released(_:)``
    /// once durable).
    func matched(_ sequence: UInt64, webhooks: [(webhook: Int, trigger: Int)], slots: [Int], holds: Int = 0) {
        state.withLock { state in
            precondition(sequence >= state.matchedEnd, "events are reported in log order")
            state.matchedEnd = sequence + 1
            for pair in webhooks {
                state.webhooks[slots[pair.webhook]].entries.append(Entry(sequence: sequence, attempt: 0, final: false))
            }
            state.pendingDeliveries += webhooks.count
            if holds > 0 {
                state.holds.append((sequence, holds))
                state.pendingDeliveries += holds
            }
        }
    }

    /// Holds the already matched event at `sequence` once more (recovery: an outcome event of a stateful
    /// trigger the log lacks, re-computed by the re-feed, holds its triggering event until it is durable).
    func hold(_ sequence: UInt64) {
        state.withLock { state in
            let low = state.holdPosition(of: sequence)
            if low < state.holds.count, state.holds[low].sequence == sequence {
                state.holds[low].count += 1
            } else {
                state.holds.insert((sequence, 1), at: low)
            }
            state.pendingDeliveries += 1
        }
    }

    /// One hold of the event at `sequence` (see ``matched(_:webhooks:slots:holds:)``) is released.
    func released(_ sequence: UInt64) {
        state.withLock { state in
            let low = state.holdPosition(of: sequence)
            guard low < state.holds.count, state.holds[low].sequence == sequence, state.holds[low].count > 0 else {
                preconditionFailure("a hold of event \(sequence) was released twice or never taken")
            }
            state.holds[low].count -= 1
            state.pendingDeliveries -= 1
            while state.holdHead < state.holds.count, state.holds[state.holdHead].count == 0 { state.holdHead += 1 }
            if state.holdHead > 256, state.holdHead * 2 > state.holds.count {
                state.holds.removeFirst(state.holdHead)
                state.holdHead = 0
            }
        }
    }

    /// The webhook in `slot` leaves its deliveries from `sequence` on in the log (``WebhookSpill``); call
    /// before reporting the event at `sequence` with ``matched(_:webhooks:slots:holds:)``.
    func spill(slot: Int, from sequence: UInt64) {
        state.withLock { state in
            precondition(state.webhooks[slot].spillNext == nil, "a webhook spills once at a time")
            state.webhooks[slot].spillNext = sequence
            state.spillingCount += 1
        }
    }

    /// A spilled delivery of the webhook in `slot` was read back from the log and queued (its sequence is at or
    /// after the spill's start and after every delivery of the webhook queued before).
    func readBack(_ sequence: UInt64, slot: Int) {
        state.withLock { state in
            precondition(state.webhooks[slot].spillNext.map { sequence >= $0 } ?? false, "read back outside a spill")
            state.webhooks[slot].entries.append(Entry(sequence: sequence, attempt: 0, final: false))
            state.webhooks[slot].spillNext = sequence + 1
            state.pendingDeliveries += 1
        }
    }

    /// The spill of the webhook in `slot` has examined everything below `sequence`.
    func spillAdvanced(slot: Int, to sequence: UInt64) {
        state.withLock { state in
            guard let next = state.webhooks[slot].spillNext else { return }
            state.webhooks[slot].spillNext = max(next, sequence)
        }
    }

    /// The spill of the webhook in `slot` caught up with the live stream (or the webhook was removed).
    func spillEnded(slot: Int) {
        state.withLock { state in
            guard state.webhooks[slot].spillNext != nil else { return }
            state.webhooks[slot].spillNext = nil
            state.spillingCount -= 1
        }
    }

    /// Webhooks whose backlog is (partly) in the log only.
    var spillingCount: Int { state.withLock { $0.spillingCount } }

    /// Outcome records that are durable, in log order.
    func journaled(_ outcomes: [Journaled]) {
        guard !outcomes.isEmpty else { return }
        state.withLock { state in
            for outcome in outcomes {
                guard let slot = state.slotOfName[outcome.webhook] else {
                    precondition(!outcome.final, "a delivery to '\(outcome.webhook)' finished but was never matched")
                    continue
                }
                let attempt = UInt32(clamping: outcome.attempt)
                if let position = state.webhooks[slot].position(of: outcome.eventSequence) {
                    if outcome.final {
                        precondition(!state.webhooks[slot].entries[position].final, "a delivery finished twice")
                        state.webhooks[slot].entries[position].final = true
                        state.pendingDeliveries -= 1
                        state.webhooks[slot].advanceHead()
                    } else {
                        state.webhooks[slot].entries[position].attempt = attempt
                    }
                } else if outcome.final {
                    guard state.webhooks[slot].carried.removeValue(forKey: outcome.eventSequence) != nil else {
                        preconditionFailure(
                            "a delivery of event \(outcome.eventSequence) finished twice or was never matched"
                        )
                    }
                    state.carriedCount -= 1
                    state.pendingDeliveries -= 1
                } else if state.webhooks[slot].carried[outcome.eventSequence] != nil {
                    state.webhooks[slot].carried[outcome.eventSequence] = attempt
                }
            }
        }
    }

    /// Carries every delivery that was already pending at a snapshot at least ``carryAgeNanoseconds``
    /// before `nowNanoseconds` (monotonic), then returns the checkpoints (webhooks by name, carried pairs
    /// sorted). O(webhooks + carried pairs + the deliveries that became old enough).
    func snapshot(nowNanoseconds: UInt64) -> WebhookCheckpoints {
        // The pending pairs are sorted after the lock is released: with thousands of deliveries queued,
        // sorting them under it held up the matcher (its `matched` waits on this lock) every snapshot.
        var snapshot = snapshotUnsorted(nowNanoseconds: nowNanoseconds)
        for index in snapshot.webhooks.indices {
            snapshot.webhooks[index].pending.sort { $0.eventSequence < $1.eventSequence }
        }
        return snapshot
    }

    /// ``snapshot(nowNanoseconds:)`` with each webhook's pending pairs in no particular order.
    private func snapshotUnsorted(nowNanoseconds: UInt64) -> WebhookCheckpoints {
        state.withLock { state in
            // The boundary moves to the newest snapshot that is old enough (this one, with no carry age).
            state.recentSnapshots.append((nowNanoseconds, state.matchedEnd))
            let oldEnough = state.recentSnapshots.lastIndex { nowNanoseconds - $0.nanoseconds >= carryAgeNanoseconds }
            if let oldEnough {
                state.carryBelow = max(state.carryBelow, state.recentSnapshots[oldEnough].matchedEnd)
                state.recentSnapshots.removeFirst(oldEnough + 1)
            }
            let boundary = state.carryBelow
            var webhooks: [WebhookCheckpoints.Webhook] = []
            var settled = state.matchedEnd
            for slot in state.webhooks.indices {
                var webhook = state.webhooks[slot]
                state.webhooks[slot] = Webhook(name: webhook.name)  // no copy-on-write of the arrays below
                while webhook.head < webhook.entries.count, webhook.entries[webhook.head].sequence < boundary {
                    let entry = webhook.entries[webhook.head]
                    if !entry.final {
                        webhook.carried[entry.sequence] = entry.attempt
                        state.carriedCount += 1
                    }
                    webhook.head += 1
                }
                webhook.advanceHead()
                if webhook.head > 0 {  // O(the deliveries of one interval): what stays is young or pending
                    webhook.entries.removeFirst(webhook.head)
                    webhook.head = 0
                }
                let checkpoint = min(
                    webhook.head < webhook.entries.count ? webhook.entries[webhook.head].sequence : state.matchedEnd,
                    webhook.spillNext ?? .max
                )
                let pending = webhook.carried.map {
                    WebhookCheckpoints.Pending(eventSequence: $0.key, attempt: $0.value)
                }
                settled = min(settled, checkpoint, webhook.carried.keys.min() ?? .max)
                webhooks.append(
                    WebhookCheckpoints.Webhook(name: webhook.name, checkpoint: checkpoint, pending: pending)
                )
                state.webhooks[slot] = webhook
            }
            // A held event must be re-matched (and re-fed to the stateful triggers) after a restart.
            let oldestHold = state.holdHead < state.holds.count ? state.holds[state.holdHead].sequence : .max
            settled = min(settled, oldestHold)
            let rematchFrom = min(webhooks.reduce(state.matchedEnd) { min($0, $1.checkpoint) }, oldestHold)
            return WebhookCheckpoints(
                settled: settled,
                rematchFrom: rematchFrom,
                matchedEnd: state.matchedEnd,
                webhooks: webhooks
            )
        }
    }

    /// Deliveries matched (or carried) and not yet final.
    var pendingDeliveries: Int { state.withLock { $0.pendingDeliveries } }

    /// What the tracker holds, for tests and statistics.
    struct Size: Equatable {
        /// Queue entries across webhooks (final ones not yet dropped included).
        var queued: Int
        /// Carried pending pairs.
        var carried: Int
        var pending: Int
    }

    var size: Size {
        state.withLock { state in
            Size(
                queued: state.webhooks.reduce(0) { $0 + $1.entries.count },
                carried: state.carriedCount,
                pending: state.pendingDeliveries
            )
        }
    }
}
