import SluiceCore
import SluiceTestSupport
import Testing

/// Events through a real index and matcher into the state machine, on a fake clock (seconds after `base`).
final class StatefulHarness {
    static let base = Timestamp(secondsSinceEpoch: 1_750_000_000)
    var decoder = EventDecoder()
    var matcher: TriggerMatcher
    var machine: TriggerStateMachine
    var outcomes: [TriggerOutcome] = []
    private var hits: [TriggerHit] = []
    private var sequence: UInt64 = 0

    init(_ triggers: [TriggerDefinition]) {
        let index = TriggerIndex.compile(triggers, symbols: decoder.symbols)
        matcher = TriggerMatcher(index: index)
        machine = TriggerStateMachine(triggers: triggers, symbols: decoder.symbols, start: Self.base, seed: 7)
    }

    static func time(_ seconds: Double) -> Timestamp {
        Timestamp(microsecondsSinceEpoch: base.microsecondsSinceEpoch + Int64((seconds * 1e6).rounded()))
    }

    /// Emits an event at `seconds`; returns the outcomes it caused.
    @discardableResult
    func emit(_ name: String, at seconds: Double, _ labels: [(String, String)] = []) throws -> [TriggerOutcome] {
        sequence += 1
        // A `prefect.resource.id` among the labels is the resource's id (else each event has its own).
        let id = labels.first { $0.0 == "prefect.resource.id" }?.1 ?? "resource.\(sequence)"
        let draft = EventDraft(
            name: name,
            id: EventID.random(high: sequence, low: sequence),
            occurred: Self.time(seconds),
            resource: ResourceDraft(id: id, labels.filter { $0.0 != "prefect.resource.id" })
        )
        let event = try draft.build(with: &decoder)
        hits.removeAll()
        matcher.match(event, into: &hits)
        var caused: [TriggerOutcome] = []
        for hit in hits { machine.observe(event, hit: hit, into: &caused) }
        outcomes += caused
        return caused
    }

    /// Moves the fake clock to `seconds`; returns the outcomes that came due.
    @discardableResult
    func advance(to seconds: Double) -> [TriggerOutcome] {
        var caused: [TriggerOutcome] = []
        machine.advance(to: Self.time(seconds), into: &caused)
        outcomes += caused
        return caused
    }
}

@Suite struct TriggerStateMachineTests {
    /// "5 failed deployment_status for the same environment within 10 min".
    static func failedDeployments() -> TriggerDefinition {
        TriggerDefinition(
            name: "deploy-failures",
            events: EventNamePatterns(expect: ["github.deployment_status"]),
            match: ResourceSpecification([("github.state", "failure")]),
            threshold: 5,
            withinSeconds: 600,
            forEach: ["github.environment"]
        )
    }

    static func failure(_ environment: String) -> [(String, String)] {
        [("github.state", "failure"), ("github.environment", environment)]
    }

    /// A reconfiguration's new machine takes the windows (and pending resolutions) of mapped triggers, by
    /// their new numbers; an unmapped trigger starts fresh.
    @Test func adoptCarriesTheWindowsOfMappedTriggersOnly() throws {
        let harness = StatefulHarness([Self.failedDeployments()])
        for seconds in [0.0, 100, 200, 300] {
            try harness.emit("github.deployment_status", at: seconds, Self.failure("prod"))
        }
        let other = TriggerDefinition(name: "other", events: EventNamePatterns(expect: ["x"]), threshold: 2)
        let triggers = [other, Self.failedDeployments()]
        func machine(at seconds: Double, adopting mapping: [Int: Int]) -> TriggerStateMachine {
            var next = TriggerStateMachine(
                triggers: triggers,
                symbols: harness.decoder.symbols,
                start: StatefulHarness.time(seconds),
                seed: 7
            )
            next.adopt(from: harness.machine, mapping: mapping)
            return next
        }
        let before = harness.machine
        harness.matcher = TriggerMatcher(index: TriggerIndex.compile(triggers, symbols: harness.decoder.symbols))
        harness.machine = machine(at: 350, adopting: [0: 1])
        let fired = try harness.emit("github.deployment_status", at: 400, Self.failure("prod"))
        #expect(fired.map(\.kind) == [.fired], "4 carried + 1 reach the threshold")
        #expect(fired.first?.trigger == 1)
        #expect(fired.first?.count == 5)
        // The fired window's resolution (at its end, 600 s) is carried by the next adoption too.
        harness.machine = machine(at: 450, adopting: [1: 1])
        let resolved = harness.advance(to: 700)
        #expect(resolved.map(\.kind) == [.resolved])
        #expect(resolved.first?.trigger == 1)
        // Not mapped: the 4 earlier events are gone.
        harness.machine = before
        harness.machine = machine(at: 350, adopting: [:])
        #expect(try harness.emit("github.deployment_status", at: 400, Self.failure("prod")).isEmpty)
    }

    @Test func reactiveFiresOneTickBeforeTheWindowEnds() throws {
        let harness = StatefulHarness([Self.failedDeployments()])
        for seconds in [0.0, 100, 200, 300] {
            #expect(try harness.emit("github.deployment_status", at: seconds, Self.failure("prod")).isEmpty)
        }
        let fired = try harness.emit("github.deployment_status", at: 599.999_999, Self.failure("prod"))
        #expect(fired.map(\.kind) == [.fired])
        #expect(fired.first?.count == 5)
        #expect(fired.first?.labels == [ResourceDraft.Label("github.environment", "prod")])
        // The first window starts 15 minutes before the first event (Prefect's lookback).
        #expect(fired.first?.windowStart == StatefulHarness.time(-900))
        #expect(fired.first?.windowEnd == StatefulHarness.time(600))
    }

    @Test func anEventExactlyAtWithinStartsTheNextWindow() throws {
        let harness = StatefulHarness([Self.failedDeployments()])
        for seconds in [0.0, 100, 200, 300] {
            try harness.emit("github.deployment_status", at: seconds, Self.failure("prod"))
        }
        #expect(try harness.emit("github.deployment_status", at: 600, Self.failure("prod")).isEmpty)
        for seconds in [601.0, 602, 603] {
            #expect(try harness.emit("github.deployment_status", at: seconds, Self.failure("prod")).isEmpty)
        }
        // [600, 1200) holds 600 … 603 and now 1199.999999: five.
        let fired = try harness.emit("github.deployment_status", at: 1199.999_999, Self.failure("prod"))
        #expect(fired.map(\.kind) == [.fired])
        #expect(fired.first?.windowStart == StatefulHarness.time(600))
    }

    @Test func forEachBucketsAreSeparateAndOtherEventsDoNotCount() throws {
        let harness = StatefulHarness([Self.failedDeployments()])
        for seconds in [0.0, 1, 2, 3] {
            try harness.emit("github.deployment_status", at: seconds, Self.failure("prod"))
        }
        try harness.emit("github.deployment_status", at: 4, Self.failure("staging"))
        try harness.emit(
            "github.deployment_status",
            at: 5,
            [("github.state", "success"), ("github.environment", "prod")]
        )
        try harness.emit("github.deployment", at: 6, Self.failure("prod"))
        #expect(harness.outcomes.isEmpty)
        #expect(harness.machine.bucketCount == 2)
        #expect(try harness.emit("github.deployment_status", at: 7, Self.failure("prod")).map(\.kind) == [.fired])
    }

    @Test func afterFiringEventsBeforeTheNextWindowAreDroppedAndTheFiredWindowResolves() throws {
        let harness = StatefulHarness([Self.failedDeployments()])
        for seconds in [0.0, 100, 200, 300, 400] {
            try harness.emit("github.deployment_status", at: seconds, Self.failure("prod"))
        }
        #expect(harness.outcomes.map(\.kind) == [.fired])
        // Next window [600, 1200): events at 500–599 are dropped, not carried over.
        for seconds in [500.0, 510, 520, 530, 599] {
            #expect(try harness.emit("github.deployment_status", at: seconds, Self.failure("prod")).isEmpty)
        }
        #expect(harness.advance(to: 599.999_999).isEmpty)
        let resolved = harness.advance(to: 600)
        #expect(resolved.map(\.kind) == [.resolved])
        #expect(resolved.first?.windowEnd == StatefulHarness.time(600))
        for seconds in [600.0, 700, 800, 900] {
            #expect(try harness.emit("github.deployment_status", at: seconds, Self.failure("prod")).isEmpty)
        }
        #expect(try harness.emit("github.deployment_status", at: 1000, Self.failure("prod")).map(\.kind) == [.fired])
    }

    @Test func immediateTriggersFireEveryThresholdthEventHoweverFarApart() throws {
        let trigger = TriggerDefinition(name: "every-third", events: EventNamePatterns(expect: ["a.b"]), threshold: 3)
        let harness = StatefulHarness([trigger])
        var fired: [Double] = []
        for seconds in [0.0, 1000, 100_000, 100_001, 100_002, 9_999_999] {
            if try !harness.emit("a.b", at: seconds).isEmpty { fired.append(seconds) }
        }
        #expect(fired == [100_000, 9_999_999])
        #expect(harness.advance(to: 20_000_000).isEmpty, "immediate windows never resolve")
    }

    @Test func afterGatesReactiveBuckets() throws {
        let trigger = TriggerDefinition(
            name: "check-after-push",
            events: EventNamePatterns(expect: ["github.check_suite"], after: ["github.push"]),
            withinSeconds: 60
        )
        let harness = StatefulHarness([trigger])
        #expect(try harness.emit("github.check_suite", at: 0).isEmpty, "no push opened a bucket")
        try harness.emit("github.push", at: 10)
        #expect(try harness.emit("github.check_suite", at: 69.999_999).map(\.kind) == [.fired])
        try harness.emit("github.push", at: 100)
        #expect(try harness.emit("github.check_suite", at: 160).isEmpty, "exactly at within is outside")
        #expect(try harness.emit("github.check_suite", at: 161).isEmpty, "the expired bucket was removed")
    }

    @Test func anEventInBothAfterAndExpectDoesNotCountItself() throws {
        let trigger = TriggerDefinition(
            name: "twice",
            events: EventNamePatterns(expect: ["x.y"], after: ["x.y"]),
            withinSeconds: 30
        )
        let harness = StatefulHarness([trigger])
        #expect(try harness.emit("x.y", at: 0).isEmpty)
        #expect(try harness.emit("x.y", at: 29).map(\.kind) == [.fired])
    }

    /// "No check_suite success within 15 min after a push", per repository.
    static func missingCheck() -> TriggerDefinition {
        TriggerDefinition(
            name: "missing-check",
            events: EventNamePatterns(expect: ["github.check_suite"], after: ["github.push"]),
            match: ResourceSpecification([("github.repository", "*")]),
            posture: .proactive,
            withinSeconds: 900,
            forEach: ["github.repository"]
        )
    }

    @Test func proactiveFiresExactlyWhenTheWindowExpires() throws {
        let harness = StatefulHarness([Self.missingCheck()])
        try harness.emit("github.push", at: 0, [("github.repository", "a")])
        #expect(harness.advance(to: 899.999_999).isEmpty)
        let fired = harness.advance(to: 900)
        #expect(fired.map(\.kind) == [.fired])
        #expect(fired.first?.labels == [ResourceDraft.Label("github.repository", "a")])
        #expect(fired.first?.count == 0)
        #expect(harness.machine.bucketCount == 0, "with after, the bucket waits for the next push")
        #expect(harness.advance(to: 10_000).isEmpty)
    }

    @Test func proactiveIsCancelledByTheExpectedEventAndResolvedByALateOne() throws {
        let harness = StatefulHarness([Self.missingCheck()])
        try harness.emit("github.push", at: 0, [("github.repository", "b")])
        try harness.emit("github.check_suite", at: 300, [("github.repository", "b")])
        #expect(harness.advance(to: 900).isEmpty, "the check came in time")
        #expect(harness.machine.bucketCount == 0)
        try harness.emit("github.push", at: 1000, [("github.repository", "b")])
        #expect(harness.advance(to: 1900).map(\.kind) == [.fired])
        try harness.emit("github.push", at: 2000, [("github.repository", "b")])
        let resolved = try harness.emit("github.check_suite", at: 2001, [("github.repository", "b")])
        #expect(resolved.map(\.kind) == [.resolved], "the awaited check finally came")
    }

    @Test func aProactiveEventOneTickLateFiresOnArrival() throws {
        let harness = StatefulHarness([Self.missingCheck()])
        try harness.emit("github.push", at: 0, [("github.repository", "c")])
        // Before the clock moved, the check arrives at the window's end: too late, so it fires now.
        let fired = try harness.emit("github.check_suite", at: 900, [("github.repository", "c")])
        #expect(fired.map(\.kind) == [.fired])
        #expect(harness.advance(to: 2000).isEmpty, "the timer of the removed bucket is stale")
    }

    @Test func proactiveWithoutForEachKeepsAWindowOpen() throws {
        let trigger = TriggerDefinition(
            name: "heartbeat",
            events: EventNamePatterns(expect: ["svc.heartbeat"]),
            posture: .proactive,
            withinSeconds: 60
        )
        let harness = StatefulHarness([trigger])
        try harness.emit("svc.heartbeat", at: 10)
        #expect(harness.advance(to: 60).isEmpty)
        #expect(harness.machine.bucketCount == 1, "a new window opened at the expiry")
        #expect(harness.advance(to: 119.999_999).isEmpty)
        #expect(harness.advance(to: 120).map(\.kind) == [.fired])
        #expect(harness.advance(to: 180).map(\.kind) == [.fired], "back-to-back windows")
        #expect(try harness.emit("svc.heartbeat", at: 181).map(\.kind) == [.resolved])
        #expect(harness.advance(to: 240).isEmpty)
    }

    /// `crash-zombie-flows` (spec §b.4, issue 19): a Proactive trigger whose event is in both `after` and
    /// `expect` restarts its window at each such event, as Prefect's `evaluate` does (model:
    /// `test_same_event_in_expect_and_after_proactively_fires_with_for_each_threshold_1`). Heartbeats at
    /// 0 s and 60 s, within 180 s, then silence: it fires at 240 s, not at 180 s and not never.
    @Test func aProactiveEventInBothAfterAndExpectRestartsTheWindow() throws {
        let trigger = TriggerDefinition(
            name: "zombie",
            events: EventNamePatterns(expect: ["prefect.flow-run.heartbeat"], after: ["prefect.flow-run.heartbeat"]),
            posture: .proactive,
            threshold: 1,
            withinSeconds: 180,
            forEach: ["prefect.resource.id"]
        )
        let harness = StatefulHarness([trigger])
        let flow = [("prefect.resource.id", "prefect.flow-run.1")]
        #expect(try harness.emit("prefect.flow-run.heartbeat", at: 0, flow).isEmpty)
        #expect(try harness.emit("prefect.flow-run.heartbeat", at: 60, flow).isEmpty)
        #expect(harness.advance(to: 180).isEmpty, "the second heartbeat restarted the window at 60 s")
        #expect(harness.advance(to: 239.999_999).isEmpty)
        let fired = harness.advance(to: 240)
        #expect(fired.map(\.kind) == [.fired])
        #expect(fired.first?.windowStart == StatefulHarness.time(60))
        #expect(fired.first?.count == 0)
        #expect(harness.advance(to: 1000).isEmpty, "with after, the next window waits for a heartbeat")
    }

    /// One heartbeat and silence fires at the end of its window; steady heartbeats never fire.
    @Test func aProactiveHeartbeatFiresOnlyAfterSilence() throws {
        let trigger = TriggerDefinition(
            name: "zombie",
            events: EventNamePatterns(expect: ["hb"], after: ["hb"]),
            posture: .proactive,
            withinSeconds: 180,
            forEach: ["prefect.resource.id"]
        )
        let harness = StatefulHarness([trigger])
        let flow = [("prefect.resource.id", "f")]
        for seconds in stride(from: 0.0, through: 600, by: 60) {
            harness.advance(to: seconds)
            try harness.emit("hb", at: seconds, flow)
        }
        #expect(harness.outcomes.isEmpty, "a heartbeat every minute keeps the flow alive")
        #expect(harness.advance(to: 779.999_999).isEmpty)
        #expect(harness.advance(to: 780).map(\.kind) == [.fired])
    }

    @Test func outcomeEventsAreRealEventsInTheWireShape() throws {
        let harness = StatefulHarness([Self.failedDeployments()])
        for seconds in [0.0, 1, 2, 3, 4] {
            try harness.emit("github.deployment_status", at: seconds, Self.failure("prod"))
        }
        harness.advance(to: 600)
        #expect(harness.outcomes.map(\.kind) == [.fired, .resolved])
        var decoder = EventDecoder()
        for outcome in harness.outcomes {
            let event = try decoder.decode(outcome.event.encoded())
            #expect(decoder.symbols.string(event.header.name) == "sluice.trigger.\(outcome.kind.rawValue)")
            #expect(
                event.header.occurred == (outcome.kind == .fired ? StatefulHarness.time(4) : StatefulHarness.time(600))
            )
            let payload = try JSONValue.parse(Array(event.bytes[event.header.payloadDataRange!]))
            #expect(payload["trigger"] == "deploy-failures")
            #expect(payload["count"] == .integer(5))
            #expect(payload[path: ["triggering_labels", "github.environment"]] == "prod")
        }
        let fired = try decoder.decode(harness.outcomes[0].event.encoded())
        #expect(fired.header.related.count == 1, "the triggering event is related")
    }

    @Test func bucketsAreBounded() throws {
        let harness = StatefulHarness([Self.failedDeployments()])
        harness.machine = TriggerStateMachine(
            triggers: [Self.failedDeployments()],
            symbols: harness.decoder.symbols,
            start: StatefulHarness.base,
            seed: 1,
            bucketCountMax: 2
        )
        for environment in ["a", "b", "c"] {
            try harness.emit("github.deployment_status", at: 1, Self.failure(environment))
        }
        #expect(harness.machine.bucketCount == 2)
        #expect(harness.machine.droppedBucketCount == 1)
    }

    @Test func proactiveWithinBelowTenSecondsIsRejected() throws {
        let json = try JSONValue.parse(#"{"name": "p", "trigger": {"posture": "Proactive", "within": 5}}"#)
        #expect(
            throws: TriggerDefinitionError(
                path: "p.trigger.within",
                message: "a Proactive trigger needs within ≥ 10 seconds (0 means 10)"
            )
        ) {
            try TriggerDefinition(json: json, path: "p")
        }
    }
}

@Suite struct TimerWheelTests {
    @Test func dueTimersComeOutInOrderAcrossTurnsAndJumps() {
        let start = Timestamp(secondsSinceEpoch: 1000)
        var wheel = TimerWheel<Int>(start: start, tickMicroseconds: 1_000_000, slotCount: 8)
        func at(_ seconds: Int64) -> Timestamp { Timestamp(secondsSinceEpoch: 1000 + seconds) }
        wheel.schedule(at: at(3), 3)
        wheel.schedule(at: at(11), 11)  // a later turn of the same slot
        wheel.schedule(at: at(3), 30)  // same deadline: scheduling order
        wheel.schedule(at: at(-5), -5)  // already past
        var due: [(deadline: Timestamp, payload: Int)] = []
        wheel.advance(to: at(2), into: &due)
        #expect(due.map(\.payload) == [-5])
        due.removeAll()
        wheel.advance(to: Timestamp(microsecondsSinceEpoch: at(3).microsecondsSinceEpoch - 1), into: &due)
        #expect(due.isEmpty, "one microsecond early")
        wheel.advance(to: at(3), into: &due)
        #expect(due.map(\.payload) == [3, 30])
        due.removeAll()
        wheel.advance(to: at(10), into: &due)
        #expect(due.isEmpty)
        wheel.schedule(at: at(40), 40)
        wheel.schedule(at: at(25), 25)
        wheel.advance(to: at(100), into: &due)  // a jump of many turns
        #expect(due.map(\.payload) == [11, 25, 40])
        #expect(wheel.count == 0)
    }
}
