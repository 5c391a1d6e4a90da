/// What a stateful trigger did: fired (threshold met, or — Proactive — not met by the end of a window)
/// or resolved, with the `sluice.trigger.fired` / `sluice.trigger.resolved` event describing it.
public struct TriggerOutcome: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case fired
        case resolved
    }

    public var kind: Kind
    /// The index into the machine's triggers.
    public var trigger: Int
    /// The `for_each` labels, sorted by label name, with the values of this bucket (`""` when absent).
    public var labels: [ResourceDraft.Label]
    /// Events counted in the window (Reactive: ≥ threshold; Proactive: < threshold).
    public var count: Int
    public var windowStart: Timestamp
    public var windowEnd: Timestamp
    /// The event that made it fire (Reactive) or the window's last event, if any.
    public var triggeringEventID: EventID?
    /// The event, in the Prefect wire shape (`EventDraft.encoded()` decodes with ``EventDecoder``).
    public var event: EventDraft
}

/// Prefect's stateful trigger evaluation (spec §b.4, `triggers.py` `reactive_evaluation`, `evaluate`,
/// `proactive_evaluation`) as a pure state machine: time comes in as event `occurred` times and as the
/// passed-in clock of ``advance(to:into:)``; randomness (event ids) from a seed.
///
/// - Buckets per (trigger, `for_each` values); each has a window `[start, end)` and a count.
/// - Reactive fires as soon as the count reaches `threshold` ("eagerly"); the next window starts at the end
///   of the one it fired in, and events before that are dropped. `within == 0` is "immediate": every
///   expected event counts whatever its time and every `threshold`-th fires.
/// - Without `after`, a first bucket starts 15 minutes before its first event (Prefect's lookback) and ends
///   at `occurred + within`. With `after`, only an `after` event opens a bucket, `[occurred, occurred +
///   within)`, counting from −1 when the same event is also expected. A Proactive trigger whose event is in
///   both restarts its window at each such event (Prefect's heartbeat case, `crash-zombie-flows`).
/// - Proactive fires when a window ends with count < `threshold`; a trigger without `for_each` always has
///   a window open (from the start, then back to back), so — as in Prefect — `after` does not gate it;
///   use `for_each` to watch per resource.
/// - Resolution (Sluice's definition; Prefect emits `.resolved` only for composite and metric triggers):
///   a Reactive firing with `within > 0` resolves when the window it fired in ends; a Proactive firing
///   resolves when the next expected event for the same bucket arrives.
///
/// Bounded: at most ``bucketCountMax`` buckets; an event that would open one more is counted in
/// ``droppedBucketCount`` instead (reported, never silent). Not thread-safe; one owner thread.
public struct TriggerStateMachine {
    public let triggers: [TriggerDefinition]
    public let bucketCountMax: Int
    /// A Proactive window is at least this long (Prefect's 10 s; `within: 0` means this).
    public let proactiveWithinMinimumSeconds: Double
    /// Events that found no room for a new bucket.
    public private(set) var droppedBucketCount = 0
    /// Prefect's `PRECEDING_EVENT_LOOKBACK`.
    public static let lookbackMicroseconds: Int64 = 15 * 60 * 1_000_000
    /// Prefect's `PREFECT_EVENTS_EXPIRED_BUCKET_BUFFER`: expired Reactive buckets are swept this long after
    /// their end.
    public static let expiredBucketBufferMicroseconds: Int64 = 60 * 1_000_000

    struct BucketKey: Hashable {
        let trigger: Int
        let values: [String]
    }

    struct Bucket {
        var start: Timestamp
        var end: Timestamp
        var count: Int
        var lastEvent: EventID?
        var generation: UInt64
    }

    enum Timer {
        case bucketEnd(BucketKey, generation: UInt64)
        case resolve(BucketKey, start: Timestamp, end: Timestamp, count: Int)
    }

    /// `for_each` label readers per trigger, sorted by label name as Prefect sorts them.
    private let forEach: [[LabelReader]]
    private var buckets: [BucketKey: Bucket] = [:]
    private var firedProactively: Set<BucketKey> = []
    private var wheel: TimerWheel<Timer>
    private var random: SplitMix64
    private var generation: UInt64 = 0
    private var now: Timestamp

    struct LabelReader {
        let name: String
        /// `related:<role>:<label>` reads the first related resource with that role.
        let role: Symbol?
        let label: Symbol
    }

    /// - Parameters:
    ///   - symbols: the decoder's table (the `for_each` label keys are interned once, here).
    ///   - start: the clock now; Proactive triggers without `for_each` open their first window here.
    ///   - seed: for the ids of the outcome events.
    ///   - proactiveWithinMinimumSeconds: Prefect's 10 s; shorter only for tests that cannot wait.
    public init(
        triggers: [TriggerDefinition],
        symbols: SymbolTable,
        start: Timestamp,
        seed: UInt64,
        bucketCountMax: Int = 100_000,
        proactiveWithinMinimumSeconds: Double = 10
    ) {
        precondition(bucketCountMax >= 1, "bucketCountMax must be at least 1")
        precondition(proactiveWithinMinimumSeconds > 0, "proactiveWithinMinimumSeconds must be positive")
        self.triggers = triggers
        self.bucketCountMax = bucketCountMax
        self.proactiveWithinMinimumSeconds = proactiveWithinMinimumSeconds
        self.now = start
        wheel = TimerWheel(start: start)
        random = SplitMix64(seed: seed)
        forEach = triggers.map { trigger in
            trigger.forEach.sorted().map { Self.reader($0, symbols) }
        }
        for (number, trigger) in triggers.enumerated()
        where trigger.enabled && trigger.posture == .proactive && trigger.forEach.isEmpty {
            _ = ensure(BucketKey(trigger: number, values: []), start: start, end: start + within(trigger), 0, nil)
        }
    }

    private static func reader(_ name: String, _ symbols: SymbolTable) -> LabelReader {
        func intern(_ text: String) -> Symbol {
            guard let symbol = symbols.intern(text) else { preconditionFailure("symbol table full") }
            return symbol
        }
        let parts = name.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        if parts.count == 3 && parts[0] == "related" {
            return LabelReader(name: name, role: intern(String(parts[1])), label: intern(String(parts[2])))
        }
        return LabelReader(name: name, role: nil, label: intern(name))
    }

    /// `true` when the trigger needs no state: Reactive, threshold 1, immediate, no `after` (every Infrahub
    /// trigger): it fires for every hit with ``TriggerHit/expects``, so callers may skip the machine.
    public static func isStateless(_ trigger: TriggerDefinition) -> Bool {
        trigger.posture == .reactive && trigger.threshold == 1 && trigger.withinSeconds == 0
            && trigger.events.after.isEmpty
    }

    /// The window in microseconds (Proactive `within: 0` means the minimum, Prefect's 10 s).
    private func within(_ trigger: TriggerDefinition) -> Int64 {
        let seconds =
            trigger.posture == .proactive
            ? max(trigger.withinSeconds, proactiveWithinMinimumSeconds) : trigger.withinSeconds
        return Int64((seconds * 1e6).rounded())
    }

    // MARK: - Events

    /// Evaluates `event` for the trigger it reached (`hit`, from a ``TriggerMatcher``), at the event's time.
    public mutating func observe(_ event: Event, hit: TriggerHit, into outcomes: inout [TriggerOutcome]) {
        let trigger = triggers[hit.trigger]
        guard trigger.enabled else { return }
        let key = BucketKey(trigger: hit.trigger, values: forEach[hit.trigger].map { value($0, event) })
        let occurred = event.header.occurred
        var bucket: Bucket?
        if !trigger.events.after.isEmpty && hit.startsAfter {
            bucket = ensure(
                key,
                start: occurred,
                end: occurred + within(trigger),
                hit.expects ? -1 : 0,
                event.header.id
            )
        }
        if bucket == nil && trigger.events.after.isEmpty && hit.expects {
            let start = occurred + -Self.lookbackMicroseconds
            bucket = ensure(key, start: start, end: occurred + within(trigger), 0, event.header.id)
        }
        guard hit.expects, let current = bucket ?? buckets[key] else { return }
        evaluate(
            key,
            current,
            now: occurred,
            triggeringEvent: event.header.id,
            startsAfter: !trigger.events.after.isEmpty && hit.startsAfter,
            &outcomes
        )
    }

    private func value(_ reader: LabelReader, _ event: Event) -> String {
        guard let role = reader.role else { return event.labelValue(reader.label, of: event.header.primary) ?? "" }
        guard let resource = event.header.firstRelated(role: role) else { return "" }
        return event.labelValue(reader.label, of: resource) ?? ""
    }

    /// Prefect's `evaluate`: spend the event's count in the open bucket (or the next), fire, roll the window.
    /// `startsAfter`: the triggering event also matches the trigger's `after`.
    private mutating func evaluate(
        _ key: BucketKey,
        _ current: Bucket,
        now: Timestamp,
        triggeringEvent: EventID?,
        startsAfter: Bool = false,
        _ outcomes: inout [TriggerOutcome]
    ) {
        let trigger = triggers[key.trigger]
        let immediate = trigger.posture == .reactive && trigger.withinSeconds == 0
        var bucket = current
        var count = triggeringEvent == nil ? 0 : 1
        if now < bucket.start { return }  // a late event for a window already over
        if count > 0 && (immediate || (bucket.start <= now && now < bucket.end)) {
            bucket.count += count
            bucket.lastEvent = triggeringEvent
            buckets[key]?.count = bucket.count
            buckets[key]?.lastEvent = triggeringEvent
            count = 0
            if trigger.posture == .proactive, firedProactively.remove(key) != nil {
                outcomes.append(outcome(.resolved, key, bucket, triggeringEvent, at: now))
            }
        }
        let readyToFire = trigger.posture == .reactive || bucket.end <= now
        let meetsThreshold =
            trigger.posture == .reactive ? bucket.count >= trigger.threshold : bucket.count < trigger.threshold
        if readyToFire && meetsThreshold {
            outcomes.append(outcome(.fired, key, bucket, triggeringEvent ?? bucket.lastEvent, at: now))
            buckets[key] = nil
            if trigger.posture == .proactive { firedProactively.insert(key) }
            if trigger.posture == .reactive && !immediate {
                wheel.schedule(at: bucket.end, .resolve(key, start: bucket.start, end: bucket.end, count: bucket.count))
            }
        } else if now < bucket.end {
            // Prefect's special case: a Proactive trigger whose event is in both `after` and `expect` (a
            // heartbeat: after one, expect the next within the window) restarts its window at each such
            // event once the window has what it expects, so silence after the last one is measured from it.
            if let triggeringEvent, trigger.posture == .proactive, !meetsThreshold, startsAfter {
                var restarted = replace(key, start: now, end: now + within(trigger), count: 0)
                restarted.lastEvent = triggeringEvent
                buckets[key] = restarted
            }
            return
        }
        if !trigger.events.after.isEmpty {
            buckets[key] = nil
            return
        }
        if immediate { return }
        let start = max(bucket.end, now)
        let end = start + within(trigger)
        if trigger.posture == .reactive && count > 0 {
            let next = replace(key, start: start, end: end, count: 0)
            evaluate(key, next, now: now, triggeringEvent: triggeringEvent, startsAfter: startsAfter, &outcomes)
        } else {
            _ = replace(key, start: start, end: end, count: count)
        }
    }

    // MARK: - Time

    /// Moves the clock to `now`: Proactive windows that ended are evaluated (firing when too few events
    /// came), fired Reactive windows that ended resolve, and expired Reactive buckets are swept.
    public mutating func advance(to time: Timestamp, into outcomes: inout [TriggerOutcome]) {
        guard time >= now else { return }
        now = time
        var due: [(deadline: Timestamp, payload: Timer)] = []
        wheel.advance(to: time, into: &due)
        for (deadline, timer) in due {
            switch timer {
            case .resolve(let key, let start, let end, let count):
                let window = Bucket(start: start, end: end, count: count, lastEvent: nil, generation: 0)
                outcomes.append(outcome(.resolved, key, window, nil, at: deadline))
            case .bucketEnd(let key, let bucketGeneration):
                guard let bucket = buckets[key], bucket.generation == bucketGeneration else { continue }  // stale
                expire(key, bucket, &outcomes)
            }
        }
    }

    private mutating func expire(_ key: BucketKey, _ bucket: Bucket, _ outcomes: inout [TriggerOutcome]) {
        let trigger = triggers[key.trigger]
        guard trigger.posture == .proactive else {
            if bucket.end + Self.expiredBucketBufferMicroseconds <= now { buckets[key] = nil }
            return
        }
        if bucket.count >= trigger.threshold {
            // Prefect's `remove_buckets_exceeding_threshold`: enough came, nothing to fire.
            buckets[key] = nil
            if trigger.forEach.isEmpty { _ = ensure(key, start: now, end: now + within(trigger), 0, nil) }
            return
        }
        evaluate(key, bucket, now: now, triggeringEvent: nil, &outcomes)
        if trigger.forEach.isEmpty && buckets[key] == nil {
            _ = ensure(key, start: now, end: now + within(trigger), 0, nil)
        }
    }

    // MARK: - Buckets

    /// Prefect's `ensure_bucket`: the existing bucket unchanged, or a new one (`nil` when full).
    private mutating func ensure(
        _ key: BucketKey,
        start: Timestamp,
        end: Timestamp,
        _ initialCount: Int,
        _ lastEvent: EventID?
    ) -> Bucket? {
        if var existing = buckets[key] {
            if let lastEvent {
                existing.lastEvent = lastEvent
                buckets[key] = existing
            }
            return existing
        }
        guard buckets.count < bucketCountMax else {
            droppedBucketCount += 1
            return nil
        }
        var bucket = replace(key, start: start, end: end, count: initialCount)
        bucket.lastEvent = lastEvent
        buckets[key]?.lastEvent = lastEvent
        return bucket
    }

    /// Prefect's `start_new_bucket`: the bucket for `key` becomes this window, with a timer at its end.
    private mutating func replace(_ key: BucketKey, start: Timestamp, end: Timestamp, count: Int) -> Bucket {
        generation += 1
        let bucket = Bucket(start: start, end: end, count: count, lastEvent: nil, generation: generation)
        buckets[key] = bucket
        let trigger = triggers[key.trigger]
        if trigger.posture == .proactive || trigger.withinSeconds > 0 {
            let sweep = trigger.posture == .proactive ? end : end + Self.expiredBucketBufferMicroseconds
            wheel.schedule(at: sweep, .bucketEnd(key, generation: generation))
        }
        return bucket
    }

    // MARK: - Reconfiguration

    /// Takes over from `old` (a machine over an earlier configuration, on the same symbol table) the
    /// windows of every trigger that `mapping` maps (old trigger number → this machine's number): open
    /// buckets with their counts and ends, fired Proactive buckets awaiting resolution, and pending
    /// resolutions. Triggers not mapped keep the fresh state this machine started with.
    public mutating func adopt(from old: TriggerStateMachine, mapping: [Int: Int]) {
        guard !mapping.isEmpty else { return }
        func mapped(_ key: BucketKey) -> BucketKey? {
            mapping[key.trigger].map { BucketKey(trigger: $0, values: key.values) }
        }
        for (key, bucket) in old.buckets {
            guard let key = mapped(key) else { continue }
            var carried = replace(key, start: bucket.start, end: bucket.end, count: bucket.count)
            carried.lastEvent = bucket.lastEvent
            buckets[key] = carried
        }
        for key in old.firedProactively {
            if let key = mapped(key) { firedProactively.insert(key) }
        }
        for (deadline, timer) in old.wheel.pending {
            guard case .resolve(let key, let start, let end, let count) = timer, let key = mapped(key) else { continue }
            wheel.schedule(at: deadline, .resolve(key, start: start, end: end, count: count))
        }
        droppedBucketCount += old.droppedBucketCount
    }

    /// Open buckets (for tests and statistics).
    public var bucketCount: Int { buckets.count }

    // MARK: - Outcome events

    private mutating func outcome(
        _ kind: TriggerOutcome.Kind,
        _ key: BucketKey,
        _ bucket: Bucket,
        _ triggeringEvent: EventID?,
        at time: Timestamp
    ) -> TriggerOutcome {
        let trigger = triggers[key.trigger]
        let labels = zip(forEach[key.trigger], key.values).map { ResourceDraft.Label($0.name, $1) }
        var related: [ResourceDraft] = []
        if let triggeringEvent {
            related.append(ResourceDraft(id: "prefect.event.\(triggeringEvent)", role: "triggering-event"))
        }
        let payload: JSONValue = [
            "trigger": .string(trigger.name), "posture": .string(trigger.posture.rawValue),
            "threshold": .integer(trigger.threshold), "within": .number(String(trigger.withinSeconds)),
            "count": .integer(bucket.count),
            "window_start": .string(bucket.start.string(.prefect)), "window_end": .string(bucket.end.string(.prefect)),
            "triggering_labels": .object(JSONObject(labels.map { JSONObject.Member($0.key, .string($0.value)) })),
        ]
        let event = EventDraft(
            name: "sluice.trigger.\(kind.rawValue)",
            id: random.nextEventID(),
            occurred: time,
            resource: ResourceDraft(
                id: "sluice.trigger.\(trigger.name)",
                [("sluice.trigger.name", trigger.name), ("sluice.trigger.posture", trigger.posture.rawValue)]
            ),
            related: related,
            payloadData: payload.encoded()
        )
        return TriggerOutcome(
            kind: kind,
            trigger: key.trigger,
            labels: labels,
            count: bucket.count,
            windowStart: bucket.start,
            windowEnd: bucket.end,
            triggeringEventID: triggeringEvent,
            event: event
        )
    }
}

extension Timestamp {
    fileprivate static func + (time: Timestamp, microseconds: Int64) -> Timestamp {
        Timestamp(microsecondsSinceEpoch: time.microsecondsSinceEpoch + microseconds)
    }
}
