import SluiceCore
import Testing

/// The recovery planner alone: checkpoints, events and outcome records in, the plan out (no log, no threads).
@Suite struct RecoveryPlannerTests {
    typealias Planner = RecoveryPlanner<String>
    typealias Pair = Planner.Pair

    static func planner(
        rematchFrom: UInt64 = 10,
        checkpoints: [UInt64] = [10, 10],
        carried: [String: [WebhookCheckpoints.Pending]] = [:],
        bound: Int = 100
    ) -> Planner {
        Planner(
            rematchFrom: rematchFrom,
            webhookNames: ["a", "b"].prefix(checkpoints.count).map { $0 },
            checkpointOfWebhook: checkpoints,
            carried: carried,
            bound: bound
        )
    }

    static let both = [Pair(webhook: 0, trigger: 0), Pair(webhook: 1, trigger: 1)]

    @Test func queuesEveryPairWithoutAFinalOutcome() {
        var planner = Self.planner()
        planner.event(10, pairs: Self.both, payload: "e10")
        planner.event(11, pairs: Self.both, payload: "e11")
        planner.outcome(.init(eventSequence: 10, webhook: "a", kind: .final))
        planner.outcome(.init(eventSequence: 11, webhook: "b", kind: .retrying(attempt: 3)))
        let plan = planner.finish()
        #expect(
            plan.jobs.map { "\($0.payload)/\($0.webhook)/\($0.attemptsMade)" } == ["e10/1/0", "e11/0/0", "e11/1/3"]
        )
        #expect(plan.counts.eventsRematched == 2)
        #expect(plan.counts.deliveriesResumed == 3)
        #expect(plan.counts.deliveriesAlreadyFinal == 1)
        #expect(plan.matched.map(\.sequence) == [10, 11])
        #expect(plan.matched[0].pairs == [Pair(webhook: 1, trigger: 1)], "the tracker is not told of final pairs")
        #expect(plan.matchedEnd == 12)
    }

    @Test func eventsBelowAWebhooksCheckpointAreNotResumedForIt() {
        var planner = Self.planner(checkpoints: [10, 12])
        planner.event(11, pairs: Self.both, payload: "e11")
        planner.event(12, pairs: Self.both, payload: "e12")
        #expect(planner.finish().jobs.map { "\($0.payload)/\($0.webhook)" } == ["e11/0", "e12/0", "e12/1"])
    }

    @Test func carriedPairsAreQueuedWithTheirAttemptsAndDroppedWhenGone() {
        var planner = Self.planner(
            rematchFrom: 20,
            checkpoints: [20, 30],
            carried: [
                "a": [.init(eventSequence: 5, attempt: 2), .init(eventSequence: 7, attempt: 1)],
                "b": [.init(eventSequence: 25, attempt: 4)],
                "removed": [.init(eventSequence: 6, attempt: 1)],
            ]
        )
        #expect(planner.carriedSequencesBelowRematch == [5, 7], "25 comes with the pass")
        planner.carriedEvent(5, pairs: Self.both, payload: "e5")
        // 7 is gone from the log (retention).
        planner.event(25, pairs: Self.both, payload: "e25")
        planner.outcome(.init(eventSequence: 5, webhook: "a", kind: .retrying(attempt: 3)))
        let plan = planner.finish()
        #expect(
            plan.jobs.map { "\($0.payload)/\($0.webhook)/\($0.attemptsMade)/\($0.carried)" } == [
                "e5/0/3/true", "e25/1/4/true", "e25/0/0/false",
            ]
        )
        #expect(plan.counts.deliveriesCarried == 2)
        #expect(plan.counts.deliveriesDropped == 2, "the removed webhook's pair and the pair whose event is gone")
    }

    @Test func aCarriedPairTheWebhookNoLongerMatchesIsDropped() {
        var planner = Self.planner(
            rematchFrom: 20,
            checkpoints: [20, 20],
            carried: ["a": [.init(eventSequence: 5, attempt: 1)]]
        )
        planner.carriedEvent(5, pairs: [Pair(webhook: 1, trigger: 0)], payload: "e5")
        let plan = planner.finish()
        #expect(plan.jobs.isEmpty)
        #expect(plan.counts.deliveriesDropped == 1)
    }

    @Test func aRedriveReopensAFinalPairAndAsksForItsEventAgain() {
        var planner = Self.planner()
        planner.event(10, pairs: Self.both, payload: "e10")
        planner.outcome(.init(eventSequence: 10, webhook: "a", kind: .final))
        planner.outcome(.init(eventSequence: 10, webhook: "b", kind: .final))
        planner.outcome(.init(eventSequence: 10, webhook: "a", kind: .redriveRequested))
        #expect(planner.sequencesToRefetch == [10], "a final pair's payload is let go")
        planner.supply(10, payload: "e10 again")
        let plan = planner.finish()
        #expect(plan.jobs.map { "\($0.payload)/\($0.webhook)/\($0.attemptsMade)" } == ["e10 again/0/0"])
        #expect(plan.counts.deliveriesAlreadyFinal == 1)
        #expect(plan.matched.first?.pairs == [Pair(webhook: 0, trigger: 0)])
    }

    @Test func aWebhookHoldingItsBoundSpillsAndTheSpillKeepsItsOutcomes() {
        var planner = Self.planner(checkpoints: [10, 10], bound: 2)
        for sequence in UInt64(10)..<15 {
            planner.event(sequence, pairs: Self.both, payload: "e\(sequence)")
            planner.outcome(.init(eventSequence: sequence, webhook: "b", kind: .final))
        }
        planner.outcome(.init(eventSequence: 13, webhook: "a", kind: .final))
        planner.outcome(.init(eventSequence: 14, webhook: "a", kind: .retrying(attempt: 2)))
        let plan = planner.finish()
        #expect(plan.jobs.map(\.payload) == ["e10", "e11"], "a holds its bound; b is all final")
        #expect(plan.spills == [0: .init(start: 12, final: [13], attempts: [14: 2])])
        #expect(plan.matched.first { $0.sequence == 12 }?.spillsStarting == [0])
        #expect(plan.counts.deliveriesAlreadyFinal == 5, "b's; a's final pair after the spill start is the spill's")
    }

    @Test func finalOutcomesFreeRoomBeforeTheBoundIsReached() {
        var planner = Self.planner(checkpoints: [10], bound: 2)
        planner.event(10, pairs: [Pair(webhook: 0, trigger: 0)], payload: "e10")
        planner.outcome(.init(eventSequence: 10, webhook: "a", kind: .final))
        planner.event(11, pairs: [Pair(webhook: 0, trigger: 0)], payload: "e11")
        planner.event(12, pairs: [Pair(webhook: 0, trigger: 0)], payload: "e12")
        let plan = planner.finish()
        #expect(plan.spills.isEmpty)
        #expect(plan.jobs.map(\.payload) == ["e11", "e12"])
    }

    @Test func aDuplicateFinalOutcomeCountsOnce() {
        var planner = Self.planner(checkpoints: [10])
        planner.event(10, pairs: [Pair(webhook: 0, trigger: 0)], payload: "e10")
        planner.outcome(.init(eventSequence: 10, webhook: "a", kind: .final))
        planner.outcome(.init(eventSequence: 10, webhook: "a", kind: .final))
        planner.outcome(.init(eventSequence: 10, webhook: "gone", kind: .final))
        let plan = planner.finish()
        #expect(plan.jobs.isEmpty)
        #expect(plan.counts.deliveriesAlreadyFinal == 1)
        #expect(plan.matched.isEmpty)
        #expect(plan.matchedEnd == 11)
    }
}
