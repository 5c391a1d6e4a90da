import SluiceCore
import Testing

@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine
    typealias State = Machine.State
    typealias Event = Machine.Event
    typealias Actions = Machine.Actions

    static let millisecond: UInt64 = 1_000_000
    static let timeouts = ConnectionTimeouts(
        connectNanoseconds: 1 * millisecond,
        tlsHandshakeNanoseconds: 2 * millisecond,
        requestNanoseconds: 3 * millisecond,
        idleNanoseconds: 4 * millisecond
    )
    /// Every representative deadline; every representative event happens at this time.
    static let deadline: UInt64 = 10 * millisecond
    static let reset = DeliveryAttemptOutcome.connectionFailed("connection reset by peer")

    static let states: [State.Kind: State] = [
        .connecting: .connecting(deadlineNanoseconds: deadline),
        .tlsHandshaking: .tlsHandshaking(deadlineNanoseconds: deadline),
        .ready: .ready(idleDeadlineNanoseconds: deadline),
        .sending: .sending(requestIndex: 7, deadlineNanoseconds: deadline, responseStarted: false),
        .awaitingResponse: .awaitingResponse(requestIndex: 7, deadlineNanoseconds: deadline, responseStarted: false),
        .closed: .closed,
    ]

    static let events: [Event.Kind: Event] = [
        .connected: .connected(nowNanoseconds: deadline),
        .tlsHandshakeCompleted: .tlsHandshakeCompleted(nowNanoseconds: deadline),
        .send: .send(requestIndex: 9, nowNanoseconds: deadline),
        .requestWritten: .requestWritten,
        .responseStarted: .responseStarted,
        .responseCompleted: .responseCompleted(
            statusCode: 204,
            retryAfter: nil,
            keepAlive: true,
            nowNanoseconds: deadline
        ),
        .failed: .failed(reset),
        .peerClosed: .peerClosed,
        .timerFired: .timerFired(nowNanoseconds: deadline),
        .close: .close,
    ]

    static func closing(_ result: Actions.Result) -> Transition<State, Actions> {
        .to(.closed, Actions(io: .close, timer: .cancel, result: result))
    }

    static let table: StateEventTable<State.Kind, Event.Kind, Transition<State, Actions>> = {
        var table = StateEventTable<State.Kind, Event.Kind, Transition<State, Actions>>()
        let now = deadline
        // connecting
        table[.connecting, .connected] = .to(
            .tlsHandshaking(deadlineNanoseconds: now + 2 * millisecond),
            Actions(io: .startTLS, timer: .arm(deadlineNanoseconds: now + 2 * millisecond))
        )
        for event in [Event.Kind.tlsHandshakeCompleted, .send, .requestWritten, .responseStarted, .responseCompleted] {
            table[.connecting, event] = .traps
        }
        table[.connecting, .failed] = closing(.connectFailed(reset))
        table[.connecting, .peerClosed] = closing(
            .connectFailed(.connectionFailed("connection closed while connecting"))
        )
        table[.connecting, .timerFired] = closing(.connectFailed(.timedOut("connect did not complete in time")))
        table[.connecting, .close] = closing(.none)
        // tlsHandshaking
        table[.tlsHandshaking, .tlsHandshakeCompleted] = .to(
            .ready(idleDeadlineNanoseconds: now + 4 * millisecond),
            Actions(timer: .arm(deadlineNanoseconds: now + 4 * millisecond))
        )
        for event in [Event.Kind.connected, .send, .requestWritten, .responseStarted, .responseCompleted] {
            table[.tlsHandshaking, event] = .traps
        }
        table[.tlsHandshaking, .failed] = closing(.connectFailed(reset))
        table[.tlsHandshaking, .peerClosed] = closing(
            .connectFailed(.tlsFailed("connection closed during the TLS handshake"))
        )
        table[.tlsHandshaking, .timerFired] = closing(
            .connectFailed(.timedOut("TLS handshake did not complete in time"))
        )
        table[.tlsHandshaking, .close] = closing(.none)
        // ready
        for event in [Event.Kind.connected, .tlsHandshakeCompleted, .requestWritten] { table[.ready, event] = .traps }
        table[.ready, .send] = .to(
            .sending(requestIndex: 9, deadlineNanoseconds: now + 3 * millisecond, responseStarted: false),
            Actions(io: .send(requestIndex: 9), timer: .arm(deadlineNanoseconds: now + 3 * millisecond))
        )
        for event in [Event.Kind.responseStarted, .responseCompleted, .failed, .peerClosed, .timerFired, .close] {
            table[.ready, event] = closing(.none)
        }
        // sending and awaitingResponse share failure rules
        let timedOut = Actions.Result.complete(requestIndex: 7, outcome: .timedOut("no complete response within 3 ms"))
        let shutdown = Actions.Result.complete(
            requestIndex: 7,
            outcome: .connectionFailed("connection closed by Sluice (shutdown)")
        )
        for kind in [State.Kind.sending, .awaitingResponse] {
            for event in [Event.Kind.connected, .tlsHandshakeCompleted, .send] { table[kind, event] = .traps }
            table[kind, .failed] = closing(.complete(requestIndex: 7, outcome: reset))
            table[kind, .peerClosed] = closing(.requeue(requestIndex: 7))  // reused connection, no response byte
            table[kind, .timerFired] = closing(timedOut)
            table[kind, .close] = closing(shutdown)
        }
        let response204 = Actions.Result.complete(requestIndex: 7, outcome: .response(statusCode: 204, retryAfter: nil))
        table[.sending, .requestWritten] = .to(
            .awaitingResponse(requestIndex: 7, deadlineNanoseconds: deadline, responseStarted: false),
            .none
        )
        table[.sending, .responseStarted] = .to(
            .sending(requestIndex: 7, deadlineNanoseconds: deadline, responseStarted: true),
            .none
        )
        table[.sending, .responseCompleted] = closing(response204)  // early response: stream unusable
        table[.awaitingResponse, .requestWritten] = .traps
        table[.awaitingResponse, .responseStarted] = .to(
            .awaitingResponse(requestIndex: 7, deadlineNanoseconds: deadline, responseStarted: true),
            .none
        )
        table[.awaitingResponse, .responseCompleted] = .to(
            .ready(idleDeadlineNanoseconds: now + 4 * millisecond),
            Actions(timer: .arm(deadlineNanoseconds: now + 4 * millisecond), result: response204)
        )
        // closed
        for event in Event.Kind.allCases { table[.closed, event] = .to(.closed, .none) }
        table[.closed, .send] = .traps
        return table
    }()

    static func machine(_ kind: State.Kind) -> Machine {
        Machine(state: states[kind]!, usesTLS: true, timeouts: timeouts, completedRequestCount: 1)  // every kind listed
    }

    @Test func tableCoversEveryStateAndEvent() {
        Self.table.expectCovers()
        #expect(Self.states.count == State.Kind.allCases.count)
        #expect(Self.events.count == Event.Kind.allCases.count)
    }

    @Test(arguments: State.Kind.allCases)
    func everyPairBehavesAsTheTableSays(stateKind: State.Kind) throws {
        for eventKind in Event.Kind.allCases {
            guard case .to(let state, let actions) = try #require(Self.table[stateKind, eventKind]) else { continue }
            var machine = Self.machine(stateKind)
            let produced = machine.handle(try #require(Self.events[eventKind]))
            #expect(machine.state == state, "\(stateKind) × \(eventKind)")
            #expect(produced == actions, "\(stateKind) × \(eventKind)")
        }
    }

    static let trapPairs: [(Int, Int)] = {
        var pairs: [(Int, Int)] = []
        for (stateIndex, state) in State.Kind.allCases.enumerated() {
            for (eventIndex, event) in Event.Kind.allCases.enumerated() where table[state, event] == .traps {
                pairs.append((stateIndex, eventIndex))
            }
        }
        return pairs
    }()

    /// Pairs a correct driver cannot produce crash the process (a driver bug must not go unnoticed).
    @Test(arguments: trapPairs)
    func impossiblePairsTrap(stateIndex: Int, eventIndex: Int) async {
        await #expect(processExitsWith: .failure) { [stateIndex, eventIndex] in
            var machine = ConnectionStateMachineTests.machine(State.Kind.allCases[stateIndex])
            _ = machine.handle(ConnectionStateMachineTests.events[Event.Kind.allCases[eventIndex]]!)
        }
    }

    @Test func earlyTimersAreStale() {
        for kind in [State.Kind.connecting, .tlsHandshaking, .ready, .sending, .awaitingResponse] {
            var machine = Self.machine(kind)
            #expect(machine.handle(.timerFired(nowNanoseconds: Self.deadline - 1)) == .none, "\(kind)")
            #expect(machine.state == Self.states[kind], "\(kind)")
        }
    }

    @Test func peerCloseRules() {
        // A fresh connection (no earlier response): the request failed, it is not re-queued.
        var fresh = Machine(state: Self.states[.awaitingResponse]!, usesTLS: false, timeouts: Self.timeouts)
        #expect(
            fresh.handle(.peerClosed).result
                == .complete(
                    requestIndex: 7,
                    outcome: .connectionFailed("connection closed by the server before the response")
                )
        )
        // A reused connection whose response had started: the server may have acted on it.
        var started = Self.machine(.awaitingResponse)
        _ = started.handle(.responseStarted)
        #expect(
            started.handle(.peerClosed).result
                == .complete(
                    requestIndex: 7,
                    outcome: .connectionFailed("connection closed by the server before the response")
                )
        )
    }

    @Test func withoutTLSAndWithoutKeepAlive() {
        var (machine, actions) = Machine.open(usesTLS: false, timeouts: Self.timeouts, nowNanoseconds: 0)
        #expect(actions == Actions(io: .connect, timer: .arm(deadlineNanoseconds: Self.millisecond)))
        #expect(
            machine.handle(.connected(nowNanoseconds: 5))
                == Actions(timer: .arm(deadlineNanoseconds: 5 + 4 * Self.millisecond))
        )
        #expect(machine.isReady)
        _ = machine.handle(.send(requestIndex: 1, nowNanoseconds: 10))
        #expect(machine.isBusy)
        _ = machine.handle(.requestWritten)
        let closing = machine.handle(
            .responseCompleted(statusCode: 200, retryAfter: .seconds(1), keepAlive: false, nowNanoseconds: 20)
        )
        #expect(
            closing
                == Actions(
                    io: .close,
                    timer: .cancel,
                    result: .complete(requestIndex: 1, outcome: .response(statusCode: 200, retryAfter: .seconds(1)))
                )
        )
        #expect(machine.isClosed)
        #expect(machine.completedRequestCount == 1)
    }
}
