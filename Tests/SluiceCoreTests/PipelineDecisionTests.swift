import SluiceCore
import Testing

/// The journaler's policy, the settled state and the pipeline's limits as values (no threads, no clock).
@Suite struct PipelineDecisionTests {
    static let millisecond: UInt64 = 1_000_000

    static func outcome(
        _ sequence: UInt64,
        _ webhook: String = "a",
        final: Bool = true,
        attempt: Int = 1
    )
        -> SettledState.Journaled
    {
        SettledState.Journaled(eventSequence: sequence, webhook: webhook, attempt: attempt, final: final)
    }

    // MARK: JournalerPolicy

    @Test func batchesAreCappedAtTheBatchLimit() {
        var limits = PipelineLimits()
        limits.journalBatchEventCountMax = 4
        let policy = JournalerPolicy(limits: limits, lingers: false, nowNanoseconds: 0)
        #expect(policy.batchEnd(next: 10, available: 12) == 12)
        #expect(policy.batchEnd(next: 10, available: 100) == 14)
    }

    @Test func alwaysWritesAtOnceAndIntervalLingersSmallBatches() {
        var always = JournalerPolicy(limits: PipelineLimits(), lingers: false, nowNanoseconds: 0)
        #expect(
            always.step(events: 1, outcomes: 0, oldestEventNanoseconds: 0, stopping: false, nowNanoseconds: 0) == .write
        )
        var interval = JournalerPolicy(limits: PipelineLimits(), lingers: true, nowNanoseconds: 0)
        let now = 10 * Self.millisecond
        #expect(
            interval.step(
                events: 3,
                outcomes: 0,
                oldestEventNanoseconds: now - 200_000,
                stopping: false,
                nowNanoseconds: now
            )
                == .linger(sleepNanoseconds: 800_000)
        )
        #expect(
            interval.step(
                events: 3,
                outcomes: 0,
                oldestEventNanoseconds: now - 2 * Self.millisecond,
                stopping: false,
                nowNanoseconds: now
            )
                == .write,
            "lingered long enough"
        )
        #expect(
            interval.step(events: 300, outcomes: 0, oldestEventNanoseconds: now, stopping: false, nowNanoseconds: now)
                == .write,
            "a large batch is written at once"
        )
        #expect(
            interval.step(events: 3, outcomes: 0, oldestEventNanoseconds: now, stopping: true, nowNanoseconds: now)
                == .write,
            "a stop does not linger"
        )
    }

    @Test func waitingOutcomesLingerFromWhenTheyWereFirstSeen() {
        var policy = JournalerPolicy(limits: PipelineLimits(), lingers: true, nowNanoseconds: 0)
        let start = 5 * Self.millisecond
        #expect(
            policy.step(events: 0, outcomes: 2, oldestEventNanoseconds: nil, stopping: false, nowNanoseconds: start)
                == .linger(sleepNanoseconds: Self.millisecond)
        )
        #expect(
            policy.step(
                events: 0,
                outcomes: 5,
                oldestEventNanoseconds: nil,
                stopping: false,
                nowNanoseconds: start + 400_000
            )
                == .linger(sleepNanoseconds: 600_000)
        )
        #expect(
            policy.step(
                events: 0,
                outcomes: 5,
                oldestEventNanoseconds: nil,
                stopping: false,
                nowNanoseconds: start + Self.millisecond
            )
                == .write
        )
    }

    @Test func nothingIsDurableBeforeTheLogSaysSo() {
        var policy = JournalerPolicy(limits: PipelineLimits(), lingers: false, nowNanoseconds: 0)
        policy.appended(ringEnd: 3, logEnd: 5, outcomes: [.init(record: 3, outcome: Self.outcome(0))])
        policy.appended(ringEnd: 4, logEnd: 8, outcomes: [.init(record: 7, outcome: Self.outcome(1))])
        #expect(policy.durable(below: 4) == .init(ringEnd: nil, outcomes: [Self.outcome(0)]), "a record, not its batch")
        #expect(policy.durable(below: 5) == .init(ringEnd: 3, outcomes: []))
        #expect(policy.durable(below: 7) == .init(ringEnd: nil, outcomes: []))
        #expect(policy.durable(below: 8) == .init(ringEnd: 4, outcomes: [Self.outcome(1)]))
        #expect(policy.durable(below: 100) == .init(ringEnd: nil, outcomes: []), "each reported once")
    }

    @Test func checkpointCadenceGrowsWithTheFile() {
        var policy = JournalerPolicy(limits: PipelineLimits(), lingers: false, nowNanoseconds: 0)
        #expect(!policy.checkpointDue(nowNanoseconds: 99 * Self.millisecond, final: false))
        #expect(policy.checkpointDue(nowNanoseconds: 99 * Self.millisecond, final: true))
        #expect(policy.checkpointDue(nowNanoseconds: 100 * Self.millisecond, final: false))
        policy.checkpointed(nowNanoseconds: 100 * Self.millisecond, writtenByteCount: 1_000_000)
        #expect(policy.checkpointIntervalNanoseconds == 400 * Self.millisecond, "400 ns per byte")
        #expect(!policy.checkpointDue(nowNanoseconds: 300 * Self.millisecond, final: false))
        policy.checkpointed(nowNanoseconds: 500 * Self.millisecond, writtenByteCount: 10)
        #expect(policy.checkpointIntervalNanoseconds == 100 * Self.millisecond)
        policy.checkpointed(nowNanoseconds: 600 * Self.millisecond, writtenByteCount: Int.max)
        #expect(policy.checkpointIntervalNanoseconds == .max, "no overflow trap")
    }

    @Test func checkpointsAreRewrittenOnlyWhenARestartWouldDifferently() {
        let old = WebhookCheckpoints(
            settled: 5,
            rematchFrom: 5,
            matchedEnd: 9,
            webhooks: [.init(name: "a", checkpoint: 7, pending: [.init(eventSequence: 5, attempt: 1)])]
        )
        var attemptsOnly = old
        attemptsOnly.webhooks[0].pending[0].attempt = 3
        var moved = old
        moved.matchedEnd = 10
        #expect(JournalerPolicy.mustWrite(old, after: nil))
        #expect(!JournalerPolicy.mustWrite(attemptsOnly, after: old))
        #expect(JournalerPolicy.mustWrite(moved, after: old))
    }

    // MARK: SettledState

    @Test func checkpointsStopAtTheOldestPendingDeliveryUntilItIsCarried() {
        var state = SettledState(matchedEnd: 0, carryAgeNanoseconds: 10)
        let slots = state.slots(for: ["a", "b"])
        state.matched(0, webhooks: [(0, 0), (1, 0)], slots: slots)
        state.matched(1, webhooks: [(0, 0)], slots: slots)
        state.matched(2, webhooks: [], slots: slots)
        state.journaled([Self.outcome(0, "b"), Self.outcome(1, "a")])
        var snapshot = state.snapshot(nowNanoseconds: 0)
        #expect(snapshot.settled == 0)
        #expect(snapshot.webhooks.map(\.checkpoint) == [0, 3])
        #expect(state.pendingDeliveries == 1)
        _ = state.snapshot(nowNanoseconds: 5)
        snapshot = state.snapshot(nowNanoseconds: 20)  // the first snapshot is old enough now: 0 is carried
        #expect(snapshot.webhooks[0].checkpoint == 3)
        #expect(snapshot.webhooks[0].pending == [.init(eventSequence: 0, attempt: 0)])
        #expect(snapshot.settled == 0, "settled stays at the carried pair")
        #expect(snapshot.rematchFrom == 3)
        state.journaled([Self.outcome(0, "a", final: false, attempt: 4)])
        #expect(state.snapshot(nowNanoseconds: 30).webhooks[0].pending == [.init(eventSequence: 0, attempt: 4)])
        state.journaled([Self.outcome(0, "a")])
        snapshot = state.snapshot(nowNanoseconds: 40)
        #expect(snapshot.settled == 3)
        #expect(state.size == .init(queued: 0, carried: 0, pending: 0))
    }

    @Test func aSpillHoldsItsWebhooksCheckpointAndHoldsHoldTheSettledOne() {
        var state = SettledState(matchedEnd: 0)
        let slots = state.slots(for: ["a"])
        state.spill(slot: slots[0], from: 2)
        state.matched(4, webhooks: [], slots: slots, holds: 1)
        var snapshot = state.snapshot(nowNanoseconds: 0)
        #expect(snapshot.webhooks[0].checkpoint == 2)
        #expect(snapshot.settled == 2)
        state.spillEnded(slot: slots[0])
        snapshot = state.snapshot(nowNanoseconds: 0)
        #expect(snapshot.settled == 4, "the held event")
        state.released(4)
        #expect(state.snapshot(nowNanoseconds: 0).settled == 5)
        #expect(state.spillingCount == 0)
    }

    /// A redriven dead letter is pending again — in its webhook's queue while the queue still holds it, else
    /// carried — and holds the checkpoints back until its new final outcome; a pair not final is not reopened.
    @Test func aRedrivenDeadLetterIsPendingAgainOnce() {
        var state = SettledState(matchedEnd: 0, carryAgeNanoseconds: 10)
        let slots = state.slots(for: ["a"])
        state.matched(0, webhooks: [(0, 0)], slots: slots)
        state.matched(1, webhooks: [(0, 0)], slots: slots)
        state.matched(2, webhooks: [(0, 0)], slots: slots)
        state.journaled([Self.outcome(1, "a")])  // 1 dead-lettered while 0 is still pending: 1 stays queued
        let pendingReopened = state.reopen(0, slot: slots[0])
        #expect(!pendingReopened, "0 is not final: it is not reopened")
        let reopened = state.reopen(1, slot: slots[0])
        #expect(reopened)
        let reopenedTwice = state.reopen(1, slot: slots[0])
        #expect(!reopenedTwice, "a pair is pending once")
        #expect(state.pendingDeliveries == 3)
        state.journaled([Self.outcome(0, "a"), Self.outcome(2, "a")])
        #expect(state.snapshot(nowNanoseconds: 0).webhooks[0].checkpoint == 1, "the reopened pair holds it")
        state.journaled([Self.outcome(1, "a")])  // the redrive's delivery: final once more, no trap
        #expect(state.snapshot(nowNanoseconds: 0).webhooks[0].checkpoint == 3)
        // A pair the queue has dropped is carried when reopened, and its final outcome settles it.
        let carried = state.reopen(0, slot: slots[0])
        #expect(carried)
        var snapshot = state.snapshot(nowNanoseconds: 1)
        #expect(snapshot.webhooks[0].pending == [.init(eventSequence: 0, attempt: 0)])
        #expect(snapshot.settled == 0)
        state.journaled([Self.outcome(0, "a")])
        snapshot = state.snapshot(nowNanoseconds: 2)
        #expect(snapshot.settled == 3)
        #expect(state.size == .init(queued: 0, carried: 0, pending: 0))
    }

    // MARK: PipelineLimits

    @Test func limitsAreValidatedWithTheirRange() throws {
        try PipelineLimits().validate()
        var limits = PipelineLimits()
        limits.journalBatchEventCountMax = 0
        #expect(
            throws: PipelineLimitsError(
                limit: "journal_batch_event_count_max",
                message: "must be from 1 to 1048576, not 0"
            )
        ) {
            try limits.validate()
        }
        limits = PipelineLimits()
        limits.lingerNanoseconds = 2_000_000_000
        #expect(
            throws: PipelineLimitsError(limit: "linger_ns", message: "must be from 0 to 1000000000 ns, not 2000000000")
        ) { try limits.validate() }
        limits = PipelineLimits()
        limits.journalParkMinimumNanoseconds = 20_000_000
        #expect(throws: PipelineLimitsError.self) { try limits.validate() }
    }

    @Test func theJournalParkFollowsTheFsyncIntervalWithinItsBounds() {
        let limits = PipelineLimits()
        #expect(limits.journalParkNanoseconds(fsyncIntervalMilliseconds: nil) == 10_000_000)
        #expect(limits.journalParkNanoseconds(fsyncIntervalMilliseconds: 0) == 1_000_000)
        #expect(limits.journalParkNanoseconds(fsyncIntervalMilliseconds: 5) == 5_000_000)
        #expect(limits.journalParkNanoseconds(fsyncIntervalMilliseconds: Int.max) == 10_000_000, "no overflow trap")
    }
}
