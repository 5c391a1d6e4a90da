/// What a pipeline start queues again, decided in one pass over the log from the re-match point: the
/// checkpoints (each webhook's checkpoint and the pending pairs it carries), the events (with the
/// webhooks they match now) and the delivery outcome records fold into the jobs to queue, the pairs the
/// settled tracker carries, and the webhooks whose backlog stays in the log (``Spill``).
///
/// A pure value in the style of `DeliveryStateMachine`: no clock, no I/O, no lock. The driver reads the
/// log and feeds it in log order — first the carried events below the re-match point
/// (``carriedSequencesBelowRematch``, found by index seeks, not a pass), then every record from the
/// re-match point on (``event(_:pairs:payload:)``, ``outcome(_:)``) — then fetches the few events a
/// redrive re-opened after their payload was let go (``sequencesToRefetch``, ``supply(_:payload:)``) and
/// takes the ``Plan`` (``finish()``).
///
/// Outcome records follow their event in the log, so a pair matched in the pass becomes final only when
/// its record comes by: until then it counts against its webhook's in-memory ``bound`` (the driver's
/// per-webhook bound, ``WebhookSpill`` in the pipeline), and a webhook holding `bound` pairs not known to
/// be final leaves its later deliveries in the log from there (the spill's read-back queues them). The
/// payload of a pair is let go as soon as it is final, so at most `bound` payloads per webhook are held.
package struct RecoveryPlanner<Payload> {
    /// One pair from a checkpoint: an event below its webhook's checkpoint whose delivery is not final.
    package struct CarriedPair: Equatable, Sendable {
        package var sequence: UInt64
        package var webhook: Int
        /// Attempts made, per the checkpoint (a later `retrying` record overrides it).
        package var attempt: Int

        package init(sequence: UInt64, webhook: Int, attempt: Int) {
            self.sequence = sequence
            self.webhook = webhook
            self.attempt = attempt
        }
    }

    /// What an outcome record says about a pair (the planner needs no more of it).
    package enum OutcomeKind: Equatable, Sendable {
        /// Delivered or dead-lettered.
        case final
        /// A failed attempt with a retry to come.
        case retrying(attempt: Int)
        /// A dead letter sent again: not final, attempts start over.
        case redriveRequested
    }

    package struct Outcome: Equatable, Sendable {
        package var eventSequence: UInt64
        /// The webhook's name (the identity across restarts); a name not configured is ignored.
        package var webhook: String
        package var kind: OutcomeKind

        package init(eventSequence: UInt64, webhook: String, kind: OutcomeKind) {
            self.eventSequence = eventSequence
            self.webhook = webhook
            self.kind = kind
        }
    }

    /// A delivery to queue again: attempt `attemptsMade + 1` comes next.
    package struct Job {
        package var sequence: UInt64
        package var webhook: Int
        package var trigger: Int
        package var attemptsMade: Int
        /// From a checkpoint's carried pairs (the tracker carries it rather than queueing it).
        package var carried: Bool
        package var payload: Payload
    }

    /// A webhook whose backlog from `start` on stays in the log, and what the log says about it there.
    package struct Spill: Equatable, Sendable {
        package var start: UInt64
        /// Events at or after `start` whose delivery to the webhook is already final.
        package var final: Set<UInt64> = []
        /// Attempts already made for events at or after `start`.
        package var attempts: [UInt64: Int] = [:]

        package init(start: UInt64, final: Set<UInt64> = [], attempts: [UInt64: Int] = [:]) {
            self.start = start
            self.final = final
            self.attempts = attempts
        }
    }

    /// An event of the pass whose deliveries the tracker is told about, in log order.
    package struct Matched: Equatable, Sendable {
        package var sequence: UInt64
        /// Webhooks whose spill starts at this event (before it is reported).
        package var spillsStarting: [Int]
        /// The (webhook, trigger) pairs queued for it.
        package var pairs: [Pair]
    }

    package struct Pair: Equatable, Sendable {
        package var webhook: Int
        package var trigger: Int

        package init(webhook: Int, trigger: Int) {
            self.webhook = webhook
            self.trigger = trigger
        }
    }

    package struct Counts: Equatable, Sendable {
        package var eventsRematched = 0
        /// Every job queued (carried ones included).
        package var deliveriesResumed = 0
        package var deliveriesAlreadyFinal = 0
        /// Jobs from carried pairs.
        package var deliveriesCarried = 0
        /// Carried pairs whose webhook is gone, whose event is gone, or that the webhook no longer matches.
        package var deliveriesDropped = 0
    }

    package struct Plan {
        /// Carried jobs by sequence, then the pass's jobs in log order.
        package var jobs: [Job]
        /// Events to report to the tracker, in log order (only those with queued pairs or spill starts).
        package var matched: [Matched]
        /// One past the last event of the pass (`nil`: no event at or after the re-match point).
        package var matchedEnd: UInt64?
        /// By webhook number.
        package var spills: [Int: Spill]
        package var counts: Counts
    }

    fileprivate struct Candidate {
        var sequence: UInt64
        var webhook: Int
        var trigger: Int
        var attempt: Int
        var recordedAttempt: Int?
        var final = false
        var carried: Bool
        var payload: Payload?
    }

    private struct Key: Hashable, Sendable {
        var sequence: UInt64
        var webhook: Int
    }

    private enum CarriedState: Sendable {
        /// Not seen yet (its event has not come by).
        case unseen(attempt: Int, recordedAttempt: Int?, final: Bool)
        /// Seen and queued: the candidate at this index.
        case queued(Int)
        /// Its event came by but no longer matches the webhook.
        case unmatched(final: Bool)
    }

    package let rematchFrom: UInt64
    package let bound: Int
    private let checkpointOfWebhook: [UInt64]
    private let numberOfName: [String: Int]
    private var carriedOfSequence: [UInt64: [Int]] = [:]
    private var carried: [Key: CarriedState] = [:]
    fileprivate var candidates: [Candidate] = []
    private var candidateOfKey: [Key: Int] = [:]
    /// Pairs not known final (queued candidates) per webhook number.
    private var held: [Int]
    private var spills: [Int: Spill] = [:]
    private var matched: [Matched] = []
    private var matchedEnd: UInt64?
    private var counts = Counts()
    private var passStarted = false

    /// - Parameters:
    ///   - rematchFrom: the pass starts here.
    ///   - webhookNames: the configured webhooks, by number (names are the identity across restarts).
    ///   - checkpointOfWebhook: by number: events below it are not re-matched for that webhook.
    ///   - carried: by webhook name, the pending pairs the checkpoints carry (names no longer configured
    ///     count as dropped).
    ///   - bound: pairs not known final a webhook may hold in memory before it spills.
    package init(
        rematchFrom: UInt64,
        webhookNames: [String],
        checkpointOfWebhook: [UInt64],
        carried: [String: [WebhookCheckpoints.Pending]],
        bound: Int
    ) {
        precondition(webhookNames.count == checkpointOfWebhook.count)
        self.rematchFrom = rematchFrom
        self.bound = bound
        self.checkpointOfWebhook = checkpointOfWebhook
        var numberOfName: [String: Int] = [:]
        for (number, name) in webhookNames.enumerated() { numberOfName[name] = number }
        self.numberOfName = numberOfName
        held = [Int](repeating: 0, count: webhookNames.count)
        // In name order, not the dictionary's (which changes per process): the order of a sequence's carried
        // webhooks becomes the order of its jobs, and a run must be the same every time (the simulation's seeds).
        for (name, pending) in carried.sorted(by: { $0.key < $1.key }) {
            guard let number = numberOfName[name] else {
                counts.deliveriesDropped += pending.count  // removed, or renamed: names are the identity
                continue
            }
            for pair in pending {
                let key = Key(sequence: pair.eventSequence, webhook: number)
                guard self.carried[key] == nil else { continue }
                self.carried[key] = .unseen(attempt: Int(pair.attempt), recordedAttempt: nil, final: false)
                carriedOfSequence[pair.eventSequence, default: []].append(number)
                held[number] += 1  // carried pairs are always queued: they count against the bound first
            }
        }
    }

    /// The carried events below ``rematchFrom``, sorted: the driver reads them (by index seeks) and hands
    /// each to ``carriedEvent(_:pairs:payload:)`` before the pass.
    package var carriedSequencesBelowRematch: [UInt64] {
        carriedOfSequence.keys.filter { $0 < rematchFrom }.sorted()
    }

    /// A carried event below ``rematchFrom`` with the (webhook, trigger) pairs it matches now.
    package mutating func carriedEvent(_ sequence: UInt64, pairs: [Pair], payload: Payload) {
        precondition(!passStarted && sequence < rematchFrom, "carried events below the re-match point come first")
        takeCarried(sequence, pairs: pairs, payload: payload)
    }

    /// An event record at or after ``rematchFrom``, in log order, with the (webhook, trigger) pairs it
    /// matches now (each webhook once).
    package mutating func event(_ sequence: UInt64, pairs: [Pair], payload: Payload) {
        precondition(sequence >= rematchFrom && sequence >= (matchedEnd ?? 0), "events come in log order")
        passStarted = true
        counts.eventsRematched += 1
        matchedEnd = sequence + 1
        takeCarried(sequence, pairs: pairs, payload: payload)
        var entry = Matched(sequence: sequence, spillsStarting: [], pairs: [])
        for pair in pairs where sequence >= checkpointOfWebhook[pair.webhook] {
            if let spill = spills[pair.webhook], spill.start <= sequence { continue }
            if held[pair.webhook] >= bound {
                spills[pair.webhook] = Spill(start: sequence)
                entry.spillsStarting.append(pair.webhook)
                continue
            }
            held[pair.webhook] += 1
            let key = Key(sequence: sequence, webhook: pair.webhook)
            candidateOfKey[key] = candidates.count
            candidates.append(
                Candidate(
                    sequence: sequence,
                    webhook: pair.webhook,
                    trigger: pair.trigger,
                    attempt: 0,
                    carried: false,
                    payload: payload
                )
            )
            entry.pairs.append(pair)
        }
        if !entry.pairs.isEmpty || !entry.spillsStarting.isEmpty { matched.append(entry) }
    }

    /// An outcome record at or after ``rematchFrom``, in log order.
    package mutating func outcome(_ outcome: Outcome) {
        passStarted = true
        guard let webhook = numberOfName[outcome.webhook] else { return }
        let key = Key(sequence: outcome.eventSequence, webhook: webhook)
        if let spill = spills[webhook], spill.start <= outcome.eventSequence {
            switch outcome.kind {
            case .final: spills[webhook]!.final.insert(outcome.eventSequence)
            case .retrying(let attempt):
                spills[webhook]!.attempts[outcome.eventSequence] = max(
                    spill.attempts[outcome.eventSequence] ?? 0,
                    attempt
                )
            case .redriveRequested:
                spills[webhook]!.final.remove(outcome.eventSequence)
                spills[webhook]!.attempts[outcome.eventSequence] = 0
            }
            return
        }
        if let index = candidateOfKey[key] {
            apply(outcome.kind, to: index)
        } else if let state = carried[key] {
            // A carried pair whose event has not come by (or no longer matches).
            switch (state, outcome.kind) {
            case (.unseen(let attempt, let recorded, let final), .final):
                carried[key] = .unseen(attempt: attempt, recordedAttempt: recorded, final: true)
                if !final { held[webhook] -= 1 }
            case (.unseen(let attempt, let recorded, let final), .retrying(let made)):
                carried[key] = .unseen(attempt: attempt, recordedAttempt: max(recorded ?? 0, made), final: final)
            case (.unseen(let attempt, _, let final), .redriveRequested):
                carried[key] = .unseen(attempt: attempt, recordedAttempt: 0, final: false)
                if final { held[webhook] += 1 }
            case (.unmatched, .final): carried[key] = .unmatched(final: true)
            case (.unmatched, .redriveRequested): carried[key] = .unmatched(final: false)
            case (.unmatched, .retrying), (.queued, _): break
            }
        }
        // Otherwise the pair is not one a restart resumes (below its webhook's checkpoint and not carried,
        // or its event no longer matches the webhook).
    }

    /// Events whose pairs a redrive re-opened after their payload was let go: the driver reads them back
    /// and hands each to ``supply(_:payload:)`` (rare: a redrive of a delivery that ended after the re-match point).
    package var sequencesToRefetch: [UInt64] {
        Set(candidates.lazy.filter { !$0.final && $0.payload == nil }.map(\.sequence)).sorted()
    }

    /// The payload of an event ``sequencesToRefetch`` named.
    package mutating func supply(_ sequence: UInt64, payload: Payload) {
        for index in candidates.indices where candidates[index].sequence == sequence && !candidates[index].final {
            candidates[index].payload = payload
        }
    }

    /// The plan. Pairs whose payload was asked for (``sequencesToRefetch``) and never supplied are dropped
    /// (their event is gone from the log).
    package func finish() -> Plan {
        var counts = self.counts
        var carriedJobs: [Job] = []
        var liveJobs: [Job] = []
        var dropped = Set<Key>()
        for candidate in candidates {
            guard !candidate.final else { continue }
            guard let payload = candidate.payload else {
                dropped.insert(Key(sequence: candidate.sequence, webhook: candidate.webhook))
                counts.deliveriesDropped += 1
                continue
            }
            let job = Job(
                sequence: candidate.sequence,
                webhook: candidate.webhook,
                trigger: candidate.trigger,
                attemptsMade: candidate.recordedAttempt ?? candidate.attempt,
                carried: candidate.carried,
                payload: payload
            )
            if candidate.carried { carriedJobs.append(job) } else { liveJobs.append(job) }
        }
        for state in carried.values {
            switch state {
            case .unseen(_, _, let final), .unmatched(let final):
                if final { counts.deliveriesAlreadyFinal += 1 } else { counts.deliveriesDropped += 1 }
            case .queued: break
            }
        }
        carriedJobs.sort { ($0.sequence, $0.webhook) < ($1.sequence, $1.webhook) }
        counts.deliveriesCarried = carriedJobs.count
        counts.deliveriesResumed = carriedJobs.count + liveJobs.count
        var reported: [Matched] = []
        for var entry in matched {
            entry.pairs.removeAll { pair in
                let key = Key(sequence: entry.sequence, webhook: pair.webhook)
                return candidateOfKey[key].map { candidates[$0].final } ?? true || dropped.contains(key)
            }
            if !entry.pairs.isEmpty || !entry.spillsStarting.isEmpty { reported.append(entry) }
        }
        return Plan(
            jobs: carriedJobs + liveJobs,
            matched: reported,
            matchedEnd: matchedEnd,
            spills: spills,
            counts: counts
        )
    }

    // MARK: Helpers

    private mutating func takeCarried(_ sequence: UInt64, pairs: [Pair], payload: Payload) {
        guard let webhooks = carriedOfSequence.removeValue(forKey: sequence) else { return }
        for webhook in webhooks {
            let key = Key(sequence: sequence, webhook: webhook)
            guard case .unseen(let attempt, let recorded, let final) = carried[key] else { continue }
            guard let trigger = pairs.first(where: { $0.webhook == webhook })?.trigger else {
                carried[key] = .unmatched(final: final)  // its triggers no longer send this event to it
                if !final { held[webhook] -= 1 }
                continue
            }
            carried[key] = .queued(candidates.count)
            candidateOfKey[key] = candidates.count
            candidates.append(
                Candidate(
                    sequence: sequence,
                    webhook: webhook,
                    trigger: trigger,
                    attempt: attempt,
                    recordedAttempt: recorded,
                    final: final,
                    carried: true,
                    payload: final ? nil : payload
                )
            )
            if final { counts.deliveriesAlreadyFinal += 1 }
        }
    }

    private mutating func apply(_ kind: OutcomeKind, to index: Int) {
        let webhook = candidates[index].webhook
        switch kind {
        case .final:
            guard !candidates[index].final else { return }  // a duplicate delivery after a crash
            candidates[index].final = true
            candidates[index].payload = nil
            held[webhook] -= 1
            counts.deliveriesAlreadyFinal += 1
        case .retrying(let attempt):
            candidates[index].recordedAttempt = max(candidates[index].recordedAttempt ?? 0, attempt)
        case .redriveRequested:
            candidates[index].recordedAttempt = 0
            guard candidates[index].final else { return }
            candidates[index].final = false
            held[webhook] += 1
            counts.deliveriesAlreadyFinal -= 1
        }
    }
}

extension RecoveryPlanner: Sendable where Payload: Sendable {}
extension RecoveryPlanner.Job: Sendable where Payload: Sendable {}
extension RecoveryPlanner.Plan: Sendable where Payload: Sendable {}
extension RecoveryPlanner.Candidate: Sendable where Payload: Sendable {}
