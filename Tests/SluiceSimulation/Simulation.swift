import SluiceCore
import SluiceCrypto

/// A deterministic simulation of the whole pipeline (docs/simulation.md): ingest, journal, match, deliver,
/// crash, recover — one seeded scheduler, a simulated clock, disk and receivers — driving the same pure
/// decisions the real pipeline executes: ``JournalerPolicy`` (batching, lingering, what is durable,
/// checkpoint cadence), ``SettledState`` (settled and per-webhook checkpoints), ``RecoveryPlanner`` (what a
/// restart queues, one pass over the log), ``DeliveryStateMachine`` (attempts, retries, `Retry-After`, dead
/// letters), the log's frame format, the outcome record encoding and ``WebhookMessageID``.
///
/// After every run it checks the guarantees (ARCHITECTURE.md §7) as invariants: every acknowledged event is
/// in the log once; every matched (event, webhook) pair ends delivered or dead-lettered in the log; a
/// `webhook-id` never changes and never names two pairs; no checkpoint passes a pair that is not final in
/// the durable log.
public struct Simulation {
    /// What one run did and found.
    public struct Report: Sendable {
        public var seed: UInt64
        public var violations: [String]
        /// The last steps (only when run with `tracing`).
        public var trace: [String]
        public var summary: String
    }

    struct Webhook {
        var name: String
        /// Event kinds it subscribes to.
        var kinds: Set<UInt8>
        /// Percent chances of each failure of its receiver (the rest succeed).
        var serverErrorPercent: Int
        var tooManyPercent: Int
        var resetPercent: Int
        var timeoutPercent: Int
        var gonePercent: Int
        /// Configured from the start (its pairs are expected for every acknowledged event).
        var initial: Bool
    }

    struct SimEvent {
        var id: EventID
        var kind: UInt8
        var emittedNanoseconds: UInt64

        var body: [UInt8] {
            var bytes: [UInt8] = []
            for word in [id.high, id.low] {
                for shift in stride(from: 0, to: 64, by: 8) {
                    bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift)))
                }
            }
            bytes.append(kind)
            return bytes
        }

        init(id: EventID, kind: UInt8, emittedNanoseconds: UInt64) {
            self.id = id
            self.kind = kind
            self.emittedNanoseconds = emittedNanoseconds
        }

        init?(body: [UInt8]) {
            guard body.count == 17 else { return nil }
            func word(_ at: Int) -> UInt64 {
                (0..<8).reduce(0) { $0 | UInt64(body[at + $1]) << (8 * UInt64($1)) }
            }
            // An emitted event's id carries its emission time (`occurred`, for the stateful trigger).
            let id = EventID(high: word(0), low: word(8))
            self.init(id: id, kind: body[16], emittedNanoseconds: id.high)
        }
    }

    struct PairKey: Hashable, Comparable {
        var sequence: UInt64
        var webhook: String

        static func < (left: PairKey, right: PairKey) -> Bool {
            (left.sequence, left.webhook) < (right.sequence, right.webhook)
        }
    }

    struct Delivery {
        var eventID: EventID
        var webhookID: String
        var machine: DeliveryStateMachine
    }

    /// One incarnation of the pipeline (a crash discards it; the disk stays).
    struct Node {
        var policy: JournalerPolicy
        var tracker: SettledState
        var slots: [Int]
        /// Events emitted into the ring; positions are indices.
        var ring: [SimEvent] = []
        var logSequenceOfPosition: [UInt64] = []
        var journaledEnd = 0
        var acknowledgedEnd = 0
        var matchedEnd = 0
        var outcomes: [DeliveryOutcomeRecord] = []
        var deliveries: [PairKey: Delivery] = [:]
        var failed = false
        var syncing = false
        var checkpointed: WebhookCheckpoints?
        /// The matcher's stateful trigger (SimulationStateful.swift).
        var stateful: SimulationStatefulState?
    }

    enum Step {
        case emit
        case journal
        case fsyncDone(byteCount: Int, logEnd: UInt64)
        case tick
        case match
        case timer(PairKey)
        case response(PairKey, DeliveryAttemptOutcome)
        case checkpointWritten(settled: UInt64, bytes: [UInt8])
        case crash
        case restart
        case reconfigure
        case heal
    }

    let seed: UInt64
    let defect: SimulationDefect?
    let tracing: Bool
    var random: SimulationRandom
    var now: UInt64 = 0
    var agenda: [(due: UInt64, order: Int, incarnation: Int, step: Step)] = []
    var order = 0
    var incarnation = 0
    var disk = SimulationDisk()
    var node: Node?
    var webhooks: [Webhook] = []
    let limits: PipelineLimits
    let retryPolicy: RetryPolicy
    let fsyncAlways: Bool
    var eventsLeft: Int
    var healed = false
    var faultPercent: Int
    var trigger: SimulationTrigger

    // Ground truth.
    var acknowledged: [EventID] = []
    var matchedPairs: Set<PairKey> = []
    var finalSynced: Set<PairKey> = []
    /// Final pairs of each appended frame not yet synced: (end byte, pairs).
    var finalsWritten: [(byteCount: Int, pairs: [PairKey])] = []
    var webhookIDsOfPair: [PairKey: Set<String>] = [:]
    var pairOfWebhookID: [String: PairKey] = [:]
    var violations: [String] = []
    var trace: [String] = []
    var counts = (crashes: 0, attempts: 0, checkpoints: 0, diskErrors: 0)

    static let millisecond: UInt64 = 1_000_000
    static let wallStart = Timestamp(secondsSinceEpoch: 1_740_656_629)

    public init(seed: UInt64, defect: SimulationDefect? = nil, tracing: Bool = false) {
        self.seed = seed
        self.defect = defect
        self.tracing = tracing
        random = SimulationRandom(seed: seed)
        trigger = SimulationTrigger(seed: seed)
        var limits = PipelineLimits()
        limits.journalBatchEventCountMax = 1 + Int(random.below(8))
        limits.lingerEventCountMin = 1 + Int(random.below(6))
        limits.carryAgeNanoseconds = random.below(30) * Self.millisecond
        limits.checkpointIntervalNanoseconds = (1 + random.below(20)) * Self.millisecond
        self.limits = limits
        fsyncAlways = random.percent(60)
        retryPolicy = RetryPolicy(
            delayNanoseconds: [0, Self.millisecond, 5 * Self.millisecond, 20 * Self.millisecond],
            jitterPercent: 10,
            retryAfterNanosecondsMax: 50 * Self.millisecond
        )
        eventsLeft = 10 + Int(random.below(40))
        faultPercent = Int(random.below(25))
        for number in 0..<(2 + Int(random.below(2))) { webhooks.append(makeWebhook(number, initial: true)) }
    }

    mutating func makeWebhook(_ number: Int, initial: Bool) -> Webhook {
        var kinds: Set<UInt8> = [UInt8(random.below(3))]
        if random.percent(70) { kinds.insert(UInt8(random.below(3))) }
        return Webhook(
            name: "w\(number)",
            kinds: kinds,
            serverErrorPercent: Int(random.below(30)),
            tooManyPercent: Int(random.below(15)),
            resetPercent: Int(random.below(15)),
            timeoutPercent: Int(random.below(10)),
            gonePercent: random.percent(15) ? 2 : 0,
            initial: initial
        )
    }

    // MARK: Running

    /// Runs the seed to its end and checks the invariants.
    public mutating func run() -> Report {
        restart()
        // The world outside the pipeline (producers, operator, faults) outlives each incarnation.
        schedule(.emit, after: 0, anyIncarnation: true)
        schedule(.heal, after: 400 * Self.millisecond, anyIncarnation: true)
        for _ in 0..<Int(random.below(4)) {
            schedule(.crash, after: random.below(350) * Self.millisecond, anyIncarnation: true)
        }
        if random.percent(50) {
            schedule(.reconfigure, after: random.below(300) * Self.millisecond, anyIncarnation: true)
        }
        let end = 2_000 * Self.millisecond
        var steps = 0
        while let next = takeNext(), next.due <= end, steps < 200_000, violations.isEmpty {
            steps += 1
            now = max(now, next.due)
            guard next.incarnation == incarnation || next.incarnation < 0 else { continue }
            perform(next.step)
            if healed, isQuiet { break }
        }
        checkFinal()
        return Report(
            seed: seed,
            violations: violations,
            trace: trace,
            summary: "\(acknowledged.count) events acknowledged, \(matchedPairs.count) pairs, "
                + "\(counts.attempts) attempts, \(counts.crashes) crashes, \(counts.diskErrors) disk errors, "
                + "\(counts.checkpoints) checkpoints, fsync \(fsyncAlways ? "always" : "interval"), \(steps) steps"
        )
    }

    /// Healed, every event emitted, matched and every delivery ended with its outcome synced.
    var isQuiet: Bool {
        guard eventsLeft == 0, let node, !node.failed, !node.syncing else { return false }
        return node.deliveries.isEmpty && node.outcomes.isEmpty && node.matchedEnd == node.ring.count
            && node.journaledEnd == node.ring.count && node.acknowledgedEnd == node.ring.count
    }

    mutating func schedule(_ step: Step, after delay: UInt64, anyIncarnation: Bool = false) {
        order += 1
        agenda.append((now + delay, order, anyIncarnation ? -1 : incarnation, step))
    }

    mutating func takeNext() -> (due: UInt64, incarnation: Int, step: Step)? {
        guard
            let index = agenda.indices.min(by: {
                (agenda[$0].due, agenda[$0].order) < (agenda[$1].due, agenda[$1].order)
            })
        else { return nil }
        let item = agenda.remove(at: index)
        return (item.due, item.incarnation, item.step)
    }

    mutating func note(_ text: @autoclosure () -> String) {
        guard tracing else { return }
        trace.append("t=\(now / 1_000)µs \(text())")
        if trace.count > 60 { trace.removeFirst() }
    }

    mutating func violate(_ text: String) {
        note("VIOLATION: \(text)")
        violations.append(text)
    }

    mutating func perform(_ step: Step) {
        switch step {
        case .emit: emit()
        case .journal: journal()
        case .fsyncDone(let byteCount, let logEnd): fsyncDone(byteCount: byteCount, logEnd: logEnd)
        case .tick:
            guard node != nil else { return }
            settle(durable: syncedLogEnd)
            journal()
            schedule(.tick, after: 10 * Self.millisecond)
        case .match: match()
        case .timer(let key): handle(key, .timerFired(nowNanoseconds: now))
        case .response(let key, let outcome):
            handle(key, .attemptFinished(outcome, nowNanoseconds: now, nowWall: wall))
        case .checkpointWritten(let settled, let bytes):
            // A file replaced atomically: a crash before this step leaves the old one.
            disk.webhookCheckpoints = bytes
            disk.settledCheckpoint = settled
            counts.checkpoints += 1
        case .crash: crash()
        case .restart: restart()
        case .reconfigure:
            let added = makeWebhook(webhooks.count, initial: false)
            note("reconfigure: add \(added.name) for kinds \(added.kinds.sorted())")
            webhooks.append(added)
            if var current = node {
                current.slots = current.tracker.slots(for: webhooks.map(\.name))
                node = current
            }
        case .heal:
            note("heal: no more faults")
            healed = true
            faultPercent = 0
            for index in webhooks.indices {
                webhooks[index].serverErrorPercent = 0
                webhooks[index].tooManyPercent = 0
                webhooks[index].resetPercent = 0
                webhooks[index].timeoutPercent = 0
                webhooks[index].gonePercent = 0
            }
            if node?.failed ?? true { crash() }  // the operator restarts a failed pipeline
        }
    }

    var wall: Timestamp {
        Timestamp(microsecondsSinceEpoch: Self.wallStart.microsecondsSinceEpoch + Int64(now / 1_000))
    }

    /// The log end the last completed sync covers.
    var syncedLogEnd: UInt64 = 0

    // MARK: Ingest and journal

    mutating func emit() {
        guard eventsLeft > 0 else { return }
        eventsLeft -= 1
        schedule(.emit, after: random.below(8) * Self.millisecond, anyIncarnation: true)
        guard var current = node, !current.failed else { return }  // stopped: not acknowledged
        let event = SimEvent(
            id: EventID(high: now, low: UInt64(eventsLeft) << 8 | UInt64(incarnation & 0xFF)),
            kind: UInt8(random.below(3)),
            emittedNanoseconds: now
        )
        current.ring.append(event)
        node = current
        note("emit \(event.id.low) kind \(event.kind)")
        schedule(.journal, after: 0)
    }

    mutating func journal() {
        guard var current = node, !current.failed, !current.syncing else { return }
        let end = current.policy.batchEnd(next: current.journaledEnd, available: current.ring.count)
        let step = current.policy.step(
            events: end - current.journaledEnd,
            outcomes: current.policy.lingers ? current.outcomes.count : 0,
            oldestEventNanoseconds: end > current.journaledEnd
                ? current.ring[current.journaledEnd].emittedNanoseconds : nil,
            stopping: false,
            nowNanoseconds: now
        )
        if case .linger(let sleep) = step {
            node = current
            schedule(.journal, after: sleep)
            return
        }
        var records: [(type: RecordType, body: [UInt8])] = current.ring[current.journaledEnd..<end].map {
            (.event, $0.body)
        }
        let taken = min(current.outcomes.count, limits.journalBatchOutcomeCountMax)
        var waiting: [(offset: Int, outcome: SettledState.Journaled)] = []
        var finals: [PairKey] = []
        for outcome in current.outcomes.prefix(taken) {
            if outcome.outcome.isFinal || outcome.outcome == .retrying {
                waiting.append(
                    (
                        records.count,
                        .init(
                            eventSequence: outcome.eventSequence,
                            webhook: outcome.webhook,
                            attempt: outcome.attempt,
                            final: outcome.outcome.isFinal
                        )
                    )
                )
            }
            if outcome.outcome.isFinal {
                finals.append(PairKey(sequence: outcome.eventSequence, webhook: outcome.webhook))
            }
            records.append((.deliveryOutcome, outcome.encoded()))
        }
        guard !records.isEmpty else {
            node = current
            return
        }
        if !healed, random.percent(faultPercent / 5) {
            note("append fails: ENOSPC")
            counts.diskErrors += 1
            current.failed = true
            node = current
            return
        }
        current.outcomes.removeFirst(taken)
        let frame = SimulationFrames.encode(
            records,
            firstSequence: disk.nextSequence,
            timestamp: wall.microsecondsSinceEpoch
        )
        let range = disk.append(frame, recordCount: records.count)
        finalsWritten.append((disk.writtenByteCount, finals))
        for position in current.journaledEnd..<end {
            current.logSequenceOfPosition.append(range.lowerBound + UInt64(position - current.journaledEnd))
        }
        current.policy.appended(
            ringEnd: end,
            logEnd: range.upperBound,
            outcomes: waiting.map { .init(record: range.lowerBound + UInt64($0.offset), outcome: $0.outcome) }
        )
        note("append \(records.count) records \(range) (events to ring \(end))")
        current.journaledEnd = end
        current.syncing = true
        node = current
        if defect == .settleBeforeFsync { settle(durable: range.upperBound) }
        if !healed, random.percent(faultPercent / 5) {
            note("fsync fails: EIO")
            counts.diskErrors += 1
            node!.failed = true
            node!.syncing = false
            return
        }
        let slow = random.percent(10) ? 20 * Self.millisecond : 0
        schedule(
            .fsyncDone(byteCount: disk.writtenByteCount, logEnd: range.upperBound),
            after: 200_000 + random.below(500_000) + slow
        )
    }

    mutating func fsyncDone(byteCount: Int, logEnd: UInt64) {
        guard node != nil else { return }
        disk.sync(upTo: byteCount)
        syncedLogEnd = max(syncedLogEnd, logEnd)
        let ready = finalsWritten.prefix { $0.byteCount <= byteCount }
        for written in ready { finalSynced.formUnion(written.pairs) }
        finalsWritten.removeFirst(ready.count)
        node!.syncing = false
        note("fsync done to \(logEnd)")
        settle(durable: logEnd)
        schedule(.journal, after: 0)
    }

    /// The journaler's settle: what the policy says is durable is acknowledged and told to the tracker;
    /// then the checkpoint when due (checked against the ground truth first).
    mutating func settle(durable: UInt64) {
        guard var current = node, !current.failed else { return }
        let done = current.policy.durable(below: durable)
        if let ringEnd = done.ringEnd, ringEnd > current.acknowledgedEnd {
            for position in current.acknowledgedEnd..<ringEnd { acknowledged.append(current.ring[position].id) }
            current.acknowledgedEnd = ringEnd
            schedule(.match, after: 0)
        }
        current.tracker.journaled(done.outcomes)
        if current.policy.checkpointDue(nowNanoseconds: now, final: false) {
            let snapshot = current.tracker.snapshot(nowNanoseconds: now)
            checkCheckpoint(snapshot)
            var written: Int?
            if JournalerPolicy.mustWrite(snapshot, after: current.checkpointed) {
                let bytes = snapshot.encoded()
                schedule(
                    .checkpointWritten(settled: snapshot.settled, bytes: bytes),
                    after: random.below(2 * Self.millisecond)
                )
                current.checkpointed = snapshot
                written = bytes.count
            }
            current.policy.checkpointed(nowNanoseconds: now, writtenByteCount: written)
        }
        node = current
    }

    /// No checkpoint passes a pair that is not final in the durable log (unless it carries the pair).
    mutating func checkCheckpoint(_ snapshot: WebhookCheckpoints) {
        var checkpointOf: [String: (checkpoint: UInt64, pending: Set<UInt64>)] = [:]
        for webhook in snapshot.webhooks {
            checkpointOf[webhook.name] = (webhook.checkpoint, Set(webhook.pending.map(\.eventSequence)))
        }
        for pair in matchedPairs where !finalSynced.contains(pair) {
            if pair.sequence < snapshot.settled {
                violate(
                    "checkpoint settled \(snapshot.settled) passes \(pair.webhook)/\(pair.sequence), not final on disk"
                )
                return
            }
            if let entry = checkpointOf[pair.webhook], pair.sequence < entry.checkpoint,
                !entry.pending.contains(pair.sequence)
            {
                violate("\(pair.webhook)'s checkpoint \(entry.checkpoint) passes \(pair.sequence), not final on disk")
                return
            }
        }
    }

    // MARK: Match and deliver

    func pairs(of event: SimEvent) -> [RecoveryPlanner<SimEvent>.Pair] {
        webhooks.indices.filter { webhooks[$0].kinds.contains(event.kind) }.map { .init(webhook: $0, trigger: $0) }
    }

    mutating func match() {
        guard var current = node, !current.failed else { return }
        current.stateful?.advance(to: wall)  // every matcher turn moves the machine's clock to now
        for position in current.matchedEnd..<current.acknowledgedEnd {
            let event = current.ring[position]
            let sequence = current.logSequenceOfPosition[position]
            let pairs = pairs(of: event)
            let held = observeStateful(event, sequence: sequence, node: &current)
            current.tracker.matched(
                sequence,
                webhooks: pairs.map { ($0.webhook, $0.trigger) },
                slots: current.slots,
                holds: held
            )
            node = current
            for pair in pairs { startDelivery(sequence, webhook: pair.webhook, eventID: event.id, attemptsMade: 0) }
            current = node!
        }
        current.matchedEnd = current.acknowledgedEnd
        node = current
    }

    mutating func startDelivery(_ sequence: UInt64, webhook: Int, eventID: EventID, attemptsMade: Int) {
        let name = webhooks[webhook].name
        let key = PairKey(sequence: sequence, webhook: name)
        matchedPairs.insert(key)
        let webhookID = WebhookMessageID.make(eventID: eventID, webhookName: defect == .reuseWebhookID ? "" : name)
        let machine =
            attemptsMade == 0
            ? DeliveryStateMachine(policy: retryPolicy, nowNanoseconds: now, random: &random)
            : DeliveryStateMachine(
                policy: retryPolicy,
                state: .waiting(attempt: min(attemptsMade + 1, retryPolicy.attemptCountMax), dueNanoseconds: now)
            )
        node!.deliveries[key] = Delivery(eventID: eventID, webhookID: webhookID, machine: machine)
        note("deliver \(name)/\(sequence) from attempt \(attemptsMade + 1)")
        if disk.disabledEndpoints.contains(name) {
            handle(key, .endpointDisabled)
        } else {
            schedule(.timer(key), after: 0)
        }
    }

    mutating func handle(_ key: PairKey, _ event: DeliveryStateMachine.Event) {
        guard node != nil, var delivery = node!.deliveries[key] else { return }
        let action = delivery.machine.handle(event, random: &random)
        node!.deliveries[key] = delivery
        execute(action, key: key, delivery: delivery)
    }

    mutating func execute(_ action: DeliveryStateMachine.Action, key: PairKey, delivery: Delivery) {
        switch action {
        case .none, .cancelled: return
        case .send(let attempt):
            send(key, delivery: delivery, attempt: attempt)
        case .armTimer(let due):
            schedule(.timer(key), after: due > now ? due - now : 0)
        case .retryLater(let failure, let attempt, let due):
            record(key, delivery, .retrying, attempt: attempt, status: failure.statusCode)
            if defect == .dropRetry { return }
            schedule(.timer(key), after: due > now ? due - now : 0)
        case .succeeded(let status, let attempt):
            record(key, delivery, .delivered, attempt: attempt, status: status)
            node!.deliveries[key] = nil
        case .deadLetter(let letter):
            record(key, delivery, .deadLettered, attempt: letter.attemptCount, status: letter.lastFailure?.statusCode)
            node!.deliveries[key] = nil
            if letter.disablesEndpoint, !disk.disabledEndpoints.contains(key.webhook) {
                note("\(key.webhook) disabled (410)")
                disk.disabledEndpoints.insert(key.webhook)
                for other in node!.deliveries.keys.sorted() where other.webhook == key.webhook {
                    handle(other, .endpointDisabled)
                }
            }
        }
    }

    mutating func send(_ key: PairKey, delivery: Delivery, attempt: Int) {
        counts.attempts += 1
        webhookIDsOfPair[key, default: []].insert(delivery.webhookID)
        if let other = pairOfWebhookID[delivery.webhookID], other != key {
            violate(
                "webhook-id \(delivery.webhookID) names \(other.webhook)/\(other.sequence) and \(key.webhook)/\(key.sequence)"
            )
        }
        pairOfWebhookID[delivery.webhookID] = key
        if webhookIDsOfPair[key]!.count > 1 {
            violate("the webhook-id of \(key.webhook)/\(key.sequence) changed")
        }
        let webhook = webhooks.first { $0.name == key.webhook }!
        let roll = Int(random.below(100))
        var threshold = 0
        func next(_ percent: Int) -> Bool {
            threshold += percent
            return roll < threshold
        }
        let outcome: DeliveryAttemptOutcome
        var latency = random.below(3 * Self.millisecond)
        if next(webhook.serverErrorPercent) {
            outcome = .response(statusCode: 500 + Int(random.below(4)), retryAfter: nil)
        } else if next(webhook.tooManyPercent) {
            outcome = .response(statusCode: 429, retryAfter: .seconds(random.below(3)))
        } else if next(webhook.resetPercent) {
            outcome = .connectionFailed("connection reset by peer")
        } else if next(webhook.timeoutPercent) {
            outcome = .timedOut("no response within 10 ms")
            latency = 10 * Self.millisecond
        } else if next(webhook.gonePercent) {
            outcome = .response(statusCode: 410, retryAfter: nil)
        } else {
            outcome = .response(statusCode: 200 + Int(random.below(5)), retryAfter: nil)
        }
        note("send \(key.webhook)/\(key.sequence) attempt \(attempt) → \(outcome)")
        schedule(.response(key, outcome), after: latency)
    }

    mutating func record(
        _ key: PairKey,
        _ delivery: Delivery,
        _ outcome: DeliveryOutcomeRecord.Outcome,
        attempt: Int,
        status: Int?
    ) {
        node!.outcomes.append(
            DeliveryOutcomeRecord(
                eventSequence: key.sequence,
                eventID: delivery.eventID,
                webhook: key.webhook,
                webhookID: delivery.webhookID,
                attempt: attempt,
                outcome: outcome,
                statusCode: status,
                at: wall
            )
        )
        schedule(.journal, after: 0)
    }

    // MARK: Crash and recovery

    mutating func crash() {
        counts.crashes += 1
        note("crash")
        incarnation += 1
        node = nil
        disk.crash(&random)
        finalsWritten = []
        schedule(.restart, after: random.below(20) * Self.millisecond)
    }

    /// A start: the log recovered (torn tail truncated), the checkpoints read, the one recovery pass through
    /// the planner, and its plan executed as the real pipeline's `start()` does.
    mutating func restart() {
        let records = disk.recover()
        syncedLogEnd = disk.nextSequence
        finalSynced = []
        for record in records where record.type == .deliveryOutcome {
            if let outcome = try? DeliveryOutcomeRecord(decoding: record.body), outcome.outcome.isFinal {
                finalSynced.insert(PairKey(sequence: outcome.eventSequence, webhook: outcome.webhook))
            }
            if let outcome = try? DeliveryOutcomeRecord(decoding: record.body), outcome.outcome == .redriveRequested {
                finalSynced.remove(PairKey(sequence: outcome.eventSequence, webhook: outcome.webhook))
            }
        }
        let logEnd = disk.nextSequence
        let resolved = resolveCheckpoints(logEnd: logEnd)
        var planner = RecoveryPlanner<SimEvent>(
            rematchFrom: resolved.rematchFrom,
            webhookNames: webhooks.map(\.name),
            checkpointOfWebhook: webhooks.map { resolved.checkpointOf[$0.name] ?? resolved.newWebhookStart },
            carried: resolved.pendingOf,
            bound: Int.max
        )
        for sequence in planner.carriedSequencesBelowRematch where sequence < logEnd {
            if let event = SimEvent(body: records[Int(sequence)].body) {
                planner.carriedEvent(sequence, pairs: pairs(of: event), payload: event)
            }
        }
        for record in records.dropFirst(Int(resolved.rematchFrom)) {
            switch record.type {
            case .event:
                guard let event = SimEvent(body: record.body) else { continue }
                planner.event(record.sequence, pairs: pairs(of: event), payload: event)
            case .deliveryOutcome:
                guard let outcome = try? DeliveryOutcomeRecord(decoding: record.body) else {
                    violate("outcome record \(record.sequence) does not decode")
                    continue
                }
                let kind: RecoveryPlanner<SimEvent>.OutcomeKind
                switch outcome.outcome {
                case .delivered, .deadLettered: kind = .final
                case .retrying: kind = .retrying(attempt: outcome.attempt)
                case .redriveRequested: kind = .redriveRequested
                case .endpointDisabled, .endpointEnabled: continue
                }
                planner.outcome(.init(eventSequence: outcome.eventSequence, webhook: outcome.webhook, kind: kind))
            case .configurationChange: continue
            }
        }
        for sequence in planner.sequencesToRefetch where sequence < logEnd {
            if let event = SimEvent(body: records[Int(sequence)].body) { planner.supply(sequence, payload: event) }
        }
        let plan = planner.finish()
        var tracker = SettledState(matchedEnd: resolved.rematchFrom, carryAgeNanoseconds: limits.carryAgeNanoseconds)
        let slots = tracker.slots(for: webhooks.map(\.name))
        for job in plan.jobs where job.carried {
            tracker.carry(job.sequence, slot: slots[job.webhook], attempt: job.attemptsMade)
        }
        for entry in plan.matched {
            tracker.matched(entry.sequence, webhooks: entry.pairs.map { ($0.webhook, $0.trigger) }, slots: slots)
        }
        if let end = plan.matchedEnd, plan.matched.last?.sequence != end - 1 {
            tracker.matched(end - 1, webhooks: [], slots: slots)
        }
        // The windows rebuilt from the log; firings it lacks hold their events until durable.
        let recovered = recoverStateful(records, rematchFrom: resolved.rematchFrom)
        for firing in recovered.unsent { tracker.hold(firing.hold) }
        node = Node(
            policy: JournalerPolicy(limits: limits, lingers: !fsyncAlways, nowNanoseconds: now),
            tracker: tracker,
            slots: slots,
            stateful: recovered.state
        )
        for firing in recovered.unsent {
            node!.ring.append(SimEvent(id: firing.id, kind: SimulationTrigger.firingKind, emittedNanoseconds: now))
            node!.stateful!.holds[firing.id] = firing.hold
            note("re-fed firing for event \(firing.hold) emitted")
        }
        if !recovered.unsent.isEmpty { schedule(.journal, after: 0) }
        note("restart: log end \(logEnd), re-match from \(resolved.rematchFrom), \(plan.jobs.count) jobs")
        for job in plan.jobs {
            startDelivery(job.sequence, webhook: job.webhook, eventID: job.payload.id, attemptsMade: job.attemptsMade)
        }
        schedule(.tick, after: 10 * Self.millisecond)
    }

    /// `RecoveryCheckpoints.load`'s rules over the simulated files: both files agree, or the settled
    /// checkpoint alone; every value clamped to the log's end.
    func resolveCheckpoints(
        logEnd: UInt64
    ) -> (
        rematchFrom: UInt64, newWebhookStart: UInt64, checkpointOf: [String: UInt64],
        pendingOf: [String: [WebhookCheckpoints.Pending]]
    ) {
        let settled = min(disk.settledCheckpoint ?? 0, logEnd)
        guard let bytes = disk.webhookCheckpoints, let file = try? WebhookCheckpoints(decoding: bytes),
            file.settled == disk.settledCheckpoint
        else { return (settled, settled, [:], [:]) }
        var checkpointOf: [String: UInt64] = [:]
        var pendingOf: [String: [WebhookCheckpoints.Pending]] = [:]
        for webhook in file.webhooks {
            let checkpoint = min(webhook.checkpoint, logEnd)
            checkpointOf[webhook.name] = checkpoint
            let pending = webhook.pending.filter { $0.eventSequence < checkpoint }
            if !pending.isEmpty { pendingOf[webhook.name] = pending }
        }
        return (min(file.rematchFrom, logEnd), min(file.matchedEnd, logEnd), checkpointOf, pendingOf)
    }

    // MARK: Invariants at the end

    mutating func checkFinal() {
        guard violations.isEmpty else { return }
        let records = SimulationFrames.decode(disk.synced + disk.unsynced).records
        var eventCount: [EventID: Int] = [:]
        var events: [(sequence: UInt64, event: SimEvent)] = []
        var finals: Set<PairKey> = []
        for record in records {
            if record.type == .event, let event = SimEvent(body: record.body) {
                eventCount[event.id, default: 0] += 1
                events.append((record.sequence, event))
            } else if record.type == .deliveryOutcome, let outcome = try? DeliveryOutcomeRecord(decoding: record.body),
                outcome.outcome.isFinal
            {
                finals.insert(PairKey(sequence: outcome.eventSequence, webhook: outcome.webhook))
            }
        }
        for id in acknowledged where eventCount[id] != 1 {
            violate("acknowledged event \(id.low) is in the log \(eventCount[id] ?? 0) times")
            return
        }
        for (id, count) in eventCount where count > 1 {
            violate("event \(id.low) is in the log \(count) times")
            return
        }
        let acknowledgedSet = Set(acknowledged)
        for (sequence, event) in events where acknowledgedSet.contains(event.id) {
            for webhook in webhooks where webhook.initial && webhook.kinds.contains(event.kind) {
                let key = PairKey(sequence: sequence, webhook: webhook.name)
                if !matchedPairs.contains(key) {
                    violate("acknowledged event \(sequence) was never matched to \(webhook.name)")
                    return
                }
            }
        }
        for pair in matchedPairs.sorted() where !finals.contains(pair) {
            violate(
                "\(pair.webhook)/\(pair.sequence) was matched but is neither delivered nor dead-lettered in the log"
            )
            return
        }
        checkStatefulFirings(records)
    }
}
