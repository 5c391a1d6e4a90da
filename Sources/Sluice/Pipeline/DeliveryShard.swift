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
    /// The webhook's count of deliveries in memory: one was added for this job; the shard takes it away
    /// when the delivery ends.
    let budget: WebhookBudget
    let emittedNanoseconds: UInt64
    let durableNanoseconds: UInt64
    let matchedNanoseconds: UInt64
}

/// Times of one delivered (2xx) webhook, for load-test reports and latency profiles: monotonic
/// nanoseconds at emit, durable (journaled), matched, sent (the successful attempt) and response.
public struct DeliveryTiming: Sendable {
    public var webhook: String
    public var trigger: String
    /// The trigger's position in the configuration's triggers (``TriggerConfiguration/allTriggers``) at
    /// the routing generation the event was matched with.
    public var triggerNumber: Int
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
///
/// Grouped by the thread that writes them, each group 128 bytes from the next (the padding fields), so
/// that the emitter's, the journaler's, the matcher's and the delivery loop's per-event increments do
/// not bounce one cache line between the cores.
final class PipelineCounters: Sendable {
    /// 128 bytes of padding between two writers' counters.
    private typealias Padding = (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int)
    private static let padding: Padding = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    private let padding0 = PipelineCounters.padding
    // `emit`
    let accepted = Atomic<Int>(0)
    let backpressured = Atomic<Int>(0)
    let invalid = Atomic<Int>(0)
    private let padding1 = PipelineCounters.padding
    // the journaler
    let journaled = Atomic<Int>(0)
    let outcomesJournaled = Atomic<Int>(0)
    private let padding2 = PipelineCounters.padding
    // the matcher (and recovery, before the threads start)
    let matched = Atomic<Int>(0)
    let deliveriesQueued = Atomic<Int>(0)
    let recoveredDeliveries = Atomic<Int>(0)
    /// Dead letters queued again while running, and redrive requests the matcher skipped.
    let redriven = Atomic<Int>(0)
    let redrivesSkipped = Atomic<Int>(0)
    private let padding3 = PipelineCounters.padding
    // the delivery loops
    let delivered = Atomic<Int>(0)
    let failedAttempts = Atomic<Int>(0)
    let deadLettered = Atomic<Int>(0)
    private let padding4 = PipelineCounters.padding

    static func add(_ counter: borrowing Atomic<Int>, _ amount: Int = 1) {
        counter.wrappingAdd(amount, ordering: .relaxed)
    }

    /// For a counter another thread reads before reading what its producer wrote (`matched` in `flush`).
    static func addReleasing(_ counter: borrowing Atomic<Int>, _ amount: Int) {
        counter.wrappingAdd(amount, ordering: .releasing)
    }
}

/// A delivery loop: one thread that is both the I/O loop of its own ``HTTPClient`` (keep-alive pools per
/// origin) and the executor of its deliveries. Between I/O turns it takes jobs from the matcher, runs each
/// delivery's ``DeliveryStateMachine`` (attempts, retries on a timer heap, dead letters), signs and
/// encodes requests and submits them; completions arrive on the same thread, inside the I/O turn, and every
/// outcome goes to the journaler. No request crosses a thread between its job and its outcome record.
///
/// `@unchecked Sendable`: the mutable state is touched only by the shard's thread; the rings are SPSC
/// (matcher → jobs, shard → outcomes), and other threads reach only the atomics and ``wakeUp()``.
final class DeliveryShard: @unchecked Sendable {
    /// One delivery the loop holds. A class: every lookup in the slab then lends one reference (a retain),
    /// where a struct was copied out field by field (a retain and a release of each of its references,
    /// several times per delivery). Touched only on the shard's thread.
    private final class Active {
        let job: DeliveryJob
        /// The `webhook-id` of the pair (stable across attempts and restarts), computed once.
        let webhookID: String
        var machine: DeliveryStateMachine
        var sentNanoseconds: UInt64 = 0
        var requestByteCount = 0
        /// A transform webhook's body, from its command's first successful run (retries resend these bytes).
        var transformed: [UInt8]?
        /// The endpoint number of the request in the client, or -1: its completion frees a place.
        var submittedEndpoint = -1

        init(job: consuming DeliveryJob, webhookID: String, machine: DeliveryStateMachine) {
            self.job = job
            self.webhookID = webhookID
            self.machine = machine
        }
    }

    /// One origin the loop delivers to (its keep-alive pool in the client), numbered on first use
    /// (``endpointNumbers(_:_:now:)``). Circuit breakers are per webhook URL, not per origin: see ``breakers``.
    private struct Endpoint {
        /// Requests of this endpoint in the client.
        var requests = 0
        /// Deliveries waiting for one of those requests to end before theirs is built. A request is built
        /// and signed only while its endpoint has fewer than ``endpointRequestsMax`` in the client: built
        /// earlier, it would wait in the client's queue for a connection, its bytes going cold (measured:
        /// up to 4,096 requests queued per endpoint cost the loop ~2 µs a delivery against 128).
        var waiting = KeyQueue()
    }

    let number: Int
    let jobs: SPSCRing<DeliveryJob>
    /// The matcher parks here while ``jobs`` is full; the loop wakes it once a quarter of the queue is free
    /// (so the matcher refills in batches, not one context switch per job).
    let jobSpace = ParkWaitStrategy()
    /// At most this many jobs free in ``jobs`` before the matcher is woken again: see ``hasJobSpace``.
    private let jobSpaceCount: Int
    /// Outcome records on their way to the journaler.
    let outcomes: SPSCRing<DeliveryOutcomeRecord>
    /// The loop is about to wait (or waits) for I/O: whoever gives it new work must ``wakeUp()`` it.
    private let sleeping = Atomic<Bool>(false)
    private let waitStrategy: RingWaitStrategyKind
    private var idleTurns = 0
    /// The loop has ended: completions that the client's shutdown reports are not outcomes.
    private var closed = false
    private let journalWake: any RingWaitStrategy
    private let configuration: PipelineConfiguration
    private let counters: PipelineCounters
    /// Called for each 2xx (set before ``run()``).
    var timing: (@Sendable (DeliveryTiming) -> Void)?
    /// Called for each outcome record, on this shard's thread (set before ``run()``).
    var outcomeHook: (@Sendable (DeliveryOutcomeRecord) -> Void)?
    private var client: HTTPClient?
    /// Runs transform commands off this loop (threads start with the first transform).
    private var transforms: TransformPool?
    private var active: Slab<Active>
    private var ready = KeyQueue()
    private var timers = DeadlineHeap()
    private var backlog: [DeliveryJob] = []
    private var inFlight = 0
    private var disabledWebhooks: Set<String> = []
    /// Per origin: its requests in the client and the deliveries waiting for them.
    private var endpoints: [Endpoint] = []
    private var endpointOfOrigin: [HTTPOrigin: Int] = [:]
    /// Per webhook URL: its circuit breaker. While open, a due attempt is not sent: it fails as
    /// `CIRCUIT_OPEN` and the retry schedule goes on, so the dead letter comes when the schedule ends. Per
    /// URL, so one failing path on a host holds back no other webhook on that host.
    private var breakers: [CircuitBreaker] = []
    private var breakerOfURL: [String: Int] = [:]
    /// Per webhook of ``endpointRouting``: its origin's and its URL breaker's numbers (found once per
    /// routing, not hashed per request).
    private var endpointOfWebhook: [Int] = []
    private var breakerOfWebhook: [Int] = []
    private var endpointRouting: PipelineRouting?
    /// Deliveries waiting for their endpoint (all endpoints' ``Endpoint/waiting``).
    private var waitingCount = 0
    /// Two requests per keep-alive connection: one on the wire, one ready behind it.
    private let endpointRequestsMax: Int
    /// For unsigned webhooks (signed ones are built by ``HTTPRequestEncoder/signedWebhookRequest``).
    private var encoder = HTTPRequestEncoder(byteCountReserved: 4_096)
    /// `webhook-timestamp` is whole seconds: the wall clock is read once per loop turn.
    private var turnTimestampSeconds: UInt64 = 0
    /// The wall clock and the monotonic clock read together at the start of the turn: outcome times are
    /// the wall time plus the monotonic time since (one clock read per completion, not three).
    private var turnWall = Timestamp(microsecondsSinceEpoch: 0)
    private var turnMonotonicNanoseconds: UInt64 = 0
    /// Outcome records were queued since the journaler was last woken.
    private var outcomesPending = false
    private var random: SplitMix64
    /// Set by the pipeline when no more jobs will come (the matcher has drained).
    let noMoreJobs = Atomic<Bool>(false)
    /// Set by the pipeline when a drain takes too long: leave in-flight requests to the restart.
    let abandon = Atomic<Bool>(false)
    private let inFlightCount = Atomic<Int>(0)
    /// Matched → the final attempt's request sent, and sent → the final outcome (``PipelineMetrics/Stage``),
    /// recorded by this loop when a delivery ends.
    let sendLatency = LatencyHistogramRecorder()
    let responseLatency = LatencyHistogramRecorder()

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
        jobSpaceCount = max(1, configuration.jobQueueCapacity / 4)
        admitAheadMax = configuration.inFlightMax + 1_024
        endpointRequestsMax = max(1, 2 * configuration.connectionCountMax)
        outcomes = SPSCRing(capacity: configuration.outcomeQueueCapacity)
        waitStrategy = configuration.waitStrategy
        random = SplitMix64(seed: seed)
        active = Slab(
            reservingCapacity: min(configuration.pendingDeliveryCountMax, 2 * configuration.inFlightMax + 1024)
        )
    }

    /// Jobs recovered from the log at start, delivered before new ones.
    func addRecovered(_ job: DeliveryJob) { backlog.append(job) }

    /// The webhooks of this shard that are disabled (`endpoints.disabled`), before ``run()``.
    func setDisabled(_ names: Set<String>) { disabledWebhooks = names }

    /// Webhooks an operator enabled, for the loop to take (``Pipeline/enableEndpoint(_:)``).
    private let enableRequests = Mutex<[String]>([])
    private let hasEnableRequests = Atomic<Bool>(false)

    /// Enables `name` again if this shard has it disabled (any thread; the loop journals it).
    func requestEnable(_ name: String) {
        enableRequests.withLock { $0.append(name) }
        hasEnableRequests.store(true, ordering: .releasing)
        wakeUp()
    }

    /// Takes the operators' enable requests: each disabled webhook named is enabled, its breaker closed, and
    /// an `endpoint_enabled` record journaled.
    private func takeEnableRequests(now: UInt64) {
        guard hasEnableRequests.exchange(false, ordering: .acquiring) else { return }
        let names = enableRequests.withLock { names in
            defer { names.removeAll() }
            return names
        }
        for name in names where disabledWebhooks.remove(name) != nil {
            if let routing = endpointRouting, let webhook = routing.definitions.firstIndex(where: { $0.name == name }) {
                let breaker = breakerOfWebhook[webhook]
                breakers[breaker] = CircuitBreaker(policy: configuration.circuitBreaker, nowNanoseconds: now)
            }
            push(EndpointStateFiles.enabledRecord(webhook: name, at: wall(at: now)))
            outcomesPending = true
        }
    }

    /// Makes the HTTP client whose loop ``run()`` runs. Call before ``run()``.
    func startClient(backend: IOBackendSelection) throws(IOError) {
        var clientConfiguration = HTTPClientConfiguration(backend: backend)
        clientConfiguration.connectionCountMax = configuration.connectionCountMax
        clientConfiguration.pendingRequestCountMax = max(configuration.inFlightMax, 1)
        clientConfiguration.timeouts.requestNanoseconds = configuration.requestTimeoutNanoseconds
        // `unowned`: the shard owns the client; the client's loop runs only inside `run()`.
        client = try HTTPClient(configuration: clientConfiguration, ownerRunsLoop: true) { [unowned self] tag, result in
            finish(tag: tag, result)
        }
        transforms = TransformPool(threadCount: configuration.transformConcurrency) { [unowned self] in wakeUp() }
    }

    /// Makes the loop take new work (jobs, `noMoreJobs`, `abandon`): a system call only when it waits.
    /// Any thread; call after publishing the work.
    func wakeUp() {
        // The exchange is a full barrier: it orders the publication before the read of `sleeping`, and
        // pairs with the fence after the loop sets it (Dekker), so a wake-up is never lost.
        if sleeping.exchange(false, ordering: .sequentiallyConsistent) { client?.wake() }
    }

    /// Requests in flight (any thread; a snapshot).
    var inFlightSnapshot: Int { inFlightCount.load(ordering: .relaxed) }

    /// The shard's loop; returns when the pipeline stops and everything in flight has an outcome (or on
    /// `abandon`).
    func run() {
        backlog.reverse()  // popLast takes them in log order
        client!.run { turn() }
        closed = true
        transforms?.shutdown()
        client!.shutdown()
    }

    /// One turn of delivery work between two I/O turns; says how long the loop may then wait.
    private func turn() -> HTTPClientLoopWait {
        // Woken by I/O rather than by `wakeUp`: say so, or the next job would signal for nothing.
        if sleeping.load(ordering: .relaxed) { sleeping.store(false, ordering: .relaxed) }
        var progressed = false
        let now = monotonicNanoseconds()
        turnWall = Timestamp.now()
        turnMonotonicNanoseconds = now
        turnTimestampSeconds = UInt64(turnWall.secondsSinceEpoch)
        if let transforms, transforms.hasResults {
            for done in transforms.takeResults() { transformFinished(done, now: now) }
            progressed = true
        }
        takeEnableRequests(now: now)
        var tookJobs = false
        while canAdmit {
            guard let job = backlog.popLast() ?? jobs.tryPop() else { break }
            admit(job, now: now)
            tookJobs = true
        }
        if tookJobs {
            progressed = true
            if hasJobSpace { jobSpace.wakeAll() }  // one fence and a load while the matcher is not waiting
        }
        while let key = timers.popDue(now) {
            if let action = active[key]?.machine.timerFired(nowNanoseconds: now) { perform(action, key, now: now) }
            progressed = true
        }
        while inFlight < configuration.inFlightMax, let key = ready.popFirst() {
            send(key, now: now)
            progressed = true
        }
        if outcomesPending {
            outcomesPending = false
            journalWake.wakeAll()
        }
        if abandon.load(ordering: .relaxed) {
            // A drain that took too long: the rest resumes on restart. The client's shutdown then fails
            // what is in flight; those are not attempts (nothing is recorded for them).
            closed = true
            return .stop
        }
        if noMoreJobs.load(ordering: .acquiring), backlog.isEmpty, jobs.count == 0, inFlight == 0, waitingCount == 0,
            ready.isEmpty
        {
            return .stop
        }
        if progressed {
            idleTurns = 0
            return .poll
        }
        idleTurns += 1
        switch waitStrategy {
        case .spin:
            return .poll
        case .yield:
            sched_yield()
            return .poll
        case .park:
            if idleTurns < 2 { return .poll }
        }
        sleeping.store(true, ordering: .sequentiallyConsistent)
        atomicMemoryFence(ordering: .sequentiallyConsistent)  // pairs with the exchange in wakeUp (Dekker)
        if (canAdmit && jobs.count > 0) || abandon.load(ordering: .relaxed) || (transforms?.hasResults ?? false) {
            sleeping.store(false, ordering: .relaxed)  // work arrived while going to sleep: take it instead
            return .poll
        }
        // With `noMoreJobs` and requests still in flight, their completions end the wait.
        return timers.earliest.map { .until($0) } ?? .untilWoken
    }

    /// Jobs are taken from the queue while fewer than `pendingDeliveryCountMax` deliveries are held (those
    /// waiting for a retry count) and fewer than ``admitAheadMax`` are ready or in flight. The second bound
    /// keeps the loop from taking the whole queue at once: before it, a saturated run held every matched
    /// delivery of the run (89,000 bodies, 450 MB resident) and paid for the fresh pages, the slab's growth
    /// and cold bodies; now the matcher parks on a full queue (``jobSpace``) and the loop's working set
    /// stays a few thousand deliveries. Deliveries are still signed just before they are sent.
    private var canAdmit: Bool {
        active.count < configuration.pendingDeliveryCountMax
            && ready.count + inFlight + waitingCount < admitAheadMax
    }

    /// Deliveries ready to send or in flight at most, before the loop takes more jobs from ``jobs``
    /// (`in_flight_max` + 1,024); the rest wait in the bounded queue.
    private let admitAheadMax: Int

    /// Enough of ``jobs`` is free for a waiting matcher to be worth waking.
    var hasJobSpace: Bool { jobs.count <= jobs.capacity - jobSpaceCount }

    private func admit(_ job: consuming DeliveryJob, now: UInt64) {
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
            !disabledWebhooks.isEmpty && disabledWebhooks.contains(name)
            ? machine.endpointDisabled() : machine.timerFired(nowNanoseconds: now)
        let webhookID = WebhookMessageID.make(eventID: job.eventID, webhookName: name)
        // `consume`: the job moves into the slab (no retain and release of its routing and body).
        let key = active.insert(Active(job: consume job, webhookID: webhookID, machine: machine))
        perform(action, key, now: now)
    }

    private func perform(_ action: DeliveryStateMachine.Action, _ key: UInt64, now: UInt64) {
        switch action {
        case .none:
            return
        case .cancelled:
            active[key]?.job.budget.remove()
            active.remove(key)
        case .send:
            ready.append(key)
        case .armTimer(let due):
            timers.push(due, key)
        case .retryLater(let failure, _, let due):
            PipelineCounters.add(counters.failedAttempts)
            if let webhook = webhookCounters(of: key) {
                webhook.retried.wrappingAdd(1, ordering: .relaxed)
                webhook.failed(failure)
            }
            record(key, attempt: failure.attempt, outcome: .retrying, failure: failure, now: now)
            timers.push(due, key)
        case .succeeded(let statusCode, let attempt):
            PipelineCounters.add(counters.delivered)
            ended(key, now: now)?.delivered.wrappingAdd(1, ordering: .relaxed)
            record(key, attempt: attempt, outcome: .delivered, statusCode: statusCode, now: now)
            if let timing,
                let deliveryTiming = active.withElement(key, { Self.timing(of: $0, attempt, statusCode, now) })
            {
                timing(deliveryTiming)
            }
            active[key]?.job.budget.remove()
            active.remove(key)
        case .deadLetter(let deadLetter):
            let webhook = ended(key, now: now)
            if let failure = deadLetter.lastFailure, failure.attempt == deadLetter.attemptCount {
                PipelineCounters.add(counters.failedAttempts)
                webhook?.failed(failure)
            }
            PipelineCounters.add(counters.deadLettered)
            webhook?.deadLettered.wrappingAdd(1, ordering: .relaxed)
            record(
                key,
                attempt: deadLetter.attemptCount,
                outcome: .deadLettered,
                failure: deadLetter.lastFailure,
                message: "\(deadLetter.reason.rawValue)" + (deadLetter.lastFailure.map { ": \($0.message)" } ?? ""),
                now: now
            )
            if deadLetter.disablesEndpoint, let job = active[key]?.job,
                disabledWebhooks.insert(job.routing.definitions[job.webhook].name).inserted
            {
                // Journaled, so that the state file, the status line and a restart know (until enabled).
                record(
                    key,
                    attempt: deadLetter.attemptCount,
                    outcome: .endpointDisabled,
                    failure: deadLetter.lastFailure,
                    message: "410 Gone on event \(job.eventSequence) (attempt \(deadLetter.attemptCount)): "
                        + "disabled until `sluice endpoints enable \(job.routing.definitions[job.webhook].name)`",
                    now: now
                )
            }
            active[key]?.job.budget.remove()
            active.remove(key)
        }
    }

    /// The counters of `key`'s webhook.
    private func webhookCounters(of key: UInt64) -> WebhookCounters? {
        active.withElement(key) { $0.job.routing.webhookCounters[$0.job.webhook] }
    }

    /// `key`'s delivery has its final outcome at `now`: records its send and response legs (when its last
    /// attempt sent a request) and returns its webhook's counters.
    private func ended(_ key: UInt64, now: UInt64) -> WebhookCounters? {
        active.withElement(key) { delivery in
            if delivery.sentNanoseconds != 0 {
                // The loop stamps a send with the clock it read at the top of its turn, which can be before
                // the matcher stamped a job it took in that turn: such a send took no time, not an unknown one.
                let sent = max(delivery.sentNanoseconds, delivery.job.matchedNanoseconds)
                sendLatency.record(from: delivery.job.matchedNanoseconds, to: sent)
                responseLatency.record(from: delivery.sentNanoseconds, to: now)
            }
            return delivery.job.routing.webhookCounters[delivery.job.webhook]
        }
    }

    private static func timing(
        of delivery: borrowing Active,
        _ attempt: Int,
        _ statusCode: Int,
        _ now: UInt64
    ) -> DeliveryTiming {
        DeliveryTiming(
            webhook: delivery.job.routing.definitions[delivery.job.webhook].name,
            trigger: delivery.job.routing.index.triggers[delivery.job.trigger].name,
            triggerNumber: delivery.job.trigger,
            eventSequence: delivery.job.eventSequence,
            attempt: attempt,
            statusCode: statusCode,
            emittedNanoseconds: delivery.job.emittedNanoseconds,
            durableNanoseconds: delivery.job.durableNanoseconds,
            matchedNanoseconds: delivery.job.matchedNanoseconds,
            sentNanoseconds: delivery.sentNanoseconds,
            completedNanoseconds: now,
            requestByteCount: delivery.requestByteCount
        )
    }

    /// The routing, webhook and attempt of `key`'s delivery while an attempt of it is in flight (one
    /// lookup in the slab).
    private func inFlightTarget(_ key: UInt64) -> (routing: PipelineRouting, webhook: Int, attempt: Int)? {
        active.withElement(key) { delivery -> (routing: PipelineRouting, webhook: Int, attempt: Int)? in
            guard case .inFlight(let attempt, _) = delivery.machine.state else { return nil }
            return (delivery.job.routing, delivery.job.webhook, attempt)
        } ?? nil
    }

    private func send(_ key: UInt64, now: UInt64) {
        guard let (routing, webhook, _) = inFlightTarget(key) else { return }
        let (endpoint, breaker) = endpointNumbers(routing, webhook, now: now)
        if endpoints[endpoint].requests >= endpointRequestsMax {
            endpoints[endpoint].waiting.append(key)  // sent when one of the endpoint's requests ends
            waitingCount += 1
            return
        }
        let permission = breakers[breaker].handle(.requestPermission(nowNanoseconds: now))
        routing.webhookCounters[webhook].breakerIs(breakers[breaker].state.kind)
        if case .reject(let retryAt) = permission {
            // The attempt is used, and so are those due while the breaker stays open: the schedule is a
            // promise in time (no request, no breaker result).
            var random = self.random
            let action = active[key]?.machine.refused(
                Self.circuitOpen,
                untilNanoseconds: retryAt,
                nowNanoseconds: now,
                nowWall: wall(at: now),
                random: &random
            )
            self.random = random
            if let action { perform(action, key, now: now) }
            promoteWaiting(endpoint)
            return
        }
        if let transformed = active.withElement(key, { $0.transformed }) ?? nil {
            submit(key, routing: routing, webhook: webhook, transformed: transformed, now: now)
            return
        }
        if routing.definitions[webhook].kind == .transform, let transform = routing.definitions[webhook].transform,
            let body = active[key]?.job.body
        {
            // The command runs on the pool; `transformFinished` sends its output.
            inFlight += 1
            inFlightCount.store(inFlight, ordering: .relaxed)
            do {
                try transforms!.submit(TransformPool.Job(key: key, transform: transform, input: body))
            } catch {
                inFlight -= 1
                inFlightCount.store(inFlight, ordering: .relaxed)
                finishAttempt(
                    key,
                    .configurationFailed("transform: cannot start a transform thread: \(error)"),
                    now: now
                )
            }
            return
        }
        submit(key, routing: routing, webhook: webhook, transformed: nil, now: now)
    }

    /// A transform ended: its output is the body of the attempt, or the attempt failed.
    private func transformFinished(_ done: TransformPool.Done, now: UInt64) {
        inFlight -= 1
        inFlightCount.store(inFlight, ordering: .relaxed)
        guard case .inFlight? = active[done.key]?.machine.state, let routing = active[done.key]?.job.routing,
            let webhook = active[done.key]?.job.webhook
        else { return }
        switch done.result {
        case .success(let output):
            active[done.key]?.transformed = output
            submit(done.key, routing: routing, webhook: webhook, transformed: output, now: now)
        case .failure(let failure):
            finishAttempt(done.key, .configurationFailed("transform: \(failure)"), now: now)
        }
    }

    /// Builds the attempt's request and hands it to the client.
    private func submit(_ key: UInt64, routing: PipelineRouting, webhook: Int, transformed: [UInt8]?, now: UInt64) {
        // Built from the delivery's fields (its body and id are lent, not copied).
        let built = active.withElement(key) { delivery in
            build(
                webhook: delivery.job.webhook,
                webhookID: delivery.webhookID,
                body: transformed ?? delivery.job.body,
                routing: routing
            )
        }
        guard let built else { return }
        switch built {
        case .failure(let failure):
            finishAttempt(key, failure.outcome, now: now)
            promoteWaiting(endpointNumbers(routing, webhook, now: now).endpoint)
        case .success(let bytes):
            let endpoint = endpointNumbers(routing, webhook, now: now).endpoint
            endpoints[endpoint].requests += 1
            if let delivery = active[key] {
                delivery.sentNanoseconds = now
                delivery.requestByteCount = bytes.count
                delivery.submittedEndpoint = endpoint
            }
            inFlight += 1
            inFlightCount.store(inFlight, ordering: .relaxed)
            client!.submit(HTTPClientRequest(tag: key, origin: routing.origins[webhook], method: .post, bytes: bytes))
        }
    }

    private struct BuildFailure: Error {
        let outcome: DeliveryAttemptOutcome
    }

    /// The request bytes of an attempt of `webhook`: `body` (the event's or a transform's output), signed with the
    /// webhook's keys at this turn's timestamp.
    private func build(
        webhook: Int,
        webhookID: String,
        body: [UInt8],
        routing: PipelineRouting
    ) -> Result<[UInt8], BuildFailure> {
        let keys = routing.signer.keyIndices(webhookIndex: webhook)
        guard !keys.isEmpty else {
            do {
                try encoder.encode(
                    routing.templates[webhook],
                    dynamicHeaderFields: [],
                    body: body
                )
            } catch {
                return .failure(BuildFailure(outcome: .configurationFailed("cannot encode the request: \(error)")))
            }
            return .success(encoder.takeBytes())
        }
        let signer = routing.signer.signer
        let timestamp = turnTimestampSeconds
        return .success(
            unsafe HTTPRequestEncoder.signedWebhookRequest(
                routing.templates[webhook],
                webhookID: webhookID,
                timestampSeconds: timestamp,
                signatureByteCount: keys.count * (SignatureValue.byteCount + 1) - 1,
                body: body
            ) { webhookID, body, signature in
                _ = unsafe signer.signatureHeader(
                    keyIndices: keys,
                    webhookID: webhookID,
                    timestampSeconds: timestamp,
                    body: body,
                    into: signature
                )
            }
        )
    }

    /// The numbers of `webhook`'s endpoint (origin) and of its URL's circuit breaker (each created on first
    /// use, the breaker closed).
    private func endpointNumbers(
        _ routing: PipelineRouting,
        _ webhook: Int,
        now: UInt64
    ) -> (endpoint: Int, breaker: Int) {
        if routing !== endpointRouting {
            endpointRouting = routing
            endpointOfWebhook = routing.origins.map { origin in
                if let number = endpointOfOrigin[origin] { return number }
                endpoints.append(Endpoint())
                endpointOfOrigin[origin] = endpoints.count - 1
                return endpoints.count - 1
            }
            breakerOfWebhook = routing.definitions.map { definition in
                if let number = breakerOfURL[definition.url] { return number }
                breakers.append(CircuitBreaker(policy: configuration.circuitBreaker, nowNanoseconds: now))
                breakerOfURL[definition.url] = breakers.count - 1
                return breakers.count - 1
            }
        }
        return (endpointOfWebhook[webhook], breakerOfWebhook[webhook])
    }

    /// The outcome of an attempt the open breaker refused.
    private static let circuitOpen = DeliveryAttemptOutcome.circuitOpen(
        "not sent: the endpoint's circuit breaker is open"
    )

    /// A delivery that had a place among `endpoint`'s requests did not use it (its breaker is open, its
    /// request could not be built): the oldest waiting delivery takes it. Without this, deliveries waiting
    /// for an origin whose requests had all ended waited for a completion that never came.
    private func promoteWaiting(_ endpoint: Int) {
        guard endpoints[endpoint].requests < endpointRequestsMax, let waiting = endpoints[endpoint].waiting.popFirst()
        else { return }
        ready.append(waiting)
        waitingCount -= 1
    }

    /// A request's result, on this thread inside an I/O turn.
    private func finish(tag: UInt64, _ result: HTTPClientResult) {
        guard !closed else { return }  // the client's shutdown after an abandon: left to the restart
        inFlight -= 1
        inFlightCount.store(inFlight, ordering: .relaxed)
        // The request's endpoint has a place again: its oldest waiting delivery (if any) becomes ready.
        var endpoint = -1
        if let delivery = active[tag] {
            endpoint = delivery.submittedEndpoint
            delivery.submittedEndpoint = -1
        }
        if endpoint >= 0 {
            endpoints[endpoint].requests -= 1
            if let waiting = endpoints[endpoint].waiting.popFirst() {
                ready.append(waiting)
                waitingCount -= 1
            }
        }
        let outcome = DeliveryAttemptOutcome(result)
        let now = monotonicNanoseconds()
        if endpoint >= 0, let target = inFlightTarget(tag) {
            // Opening and closing need no action here: permission is asked before every attempt.
            let breaker = endpointNumbers(target.routing, target.webhook, now: now).breaker
            _ = breakers[breaker].record(outcome.classify(attempt: target.attempt), nowNanoseconds: now)
            target.routing.webhookCounters[target.webhook].breakerIs(breakers[breaker].state.kind)
        }
        finishAttempt(tag, outcome, now: now)
    }

    private func finishAttempt(_ key: UInt64, _ outcome: DeliveryAttemptOutcome, now: UInt64) {
        var random = self.random
        let action = active[key]?.machine.attemptFinished(
            outcome,
            nowNanoseconds: now,
            nowWall: wall(at: now),
            random: &random
        )
        self.random = random
        if let action { perform(action, key, now: now) }
    }

    /// The wall time at monotonic `nanoseconds` of this turn (or later): no clock read.
    private func wall(at nanoseconds: UInt64) -> Timestamp {
        let since = nanoseconds >= turnMonotonicNanoseconds ? nanoseconds - turnMonotonicNanoseconds : 0
        return Timestamp(microsecondsSinceEpoch: turnWall.microsecondsSinceEpoch + Int64(since / 1_000))
    }

    private func record(
        _ key: UInt64,
        attempt: Int,
        outcome: DeliveryOutcomeRecord.Outcome,
        statusCode: Int? = nil,
        failure: DeliveryFailure? = nil,
        message: String? = nil,
        now: UInt64
    ) {
        if outcome == .retrying, failure?.failureClass == .circuitOpen, outcomeHook == nil {
            return  // not journaled (below) and no hook to tell: nothing to build
        }
        let at = wall(at: now)
        let made = active.withElement(key) { delivery in
            DeliveryOutcomeRecord(
                eventSequence: delivery.job.eventSequence,
                eventID: delivery.job.eventID,
                webhook: delivery.job.routing.definitions[delivery.job.webhook].name,
                webhookID: delivery.webhookID,
                attempt: attempt,
                outcome: outcome,
                statusCode: statusCode ?? failure?.statusCode,
                failureClass: failure?.failureClass,
                message: message ?? failure?.message,
                at: at
            )
        }
        guard let record = made else { return }
        if outcome == .retrying, failure?.failureClass == .circuitOpen {
            // Nothing went on the wire, so there is nothing to audit and nothing a restart needs (it would
            // only make this attempt again): a dead endpoint's refused attempts cost no log records. The dead
            // letter still counts them (its attempt number) and names the open breaker as its last failure.
            outcomeHook?(record)
            return
        }
        push(record)
    }

    /// Hands `record` to the journaler (and the outcome hook).
    private func push(_ record: DeliveryOutcomeRecord) {
        outcomeHook?(record)
        while !outcomes.tryPush(record) {
            journalWake.wakeAll()
            sched_yield()
        }
        outcomesPending = true  // the journaler is woken once per loop turn, not per record
    }
}
