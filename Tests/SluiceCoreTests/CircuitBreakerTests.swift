import SluiceCore
import Testing

@Suite struct CircuitBreakerTests {
    typealias State = CircuitBreaker.State
    typealias Event = CircuitBreaker.Event
    typealias Action = CircuitBreaker.Action

    static let policy = CircuitBreakerPolicy(
        windowNanoseconds: 1_000,
        requestCountMin: 4,
        failureRatePercent: 50,
        openNanoseconds: 500,
        halfOpenProbeCountMax: 1
    )

    /// Representative states: a closed window one failure short of opening (1 success, 2 failures),
    /// an open circuit whose cool-down has passed at t=600, a half-open circuit with its probe out.
    static let states: [State.Kind: State] = [
        .closed: .closed(windowStartNanoseconds: 100, successCount: 1, failureCount: 2),
        .open: .open(untilNanoseconds: 600),
        .halfOpen: .halfOpen(probeCount: 1),
    ]
    static let events: [Event.Kind: Event] = [
        .requestPermission: .requestPermission(nowNanoseconds: 600),
        .succeeded: .succeeded(nowNanoseconds: 600),
        .failed: .failed(nowNanoseconds: 600),
    ]

    static let table: StateEventTable<State.Kind, Event.Kind, Transition<State, Action>> = {
        var table = StateEventTable<State.Kind, Event.Kind, Transition<State, Action>>()
        table[.closed, .requestPermission] = .to(states[.closed]!, .allow)
        table[.closed, .succeeded] = .to(.closed(windowStartNanoseconds: 100, successCount: 2, failureCount: 2), .none)
        table[.closed, .failed] = .to(.open(untilNanoseconds: 1_100), .opened(untilNanoseconds: 1_100))
        table[.open, .requestPermission] = .to(.halfOpen(probeCount: 1), .allowProbe)
        table[.open, .succeeded] = .to(states[.open]!, .none)
        table[.open, .failed] = .to(states[.open]!, .none)
        table[.halfOpen, .requestPermission] = .to(states[.halfOpen]!, .reject(retryAtNanoseconds: 1_100))
        table[.halfOpen, .succeeded] = .to(
            .closed(windowStartNanoseconds: 600, successCount: 0, failureCount: 0),
            .closed
        )
        table[.halfOpen, .failed] = .to(.open(untilNanoseconds: 1_100), .opened(untilNanoseconds: 1_100))
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
            guard case .to(let state, let action) = try #require(Self.table[stateKind, eventKind]) else { continue }
            var breaker = CircuitBreaker(policy: Self.policy, state: try #require(Self.states[stateKind]))
            let produced = breaker.handle(try #require(Self.events[eventKind]))
            #expect(breaker.state == state, "\(stateKind) × \(eventKind)")
            #expect(produced == action, "\(stateKind) × \(eventKind)")
        }
    }

    @Test func opensOnlyOverTheMinimumCountAndRate() {
        var breaker = CircuitBreaker(policy: Self.policy, nowNanoseconds: 0)
        #expect(breaker.handle(.failed(nowNanoseconds: 1)) == .none)
        #expect(breaker.handle(.failed(nowNanoseconds: 2)) == .none)
        #expect(breaker.handle(.failed(nowNanoseconds: 3)) == .none, "3 < requestCountMin")
        #expect(breaker.handle(.failed(nowNanoseconds: 4)) == .opened(untilNanoseconds: 504))
        #expect(breaker.handle(.requestPermission(nowNanoseconds: 503)) == .reject(retryAtNanoseconds: 504))
        #expect(breaker.handle(.requestPermission(nowNanoseconds: 504)) == .allowProbe)
        #expect(breaker.handle(.succeeded(nowNanoseconds: 510)) == .closed)
        #expect(breaker.state.kind == .closed)
        var healthy = CircuitBreaker(policy: Self.policy, nowNanoseconds: 0)
        for time in 0..<3 { _ = healthy.handle(.succeeded(nowNanoseconds: UInt64(time))) }
        for time in 3..<5 { #expect(healthy.handle(.failed(nowNanoseconds: UInt64(time))) == .none, "2 of 5 is 40 %") }
        #expect(healthy.handle(.failed(nowNanoseconds: 6)) == .opened(untilNanoseconds: 506), "3 of 6 is 50 %")
    }

    @Test func windowRestartsCounts() {
        var breaker = CircuitBreaker(policy: Self.policy, nowNanoseconds: 0)
        for time in 0..<3 { _ = breaker.handle(.failed(nowNanoseconds: UInt64(time))) }
        #expect(breaker.handle(.failed(nowNanoseconds: 1_000)) == .none, "a new window")
        #expect(breaker.state == .closed(windowStartNanoseconds: 1_000, successCount: 0, failureCount: 1))
    }

    @Test func recordsResultsByWhatCountsAgainstTheEndpoint() {
        var breaker = CircuitBreaker(policy: Self.policy, nowNanoseconds: 0)
        let notFound = DeliveryAttemptOutcome.response(statusCode: 404, retryAfter: nil).classify(attempt: 1)
        for time in 0..<10 { #expect(breaker.record(notFound, nowNanoseconds: UInt64(time)) == .none) }
        #expect(breaker.state == .closed(windowStartNanoseconds: 0, successCount: 10, failureCount: 0))
        let refused = DeliveryAttemptOutcome.connectionFailed("refused").classify(attempt: 1)
        for time in 10..<19 { _ = breaker.record(refused, nowNanoseconds: UInt64(time)) }
        #expect(breaker.record(refused, nowNanoseconds: 20) == .opened(untilNanoseconds: 520))
    }

    @Test func validationNamesTheField() {
        #expect(
            throws: DeliveryConfigurationError(
                field: "circuit_breaker.failure_rate_percent",
                message: "0 is not in 1...100"
            )
        ) {
            try CircuitBreakerPolicy(failureRatePercent: 0).validate()
        }
        #expect(throws: Never.self) { try CircuitBreakerPolicy().validate() }
    }
}
