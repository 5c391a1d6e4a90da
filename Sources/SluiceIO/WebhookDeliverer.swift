package import SluiceCore
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// One delivery (one event to one webhook) for ``WebhookDeliverer``.
package struct WebhookDelivery: Sendable {
    package var id: UInt64
    package var origin: HTTPOrigin
    package var method: HTTPMethod
    /// The bytes of attempt `attempt` (1-based): each attempt is signed anew (spec §c.6, §c.8).
    package var request: @Sendable (_ attempt: Int) -> [UInt8]

    package init(
        id: UInt64,
        origin: HTTPOrigin,
        method: HTTPMethod = .post,
        request: @escaping @Sendable (_ attempt: Int) -> [UInt8]
    ) {
        self.id = id
        self.origin = origin
        self.method = method
        self.request = request
    }
}

/// What happened to a delivery, reported once per attempt failure and once at the end.
package enum DeliveryReport: Sendable, Equatable {
    case attemptFailed(id: UInt64, DeliveryFailure, nextAttempt: Int, dueNanoseconds: UInt64)
    case succeeded(id: UInt64, statusCode: Int, attempt: Int)
    case deadLettered(id: UInt64, DeadLetter)
}

/// Executes the pure delivery policy of issue-6-codec over an ``HTTPClient``: one
/// ``DeliveryStateMachine`` per delivery (retry schedule with jitter, `Retry-After`, dead letters, 410
/// disabling the endpoint) and one ``CircuitBreaker`` per origin. Attempts go through the client; retry
/// timers run on a small timer loop of their own. The machines live behind one `Mutex` that is never
/// held across I/O (submitting to the client only enqueues). Thread-safe.
package final class WebhookDeliverer: Sendable {
    private let client: HTTPClient
    private let timers: TimerLoop
    private let state: Mutex<DelivererState>
    private let onReport: @Sendable (DeliveryReport) -> Void

    private struct Tracked: Sendable {
        var delivery: WebhookDelivery
        var machine: DeliveryStateMachine
    }

    private struct DelivererState: Sendable {
        var deliveries: [UInt64: Tracked] = [:]
        var breakers: [HTTPOrigin: CircuitBreaker] = [:]
        var disabledOrigins: Set<HTTPOrigin> = []
        var random: SplitMix64
    }

    private let policy: RetryPolicy
    private let breakerPolicy: CircuitBreakerPolicy

    package init(
        client configuration: HTTPClientConfiguration,
        policy: RetryPolicy = RetryPolicy(),
        breakerPolicy: CircuitBreakerPolicy = CircuitBreakerPolicy(),
        seed: UInt64,
        onReport: @escaping @Sendable (DeliveryReport) -> Void
    ) throws(IOError) {
        do {
            try policy.validate()
            try breakerPolicy.validate()
        } catch {
            throw IOError(code: .configuration, operation: "delivery policy", subject: "\(error)")
        }
        self.policy = policy
        self.breakerPolicy = breakerPolicy
        self.onReport = onReport
        state = Mutex(DelivererState(random: SplitMix64(seed: seed)))
        let reference = DelivererReference()
        client = try HTTPClient(configuration: configuration) { tag, result in
            reference.target?.attemptEnded(id: tag, result)
        }
        timers = try TimerLoop(backend: configuration.backend) { id in reference.target?.timerFired(id: id) }
        reference.target = self
    }

    deinit { shutdown() }

    /// Stops the timer loop and the client; deliveries still waiting get no further report.
    package func shutdown() {
        timers.shutdown()
        client.shutdown()
    }

    package var clientStatistics: HTTPClientStatistics { client.statistics }

    /// Starts a delivery: its first attempt is due at once on the default schedule.
    package func deliver(_ delivery: WebhookDelivery) {
        let now = monotonicNanoseconds()
        let due = state.withLock { state -> UInt64? in
            let machine = DeliveryStateMachine(policy: policy, nowNanoseconds: now, random: &state.random)
            state.deliveries[delivery.id] = Tracked(delivery: delivery, machine: machine)
            if case .waiting(_, let due) = machine.state { return due }
            return nil
        }
        if let due { timers.schedule(id: delivery.id, atNanoseconds: due) }
    }

    /// A retry timer (or the first attempt's) fired: ask the breaker, then send or defer.
    fileprivate func timerFired(id: UInt64) {
        let now = monotonicNanoseconds()
        var report: DeliveryReport?
        let step = state.withLock { state -> (send: (WebhookDelivery, Int)?, timer: UInt64?) in
            guard var tracked = state.deliveries[id] else { return (nil, nil) }  // ended meanwhile: stale timer
            let origin = tracked.delivery.origin
            if state.disabledOrigins.contains(origin) {
                if case .deadLetter(let deadLetter) = tracked.machine.endpointDisabled() {
                    report = .deadLettered(id: id, deadLetter)
                }
                state.deliveries[id] = nil
                return (nil, nil)
            }
            var result: (send: (WebhookDelivery, Int)?, timer: UInt64?) = (nil, nil)
            if case .waiting(_, let due) = tracked.machine.state, due <= now {
                // Due: the endpoint's breaker decides whether the attempt goes out now.
                var breaker = state.breakers[origin] ?? CircuitBreaker(policy: breakerPolicy, nowNanoseconds: now)
                let permission = breaker.handle(.requestPermission(nowNanoseconds: now))
                state.breakers[origin] = breaker
                if case .reject(let retryAt) = permission {
                    if case .armTimer(let due) = tracked.machine.deferred(untilNanoseconds: retryAt) {
                        result.timer = due
                    }
                    state.deliveries[id] = tracked
                    return result
                }
            }
            switch tracked.machine.timerFired(nowNanoseconds: now) {
            case .send(let attempt):
                result.send = (tracked.delivery, attempt)
            case .armTimer(let due):
                result.timer = due
            case .none, .retryLater, .succeeded, .deadLetter, .cancelled:
                break
            }
            state.deliveries[id] = tracked
            return result
        }
        if let report { onReport(report) }
        if let due = step.timer { timers.schedule(id: id, atNanoseconds: due) }
        if let (delivery, attempt) = step.send {
            client.submit(
                HTTPClientRequest(
                    tag: id,
                    origin: delivery.origin,
                    method: delivery.method,
                    bytes: delivery.request(attempt)
                )
            )
        }
    }

    /// An attempt ended on the client's loop thread: classify, feed the machine and the breaker.
    fileprivate func attemptEnded(id: UInt64, _ result: HTTPClientResult) {
        let now = monotonicNanoseconds()
        let nowWall = Timestamp(microsecondsSinceEpoch: Int64(wallClockNanoseconds() / 1000))
        let outcome = Self.outcome(result)
        let (report, due) = state.withLock { state -> (DeliveryReport?, UInt64?) in
            guard var tracked = state.deliveries[id] else { return (nil, nil) }
            let origin = tracked.delivery.origin
            if case .inFlight(let attempt, _) = tracked.machine.state {
                var breaker = state.breakers[origin] ?? CircuitBreaker(policy: breakerPolicy, nowNanoseconds: now)
                // Opening and closing need no action here: permission is asked before every attempt.
                _ = breaker.record(outcome.classify(attempt: attempt), nowNanoseconds: now)
                state.breakers[origin] = breaker
            }
            let action = tracked.machine.attemptFinished(
                outcome,
                nowNanoseconds: now,
                nowWall: nowWall,
                random: &state.random
            )
            switch action {
            case .retryLater(let failure, let attempt, let due):
                state.deliveries[id] = tracked
                return (.attemptFailed(id: id, failure, nextAttempt: attempt, dueNanoseconds: due), due)
            case .succeeded(let statusCode, let attempt):
                state.deliveries[id] = nil
                return (.succeeded(id: id, statusCode: statusCode, attempt: attempt), nil)
            case .deadLetter(let deadLetter):
                state.deliveries[id] = nil
                if deadLetter.disablesEndpoint { state.disabledOrigins.insert(origin) }
                return (.deadLettered(id: id, deadLetter), nil)
            case .none, .send, .armTimer, .cancelled:
                state.deliveries[id] = tracked
                return (nil, nil)
            }
        }
        if let report { onReport(report) }
        if let due { timers.schedule(id: id, atNanoseconds: due) }
    }

    /// The transport's result as the policy's attempt outcome (§c.8 classes).
    package static func outcome(_ result: HTTPClientResult) -> DeliveryAttemptOutcome {
        switch result {
        case .success(let response):
            return .response(statusCode: response.statusCode, retryAfter: response.head.retryAfter)
        case .failure(let failure):
            switch failure.kind {
            case .connection, .protocolViolation, .overloaded: return .connectionFailed(failure.message)
            case .tls: return .tlsFailed(failure.message)
            case .timeout: return .timedOut(failure.message)
            case .addressRefused: return .addressRefused(failure.message)
            }
        }
    }
}

/// A late-bound weak reference, so callbacks created before the deliverer exists can reach it.
private final class DelivererReference: @unchecked Sendable {
    // @unchecked: written once in the deliverer's init before anything can call back.
    weak var target: WebhookDeliverer?
}

/// A loop thread that only runs timers (the backend's timer operation), calling `fire` with each id.
final class TimerLoop: @unchecked Sendable {
    // @unchecked: `backend` is used only by the loop thread; others reach `inbox` (Mutex) and `wakeup`.
    private let inbox = Mutex<(timers: [(UInt64, UInt64)], stopping: Bool)>(([], false))
    private let wakeup: LoopWakeup
    private let backend: any IOBackend
    private var thread: LoopThread?

    init(backend selection: IOBackendSelection, fire: @escaping @Sendable (UInt64) -> Void) throws(IOError) {
        wakeup = try LoopWakeup()
        backend = try selection.makeBackend()
        backend.armWakeup(descriptor: wakeup.descriptor)
        thread = try LoopThread(name: "sluice-timers") { [self] in run(fire: fire) }
    }

    func schedule(id: UInt64, atNanoseconds deadline: UInt64) {
        precondition(id < IOBackendUserData.reservedMin, "timer id out of range")
        inbox.withLock { $0.timers.append((id, deadline)) }
        wakeup.signal()
    }

    func shutdown() {
        inbox.withLock { $0.stopping = true }
        wakeup.signal()
        thread?.join()
    }

    private func run(fire: @Sendable (UInt64) -> Void) {
        var fired: [UInt64] = []
        while true {
            do {
                try backend.run(waitDeadlineNanoseconds: nil) { userData, _ in
                    if userData != IOBackendUserData.wakeup { fired.append(userData) }
                }
            } catch {
                return  // the loop cannot continue; shutdown still joins
            }
            let (timers, stopping) = inbox.withLock { state -> ([(UInt64, UInt64)], Bool) in
                defer { state.timers.removeAll() }
                return (state.timers, state.stopping)
            }
            if stopping { return }
            for (id, deadline) in timers { backend.timer(deadlineNanoseconds: deadline, userData: id) }
            for id in fired { fire(id) }
            fired.removeAll(keepingCapacity: true)
        }
    }
}
