import SluiceCore
import SluiceStorage

/// The matcher's stateful triggers: a ``TriggerStateMachine`` over the routing's triggers, fed with the
/// hits of stateful triggers (their hits never deliver per event), and the outcome events it produces on
/// their way into the log.
///
/// ```
///  durable event ─ match ─┬─ stateless hits ──────────────────────────────▶ deliveries (event body)
///                         └─ stateful hits ─ machine ─ outcome event ─ emit ─▶ ring ─ journal ─┐
///  wall clock (every matcher turn) ─ machine.advance ─┘                                        │
///  durable `sluice.trigger.fired` of trigger T ◀───────────────────────────────────────────────┘
///    └─▶ deliveries of T's webhook actions (the triggering event's body, or the firing's own)
/// ```
///
/// - Outcome events (`sluice.trigger.fired` / `.resolved`) are emitted like any event, so they are
///   journaled, queryable and replayable, and every trigger and webhook can subscribe to them — except the
///   trigger that produced them: a trigger never observes events whose resource is
///   `sluice.trigger.<its name>` (no self-loop). Chains through other triggers are bounded by their windows.
/// - A firing's deliveries are queued when its `sluice.trigger.fired` event comes back durable, keyed by
///   that event's log sequence like any delivery (outcome records, restart, dead letters and redrive apply
///   unchanged). Its id — and so every `webhook-id` — is derived from the firing, not drawn at random, so a
///   firing recomputed after a restart has the same id and is recognized as already journaled.
/// - The event that made a trigger fire or resolve is not settled (the checkpoint stays below it) until
///   the outcome events it produced are durable, so a crash in between re-feeds it at restart.
///
/// Owned by the matcher thread (and by `start()` before the threads run). Not thread-safe.
struct StatefulTriggers {
    /// The routing generation the machine was built for.
    private(set) var generation: Int
    private(set) var machine: TriggerStateMachine
    private var outcomes: [TriggerOutcome] = []
    /// Outcome events not yet accepted by `emit` (backpressure), oldest first; `hold` is the log sequence
    /// of the event whose settlement waits for this one.
    private(set) var unsent: [(id: EventID, bytes: [UInt8], fallback: [UInt8]?, hold: UInt64?)] = []
    /// Emitted, not yet back from the log: outcome event id → held event sequence.
    private var holds: [EventID: UInt64] = [:]
    /// Ids of outcome events already in the log (found by ``recover``): never emitted again.
    private var journaled: Set<EventID> = []
    /// The largest event the pipeline accepts: a triggering event is embedded only when the firing fits.
    private let eventByteCountMax: Int

    /// Outcome events carry the resource `sluice.trigger.<trigger name>`.
    static let resourcePrefix = "sluice.trigger."

    /// - Parameter symbols: the ingest decoder's table (call under the ingest lock).
    init(routing: PipelineRouting, symbols: SymbolTable, start: Timestamp, configuration: PipelineConfiguration) {
        generation = routing.generation
        machine = TriggerStateMachine(
            triggers: routing.index.triggers,
            symbols: symbols,
            start: start,
            seed: 0,
            proactiveWithinMinimumSeconds: configuration.proactiveWithinMinimumSeconds
        )
        eventByteCountMax = configuration.eventLimits.eventByteCountMax
    }

    /// Takes `fresh`'s machine and generation (a reconfiguration), keeping the outcome events on their way
    /// and their holds. A stateful trigger whose definition is unchanged apart from its actions (same name,
    /// events, match, posture, threshold, within, for_each) keeps its windows; a changed, new or re-enabled
    /// one starts fresh, and a removed one's windows are dropped.
    mutating func replaceMachine(with fresh: StatefulTriggers) {
        var next = fresh.machine
        next.adopt(from: machine, mapping: Self.unchanged(from: machine.triggers, to: next.triggers))
        generation = fresh.generation
        machine = next
    }

    /// Old trigger number → new trigger number, for stateful triggers whose state rules did not change.
    static func unchanged(from old: [TriggerDefinition], to new: [TriggerDefinition]) -> [Int: Int] {
        func rules(_ trigger: TriggerDefinition) -> TriggerDefinition? {
            guard trigger.enabled, !TriggerStateMachine.isStateless(trigger) else { return nil }
            var rules = trigger
            rules.actions = []
            return rules
        }
        var newByName: [String: Int] = [:]
        for (number, trigger) in new.enumerated() where rules(trigger) != nil { newByName[trigger.name] = number }
        var mapping: [Int: Int] = [:]
        for (number, trigger) in old.enumerated() {
            guard let rule = rules(trigger), let target = newByName[trigger.name], rules(new[target]) == rule else {
                continue
            }
            mapping[number] = target
        }
        return mapping
    }

    var hasUnsent: Bool { !unsent.isEmpty }

    /// The log sequences the queued outcome events hold (after ``recover``: the tracker must hold them too).
    var recoveredHolds: [UInt64] { unsent.compactMap(\.hold) }

    // MARK: Events and time

    /// Feeds the stateful hits of `event` (the hits `TriggerMatcher` left in `hits`) to the machine and
    /// queues the outcome events; returns how many it queued with a hold on `sequence` (the caller
    /// counts them as deliveries of that event, finished by ``arrived(_:)``).
    mutating func observe(_ event: Event, hits: [TriggerHit], routing: PipelineRouting, sequence: UInt64?) -> Int {
        outcomes.removeAll(keepingCapacity: true)
        var source: Substring??
        for hit in hits where routing.isStatefulTrigger[hit.trigger] {
            if source == nil { source = Self.outcomeSource(event) }
            if let name = source!, name == routing.index.triggers[hit.trigger].name[...] { continue }  // its own
            machine.observe(event, hit: hit, into: &outcomes)
        }
        return queueOutcomes(triggering: event, hold: sequence, routing: routing)
    }

    /// Moves the machine's clock to `now` (windows end, fired Reactive windows resolve) and queues the
    /// outcome events.
    mutating func advance(to now: Timestamp, routing: PipelineRouting) {
        outcomes.removeAll(keepingCapacity: true)
        machine.advance(to: now, into: &outcomes)
        _ = queueOutcomes(triggering: nil, hold: nil, routing: routing)
    }

    private mutating func queueOutcomes(triggering: Event?, hold: UInt64?, routing: PipelineRouting) -> Int {
        var held = 0
        for outcome in outcomes {
            let trigger = routing.index.triggers[outcome.trigger]
            let embedded = triggering.flatMap { $0.header.id == outcome.triggeringEventID ? $0 : nil }
            let (id, bytes, fallback) = Self.outcomeEvent(
                outcome,
                trigger: trigger,
                triggering: embedded,
                eventByteCountMax
            )
            guard !journaled.contains(id) else { continue }
            unsent.append((id, bytes, fallback, hold))
            if hold != nil { held += 1 }
        }
        return held
    }

    /// Emits the queued outcome events through `emit` (the ingest path); stops at the first backpressure
    /// or refusal (the rest waits for the next matcher turn; the matcher's first turns can come before
    /// `start` opens ingest). An outcome event that can never be journaled (invalid) gives its hold to
    /// `release`; at a stop the unsent keep their holds, so the events stay unsettled and the next start
    /// re-feeds them.
    mutating func send(_ emit: ([UInt8]) -> Pipeline.EmitResult, release: (UInt64) -> Void) {
        var sent = 0
        for entry in unsent {
            var result = emit(entry.bytes)
            var fellBack = false
            if case .invalid = result, let fallback = entry.fallback {
                result = emit(fallback)
                fellBack = true
            }
            switch result {
            case .accepted:
                if let hold = entry.hold { holds[entry.id] = hold }
            case .backpressure:
                unsent.removeFirst(sent)
                if fellBack { unsent[0] = (entry.id, entry.fallback!, nil, entry.hold) }
                return
            case .invalid:
                if let hold = entry.hold { release(hold) }  // cannot be journaled: never settle-blocking
            case .stopped:
                // Not running (yet: the matcher's first turns come before `start` opens ingest, or any
                // more: a stop). Keep this and the rest for the next turn; at a stop, held events stay
                // unsettled and the next start re-feeds them.
                unsent.removeFirst(sent)
                return
            }
            sent += 1
        }
        unsent.removeAll(keepingCapacity: true)
    }

    /// A durable event reached the matcher: if it is an outcome event this machine emitted, returns the
    /// sequence of the event whose hold it releases.
    mutating func arrived(_ event: Event) -> UInt64? {
        guard !holds.isEmpty else { return nil }
        return holds.removeValue(forKey: event.header.id)
    }

    // MARK: Outcome events

    /// The trigger name of an outcome event (`sluice.trigger.*` named, resource `sluice.trigger.<name>`).
    static func outcomeSource(_ event: Event) -> Substring? {
        let name = event.slice(event.header.nameReference.range)
        guard name.starts(with: resourcePrefix.utf8),
            let resource = event.labelValue(.prefectResourceID, of: event.header.primary),
            resource.hasPrefix(resourcePrefix)
        else { return nil }
        return resource.dropFirst(resourcePrefix.utf8.count)
    }

    /// The trigger a `sluice.trigger.fired` event fires, when that trigger is stateful in `routing`, and
    /// the body its webhook actions get: the standard body (§c.4) of the triggering event embedded in the
    /// firing (Reactive), else the firing event's own standard body (Proactive, or a triggering event too
    /// large to embed).
    static func firing(of event: Event, routing: PipelineRouting) -> (trigger: Int, body: [UInt8])? {
        guard event.slice(event.header.nameReference.range).elementsEqual("sluice.trigger.fired".utf8),
            let name = outcomeSource(event), let trigger = routing.statefulTriggerOfName[String(name)]
        else { return nil }
        return (trigger, embeddedTriggeringEvent(event) ?? event.webhookBody())
    }

    /// `payload.data.triggering_event` of a firing, compacted, when present.
    static func embeddedTriggeringEvent(_ event: Event) -> [UInt8]? {
        guard let range = event.header.payloadDataRange else { return nil }
        let data = Array(event.bytes[range])
        let member: Range<Int>? = try? JSONScanner.withScanner(data) { scanner throws(JSONError) -> Range<Int>? in
            scanner.skipWhitespace()
            guard scanner.consume(UInt8(ascii: "{")) else { return nil }
            if scanner.consume(UInt8(ascii: "}")) { return nil }
            repeat {
                let key = try scanner.scanString()
                try scanner.expect(UInt8(ascii: ":"), "':'")
                scanner.skipWhitespace()
                let value = try scanner.skipValue()
                if scanner.bytes(in: key.range, equal: "triggering_event") { return value }
            } while try scanner.continueContainer(close: UInt8(ascii: "}"), "',' or '}'")
            return nil
        }
        guard let member, member.count > 0, data[member.lowerBound] == UInt8(ascii: "{") else { return nil }
        return JSONCompactor.compacted(Array(data[member]))
    }

    /// The outcome's event with its derived id; a Reactive firing embeds the triggering event's standard
    /// body as `payload.data.triggering_event` when the firing stays within `eventByteCountMax`
    /// (otherwise `triggering_event_omitted: true`). `fallback`, when it embedded one, is the same event
    /// with `triggering_event_omitted: true`, for when the embedding breaks another event limit (nesting).
    static func outcomeEvent(
        _ outcome: TriggerOutcome,
        trigger: TriggerDefinition,
        triggering: Event?,
        _ eventByteCountMax: Int
    ) -> (id: EventID, bytes: [UInt8], fallback: [UInt8]?) {
        var draft = outcome.event
        draft.id = outcomeID(outcome, trigger: trigger)
        guard outcome.kind == .fired, trigger.posture == .reactive, let triggering, var data = draft.payloadData,
            data.last == UInt8(ascii: "}")
        else { return (draft.id, draft.encoded(), nil) }
        data.removeLast()
        var omitted = draft
        omitted.payloadData = data + Array(#","triggering_event_omitted":true}"#.utf8)
        let body = triggering.webhookBody()
        guard data.count + body.count + 4_096 <= eventByteCountMax else { return (draft.id, omitted.encoded(), nil) }
        data.append(contentsOf: #","triggering_event":"#.utf8)
        data.append(contentsOf: body)
        data.append(UInt8(ascii: "}"))
        draft.payloadData = data
        return (draft.id, draft.encoded(), omitted.encoded())
    }

    /// A firing's id, the same whenever the same firing is computed again (after a restart):
    /// FNV-1a over `sluice-trigger-outcome-v1`, the trigger name, the kind and the `for_each` values, then
    /// the triggering event id (a Reactive firing, a Proactive resolution) or the window end (the others),
    /// spread to a v4-shaped id with SplitMix64.
    static func outcomeID(_ outcome: TriggerOutcome, trigger: TriggerDefinition) -> EventID {
        var high: UInt64 = 0xcbf2_9ce4_8422_2325
        var low: UInt64 = 0x8422_2325_cbf2_9ce4
        func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
            for byte in bytes {
                high = (high ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
                low = (low ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 &+ 1
            }
            high = (high ^ 0xFF) &* 0x0000_0100_0000_01B3  // a separator no UTF-8 text contains
            low = (low ^ 0xFF) &* 0x0000_0100_0000_01B3
        }
        feed("sluice-trigger-outcome-v1".utf8)
        feed(trigger.name.utf8)
        feed(outcome.kind.rawValue.utf8)
        for label in outcome.labels { feed(label.value.utf8) }
        let byEvent =
            (trigger.posture == .reactive && outcome.kind == .fired)
            || (trigger.posture == .proactive && outcome.kind == .resolved)
        if byEvent, let event = outcome.triggeringEventID {
            var text: [UInt8] = []
            event.append(to: &text)
            feed(text)
        } else {
            feed(String(outcome.windowEnd.microsecondsSinceEpoch).utf8)
        }
        var first = SplitMix64(seed: high)
        var second = SplitMix64(seed: low)
        return EventID.random(high: first.next(), low: second.next())
    }

    // MARK: Restart

    /// Rebuilds the machine after a restart by re-feeding the log (docs/triggers.md, "Stateful triggers in the pipeline"):
    /// every event record from `horizon` = (the earlier of `now` and the earliest `occurred` after
    /// the checkpoint, `firstEventMicrosecondsAfterCheckpoint`, which recovery's pass found) − 2 × the
    /// longest window, in log order, with the clock following the record times, then to `now`.
    /// Outcome events found in the log are remembered and never emitted again; outcomes the re-feed
    /// computes that the log lacks are queued, each holding its triggering event (``recoveredHolds``; the
    /// caller gives them to the tracker). Global Proactive windows (no `for_each`)
    /// restart: their outcomes from the re-feed are dropped.
    ///
    /// - Parameter decode: decodes an event record's body (the ingest decoder, under its lock).
    static func recover(
        routing: PipelineRouting,
        symbols: SymbolTable,
        directory: String,
        firstEventMicrosecondsAfterCheckpoint: Int64?,
        now: Timestamp,
        configuration: PipelineConfiguration,
        decode: ([UInt8]) -> Event?
    ) throws(SegmentLogError) -> StatefulTriggers {
        let anchor = min(
            firstEventMicrosecondsAfterCheckpoint ?? now.microsecondsSinceEpoch,
            now.microsecondsSinceEpoch
        )
        let horizon = Timestamp(microsecondsSinceEpoch: anchor - 2 * routing.longestWindowMicroseconds)
        var triggers = StatefulTriggers(
            routing: routing,
            symbols: symbols,
            start: horizon,
            configuration: configuration
        )
        var matcher = TriggerMatcher(index: routing.index)
        var hits: [TriggerHit] = []
        var clock = horizon
        _ = try LogReader.forEachRecord(directory: directory, fromTimestampMicroseconds: horizon.microsecondsSinceEpoch)
        {
            record in
            guard record.type == .event, let event = decode(record.body) else { return }
            if outcomeSource(event) != nil { triggers.journaled.insert(event.header.id) }
            let time = Timestamp(microsecondsSinceEpoch: min(record.timestampMicroseconds, now.microsecondsSinceEpoch))
            if time > clock {
                clock = time
                triggers.advance(to: clock, routing: routing)
            }
            hits.removeAll(keepingCapacity: true)
            matcher.match(event, into: &hits)
            // With a hold on the triggering event: an outcome the log lacks keeps that event unsettled until
            // it is durable, so a crash before then re-feeds it again (see `recoveredHolds`).
            _ = triggers.observe(event, hits: hits, routing: routing, sequence: record.sequence)
        }
        triggers.advance(to: now, routing: routing)
        triggers.unsent.removeAll { entry in
            // Re-feed outcomes of global Proactive windows are artefacts of the horizon's phase.
            guard let event = decode(entry.bytes), let name = outcomeSource(event),
                let number = routing.statefulTriggerOfName[String(name)]
            else { return false }
            let trigger = routing.index.triggers[number]
            return trigger.posture == .proactive && trigger.forEach.isEmpty || triggers.journaled.contains(entry.id)
        }
        return triggers
    }
}
