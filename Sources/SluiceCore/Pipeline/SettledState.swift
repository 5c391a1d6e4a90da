/// Which deliveries are not final yet, per webhook: the state behind the per-webhook checkpoints
/// (`pipeline.webhooks`, FORMAT.md) and the settled checkpoint (`pipeline.checkpoint`). A plain value
/// (no lock, no clock: the monotonic time of a snapshot is an argument); the pipeline's `SettledTracker`
/// guards one with a mutex, the simulation drives one directly.
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
/// The matcher reports each event in log order with its deliveries (``matched(_:webhooks:holds:)``); the
/// journaler reports each durable outcome, final or retrying (``journaled(_:)``). Impossible reports (an
/// outcome for a delivery never matched, a delivery finishing twice) trap.
package struct SettledState: Sendable {
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

    private var queues: [Webhook] = []
    private var slotOfName: [String: Int] = [:]
    /// One past the last event reported by the matcher.
    package private(set) var matchedEnd: UInt64
    /// `matchedEnd` at the newest snapshot at least `carryAgeNanoseconds` old: deliveries below it and
    /// still pending get carried.
    private var carryBelow: UInt64
    /// (monotonic time, `matchedEnd`) of the snapshots younger than the carry age, oldest first.
    private var recentSnapshots: [(nanoseconds: UInt64, matchedEnd: UInt64)] = []
    package private(set) var pendingDeliveries = 0
    private var carriedCount = 0
    /// Webhooks with a ``Webhook/spillNext``.
    package private(set) var spillingCount = 0
    /// Events held unsettled by something other than a delivery — a stateful trigger's outcome event not
    /// durable yet — in log order from `holdHead`: (sequence, holds left). Short-lived (the matcher's own
    /// events come back within a batch), never carried: they hold back `settled` and `rematchFrom`.
    private var holds: [(sequence: UInt64, count: Int)] = []
    private var holdHead = 0

    /// The position in `holds` (from `holdHead`) of the first hold at or after `sequence`.
    private func holdPosition(of sequence: UInt64) -> Int {
        var low = holdHead
        var high = holds.count
        while low < high {
            let middle = (low + high) / 2
            if holds[middle].sequence < sequence { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// One outcome record that is durable: the pair, its attempt, and whether it is final.
    package struct Journaled: Sendable, Equatable {
        package var eventSequence: UInt64
        package var webhook: String
        package var attempt: Int
        package var final: Bool

        package init(eventSequence: UInt64, webhook: String, attempt: Int, final: Bool) {
            self.eventSequence = eventSequence
            self.webhook = webhook
            self.attempt = attempt
            self.final = final
        }
    }

    /// How long a delivery stays pending in its webhook's queue before a snapshot carries it.
    package let carryAgeNanoseconds: UInt64

    /// Starts with every delivery below `matchedEnd` settled or carried (see ``carry(_:slot:attempt:)``).
    package init(matchedEnd: UInt64, carryAgeNanoseconds: UInt64 = 1_000_000_000) {
        self.matchedEnd = matchedEnd
        self.carryBelow = matchedEnd
        self.carryAgeNanoseconds = carryAgeNanoseconds
    }

    /// The slot of each of `names` (created on first use); the matcher maps a routing's webhook numbers
    /// through this once per routing generation.
    package mutating func slots(for names: [String]) -> [Int] {
        names.map { name in
            if let slot = slotOfName[name] { return slot }
            queues.append(Webhook(name: name))
            slotOfName[name] = queues.count - 1
            return queues.count - 1
        }
    }

    /// A pending delivery from a checkpoint: carried, not queued (call before the matcher runs).
    package mutating func carry(_ sequence: UInt64, slot: Int, attempt: Int) {
        precondition(queues[slot].carried.updateValue(UInt32(clamping: attempt), forKey: sequence) == nil)
        carriedCount += 1
        pendingDeliveries += 1
    }

    /// A dead letter of the webhook in `slot` at event `sequence` is redriven while running: its delivery is
    /// pending again (attempts start over). Returns `false`, changing nothing, when the pair is not final here
    /// (still pending: its dead letter is not durable yet, or it was redriven already), so a pair is never
    /// pending twice.
    package mutating func reopen(_ sequence: UInt64, slot: Int) -> Bool {
        if let position = queues[slot].position(of: sequence) {
            guard queues[slot].entries[position].final else { return false }
            queues[slot].entries[position].final = false
            queues[slot].entries[position].attempt = 0
            // `head` is at or before `position` (position(of:) searches from it): the checkpoint stays below.
            pendingDeliveries += 1
            return true
        }
        guard queues[slot].carried[sequence] == nil else { return false }
        if let spillNext = queues[slot].spillNext, sequence >= spillNext { return false }  // never queued yet
        queues[slot].carried[sequence] = 0
        carriedCount += 1
        pendingDeliveries += 1
        return true
    }

    /// The matcher matched the event at log `sequence` to `webhooks` (routing numbers; `slots` maps them;
    /// call in log order, for every event).
    /// `holds`: how many outcome events of stateful triggers this event caused (each ``released(_:)``
    /// once durable).
    package mutating func matched(
        _ sequence: UInt64,
        webhooks: [(webhook: Int, trigger: Int)],
        slots: [Int],
        holds holdCount: Int = 0
    ) {
        precondition(sequence >= matchedEnd, "events are reported in log order")
        matchedEnd = sequence + 1
        for pair in webhooks {
            queues[slots[pair.webhook]].entries.append(Entry(sequence: sequence, attempt: 0, final: false))
        }
        pendingDeliveries += webhooks.count
        if holdCount > 0 {
            self.holds.append((sequence, holdCount))
            pendingDeliveries += holdCount
        }
    }

    /// Holds the already matched event at `sequence` once more (recovery: an outcome event of a stateful
    /// trigger the log lacks, re-computed by the re-feed, holds its triggering event until it is durable).
    package mutating func hold(_ sequence: UInt64) {
        let low = holdPosition(of: sequence)
        if low < holds.count, holds[low].sequence == sequence {
            holds[low].count += 1
        } else {
            holds.insert((sequence, 1), at: low)
        }
        pendingDeliveries += 1
    }

    /// One hold of the event at `sequence` (see ``matched(_:webhooks:slots:holds:)``) is released.
    package mutating func released(_ sequence: UInt64) {
        let low = holdPosition(of: sequence)
        guard low < holds.count, holds[low].sequence == sequence, holds[low].count > 0 else {
            preconditionFailure("a hold of event \(sequence) was released twice or never taken")
        }
        holds[low].count -= 1
        pendingDeliveries -= 1
        while holdHead < holds.count, holds[holdHead].count == 0 { holdHead += 1 }
        if holdHead > 256, holdHead * 2 > holds.count {
            holds.removeFirst(holdHead)
            holdHead = 0
        }
    }

    /// The webhook in `slot` leaves its deliveries from `sequence` on in the log (``WebhookSpill``); call
    /// before reporting the event at `sequence` with ``matched(_:webhooks:slots:holds:)``.
    package mutating func spill(slot: Int, from sequence: UInt64) {
        precondition(queues[slot].spillNext == nil, "a webhook spills once at a time")
        queues[slot].spillNext = sequence
        spillingCount += 1
    }

    /// A spilled delivery of the webhook in `slot` was read back from the log and queued (its sequence is at or
    /// after the spill's start and after every delivery of the webhook queued before).
    package mutating func readBack(_ sequence: UInt64, slot: Int) {
        precondition(queues[slot].spillNext.map { sequence >= $0 } ?? false, "read back outside a spill")
        queues[slot].entries.append(Entry(sequence: sequence, attempt: 0, final: false))
        queues[slot].spillNext = sequence + 1
        pendingDeliveries += 1
    }

    /// The spill of the webhook in `slot` has examined everything below `sequence`.
    package mutating func spillAdvanced(slot: Int, to sequence: UInt64) {
        guard let next = queues[slot].spillNext else { return }
        queues[slot].spillNext = max(next, sequence)
    }

    /// The spill of the webhook in `slot` caught up with the live stream (or the webhook was removed).
    package mutating func spillEnded(slot: Int) {
        guard queues[slot].spillNext != nil else { return }
        queues[slot].spillNext = nil
        spillingCount -= 1
    }

    /// Outcome records that are durable, in log order.
    package mutating func journaled(_ outcomes: [Journaled]) {
        for outcome in outcomes {
            guard let slot = slotOfName[outcome.webhook] else {
                precondition(!outcome.final, "a delivery to '\(outcome.webhook)' finished but was never matched")
                continue
            }
            let attempt = UInt32(clamping: outcome.attempt)
            if let position = queues[slot].position(of: outcome.eventSequence) {
                if outcome.final {
                    precondition(!queues[slot].entries[position].final, "a delivery finished twice")
                    queues[slot].entries[position].final = true
                    pendingDeliveries -= 1
                    queues[slot].advanceHead()
                } else {
                    queues[slot].entries[position].attempt = attempt
                }
            } else if outcome.final {
                guard queues[slot].carried.removeValue(forKey: outcome.eventSequence) != nil else {
                    preconditionFailure(
                        "a delivery of event \(outcome.eventSequence) finished twice or was never matched"
                    )
                }
                carriedCount -= 1
                pendingDeliveries -= 1
            } else if queues[slot].carried[outcome.eventSequence] != nil {
                queues[slot].carried[outcome.eventSequence] = attempt
            }
        }
    }

    /// Carries every delivery that was already pending at a snapshot at least ``carryAgeNanoseconds``
    /// before `nowNanoseconds` (monotonic), then returns the checkpoints (webhooks by name, carried pairs
    /// sorted). O(webhooks + carried pairs + the deliveries that became old enough).
    package mutating func snapshot(nowNanoseconds: UInt64) -> WebhookCheckpoints {
        var snapshot = snapshotUnsorted(nowNanoseconds: nowNanoseconds)
        Self.sortPending(&snapshot)
        return snapshot
    }

    /// Sorts each webhook's pending pairs by event sequence (``snapshotUnsorted(nowNanoseconds:)``).
    package static func sortPending(_ snapshot: inout WebhookCheckpoints) {
        for index in snapshot.webhooks.indices {
            snapshot.webhooks[index].pending.sort { $0.eventSequence < $1.eventSequence }
        }
    }

    /// ``snapshot(nowNanoseconds:)`` with each webhook's pending pairs in no particular order (the
    /// tracker sorts them after releasing its lock: sorting thousands of pairs under it held up the matcher).
    package mutating func snapshotUnsorted(nowNanoseconds: UInt64) -> WebhookCheckpoints {
        // The boundary moves to the newest snapshot that is old enough (this one, with no carry age).
        recentSnapshots.append((nowNanoseconds, matchedEnd))
        let oldEnough = recentSnapshots.lastIndex { nowNanoseconds - $0.nanoseconds >= carryAgeNanoseconds }
        if let oldEnough {
            carryBelow = max(carryBelow, recentSnapshots[oldEnough].matchedEnd)
            recentSnapshots.removeFirst(oldEnough + 1)
        }
        let boundary = carryBelow
        var webhooks: [WebhookCheckpoints.Webhook] = []
        var settled = matchedEnd
        for slot in queues.indices {
            var webhook = queues[slot]
            queues[slot] = Webhook(name: webhook.name)  // no copy-on-write of the arrays below
            while webhook.head < webhook.entries.count, webhook.entries[webhook.head].sequence < boundary {
                let entry = webhook.entries[webhook.head]
                if !entry.final {
                    webhook.carried[entry.sequence] = entry.attempt
                    carriedCount += 1
                }
                webhook.head += 1
            }
            webhook.advanceHead()
            if webhook.head > 0 {  // O(the deliveries of one interval): what stays is young or pending
                webhook.entries.removeFirst(webhook.head)
                webhook.head = 0
            }
            let checkpoint = min(
                webhook.head < webhook.entries.count ? webhook.entries[webhook.head].sequence : matchedEnd,
                webhook.spillNext ?? .max
            )
            let pending = webhook.carried.map {
                WebhookCheckpoints.Pending(eventSequence: $0.key, attempt: $0.value)
            }
            settled = min(settled, checkpoint, webhook.carried.keys.min() ?? .max)
            webhooks.append(
                WebhookCheckpoints.Webhook(name: webhook.name, checkpoint: checkpoint, pending: pending)
            )
            queues[slot] = webhook
        }
        // A held event must be re-matched (and re-fed to the stateful triggers) after a restart.
        let oldestHold = holdHead < holds.count ? holds[holdHead].sequence : .max
        settled = min(settled, oldestHold)
        let rematchFrom = min(webhooks.reduce(matchedEnd) { min($0, $1.checkpoint) }, oldestHold)
        return WebhookCheckpoints(
            settled: settled,
            rematchFrom: rematchFrom,
            matchedEnd: matchedEnd,
            webhooks: webhooks
        )
    }

    /// What the tracker holds, for tests and statistics.
    package struct Size: Equatable, Sendable {
        /// Queue entries across webhooks (final ones not yet dropped included).
        package var queued: Int
        /// Carried pending pairs.
        package var carried: Int
        package var pending: Int

        package init(queued: Int, carried: Int, pending: Int) {
            self.queued = queued
            self.carried = carried
            self.pending = pending
        }
    }

    package var size: Size {
        Size(queued: queues.reduce(0) { $0 + $1.entries.count }, carried: carriedCount, pending: pendingDeliveries)
    }
}
