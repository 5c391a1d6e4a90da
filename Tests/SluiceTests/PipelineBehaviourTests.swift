import Foundation
import Sluice
import SluiceIO
import SluiceTestSupport
import SluiceTools
import Synchronization
import Testing

/// Dead letters and redrive, backpressure with a stalled receiver, and reconfiguration while running.
@Suite(.serialized) struct PipelineBehaviourTests {
    static func configuration(url: String, directory: String, extra: String = "") throws -> PipelineConfiguration {
        let json = """
            {"webhooks": [{"name": "everything", "url": "\(url)", "shared_key": "k",
                           "event_type": "all", "branch_scope": "all_branches"}]}
            """
        return try pipelineConfiguration(json: json, logDirectory: directory)
    }

    static func events(_ count: Int, seed: UInt64) -> [[UInt8]] {
        var generator = FixtureGenerator(.init(eventCount: count, seed: seed))
        var events: [[UInt8]] = []
        while let event = generator.next() { events.append(event) }
        return events
    }

    @Test(.timeLimit(.minutes(2))) func exhaustedDeliveriesAreDeadLettersAndRedriveDeliversThem() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let failing = Atomic<Bool>(true)
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll")) { _ in
            failing.load(ordering: .relaxed) ? 503 : 204
        }
        let directory = temporary.path + "/log"
        var configuration = try Self.configuration(url: receiver.url("/hook"), directory: directory)
        configuration.retryPolicy.delayNanoseconds = [0, 10_000_000, 10_000_000]
        configuration.retryPolicy.jitterPercent = 0
        // A circuit that never opens here: this test counts attempts (the breaker is tested below).
        configuration.circuitBreaker.requestCountMin = 1_000_000
        let events = Self.events(40, seed: 3)
        do {
            let pipeline = try Pipeline(configuration: configuration)
            try pipeline.start()
            emitAll(events, into: pipeline)
            #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
            pipeline.stop()
            #expect(pipeline.statistics.deadLettered == events.count)
            #expect(pipeline.statistics.failedAttempts == 3 * events.count)
        }
        #expect(receiver.requests.count == 3 * events.count, "three attempts each")
        let dead = try DeadLetterFiles.list(directory: directory)
        #expect(dead.count == events.count)
        #expect(dead.allSatisfy { $0.record.attempt == 3 && $0.record.failureClass == .httpServerError })
        #expect(dead.allSatisfy { $0.record.statusCode == 503 })

        // Redrive while nothing runs, then a new pipeline delivers them (attempts from 1, same webhook-id).
        let redriven = try DeadLetterFiles.redrive(directory: directory, webhook: "everything")
        #expect(redriven.count == events.count)
        failing.store(false, ordering: .relaxed)
        let pipeline = try Pipeline(configuration: configuration)
        let recovery = try pipeline.start()
        #expect(recovery.deliveriesResumed == events.count)
        #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
        pipeline.stop()
        #expect(pipeline.statistics.delivered == events.count)
        #expect(try DeadLetterFiles.list(directory: directory).isEmpty)
        let ids = Dictionary(grouping: receiver.requests) { request in
            request.headers.first { $0.name == "webhook-id" }?.value ?? ""
        }
        #expect(ids.count == events.count, "one webhook-id per event, across dead letter and redrive")
        #expect(ids.values.allSatisfy { $0.count == 4 })
    }

    /// The SSRF guard is on by default: a pipeline without `allowed_networks` never connects to a loopback
    /// receiver; each attempt fails as ADDRESS_REFUSED and the deliveries are dead-lettered on the schedule,
    /// like any failure. With the receiver's network on a webhook's own `allowed_networks`, it delivers.
    @Test(.timeLimit(.minutes(2))) func guardRefusesLoopbackByDefaultAndRefusalsDeadLetter() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll"))
        let directory = temporary.path + "/log"
        var configuration = try Self.configuration(url: receiver.url("/hook"), directory: directory)
        configuration.allowedNetworks = []  // the default
        configuration.retryPolicy.delayNanoseconds = [0, 10_000_000]
        configuration.retryPolicy.jitterPercent = 0
        let events = Self.events(10, seed: 5)
        do {
            let pipeline = try Pipeline(configuration: configuration)
            try pipeline.start()
            emitAll(events, into: pipeline)
            #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
            pipeline.stop()
            #expect(pipeline.statistics.deadLettered == events.count)
            #expect(pipeline.statistics.failedAttempts == 2 * events.count)
        }
        #expect(receiver.requests.isEmpty, "nothing reached the loopback receiver")
        let dead = try DeadLetterFiles.list(directory: directory)
        #expect(dead.count == events.count)
        #expect(dead.allSatisfy { $0.record.attempt == 2 && $0.record.failureClass == .addressRefused })
        #expect(
            dead.allSatisfy { $0.record.message?.contains("127.0.0.1: in 127.0.0.0/8 (loopback") == true },
            "\(dead.first.map { "\($0.record)" } ?? "")"
        )

        // The webhook's own allow-list (adding to the pipeline's empty one) lets the redriven deliveries through.
        let json = """
            {"webhooks": [{"name": "everything", "url": "\(receiver.url("/hook"))", "shared_key": "k",
                           "event_type": "all", "branch_scope": "all_branches",
                           "allowed_networks": ["127.0.0.1/32"]}]}
            """
        var allowed = try pipelineConfiguration(json: json, logDirectory: directory)
        allowed.allowedNetworks = []
        #expect(try DeadLetterFiles.redrive(directory: directory, webhook: "everything").count == events.count)
        let pipeline = try Pipeline(configuration: allowed)
        try pipeline.start()
        #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
        pipeline.stop()
        #expect(pipeline.statistics.delivered == events.count)
        #expect(receiver.requests.count == events.count)
    }

    /// A stalled endpoint holds its bound in memory and leaves the rest of its backlog in the log: the
    /// producer is not held back (before per-endpoint isolation, it was backpressured after ~100 events), and
    /// everything arrives once the endpoint answers.
    @Test(.timeLimit(.minutes(2))) func stalledReceiverLeavesItsBacklogInTheLogThenEverythingArrives() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let open = Atomic<Bool>(false)
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll")) { _ in
            while !open.load(ordering: .relaxed) { usleep(1_000) }  // a stalled endpoint: nothing is answered
            return 204
        }
        var configuration = try Self.configuration(url: receiver.url("/hook"), directory: temporary.path + "/log")
        configuration.ringCapacity = 64
        configuration.jobQueueCapacity = 16
        configuration.inFlightMax = 4
        configuration.pendingDeliveryCountMax = 16  // so the endpoint may hold 4
        configuration.connectionCountMax = 4
        configuration.requestTimeoutNanoseconds = 120_000_000_000
        let events = Self.events(2_000, seed: 4)
        let pipeline = try Pipeline(configuration: configuration)
        try pipeline.start()
        emitAll(events, into: pipeline)  // retries on backpressure (the ring's, while the journaler syncs)
        let acknowledged = Date().addingTimeInterval(30)
        while pipeline.acknowledgedCount < events.count, Date() < acknowledged { usleep(1_000) }
        #expect(pipeline.acknowledgedCount == events.count, "the producer was not held back by the stalled endpoint")
        let stalled = pipeline.statistics
        #expect(stalled.delivered == 0)
        #expect(stalled.spillingWebhooks == 1)
        #expect(stalled.pendingDeliveries <= 4, "the endpoint holds its bound, the log holds the rest")
        open.store(true, ordering: .relaxed)
        #expect(pipeline.flush(timeoutNanoseconds: 60_000_000_000))
        pipeline.stop()
        let statistics = pipeline.statistics
        #expect(statistics.accepted == events.count)
        #expect(statistics.delivered == events.count, "nothing was dropped")
        #expect(receiver.requests.count == events.count)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        print(
            "stalled endpoint: all \(events.count) events acknowledged while it answered nothing, "
                + "\(stalled.pendingDeliveries) of its deliveries in memory; all delivered once it answered; "
                + "peak RSS of the test process \(usage.ru_maxrss / 1024) MiB"
        )
    }

    @Test(.timeLimit(.minutes(2))) func aStalledEndpointHoldsOnlyItsOwnDeliveries() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let open = Atomic<Bool>(false)
        let stalled = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll")) { _ in
            while !open.load(ordering: .relaxed) { usleep(1_000) }  // answers nothing until opened
            return 204
        }
        let healthy = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll"))
        let json = """
            {"webhooks": [
              {"name": "stalled", "url": "\(stalled.url("/hook"))", "shared_key": "k", "event_type": "all",
               "branch_scope": "all_branches"},
              {"name": "healthy", "url": "\(healthy.url("/hook"))", "shared_key": "k", "event_type": "all",
               "branch_scope": "all_branches"}]}
            """
        var configuration = try pipelineConfiguration(json: json, logDirectory: temporary.path + "/log")
        // One shard for both endpoints; at most 2 × 2 requests per endpoint in the client, 64 in all.
        configuration.connectionCountMax = 2
        configuration.inFlightMax = 64
        configuration.requestTimeoutNanoseconds = 120_000_000_000
        let events = Self.events(300, seed: 5)
        let pipeline = try Pipeline(configuration: configuration)
        try pipeline.start()
        emitAll(events, into: pipeline)
        // The stalled endpoint's deliveries wait in the shard, not in the client, so the healthy endpoint's
        // requests are never queued behind them (before, 64 stalled requests filled `in_flight_max`).
        let deadline = Date().addingTimeInterval(30)
        while healthy.requests.count < events.count, Date() < deadline { usleep(5_000) }
        #expect(healthy.requests.count == events.count, "every event reached the healthy endpoint")
        #expect(stalled.requests.count <= 4, "the stalled endpoint holds at most its own 4 requests")
        open.store(true, ordering: .relaxed)
        #expect(pipeline.flush(timeoutNanoseconds: 60_000_000_000))
        pipeline.stop()
        #expect(stalled.requests.count == events.count, "and gets everything once it answers")
        #expect(pipeline.statistics.delivered == 2 * events.count)
    }

    @Test(.timeLimit(.minutes(2))) func reconfigurationSwapsWebhooksWhileRunning() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll"))
        let directory = temporary.path + "/log"
        let configuration = try Self.configuration(url: receiver.url("/first"), directory: directory)
        let pipeline = try Pipeline(configuration: configuration)
        try pipeline.start()
        let events = Self.events(200, seed: 5)
        emitAll(Array(events[0..<100]), into: pipeline)
        #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
        let second = try Self.configuration(url: receiver.url("/second"), directory: directory)
        try pipeline.reconfigure(webhooks: second.webhooks, triggers: second.triggers)
        emitAll(Array(events[100...]), into: pipeline)
        #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
        pipeline.stop()
        let paths = Dictionary(grouping: receiver.requests, by: \.path).mapValues(\.count)
        #expect(paths == ["/first": 100, "/second": 100])
        var changes = 0
        _ = try LogFiles.forEachRecord(directory: directory) { record in
            if record.type == .configurationChange { changes += 1 }
        }
        #expect(changes == 1, "the change is in the log")
    }
}

/// GitHub deliveries go through the same pipeline as `github.*` events.
@Suite(.serialized) struct PipelineGitHubTests {
    @Test(.timeLimit(.minutes(1))) func gitHubDeliveriesAreEmittedAsEventsAndDelivered() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll"))
        let json = """
            {"webhooks": [{"name": "gitops", "url": "\(receiver.url("/gitops"))", "shared_key": "k",
                           "event_type": "all", "branch_scope": "all_branches"}],
             "triggers": [{"name": "pushes", "trigger": {"expect": ["github.push"]},
                           "actions": [{"webhook": "gitops"}]}]}
            """
        let configuration = try pipelineConfiguration(json: json, logDirectory: temporary.path + "/log")
        let pipeline = try Pipeline(configuration: configuration)
        try pipeline.start()
        let body = try readRepositoryFile("fixtures/github/push.json")
        let delivery = GitHubDelivery(
            event: "push",
            deliveryID: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            body: body,
            receivedAt: Timestamp(microsecondsSinceEpoch: 1_700_000_000_000_000)
        )
        #expect(pipeline.emit(gitHub: delivery) == .accepted(position: 0))
        let broken = GitHubDelivery(
            event: "push",
            deliveryID: "x",
            body: Array("{".utf8),
            receivedAt: delivery.receivedAt
        )
        if case .invalid = pipeline.emit(gitHub: broken) {} else { Issue.record("a broken delivery is invalid") }
        #expect(pipeline.flush(timeoutNanoseconds: 20_000_000_000))
        pipeline.stop()
        #expect(receiver.requests.count == 1)
        let request = try JSONValue.parse(receiver.requests.first?.body ?? [])
        #expect(request["event"]?.stringValue == "github.push")
        #expect(request["id"]?.stringValue == "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    }
}
