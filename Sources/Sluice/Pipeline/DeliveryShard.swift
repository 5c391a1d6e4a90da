import SluiceCore
import SluiceCrypto
import SluiceIO
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// One delivery to make: an event (its log sequence, id and standard body) for one webhook of the
/// routing it was matched with.
struct DeliveryJob: Sendable {
    let routing: PipelineRouting
    let webhook: Int
    let trigger: Int
    let eventSequence: UInt64
    let eventID: EventID
    /// The standard body (spec §c.4), spliced from the event's bytes.
    let body: [UInt8]
    /// The first attempt to make (above 1 when a restart continues retries).
    let firstAttempt: Int
    let emittedNanoseconds: UInt64
    let durableNanoseconds: UInt64
    let matchedNanoseconds: UInt64
}

/// A finished request from the HTTP client's loop thread.
struct DeliveryCompletion: Sendable {
    let tag: UInt64
    let result: HTTPClientResult
    let completedNanoseconds: UInt64
}

/// Times of one delivered (2xx) webhook, for load-test reports and latency profiles: monotonic
/// nanoseconds at emit, durable (journaled), matched, sent (the successful attempt) and response.
public struct DeliveryTiming: Sendable {
    public var webhook: String
    public var trigger: String
    public var eventSequence: UInt64
    public var attempt: Int
    public var statusCode: Int
    public var emittedNanoseconds: UInt64
    public var durableNanoseconds: UInt64
    public var matchedNanoseconds: UInt64
    public var sentNanoseconds: UInt64
    public var completedNanoseconds: UInt64
    /// Bytes of the successful attempt's request (head and body).
    public var requestByteCount: Int
}

/// Counters every stage updates (relaxed atomics: statistics only).
final class PipelineCounters: Sendable {
    let accepted = Atomic<Int>(0)
    let backpressured = Atomic<Int>(0)
    let invalid = Atomic<Int>(0)
    let journaled = Atomic<Int>(0)
    let matched = Atomic<Int>(0)
    let deliveriesQueued = Atomic<Int>(0)
    let delivered = Atomic<Int>(0)
    let failedAttempts = Atomic<Int>(0)
    let deadLettered = Atomic<Int>(0)
    let outcomesJournaled = Atomic<Int>(0)
    let recoveredDeliveries = Atomic<Int>(0)

    static func add(_ counter: borrowing Atomic<Int>, _ amount: Int = 1) {
        counter.wrappingAdd(amount, ordering: .relaxed)
    }

    /// For a counter another thread reads before reading what its producer wrote (`matched` in `flush`).
    static func addReleasing(_ counter: borrowing Atomic<Int>, _ amount: Int) {
        counter.wrappingAdd(amount, ordering: .releasing)
    }
}

/// A delivery loop: takes jobs from the matcher, runs each delivery's ``DeliveryStateMachine`` (attempts,
/// retries on a timer heap, dead letters), signs and encodes requests, submits them to its own
/// ``HTTPClient`` (one I/O loop thread, keep-alive pools per origin) and sends every outcome to the
/// journaler. Everything here runs on the shard's thread except `onComplete`, which only queues.
///
/// `@unchecked Sendable`: the mutable state is touched only by the shard's thread; the rings are SPSC
/// (matcher → jobs, client loop → completions, shard → outcomes).
final class DeliveryShard: @unchecked Sendable {
    private struct Active {
        let job: DeliveryJob
        /// The `webhook-id` of the pair (stable across attempts and restarts), computed once.
        let webhookID: String
        var machine: DeliveryStateMachine
        var sentNanoseconds: UInt64 = 0
        var requestByteCount = 0
    }

    let number: Int
    let jobs: SPSCRing<DeliveryJob>
    let completions: SPSCRing<DeliveryCompletion>
    /// Outcome records on their way to the journaler.
    let outcomes: SPSCRing<DeliveryOutcomeRecord>
    /// Woken by the matcher (jobs) and the client loop (completions).
    let wake: any RingWaitStrategy
    private let journalWake: any RingWaitStrategy
    private let configuration: PipelineConfiguration
    private let counters: PipelineCounters
    /// Called for each 2xx (set before ``run()``).
    var timing: (@Sendable (DeliveryTiming) -> Void)?
    /// Called for each outcome record, on this shard's thread (set before ``run()``).
    var outcomeHook: (@Sendable (DeliveryOutcomeRecord) -> Void)?
    private var client: HTTPClient?
    private var active: [UInt64: Active] = [:]
    private var ready: [UInt64] = []
    private var readyHead = 0
    private var timers = DeadlineHeap()
    private var backlog: [DeliveryJob] = []
    private var inFlight = 0
    private var nextKey: UInt64 = 1
    private var disabledWebhooks: Set<String> = []
    /// One circuit breaker per endpoint: while open, due attempts wait (no attempt used) instead of being sent.
    private var breakers: [HTTPOrigin: CircuitBreaker] = [:]
    /// Reused for every request (its buffer grows to the largest request once).
    private var encoder = HTTPRequestEncoder(byteCountReserved: 16_384)
    /// Outcome records were queued since the journaler was last woken.
    private var outcomesPending = false
    private var random: SplitMix64
    /// Set by the pipeline when no more jobs will come (the matcher has drained).
    let noMoreJobs = Atomic<Bool>(false)
    /// Set by the pipeline when a drain takes too long: leave in-flight requests to the restart.
    let abandon = Atomic<Bool>(false)
    private let inFlightCount = Atomic<Int>(0)

    init(
        number: Int,
        configuration: PipelineConfiguration,
        counters: PipelineCounters,
        journalWake: any RingWaitStrategy,
        seed: UInt64
    ) {
        self.number = number
        self.configuration = configuration
        self.counters = counters
        self.journalWake = journalWake
        jobs = SPSCRing(capacity: configuration.jobQueueCapacity)
        completions = SPSCRing(capacity: Self.completionCapacity(configuration.inFlightMax))
        outcomes = SPSCRing(capacity: configuration.outcomeQueueCapacity)
        wake = configuration.waitStrategy.make()
        random = SplitMix64(seed: seed)
        active.reserveCapacity(min(configuration.pendingDeliveryCountMax, 2 * configuration.inFlightMax + 1024))
    }

    /// The completion ring holds every request that can be in flight, so the client loop never waits.
    private static func completionCapacity(_ inFlightMax: Int) -> Int {
        var capacity = 2
        while capacity < inFlightMax { capacity <<= 1 }
        return capacity
    }

    /// Jobs recovered from the log at start, delivered before new ones.
    func addRecovered(_ job: DeliveryJob) { backlog.append(job) }

    /// Starts the HTTP client (its loop thread). Call before ``run()``.
    func startClient(backend: IOBackendSelection) throws(IOError) {
        var clientConfiguration = HTTPClientConfiguration(backend: backend)
        clientConfiguration.connectionCountMax = configuration.connectionCountMax
        clientConfiguration.pendingRequestCountMax = max(configuration.inFlightMax, 1)
        clientConfiguration.timeouts.requestNanoseconds = configuration.requestTimeoutNanoseconds
        let completions = self.completions
        let wake = self.wake
        client = try HTTPClient(configuration: clientConfiguration) { tag, result in
            let completion = DeliveryCompletion(tag: tag, result: result, completedNanoseconds: monotonicNanoseconds())
            while !completions.tryPush(completion) { sched_yield() }  // never full: sized to in-flight
            wake.wakeAll()
        }
    }

    /// Requests in flight (any thread; a snapshot).
    var inFlightSnapshot: Int { inFlightCount.load(ordering: .relaxed) }

    /// The shard's loop; returns when the pipeline stops and everything in flight has an outcome.
    func run() {
        backlog.reverse()  // popLast takes them in log order
        var idle = 0
        while true {
            var progressed = false
            while active.count < configuration.pendingDeliveryCountMax {
                guard let job = backlog.popLast() ?? jobs.tryPop() else { break }
                admit(job)
                progressed = true
            }
            let handled = completions.pop(maximum: 512) { completion in finish(completion) }
            if handled > 0 { progressed = true }
            let now = monotonicNanoseconds()
            while let key = timers.popDue(now) {
                // In place (`?.`): copying a delivery out and back would retain its job and policy twice.
                if let action = active[key]?.machine.timerFired(nowNanoseconds: now) { perform(action, key) }
                progressed = true
            }
            while inFlight < configuration.inFlightMax, readyHead < ready.count {
                let key = ready[readyHead]
                readyHead += 1
                send(key)
                progressed = true
            }
            if readyHead > 4096, readyHead * 2 > ready.count {
                ready.removeFirst(readyHead)
                readyHead = 0
            }
            if abandon.load(ordering: .relaxed) { break }  // a drain that took too long: the rest resumes on restart
            if noMoreJobs.load(ordering: .acquiring), backlog.isEmpty, jobs.count == 0, inFlight == 0,
                readyHead == ready.count
            {
                break
            }
            if outcomesPending {
                outcomesPending = false
                journalWake.wakeAll()
            }
            if progressed {
                idle = 0
                continue
            }
            let full = active.count >= configuration.pendingDeliveryCountMax
            wake.wait(iteration: idle) {
                (!full && jobs.count > 0) || completions.count > 0 || abandon.load(ordering: .relaxed)
                    || noMoreJobs.load(ordering: .relaxed)
                    || (timers.earliest.map { $0 <= monotonicNanoseconds() } ?? false)
            }
            idle += 1
        }
        client?.shutdown()
    }

    private func admit(_ job: DeliveryJob) {
        let key = nextKey
        nextKey += 1
        let now = monotonicNanoseconds()
        var machine: DeliveryStateMachine
        if job.firstAttempt > 1 {
            machine = DeliveryStateMachine(
                policy: configuration.retryPolicy,
                state: .waiting(attempt: job.firstAttempt, dueNanoseconds: now)
            )
        } else {
            machine = DeliveryStateMachine(policy: configuration.retryPolicy, nowNanoseconds: now, random: &random)
        }
        let name = job.routing.definitions[job.webhook].name
        let action =
            disabledWebhooks.contains(name) ? machine.endpointDisabled() : machine.timerFired(nowNanoseconds: now)
        active[key] = Active(
            job: job,
            webhookID: WebhookMessageID.make(eventID: job.eventID, webhookName: name),
            machine: machine
        )
        perform(action, key)
    }

    private func perform(_ action: DeliveryStateMachine.Action, _ key: UInt64) {
        switch action {
        case .none, .cancelled:
            return
        case .send:
            ready.append(key)
            return
        case .armTimer(let due):
            timers.push(due, key)
            return
        case .retryLater, .succeeded, .deadLetter:
            break
        }
        guard let delivery = active[key] else { return }
        let job = delivery.job
        switch action {
        case .none, .cancelled, .send, .armTimer:
            break
        case .retryLater(let failure, _, let due):
            PipelineCounters.add(counters.failedAttempts)
            record(delivery, attempt: failure.attempt, outcome: .retrying, failure: failure)
            timers.push(due, key)
        case .succeeded(let statusCode, let attempt):
            PipelineCounters.add(counters.delivered)
            record(delivery, attempt: attempt, outcome: .delivered, statusCode: statusCode)
            if let timing {
                timing(
                    DeliveryTiming(
                        webhook: job.routing.definitions[job.webhook].name,
                        trigger: job.routing.index.triggers[job.trigger].name,
                        eventSequence: job.eventSequence,
                        attempt: attempt,
                        statusCode: statusCode,
                        emittedNanoseconds: job.emittedNanoseconds,
                        durableNanoseconds: job.durableNanoseconds,
                        matchedNanoseconds: job.matchedNanoseconds,
                        sentNanoseconds: delivery.sentNanoseconds,
                        completedNanoseconds: monotonicNanoseconds(),
                        requestByteCount: delivery.requestByteCount
                    )
                )
            }
            active[key] = nil
        case .deadLetter(let deadLetter):
            if let failure = deadLetter.lastFailure, failure.attempt == deadLetter.attemptCount {
                PipelineCounters.add(counters.failedAttempts)
            }
            PipelineCounters.add(counters.deadLettered)
            record(
                delivery,
                attempt: deadLetter.attemptCount,
                outcome: .deadLettered,
                failure: deadLetter.lastFailure,
                message: "\(deadLetter.reason.rawValue)" + (deadLetter.lastFailure.map { ": \($0.message)" } ?? "")
            )
            if deadLetter.disablesEndpoint { disabledWebhooks.insert(job.routing.definitions[job.webhook].name) }
            active[key] = nil
        }
    }

    private func send(_ key: UInt64) {
        guard let delivery = active[key], case .inFlight = delivery.machine.state else { return }
        let job = delivery.job
        let routing = job.routing
        let origin = routing.origins[job.webhook]
        let now = monotonicNanoseconds()
        var breaker = breakers[origin] ?? CircuitBreaker(policy: configuration.circuitBreaker, nowNanoseconds: now)
        let permission = breaker.handle(.requestPermission(nowNanoseconds: now))
        breakers[origin] = breaker
        if case .reject(let retryAt) = permission {
            if let action = active[key]?.machine.deferred(untilNanoseconds: retryAt) { perform(action, key) }
            return
        }
        let definition = routing.definitions[job.webhook]
        var body = job.body
        if definition.kind == .transform, let transform = definition.transform {
            switch TransformRunner.run(transform, input: job.body) {
            case .success(let transformed): body = transformed
            case .failure(let failure):
                finishAttempt(key, .configurationFailed("transform: \(failure)"))
                return
            }
        }
        var dynamicFields: [HTTPHeaderField] = []
        let keys = routing.signer.keyIndices(webhookIndex: job.webhook)
        if !keys.isEmpty {
            let timestamp = UInt64(Timestamp.now().secondsSinceEpoch)
            dynamicFields = [
                HTTPHeaderField("webhook-id", delivery.webhookID),
                HTTPHeaderField("webhook-timestamp", String(timestamp)),
                HTTPHeaderField(
                    "webhook-signature",
                    routing.signer.signer.signatureHeader(
                        keyIndices: keys,
                        webhookID: delivery.webhookID,
                        timestampSeconds: timestamp,
                        body: body
                    )
                ),
            ]
        }
        do {
            try encoder.encode(routing.templates[job.webhook], dynamicHeaderFields: dynamicFields, body: body)
        } catch {
            finishAttempt(key, .configurationFailed("cannot encode the request: \(error)"))
            return
        }
        let clientRequest = HTTPClientRequest(tag: key, origin: origin, method: .post, bytes: encoder.bytes)
        active[key]?.sentNanoseconds = monotonicNanoseconds()
        active[key]?.requestByteCount = clientRequest.bytes.count
        inFlight += 1
        inFlightCount.store(inFlight, ordering: .relaxed)
        client!.submit(clientRequest)
    }

    private func finish(_ completion: DeliveryCompletion) {
        inFlight -= 1
        inFlightCount.store(inFlight, ordering: .relaxed)
        let outcome = WebhookDeliverer.outcome(completion.result)
        if case .inFlight(let attempt, _)? = active[completion.tag]?.machine.state,
            let job = active[completion.tag]?.job
        {
            let origin = job.routing.origins[job.webhook]
            let now = monotonicNanoseconds()
            var breaker = breakers[origin] ?? CircuitBreaker(policy: configuration.circuitBreaker, nowNanoseconds: now)
            // Opening and closing need no action here: permission is asked before every attempt.
            _ = breaker.record(outcome.classify(attempt: attempt), nowNanoseconds: now)
            breakers[origin] = breaker
        }
        finishAttempt(completion.tag, outcome)
    }

    private func finishAttempt(_ key: UInt64, _ outcome: DeliveryAttemptOutcome) {
        let now = monotonicNanoseconds()
        let wall = Timestamp.now()
        var random = self.random
        let action = active[key]?.machine.attemptFinished(outcome, nowNanoseconds: now, nowWall: wall, random: &random)
        self.random = random
        if let action { perform(action, key) }
    }

    private func record(
        _ delivery: Active,
        attempt: Int,
        outcome: DeliveryOutcomeRecord.Outcome,
        statusCode: Int? = nil,
        failure: DeliveryFailure? = nil,
        message: String? = nil
    ) {
        let job = delivery.job
        let record = DeliveryOutcomeRecord(
            eventSequence: job.eventSequence,
            eventID: job.eventID,
            webhook: job.routing.definitions[job.webhook].name,
            webhookID: delivery.webhookID,
            attempt: attempt,
            outcome: outcome,
            statusCode: statusCode ?? failure?.statusCode,
            failureClass: failure?.failureClass,
            message: message ?? failure?.message,
            at: Timestamp.now()
        )
        outcomeHook?(record)
        while !outcomes.tryPush(record) {
            journalWake.wakeAll()
            sched_yield()
        }
        outcomesPending = true  // the journaler is woken once per loop turn, not per record
    }
}
