import Foundation
import Sluice
import SluiceCrypto
import SluiceIO
import SluiceTestSupport
import Synchronization
import Testing

/// Stateful triggers in the assembled pipeline, end to end on loopback: Reactive thresholds per
/// `for_each` value, Proactive windows that end with no events, the fired/resolved events in the log,
/// no self-loop, and restarts (a window straddling one, a firing's delivery resumed with its webhook-id).
@Suite(.serialized) struct StatefulPipelineTests {
    static let alertsKey = "alerts-secret"

    /// `alerts`: a webhook whose own subscription is off (`active: false`), so it receives only what
    /// stateful triggers deliver to it; `audit`: a stateless webhook for every Infrahub event.
    static func configuration(
        receiver: RecordingReceiver,
        directory: String,
        triggers: [TriggerDefinition]
    ) throws -> PipelineConfiguration {
        let json = """
            {"webhooks": [
               {"name": "alerts", "url": "\(receiver.url("/alerts"))", "shared_key": "\(alertsKey)",
                "active": false},
               {"name": "audit", "url": "\(receiver.url("/audit"))", "shared_key": "audit-secret",
                "event_type": "all", "branch_scope": "all_branches"}]}
            """
        let value = try JSONValue.parse(Array(json.utf8))
        var triggerConfiguration = try TriggerConfiguration(json: value)
        triggerConfiguration.triggers += triggers
        var configuration = PipelineConfiguration(
            log: LogConfiguration(directory: directory),
            triggers: triggerConfiguration
        )
        configuration.webhooks = try WebhookConfiguration(json: value, environment: [:])
        configuration.ioBackend = "epoll"
        configuration.allowedNetworks = loopbackNetworks
        configuration.log.fsync = .interval(milliseconds: 5)
        return configuration
    }

    /// 3 updates of one node within 60 s fire, per node.
    static let flapping = TriggerDefinition(
        name: "flapping",
        events: EventNamePatterns(expect: ["infrahub.node.updated"]),
        threshold: 3,
        withinSeconds: 60,
        forEach: ["infrahub.node.id"],
        actions: [TriggerAction(kind: .webhook, reference: "alerts")]
    )

    static func nodeEvent(_ node: String, number: Int) -> [UInt8] {
        var random = SplitMix64(seed: UInt64(number) &+ 0xA11CE)
        return EventDraft(
            name: "infrahub.node.updated",
            id: random.nextEventID(),
            occurred: Timestamp.now(),
            resource: ResourceDraft(
                id: "infrahub.node.\(node)",
                [("infrahub.node.kind", "InfraDevice"), ("infrahub.node.id", node)]
            ),
            payloadData: Array(#"{"node_id":"\#(node)","number":\#(number)}"#.utf8)
        ).encoded()
    }

    /// The log's events, decoded.
    static func loggedEvents(_ directory: String) throws -> [Event] {
        var decoder = EventDecoder()
        var events: [Event] = []
        _ = try LogFiles.forEachRecord(directory: directory) { record in
            guard record.type == .event, let event = try? decoder.decode(record.body) else { return }
            events.append(event)
        }
        return events
    }

    static func name(_ event: Event) -> String { event.string(event.header.nameReference) }

    static func data(_ event: Event) throws -> JSONValue {
        try JSONValue.parse(Array(event.bytes[event.header.payloadDataRange!]))
    }

    static func header(_ request: RecordingReceiver.Received, _ name: String) -> String? {
        request.headers.first { $0.name == name }?.value
    }

    static func verify(_ request: RecordingReceiver.Received, key: String) throws {
        try WebhookVerifier(infrahubSharedKey: key).verify(
            headers: request.headers,
            body: request.body,
            nowSeconds: Int64(Date().timeIntervalSince1970)
        )
    }

    @Test(.timeLimit(.minutes(1))) func reactiveThresholdDeliversOncePerFiringWithTheTriggeringEvent() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll"))
        let directory = temporary.path + "/log"
        // `pairs` counts every event (empty `expect`), also the outcome events of `flapping`, never its own.
        let pairs = TriggerDefinition(name: "pairs", events: EventNamePatterns(expect: []), threshold: 2)
        let configuration = try Self.configuration(
            receiver: receiver,
            directory: directory,
            triggers: [Self.flapping, pairs]
        )
        // A: events 0, 1, 3 fire (3rd within 60 s); 5 and 6 fall in the window that fired (dropped).
        // B: two events, no firing. C: 7, 8, 9 fire.
        let nodes = ["A", "A", "B", "A", "B", "A", "A", "C", "C", "C"]
        let events = nodes.enumerated().map { Self.nodeEvent($1, number: $0) }
        let pipeline = try Pipeline(configuration: configuration)
        try pipeline.start()
        emitAll(events, into: pipeline)
        #expect(pipeline.flush(timeoutNanoseconds: 20_000_000_000))
        pipeline.stop()

        var decoder = EventDecoder()
        let decoded = try events.map { try decoder.decode($0) }
        let logged = try Self.loggedEvents(directory)
        let fired = logged.filter { Self.name($0) == "sluice.trigger.fired" }
        let flappingFired = try fired.filter { try Self.data($0)["trigger"] == "flapping" }
        #expect(flappingFired.count == 2, "one firing for A, one for C")
        #expect(
            try flappingFired.map { try Self.data($0)[path: ["triggering_labels", "infrahub.node.id"]] } == ["A", "C"]
        )
        #expect(try flappingFired.allSatisfy { try Self.data($0)["count"] == .integer(3) })
        // 10 events + 2 `flapping` firings counted in pairs: 6 firings. Counting its own would loop on.
        let pairsFired = try fired.filter { try Self.data($0)["trigger"] == "pairs" }
        #expect(pairsFired.count == 6, "a trigger never counts its own outcome events")

        let alerts = receiver.requests.filter { $0.path == "/alerts" }
        #expect(alerts.count == 2, "exactly one delivery per firing")
        #expect(Set(alerts.map(\.body)) == [decoded[3].webhookBody(), decoded[9].webhookBody()])
        for request in alerts {
            #expect(throws: Never.self) { try Self.verify(request, key: Self.alertsKey) }
        }
        let expectedIDs = Set(flappingFired.map { WebhookMessageID.make(eventID: $0.header.id, webhookName: "alerts") })
        #expect(Set(alerts.compactMap { Self.header($0, "webhook-id") }) == expectedIDs)
        let audit = receiver.requests.filter { $0.path == "/audit" }
        #expect(audit.count == events.count, "stateless webhooks unchanged; outcome events are not infrahub.*")
        #expect(pipeline.statistics.delivered == events.count + 2)
    }

    @Test(.timeLimit(.minutes(1))) func proactiveTriggerFiresWhenItsWindowEndsWithoutEvents() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll"))
        let directory = temporary.path + "/log"
        let missing = TriggerDefinition(
            name: "heartbeat-missing",
            events: EventNamePatterns(expect: ["app.heartbeat"]),
            posture: .proactive,
            threshold: 1,
            withinSeconds: 0.3,
            actions: [TriggerAction(kind: .webhook, reference: "alerts")]
        )
        // Outcome events are events: a stateless trigger subscribes `audit` to them.
        let outcomes = TriggerDefinition(
            name: "outcomes",
            events: EventNamePatterns(expect: ["sluice.trigger.*"]),
            actions: [TriggerAction(kind: .webhook, reference: "audit")]
        )
        var configuration = try Self.configuration(
            receiver: receiver,
            directory: directory,
            triggers: [missing, outcomes]
        )
        configuration.proactiveWithinMinimumSeconds = 0.1
        let pipeline = try Pipeline(configuration: configuration)
        try pipeline.start()
        let deadline = Date().addingTimeInterval(4)
        while receiver.requests.filter({ $0.path == "/alerts" }).count < 2, Date() < deadline { usleep(10_000) }
        // The awaited event arrives: the firing resolves.
        var random = SplitMix64(seed: 9)
        let heartbeat = EventDraft(
            name: "app.heartbeat",
            id: random.nextEventID(),
            occurred: Timestamp.now(),
            resource: ResourceDraft(id: "app.worker.1")
        ).encoded()
        emitAll([heartbeat], into: pipeline)
        #expect(pipeline.flush(timeoutNanoseconds: 10_000_000_000))
        pipeline.stop()

        let logged = try Self.loggedEvents(directory)
        let fired = try logged.filter {
            try Self.name($0) == "sluice.trigger.fired" && Self.data($0)["trigger"] == "heartbeat-missing"
        }
        let resolved = logged.filter { Self.name($0) == "sluice.trigger.resolved" }
        #expect(fired.count >= 2, "a window of 0.3 s with no heartbeat fires, and the next one again")
        #expect(resolved.count == 1, "the heartbeat resolves the firing")
        #expect(try fired.allSatisfy { try Self.data($0)["count"] == .integer(0) })

        let alerts = receiver.requests.filter { $0.path == "/alerts" }
        var ids: Set<String> = []
        for request in alerts {
            let body = try JSONValue.parse(request.body)
            #expect(body["event"] == "sluice.trigger.fired", "a Proactive firing delivers its own event")
            #expect(body[path: ["data", "trigger"]] == "heartbeat-missing")
            #expect(throws: Never.self) { try Self.verify(request, key: Self.alertsKey) }
            let id = try #require(EventID.parse(body["id"]?.stringValue ?? ""))
            #expect(Self.header(request, "webhook-id") == WebhookMessageID.make(eventID: id, webhookName: "alerts"))
            let inserted = ids.insert(id.description).inserted
            #expect(inserted, "each firing once")
        }
        #expect(ids == Set(fired.map(\.header.id.description)), "every journaled firing was delivered")
        let auditNames = try receiver.requests.filter { $0.path == "/audit" }.map {
            try JSONValue.parse($0.body)["event"]?.stringValue ?? ""
        }
        #expect(auditNames.filter { $0 == "sluice.trigger.fired" }.count == fired.count)
        #expect(auditNames.contains("sluice.trigger.resolved"))
    }

    @Test(.timeLimit(.minutes(1))) func restartKeepsWindowsAndResumesAFiringWithItsWebhookID() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let failing = Atomic<Bool>(false)
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll")) { request in
            request.path == "/alerts" && failing.load(ordering: .relaxed) ? 503 : 204
        }
        let directory = temporary.path + "/log"
        var configuration = try Self.configuration(receiver: receiver, directory: directory, triggers: [Self.flapping])
        configuration.retryPolicy.delayNanoseconds = [0, 60_000_000_000]
        configuration.retryPolicy.jitterPercent = 0
        configuration.circuitBreaker.requestCountMin = 1_000_000
        let events = (0..<3).map { Self.nodeEvent("A", number: 100 + $0) }

        // Run 1: two of three events, acknowledged and settled (the checkpoint passes them).
        do {
            let pipeline = try Pipeline(configuration: configuration)
            try pipeline.start()
            emitAll(Array(events[0..<2]), into: pipeline)
            #expect(pipeline.flush(timeoutNanoseconds: 10_000_000_000))
            pipeline.stop()
        }
        // Run 2: the third fires from the rebuilt window; its delivery fails and waits for a retry.
        failing.store(true, ordering: .relaxed)
        do {
            let pipeline = try Pipeline(configuration: configuration)
            try pipeline.start()
            emitAll([events[2]], into: pipeline)
            let deadline = Date().addingTimeInterval(10)
            while receiver.requests.filter({ $0.path == "/alerts" }).isEmpty, Date() < deadline { usleep(5_000) }
            pipeline.stop(drainTimeoutNanoseconds: 500_000_000)
        }
        #expect(receiver.requests.filter { $0.path == "/alerts" }.count == 1, "the window straddled the restart")
        // Run 3: the delivery resumes; the firing is recognized in the log, not computed into a second one.
        failing.store(false, ordering: .relaxed)
        do {
            let pipeline = try Pipeline(configuration: configuration)
            let recovery = try pipeline.start()
            #expect(recovery.deliveriesResumed == 1)
            #expect(pipeline.flush(timeoutNanoseconds: 10_000_000_000))
            pipeline.stop()
        }
        let fired = try Self.loggedEvents(directory).filter { Self.name($0) == "sluice.trigger.fired" }
        #expect(fired.count == 1, "one firing across three runs")
        let alerts = receiver.requests.filter { $0.path == "/alerts" }
        #expect(alerts.count == 2, "a failed attempt, then the resumed one")
        var decoder = EventDecoder()
        let third = try decoder.decode(events[2])
        #expect(alerts.allSatisfy { $0.body == third.webhookBody() })
        let ids = Set(alerts.compactMap { Self.header($0, "webhook-id") })
        #expect(ids == [WebhookMessageID.make(eventID: try #require(fired.first).header.id, webhookName: "alerts")])
        if let last = alerts.last { #expect(throws: Never.self) { try Self.verify(last, key: Self.alertsKey) } }
    }

    @Test(.timeLimit(.minutes(1))) func reconfigurationCarriesUnchangedTriggersAndResetsChangedOnes() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll"))
        let directory = temporary.path + "/log"
        func configuration(_ triggers: [TriggerDefinition]) throws -> PipelineConfiguration {
            try Self.configuration(receiver: receiver, directory: directory, triggers: triggers)
        }
        func alerts() -> [RecordingReceiver.Received] { receiver.requests.filter { $0.path == "/alerts" } }
        let pipeline = try Pipeline(configuration: try configuration([Self.flapping]))
        try pipeline.start()
        emitAll([Self.nodeEvent("A", number: 200), Self.nodeEvent("A", number: 201)], into: pipeline)
        #expect(pipeline.flush(timeoutNanoseconds: 10_000_000_000))
        // Another trigger comes; `flapping` is unchanged, so A's window (2 of 3) carries over.
        let other = TriggerDefinition(
            name: "other",
            events: EventNamePatterns(expect: ["app.*"]),
            threshold: 2,
            withinSeconds: 10
        )
        let second = try configuration([other, Self.flapping])
        try pipeline.reconfigure(webhooks: second.webhooks, triggers: second.triggers)
        let third = Self.nodeEvent("A", number: 202)
        emitAll([third, Self.nodeEvent("B", number: 203)], into: pipeline)
        #expect(pipeline.flush(timeoutNanoseconds: 10_000_000_000))
        #expect(alerts().count == 1, "the window carried over the reconfiguration")
        // `flapping` changes (threshold 2): its windows start over, so B's earlier event does not count.
        var changed = Self.flapping
        changed.threshold = 2
        let fourth = try configuration([changed])
        try pipeline.reconfigure(webhooks: fourth.webhooks, triggers: fourth.triggers)
        emitAll([Self.nodeEvent("B", number: 204)], into: pipeline)
        #expect(pipeline.flush(timeoutNanoseconds: 10_000_000_000))
        #expect(alerts().count == 1, "a changed trigger starts fresh")
        let last = Self.nodeEvent("B", number: 205)
        emitAll([last], into: pipeline)
        #expect(pipeline.flush(timeoutNanoseconds: 10_000_000_000))
        pipeline.stop()
        var decoder = EventDecoder()
        let bodies = try [third, last].map { try decoder.decode($0).webhookBody() }
        #expect(alerts().map(\.body) == bodies)
    }

    @Test(.timeLimit(.minutes(1))) func aTriggeringEventThatCannotBeEmbeddedDeliversTheFiringItself() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll"))
        let directory = temporary.path + "/log"
        var configuration = try Self.configuration(receiver: receiver, directory: directory, triggers: [Self.flapping])
        // Embedded two levels deeper than in the event itself, `{"deep":{"er":1}}` breaks this limit.
        configuration.eventLimits.nestingDepthMax = 5
        let pipeline = try Pipeline(configuration: configuration)
        try pipeline.start()
        var random = SplitMix64(seed: 77)
        let events = (0..<3).map { _ in
            EventDraft(
                name: "infrahub.node.updated",
                id: random.nextEventID(),
                occurred: Timestamp.now(),
                resource: ResourceDraft(id: "infrahub.node.D", [("infrahub.node.id", "D")]),
                payloadData: Array(#"{"deep":{"er":1}}"#.utf8)
            ).encoded()
        }
        emitAll(events, into: pipeline)
        #expect(pipeline.flush(timeoutNanoseconds: 10_000_000_000))
        pipeline.stop()
        let alerts = receiver.requests.filter { $0.path == "/alerts" }
        #expect(alerts.count == 1, "the firing is not lost")
        let body = try JSONValue.parse(alerts.first?.body ?? [])
        #expect(body["event"] == "sluice.trigger.fired")
        #expect(body[path: ["data", "triggering_event_omitted"]] == true)
        #expect(body[path: ["data", "count"]] == .integer(3))
    }

    @Test func statefulTriggersPassTheConfigurationCheckWithUniqueNames() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll"))
        let good = try Self.configuration(receiver: receiver, directory: temporary.path, triggers: [Self.flapping])
        #expect(throws: Never.self) { try good.validate() }
        let twice = try Self.configuration(
            receiver: receiver,
            directory: temporary.path,
            triggers: [Self.flapping, Self.flapping]
        )
        #expect(throws: PipelineConfigurationError.self) { try twice.validate() }
        do {
            try twice.validate()
        } catch {
            #expect(error.field == "triggers[3].name")
            #expect(error.message.contains("same name as triggers[2]"))
        }
    }
}
