import SluiceCore
import SluiceTestSupport
import Testing

@Suite struct EndpointPoolTests {
    typealias Action = EndpointPool.Action
    static let timeouts = ConnectionTimeouts(
        connectNanoseconds: 100,
        tlsHandshakeNanoseconds: 200,
        requestNanoseconds: 300,
        idleNanoseconds: 400
    )

    static func pool(connections: Int = 2, inFlight: Int = 2, queue: Int = 4, tls: Bool = false) -> EndpointPool {
        EndpointPool(
            policy: EndpointPoolPolicy(
                connectionCountMax: connections,
                inFlightCountMax: inFlight,
                queueCountMax: queue,
                usesTLS: tls,
                timeouts: timeouts
            )
        )
    }

    static let c0 = ConnectionID(index: 0, generation: 0)
    static let c1 = ConnectionID(index: 1, generation: 0)

    @Test func opensSendsAndReusesKeepAliveConnections() {
        var pool = Self.pool(tls: true)
        var actions: [Action] = []
        pool.submit(requestIndex: 1, nowNanoseconds: 0, actions: &actions)
        #expect(actions == [.connect(Self.c0), .armTimer(Self.c0, deadlineNanoseconds: 100)])
        #expect(pool.queuedCount == 1)
        actions.removeAll()
        pool.handle(.connected(nowNanoseconds: 10), for: Self.c0, nowNanoseconds: 10, actions: &actions)
        #expect(actions == [.startTLS(Self.c0), .armTimer(Self.c0, deadlineNanoseconds: 210)])
        actions.removeAll()
        pool.handle(.tlsHandshakeCompleted(nowNanoseconds: 20), for: Self.c0, nowNanoseconds: 20, actions: &actions)
        #expect(
            actions == [
                .armTimer(Self.c0, deadlineNanoseconds: 420), .send(Self.c0, requestIndex: 1),
                .armTimer(Self.c0, deadlineNanoseconds: 320),
            ]
        )
        #expect(pool.inFlightCount == 1)
        #expect(pool.queuedCount == 0)
        actions.removeAll()
        pool.handle(.requestWritten, for: Self.c0, nowNanoseconds: 21, actions: &actions)
        pool.handle(
            .responseCompleted(statusCode: 204, retryAfter: nil, keepAlive: true, nowNanoseconds: 30),
            for: Self.c0,
            nowNanoseconds: 30,
            actions: &actions
        )
        #expect(
            actions == [
                .armTimer(Self.c0, deadlineNanoseconds: 430),
                .complete(requestIndex: 1, outcome: .response(statusCode: 204, retryAfter: nil)),
            ]
        )
        #expect(pool.inFlightCount == 0)
        actions.removeAll()
        pool.submit(requestIndex: 2, nowNanoseconds: 40, actions: &actions)
        #expect(actions == [.send(Self.c0, requestIndex: 2), .armTimer(Self.c0, deadlineNanoseconds: 340)], "reused")
        #expect(pool.openConnectionCount == 1)
    }

    @Test func boundsAndBackpressure() {
        var pool = Self.pool(connections: 2, inFlight: 2, queue: 3)
        var actions: [Action] = []
        for request in 1...4 { pool.submit(requestIndex: request, nowNanoseconds: 0, actions: &actions) }
        #expect(actions.filter { if case .connect = $0 { return true } else { return false } }.count == 2)
        #expect(actions.last == .reject(requestIndex: 4))
        #expect(pool.queuedCount == 3)
        #expect(pool.openConnectionCount == 2)
    }

    @Test func inFlightBoundBelowConnections() {
        var pool = Self.pool(connections: 2, inFlight: 1, queue: 4)
        var actions: [Action] = []
        pool.submit(requestIndex: 1, nowNanoseconds: 0, actions: &actions)
        pool.submit(requestIndex: 2, nowNanoseconds: 0, actions: &actions)
        #expect(pool.openConnectionCount == 1, "one connection is enough for one request in flight")
        pool.handle(.connected(nowNanoseconds: 1), for: Self.c0, nowNanoseconds: 1, actions: &actions)
        #expect(pool.inFlightCount == 1)
        #expect(pool.queuedCount == 1)
    }

    @Test func connectFailureFailsWaitingRequestsWhenNothingElseIsOpen() {
        var pool = Self.pool(connections: 1, inFlight: 1, queue: 4)
        var actions: [Action] = []
        for request in 1...3 { pool.submit(requestIndex: request, nowNanoseconds: 0, actions: &actions) }
        actions.removeAll()
        let refused = DeliveryAttemptOutcome.connectionFailed("connection refused")
        pool.handle(.failed(refused), for: Self.c0, nowNanoseconds: 5, actions: &actions)
        #expect(
            actions == [
                .close(Self.c0), .cancelTimer(Self.c0), .complete(requestIndex: 1, outcome: refused),
                .complete(requestIndex: 2, outcome: refused), .complete(requestIndex: 3, outcome: refused),
            ]
        )
        #expect(pool.openConnectionCount == 0)
        #expect(pool.queuedCount == 0)
    }

    @Test func keepAliveRaceRequeuesOnANewConnection() {
        var pool = Self.pool(connections: 1, inFlight: 1, queue: 4)
        var actions: [Action] = []
        pool.submit(requestIndex: 1, nowNanoseconds: 0, actions: &actions)
        pool.handle(.connected(nowNanoseconds: 1), for: Self.c0, nowNanoseconds: 1, actions: &actions)
        pool.handle(.requestWritten, for: Self.c0, nowNanoseconds: 2, actions: &actions)
        pool.handle(
            .responseCompleted(statusCode: 200, retryAfter: nil, keepAlive: true, nowNanoseconds: 3),
            for: Self.c0,
            nowNanoseconds: 3,
            actions: &actions
        )
        pool.submit(requestIndex: 2, nowNanoseconds: 4, actions: &actions)
        actions.removeAll()
        pool.handle(.peerClosed, for: Self.c0, nowNanoseconds: 5, actions: &actions)
        let next = ConnectionID(index: 0, generation: 1)
        #expect(
            actions == [
                .close(Self.c0), .cancelTimer(Self.c0), .connect(next), .armTimer(next, deadlineNanoseconds: 105),
            ]
        )
        #expect(pool.queuedCount == 1)
        actions.removeAll()
        pool.handle(.timerFired(nowNanoseconds: 400), for: Self.c0, nowNanoseconds: 400, actions: &actions)
        #expect(actions.isEmpty, "an event for the old generation is ignored")
        pool.handle(.connected(nowNanoseconds: 6), for: next, nowNanoseconds: 6, actions: &actions)
        #expect(actions.contains(.send(next, requestIndex: 2)))
    }

    @Test func shutdownClosesAndRejects() {
        var pool = Self.pool(connections: 1, inFlight: 1, queue: 4)
        var actions: [Action] = []
        pool.submit(requestIndex: 1, nowNanoseconds: 0, actions: &actions)
        pool.submit(requestIndex: 2, nowNanoseconds: 0, actions: &actions)
        pool.handle(.connected(nowNanoseconds: 1), for: Self.c0, nowNanoseconds: 1, actions: &actions)
        actions.removeAll()
        pool.shutdown(nowNanoseconds: 2, actions: &actions)
        #expect(
            actions == [
                .reject(requestIndex: 2), .close(Self.c0), .cancelTimer(Self.c0),
                .complete(requestIndex: 1, outcome: .connectionFailed("connection closed by Sluice (shutdown)")),
            ]
        )
        #expect(pool.openConnectionCount == 0)
        #expect(pool.inFlightCount == 0)
    }

    @Test func validationNamesTheField() {
        #expect(throws: DeliveryConfigurationError(field: "pool.connection_count_max", message: "0 is not in 1...4096"))
        {
            try EndpointPoolPolicy(connectionCountMax: 0).validate()
        }
    }

    /// Random driver events against a model: every request ends exactly once (completed or
    /// rejected), is never in flight twice, and the bounds always hold.
    @Test func randomEventsKeepTheInvariants() throws {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        for round in 0..<20 {
            try Self.randomRound(&random, context: "seed \(seed) round \(round)")
        }
    }

    static func randomRound(_ random: inout SplitMix64, context: String) throws {
        let connectionCountMax = 1 + random.next(below: 4)
        let policy = EndpointPoolPolicy(
            connectionCountMax: connectionCountMax,
            inFlightCountMax: 1 + random.next(below: connectionCountMax),
            queueCountMax: random.next(below: 6),
            usesTLS: random.chance(50),
            timeouts: timeouts
        )
        var pool = EndpointPool(policy: policy)
        var ended: Set<Int> = []
        var inFlight: [Int: ConnectionID] = [:]
        var live: Set<ConnectionID> = []
        var nextRequest = 0
        var now: UInt64 = 0
        var actions: [Action] = []
        func apply() throws {
            for action in actions {
                switch action {
                case .connect(let id): live.insert(id)
                case .close(let id):
                    live.remove(id)
                    inFlight = inFlight.filter { $0.value != id }  // a re-queued request may be sent again at once
                case .send(let id, let request):
                    #expect(inFlight[request] == nil, "\(request) sent twice, \(context)")
                    #expect(!ended.contains(request), "\(request) sent after it ended, \(context)")
                    inFlight[request] = id
                case .complete(let request, _), .reject(let request):
                    #expect(!ended.contains(request), "\(request) ended twice, \(context)")
                    ended.insert(request)
                    inFlight[request] = nil
                case .startTLS, .armTimer, .cancelTimer: break
                }
            }
            // Re-queued requests leave flight without ending.
            inFlight = inFlight.filter { pool.connection($0.value)?.isBusy == true }
            actions.removeAll()
            #expect(pool.inFlightCount <= policy.inFlightCountMax, "\(context)")
            #expect(pool.openConnectionCount <= policy.connectionCountMax, "\(context)")
            #expect(pool.queuedCount <= policy.queueCountMax, "\(context)")
            #expect(pool.inFlightCount == inFlight.count, "\(context)")
        }
        for _ in 0..<300 {
            now += UInt64(random.next(below: 150))
            if live.isEmpty || random.chance(30) {
                pool.submit(requestIndex: nextRequest, nowNanoseconds: now, actions: &actions)
                nextRequest += 1
            } else {
                let id = live.sorted { $0.index < $1.index }[random.next(below: live.count)]
                let machine = try #require(pool.connection(id), "\(context)")
                pool.handle(
                    randomEvent(for: machine, now: now, &random),
                    for: id,
                    nowNanoseconds: now,
                    actions: &actions
                )
            }
            try apply()
        }
        pool.shutdown(nowNanoseconds: now, actions: &actions)
        try apply()
        #expect(ended == Set(0..<nextRequest), "every request ended, \(context)")
    }

    static func randomEvent(
        for machine: ConnectionStateMachine,
        now: UInt64,
        _ random: inout SplitMix64
    ) -> ConnectionStateMachine.Event {
        let late = now + 1_000
        switch machine.state {
        case .connecting:
            return random.pick([
                .connected(nowNanoseconds: now), .failed(.connectionFailed("refused")),
                .timerFired(nowNanoseconds: late),
            ])
        case .tlsHandshaking:
            return random.pick([.tlsHandshakeCompleted(nowNanoseconds: now), .failed(.tlsFailed("bad certificate"))])
        case .ready:
            return random.pick([.peerClosed, .timerFired(nowNanoseconds: late), .timerFired(nowNanoseconds: now)])
        case .sending:
            return random.pick([.requestWritten, .peerClosed, .failed(.connectionFailed("reset")), .responseStarted])
        case .awaitingResponse:
            return random.pick([
                .responseCompleted(statusCode: 200, retryAfter: nil, keepAlive: true, nowNanoseconds: now),
                .responseCompleted(statusCode: 503, retryAfter: nil, keepAlive: false, nowNanoseconds: now),
                .peerClosed, .timerFired(nowNanoseconds: late), .responseStarted,
            ])
        case .closed:
            return .peerClosed
        }
    }
}
