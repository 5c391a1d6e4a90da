import SluiceCore
import SluiceTestSupport
import Testing

/// The delivery machines wired together as a driver wires them (retry machine per delivery,
/// circuit breaker and pool per endpoint), against a simulated peer, on simulated time: every
/// delivery ends (success or dead letter with its last failure), within its attempt budget, and a
/// delivery never has two attempts at once.
@Suite struct DeliverySimulationTests {
    /// Something scheduled to happen at a simulated time.
    enum Pending {
        case deliveryTimer(Int)
        case connectionTimer(ConnectionID)
        case connectionEvent(ConnectionID, ConnectionStateMachine.Event)
    }

    struct Simulation {
        var random: SplitMix64
        var now: UInt64 = 0
        var deliveries: [DeliveryStateMachine] = []
        var breaker: CircuitBreaker
        var pool: EndpointPool
        var agenda: [(due: UInt64, order: Int, what: Pending)] = []
        var order = 0
        var deliveryTimers: [Int: UInt64] = [:]
        var connectionTimers: [ConnectionID: UInt64] = [:]
        var attemptsInFlight: Set<Int> = []
        var attemptCounts: [Int: Int] = [:]
        let millisecond: UInt64 = 1_000_000
        let wallStart = Timestamp(secondsSinceEpoch: 1_740_656_629)

        init(seed: UInt64, deliveryCount: Int) {
            random = SplitMix64(seed: seed)
            breaker = CircuitBreaker(nowNanoseconds: 0)
            pool = EndpointPool(
                policy: EndpointPoolPolicy(connectionCountMax: 4, inFlightCountMax: 4, queueCountMax: 8)
            )
            for index in 0..<deliveryCount {
                deliveries.append(DeliveryStateMachine(policy: RetryPolicy(), nowNanoseconds: 0, random: &random))
                schedule(.deliveryTimer(index), at: 0)
            }
        }

        mutating func schedule(_ what: Pending, at due: UInt64) {
            order += 1
            agenda.append((due, order, what))
        }

        var nowWall: Timestamp {
            Timestamp(microsecondsSinceEpoch: wallStart.microsecondsSinceEpoch + Int64(now / 1_000))
        }

        mutating func run(stepCountMax: Int) -> Int {
            var steps = 0
            while !agenda.isEmpty && steps < stepCountMax {
                steps += 1
                let next = agenda.indices.min {
                    (agenda[$0].due, agenda[$0].order) < (agenda[$1].due, agenda[$1].order)
                }!  // not empty
                let item = agenda.remove(at: next)
                now = max(now, item.due)
                switch item.what {
                case .deliveryTimer(let index):
                    guard deliveryTimers[index] == item.due || item.due == 0 else { continue }  // re-armed since
                    var machine = deliveries[index]
                    let action = machine.timerFired(nowNanoseconds: now)
                    deliveries[index] = machine
                    perform(action, delivery: index)
                case .connectionTimer(let id):
                    guard connectionTimers[id] == item.due else { continue }  // cancelled or re-armed
                    poolHandle(.timerFired(nowNanoseconds: now), id)
                case .connectionEvent(let id, let event):
                    poolHandle(event, id)
                }
            }
            return steps
        }

        mutating func perform(_ action: DeliveryStateMachine.Action, delivery index: Int) {
            switch action {
            case .none, .succeeded, .deadLetter, .cancelled: break
            case .armTimer(let due), .retryLater(_, _, let due):
                deliveryTimers[index] = due
                schedule(.deliveryTimer(index), at: due)
            case .send:
                switch breaker.handle(.requestPermission(nowNanoseconds: now)) {
                case .allow, .allowProbe:
                    #expect(!attemptsInFlight.contains(index), "two attempts of delivery \(index) at once")
                    attemptsInFlight.insert(index)
                    attemptCounts[index, default: 0] += 1
                    var actions: [EndpointPool.Action] = []
                    pool.submit(requestIndex: index, nowNanoseconds: now, actions: &actions)
                    execute(actions)
                case .reject(let retryAt):
                    var machine = deliveries[index]
                    let deferred = machine.handle(.deferred(untilNanoseconds: retryAt), random: &random)
                    deliveries[index] = machine
                    perform(deferred, delivery: index)
                case .none, .opened, .closed:
                    Issue.record("a permission request answered \(action)")
                }
            }
        }

        mutating func poolHandle(_ event: ConnectionStateMachine.Event, _ id: ConnectionID) {
            var actions: [EndpointPool.Action] = []
            pool.handle(event, for: id, nowNanoseconds: now, actions: &actions)
            execute(actions)
        }

        mutating func execute(_ actions: [EndpointPool.Action]) {
            for action in actions {
                switch action {
                case .connect(let id):
                    let event: ConnectionStateMachine.Event =
                        random.chance(10)
                        ? .failed(.connectionFailed("connection refused")) : .connected(nowNanoseconds: 0)
                    schedule(.connectionEvent(id, stamp(event, now + millisecond)), at: now + millisecond)
                case .startTLS(let id):
                    schedule(
                        .connectionEvent(id, .tlsHandshakeCompleted(nowNanoseconds: now + millisecond)),
                        at: now + millisecond
                    )
                case .send(let id, _):
                    peerAnswers(id)
                case .close(let id):
                    connectionTimers[id] = nil
                case .armTimer(let id, let deadline):
                    connectionTimers[id] = deadline
                    schedule(.connectionTimer(id), at: deadline)
                case .cancelTimer(let id):
                    connectionTimers[id] = nil
                case .complete(let index, let outcome):
                    attemptsInFlight.remove(index)
                    var machine = deliveries[index]
                    let attempt: Int
                    if case .inFlight(let current, _) = machine.state { attempt = current } else { attempt = 1 }
                    _ = breaker.record(outcome.classify(attempt: attempt), nowNanoseconds: now)
                    let next = machine.attemptFinished(outcome, nowNanoseconds: now, nowWall: nowWall, random: &random)
                    deliveries[index] = machine
                    perform(next, delivery: index)
                case .reject(let index):
                    attemptsInFlight.remove(index)
                    attemptCounts[index, default: 1] -= 1  // not attempted
                    var machine = deliveries[index]
                    let next = machine.handle(.deferred(untilNanoseconds: now + 1_000 * millisecond), random: &random)
                    deliveries[index] = machine
                    perform(next, delivery: index)
                }
            }
        }

        /// The simulated peer: mostly 204 with keep-alive, sometimes 503, 429 with Retry-After, a
        /// close without a response, or silence (the request deadline fires).
        mutating func peerAnswers(_ id: ConnectionID) {
            let written = now + millisecond / 10
            schedule(.connectionEvent(id, .requestWritten), at: written)
            let answered = now + 2 * millisecond
            let roll = random.next(below: 100)
            let event: ConnectionStateMachine.Event
            switch roll {
            case 0..<55:
                event = .responseCompleted(
                    statusCode: 204,
                    retryAfter: nil,
                    keepAlive: random.chance(80),
                    nowNanoseconds: answered
                )
            case 55..<75:
                event = .responseCompleted(statusCode: 503, retryAfter: nil, keepAlive: true, nowNanoseconds: answered)
            case 75..<85:
                event = .responseCompleted(
                    statusCode: 429,
                    retryAfter: .seconds(30),
                    keepAlive: true,
                    nowNanoseconds: answered
                )
            case 85..<95: event = .peerClosed
            default: return  // no answer: the 10 s request deadline fails the attempt
            }
            schedule(.connectionEvent(id, event), at: answered)
        }

        func stamp(_ event: ConnectionStateMachine.Event, _ time: UInt64) -> ConnectionStateMachine.Event {
            if case .connected = event { return .connected(nowNanoseconds: time) }
            return event
        }
    }

    @Test func everyDeliveryEndsWithinItsBudget() {
        let seed = testSeed()
        for round in 0..<5 {
            var simulation = Simulation(seed: seed &+ UInt64(round), deliveryCount: 40)
            let steps = simulation.run(stepCountMax: 200_000)
            #expect(steps < 200_000, "seed \(seed) round \(round): did not settle")
            for (index, machine) in simulation.deliveries.enumerated() {
                switch machine.state {
                case .succeeded(let attempt, let status):
                    #expect((200..<300).contains(status))
                    #expect(attempt <= 8)
                case .deadLettered(let deadLetter):
                    #expect(deadLetter.attemptCount == 8, "seed \(seed) round \(round) delivery \(index)")
                    #expect(deadLetter.lastFailure != nil)
                case .waiting, .inFlight, .cancelled:
                    Issue.record("seed \(seed) round \(round): delivery \(index) did not end: \(machine.state)")
                }
                #expect((simulation.attemptCounts[index] ?? 0) <= 8, "seed \(seed) round \(round) delivery \(index)")
            }
            let attempts = simulation.attemptCounts.values.reduce(0, +)
            #expect(attempts > 40, "seed \(seed) round \(round): retries happened (\(attempts) attempts)")
            #expect(simulation.attemptsInFlight.isEmpty)
            #expect(simulation.pool.inFlightCount == 0)
        }
    }
}
