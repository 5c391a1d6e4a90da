import SluiceCore

/// The simulation's one stateful trigger (docs/simulation.md): Reactive, "`threshold` events of one
/// `sim.group` within `within`", through the real ``TriggerIndex``, ``TriggerMatcher`` and
/// ``TriggerStateMachine``, driven as the pipeline's matcher drives them (`StatefulTriggers`). Its
/// parameters come from their own generator, so adding it draws nothing from the run's.
///
/// The window is 1–3 s, longer than half a run, so the restart's re-feed horizon (earliest event after the
/// checkpoint, or now, minus 2 × within) always lies before the first event: the re-feed is exact and an
/// uninterrupted machine over the final log is the reference (docs/triggers.md lists the re-phasing a
/// shorter window may see across a restart; the simulation does not model it).
struct SimulationTrigger {
    /// The ingest decoder (its symbol table outlives the incarnations, as the machine's labels need).
    var decoder = EventDecoder()
    let definition: TriggerDefinition
    let index: TriggerIndex
    let withinMicroseconds: Int64
    /// The real matcher (not copyable: boxed; it keeps no state between events, so every machine shares it).
    let matcher: MatcherBox

    final class MatcherBox {
        var matcher: TriggerMatcher
        var hits: [TriggerHit] = []

        init(_ index: TriggerIndex) { matcher = TriggerMatcher(index: index) }
    }

    static let groupCount: UInt64 = 3
    /// The kind of a firing's event in the simulated log (no webhook subscribes to it, and the trigger
    /// never observes it: a trigger never counts its own outcome events).
    static let firingKind: UInt8 = 0xF0

    init(seed: UInt64) {
        var random = SimulationRandom(seed: seed ^ 0x5354_4154_4546_554C)
        let within = 1 + random.below(3)
        definition = TriggerDefinition(
            name: "sim-burst",
            events: EventNamePatterns(expect: ["sim.event"]),
            threshold: 2 + Int(random.below(3)),
            withinSeconds: Double(within),
            forEach: ["sim.group"]
        )
        withinMicroseconds = Int64(within) * 1_000_000
        index = TriggerIndex.compile([definition], symbols: decoder.symbols)
        matcher = MatcherBox(index)
    }

    static func group(of event: Simulation.SimEvent) -> UInt64 { (event.id.low >> 8) % groupCount }

    /// The event as ingest would decode it: `occurred` is its emission time on the simulated wall clock.
    mutating func event(_ event: Simulation.SimEvent) -> Event? {
        let group = Self.group(of: event)
        let draft = EventDraft(
            name: "sim.event",
            id: event.id,
            occurred: Self.time(event.emittedNanoseconds),
            resource: ResourceDraft(id: "sim.node.\(group)", [("sim.group", "\(group)")])
        )
        return try? draft.build(with: &decoder)
    }

    static func time(_ nanoseconds: UInt64) -> Timestamp {
        Timestamp(microsecondsSinceEpoch: Simulation.wallStart.microsecondsSinceEpoch + Int64(nanoseconds / 1_000))
    }

    /// A firing's event id, derived from the firing (its triggering event) as `StatefulTriggers.outcomeID`
    /// derives it: the same whenever the same firing is computed again. (An emitted event's `high` is its
    /// emission time, below 2^63, so a firing's never equals one.)
    static func firingID(of triggering: EventID) -> EventID { EventID(high: ~triggering.high, low: triggering.low) }

    static func triggeringID(ofFiring firing: EventID) -> EventID { EventID(high: ~firing.high, low: firing.low) }
}

/// One incarnation's stateful-trigger state (the matcher's `StatefulTriggers`).
struct SimulationStatefulState {
    var machine: TriggerStateMachine
    let matcher: SimulationTrigger.MatcherBox
    /// Firing ids found in the log by the re-feed: never emitted again.
    var journaled: Set<EventID> = []
    /// Emitted firings not yet back from the log: firing id → the sequence of the event it holds.
    var holds: [EventID: UInt64] = [:]
    private var outcomes: [TriggerOutcome] = []

    init(_ trigger: SimulationTrigger, start: Timestamp) {
        machine = TriggerStateMachine(
            triggers: [trigger.definition],
            symbols: trigger.decoder.symbols,
            start: start,
            seed: 0
        )
        matcher = trigger.matcher
    }

    /// Feeds `event`'s hits to the machine; returns the ids of the firings to emit (not already journaled).
    mutating func observe(_ event: Event) -> [EventID] {
        outcomes.removeAll(keepingCapacity: true)
        matcher.hits.removeAll(keepingCapacity: true)
        matcher.matcher.match(event, into: &matcher.hits)
        for hit in matcher.hits { machine.observe(event, hit: hit, into: &outcomes) }
        return outcomes.compactMap { outcome in
            guard outcome.kind == .fired, let triggering = outcome.triggeringEventID else { return nil }
            let id = SimulationTrigger.firingID(of: triggering)
            return journaled.contains(id) ? nil : id
        }
    }

    /// Moves the machine's clock (resolutions are not recorded: the simulation checks firings only).
    mutating func advance(to time: Timestamp) {
        outcomes.removeAll(keepingCapacity: true)
        machine.advance(to: time, into: &outcomes)
    }
}

extension Simulation {
    /// The matcher's stateful turn for the durable event at `sequence`: a firing coming back releases the
    /// hold on its triggering event; any other event is fed to the machine and its firings are emitted into
    /// the ring, each holding the event (returns how many: the tracker counts them as its deliveries).
    mutating func observeStateful(_ event: SimEvent, sequence: UInt64, node current: inout Node) -> Int {
        if event.kind == SimulationTrigger.firingKind {
            if let released = current.stateful?.holds.removeValue(forKey: event.id) {
                current.tracker.released(released)
            }
            return 0
        }
        guard let built = trigger.event(event), current.stateful != nil else { return 0 }
        var held = 0
        for id in current.stateful!.observe(built) {
            current.ring.append(SimEvent(id: id, kind: SimulationTrigger.firingKind, emittedNanoseconds: now))
            current.stateful!.holds[id] = sequence
            held += 1
            let group = SimulationTrigger.group(of: event)
            note("fire sim-burst on event \(sequence) (group \(group))")
        }
        if held > 0 { schedule(.journal, after: 0) }
        return held
    }

    /// `StatefulTriggers.recover`: the machine rebuilt by re-feeding the log's events from the horizon, in
    /// log order, the clock following them, then moved to now; firings found in the log are remembered,
    /// firings the log lacks are returned with the sequence of the event each holds.
    mutating func recoverStateful(
        _ records: [SimulationRecord],
        rematchFrom: UInt64
    ) -> (state: SimulationStatefulState, unsent: [(id: EventID, hold: UInt64)]) {
        let nowTime = SimulationTrigger.time(now)
        let first = records.dropFirst(Int(rematchFrom)).lazy.compactMap { record -> UInt64? in
            guard record.type == .event, let event = SimEvent(body: record.body),
                event.kind != SimulationTrigger.firingKind
            else { return nil }
            return event.emittedNanoseconds
        }.first
        let anchor = min(first.map(SimulationTrigger.time) ?? nowTime, nowTime)
        let horizon = Timestamp(
            microsecondsSinceEpoch: anchor.microsecondsSinceEpoch - 2 * trigger.withinMicroseconds
        )
        var state = SimulationStatefulState(trigger, start: defect == .restartSkipsRefeed ? nowTime : horizon)
        var unsent: [(id: EventID, hold: UInt64)] = []
        var clock = horizon
        for record in records where record.type == .event && defect != .restartSkipsRefeed {
            guard let event = SimEvent(body: record.body) else { continue }
            if event.kind == SimulationTrigger.firingKind {
                state.journaled.insert(event.id)
                continue
            }
            let time = min(SimulationTrigger.time(event.emittedNanoseconds), nowTime)
            guard time >= horizon, let built = trigger.event(event) else { continue }
            if time > clock {
                clock = time
                state.advance(to: clock)
            }
            for id in state.observe(built) { unsent.append((id, record.sequence)) }
        }
        state.advance(to: nowTime)
        unsent.removeAll { state.journaled.contains($0.id) }
        return (state, unsent)
    }

    /// Stateful firings happen once per window: the firings in the final log are exactly those of an
    /// uninterrupted machine fed every event of the log in log order (none twice, none missing).
    mutating func checkStatefulFirings(_ records: [SimulationRecord]) {
        var reference = SimulationStatefulState(trigger, start: Self.wallStart)
        var expected: [EventID] = []
        var fired: [EventID: Int] = [:]
        for record in records where record.type == .event {
            guard let event = SimEvent(body: record.body) else { continue }
            if event.kind == SimulationTrigger.firingKind {
                fired[SimulationTrigger.triggeringID(ofFiring: event.id), default: 0] += 1
                continue
            }
            guard let built = trigger.event(event) else { continue }
            reference.advance(to: built.header.occurred)
            expected.append(contentsOf: reference.observe(built).map(SimulationTrigger.triggeringID(ofFiring:)))
        }
        for id in expected where fired[id] != 1 {
            violate(
                "stateful trigger fired \(fired[id] ?? 0) times (expected once) for the window event \(id.low) completed"
            )
            return
        }
        let expectedSet = Set(expected)
        for (id, count) in fired where !expectedSet.contains(id) {
            violate("stateful trigger fired \(count) times for event \(id.low), whose window did not fire there")
            return
        }
    }
}
