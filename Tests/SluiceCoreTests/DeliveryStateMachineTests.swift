import SluiceCore
import SluiceTestSupport
import Testing

@Suite struct DeliveryStateMachineTests {
    typealias Machine = DeliveryStateMachine
    typealias State = Machine.State
    typealias Event = Machine.Event
    typealias Action = Machine.Action

    static let second = RetryPolicy.second
    static let policy = RetryPolicy(jitterPercent: 0)
    static let wall = Timestamp(secondsSinceEpoch: 1_740_656_629)
    static let previousFailure = DeliveryFailure(
        failureClass: .connection,
        message: "connection refused",
        attempt: 1
    )
    static let failure503 = DeliveryFailure(
        failureClass: .httpServerError,
        statusCode: 503,
        message: "The target responded with HTTP 503.",
        attempt: 2
    )

    /// One representative state per kind.
    static let states: [State.Kind: State] = [
        .waiting: .waiting(attempt: 2, dueNanoseconds: 1_000),
        .inFlight: .inFlight(attempt: 2, endpointDisabled: false),
        .succeeded: .succeeded(attempt: 1, statusCode: 204),
        .deadLettered: .deadLettered(
            DeadLetter(reason: .attemptsExhausted, attemptCount: 8, lastFailure: previousFailure)
        ),
        .cancelled: .cancelled,
    ]

    /// One representative event per kind.
    static let events: [Event.Kind: Event] = [
        .timerFired: .timerFired(nowNanoseconds: 1_000),
        .attemptFinished: .attemptFinished(
            .response(statusCode: 503, retryAfter: nil),
            nowNanoseconds: 2_000,
            nowWall: wall
        ),
        .deferred: .deferred(untilNanoseconds: 9_000),
        .endpointDisabled: .endpointDisabled,
        .cancel: .cancel,
    ]

    static let table: StateEventTable<State.Kind, Event.Kind, Transition<State, Action>> = {
        var table = StateEventTable<State.Kind, Event.Kind, Transition<State, Action>>()
        let waiting = states[.waiting]!  // present: literal above
        let succeeded = states[.succeeded]!
        let deadLettered = states[.deadLettered]!
        let third = State.waiting(attempt: 3, dueNanoseconds: 2_000 + 300 * second)
        table[.waiting, .timerFired] = .to(.inFlight(attempt: 2, endpointDisabled: false), .send(attempt: 2))
        table[.waiting, .attemptFinished] = .traps
        table[.waiting, .deferred] = .to(.waiting(attempt: 2, dueNanoseconds: 9_000), .armTimer(dueNanoseconds: 9_000))
        let disabledEarly = DeadLetter(reason: .endpointDisabled, attemptCount: 1, lastFailure: previousFailure)
        table[.waiting, .endpointDisabled] = .to(.deadLettered(disabledEarly), .deadLetter(disabledEarly))
        table[.waiting, .cancel] = .to(.cancelled, .cancelled)
        table[.inFlight, .timerFired] = .to(states[.inFlight]!, .none)
        table[.inFlight, .attemptFinished] = .to(
            third,
            .retryLater(failure503, attempt: 3, dueNanoseconds: 2_000 + 300 * second)
        )
        table[.inFlight, .deferred] = .to(.waiting(attempt: 2, dueNanoseconds: 9_000), .armTimer(dueNanoseconds: 9_000))
        table[.inFlight, .endpointDisabled] = .to(.inFlight(attempt: 2, endpointDisabled: true), .none)
        table[.inFlight, .cancel] = .to(.cancelled, .cancelled)
        for (kind, state) in [(State.Kind.succeeded, succeeded), (.deadLettered, deadLettered)] {
            table[kind, .timerFired] = .to(state, .none)
            table[kind, .attemptFinished] = .traps
            table[kind, .deferred] = .to(state, .none)
            table[kind, .endpointDisabled] = .to(state, .none)
            table[kind, .cancel] = .to(state, .none)
        }
        for event in Event.Kind.allCases { table[.cancelled, event] = .to(.cancelled, .none) }
        _ = waiting
        return table
    }()

    @Test func tableCoversEveryStateAndEvent() {
        Self.table.expectCovers()
        #expect(Self.states.count == State.Kind.allCases.count)
        #expect(Self.events.count == Event.Kind.allCases.count)
    }

    @Test(arguments: State.Kind.allCases)
    func everyPairBehavesAsTheTableSays(stateKind: State.Kind) throws {
        for eventKind in Event.Kind.allCases {
            let expected = try #require(Self.table[stateKind, eventKind])
            guard case .to(let state, let action) = expected else { continue }  // traps: see below
            let start = try #require(Self.states[stateKind])
            #expect(start.kind == stateKind)
            var machine = Machine(policy: Self.policy, state: start, lastFailure: Self.previousFailure)
            var random = NoRandomness()
            let produced = machine.handle(try #require(Self.events[eventKind]), random: &random)
            #expect(machine.state == state, "\(stateKind) × \(eventKind)")
            #expect(produced == action, "\(stateKind) × \(eventKind)")
        }
    }

    @Test func attemptFinishedWhileWaitingTraps() async {
        await #expect(processExitsWith: .failure) {
            var machine = DeliveryStateMachine(
                policy: RetryPolicy(),
                state: .waiting(attempt: 1, dueNanoseconds: 0)
            )
            var random = SplitMix64(seed: 1)
            _ = machine.attemptFinished(
                .timedOut("x"),
                nowNanoseconds: 0,
                nowWall: Timestamp(secondsSinceEpoch: 0),
                random: &random
            )
        }
    }

    @Test func attemptFinishedAfterSuccessTraps() async {
        await #expect(processExitsWith: .failure) {
            var machine = DeliveryStateMachine(policy: RetryPolicy(), state: .succeeded(attempt: 1, statusCode: 200))
            var random = SplitMix64(seed: 1)
            _ = machine.attemptFinished(
                .timedOut("x"),
                nowNanoseconds: 0,
                nowWall: Timestamp(secondsSinceEpoch: 0),
                random: &random
            )
        }
    }

    @Test func attemptFinishedAfterDeadLetterTraps() async {
        await #expect(processExitsWith: .failure) {
            var machine = DeliveryStateMachine(
                policy: RetryPolicy(),
                state: .deadLettered(DeadLetter(reason: .attemptsExhausted, attemptCount: 8, lastFailure: nil))
            )
            var random = SplitMix64(seed: 1)
            _ = machine.attemptFinished(
                .timedOut("x"),
                nowNanoseconds: 0,
                nowWall: Timestamp(secondsSinceEpoch: 0),
                random: &random
            )
        }
    }

    @Test func earlyTimerReArms() {
        var machine = Machine(policy: Self.policy, state: .waiting(attempt: 2, dueNanoseconds: 1_000))
        #expect(machine.timerFired(nowNanoseconds: 999) == .armTimer(dueNanoseconds: 1_000))
        #expect(machine.state == .waiting(attempt: 2, dueNanoseconds: 1_000))
    }

    @Test func inFlightOutcomes() {
        var random = NoRandomness()
        func finish(
            _ outcome: DeliveryAttemptOutcome,
            endpointDisabled: Bool = false,
            attempt: Int = 2
        ) -> (State, Action) {
            var machine = Machine(
                policy: Self.policy,
                state: .inFlight(attempt: attempt, endpointDisabled: endpointDisabled)
            )
            let action = machine.attemptFinished(outcome, nowNanoseconds: 10, nowWall: Self.wall, random: &random)
            return (machine.state, action)
        }
        #expect(
            finish(.response(statusCode: 202, retryAfter: nil)) == (
                .succeeded(attempt: 2, statusCode: 202), .succeeded(statusCode: 202, attempt: 2)
            )
        )
        let gone = DeadLetter(
            reason: .endpointGone,
            attemptCount: 2,
            lastFailure: DeliveryFailure(
                failureClass: .httpClientError,
                statusCode: 410,
                message: "The target responded with HTTP 410.",
                attempt: 2
            )
        )
        #expect(finish(.response(statusCode: 410, retryAfter: nil)) == (.deadLettered(gone), .deadLetter(gone)))
        #expect(gone.disablesEndpoint)
        let timeout = DeliveryFailure(failureClass: .timeout, message: "response deadline", attempt: 8)
        let exhausted = DeadLetter(reason: .attemptsExhausted, attemptCount: 8, lastFailure: timeout)
        #expect(
            finish(.timedOut("response deadline"), attempt: 8) == (.deadLettered(exhausted), .deadLetter(exhausted))
        )
        let refused = DeliveryFailure(failureClass: .connection, message: "refused", attempt: 2)
        let disabled = DeadLetter(reason: .endpointDisabled, attemptCount: 2, lastFailure: refused)
        #expect(
            finish(.connectionFailed("refused"), endpointDisabled: true) == (
                .deadLettered(disabled), .deadLetter(disabled)
            )
        )
        #expect(!disabled.disablesEndpoint)
    }

    /// A whole delivery on the default schedule: 8 failures spread over the schedule, then a dead
    /// letter carrying the last one. Times advance only through the events.
    @Test func walksTheWholeScheduleToADeadLetter() {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        let policy = RetryPolicy()
        var machine = Machine(policy: policy, nowNanoseconds: 0, random: &random)
        var now: UInt64 = 0
        var attempts = 0
        while true {
            guard case .waiting(let attempt, let due) = machine.state else { break }
            now = due
            #expect(machine.timerFired(nowNanoseconds: now) == .send(attempt: attempt), "seed \(seed)")
            attempts += 1
            let action = machine.attemptFinished(
                .response(statusCode: 500, retryAfter: nil),
                nowNanoseconds: now,
                nowWall: Self.wall,
                random: &random
            )
            if case .retryLater(_, let next, let nextDue) = action {
                let scheduled = policy.delayNanoseconds[next - 1]
                #expect(
                    nextDue - now >= scheduled - scheduled / 10 && nextDue - now <= scheduled + scheduled / 10,
                    "seed \(seed)"
                )
            }
        }
        #expect(attempts == 8)
        guard case .deadLettered(let deadLetter) = machine.state else {
            Issue.record("not dead-lettered: \(machine.state), seed \(seed)")
            return
        }
        #expect(deadLetter.reason == .attemptsExhausted)
        #expect(deadLetter.lastFailure?.attempt == 8)
        #expect(deadLetter.lastFailure?.failureClass == .httpServerError)
        #expect(now >= 99_305 * Self.second * 9 / 10 && now <= 99_305 * Self.second * 11 / 10, "seed \(seed): \(now)")
    }

    @Test func deferredAfterSendOnADisabledEndpointDeadLetters() {
        var machine = Machine(
            policy: Self.policy,
            state: .inFlight(attempt: 3, endpointDisabled: true),
            lastFailure: Self.failure503
        )
        let deadLetter = DeadLetter(reason: .endpointDisabled, attemptCount: 2, lastFailure: Self.failure503)
        #expect(machine.deferred(untilNanoseconds: 5) == .deadLetter(deadLetter))
        #expect(machine.state == .deadLettered(deadLetter))
    }

    /// An attempt the open breaker refuses fails, and so do those due before it may let requests through:
    /// the delivery wakes once, at the first attempt due after that, or at its last attempt.
    @Test func refusedAttemptsSkipToTheFirstAttemptTheBreakerMayLetThrough() {
        let second = RetryPolicy.second
        let policy = RetryPolicy(delayNanoseconds: [0, second, second, second], jitterPercent: 0)
        let wall = Timestamp(microsecondsSinceEpoch: 1_700_000_000_000_000)
        var random = SplitMix64(seed: 1)
        let refusal = DeliveryAttemptOutcome.circuitOpen("open")
        let failure = DeliveryFailure(failureClass: .circuitOpen, message: "open", attempt: 1)

        var early = DeliveryStateMachine(policy: policy, state: .inFlight(attempt: 1, endpointDisabled: false))
        let reopensSoon = early.refused(
            refusal,
            untilNanoseconds: 1_500_000_000,
            nowNanoseconds: 0,
            nowWall: wall,
            random: &random
        )
        #expect(reopensSoon == .retryLater(failure, attempt: 3, dueNanoseconds: 2 * second))

        var machine = DeliveryStateMachine(policy: policy, state: .inFlight(attempt: 1, endpointDisabled: false))
        let staysOpen = machine.refused(
            refusal,
            untilNanoseconds: 30 * second,
            nowNanoseconds: 0,
            nowWall: wall,
            random: &random
        )
        #expect(staysOpen == .retryLater(failure, attempt: 4, dueNanoseconds: 3 * second), "woken at the last attempt")
        #expect(machine.timerFired(nowNanoseconds: 3 * second) == .send(attempt: 4))
        let last = machine.refused(
            refusal,
            untilNanoseconds: 30 * second,
            nowNanoseconds: 3 * second,
            nowWall: wall,
            random: &random
        )
        var lastFailure = failure
        lastFailure.attempt = 4
        let deadLetter = DeadLetter(reason: .attemptsExhausted, attemptCount: 4, lastFailure: lastFailure)
        #expect(last == .deadLetter(deadLetter), "the dead letter comes when the schedule ends")
    }
}
