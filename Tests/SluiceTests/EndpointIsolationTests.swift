import Foundation
import Sluice
import SluiceCore
import SluiceIO
import SluiceTestSupport
import Synchronization
import Testing

/// One bad endpoint never stalls the pipeline (ARCHITECTURE.md §6): its breaker is its own (per URL), its
/// retry schedule ends in a dead letter on time even while the breaker is open, and past
/// `endpoint_pending_max` its backlog stays in the log instead of filling the shard for the others.
@Suite(.serialized) struct EndpointIsolationTests {
    /// Two webhooks on one receiver (one host, one port): `/dead` always answers 500, `/healthy` 204.
    static func configuration(
        receiver: RecordingReceiver,
        directory: String,
        endpointPendingMax: Int
    ) throws -> PipelineConfiguration {
        let json = """
            {"webhooks": [
              {"name": "dead", "url": "\(receiver.url("/dead"))", "shared_key": "k", "event_type": "all",
               "branch_scope": "all_branches"},
              {"name": "healthy", "url": "\(receiver.url("/healthy"))", "shared_key": "k", "event_type": "all",
               "branch_scope": "all_branches"}]}
            """
        var configuration = try pipelineConfiguration(json: json, logDirectory: directory)
        // Small legal bounds: before, the dead endpoint's held deliveries filled them and blocked everyone.
        configuration.ringCapacity = 256
        configuration.jobQueueCapacity = 256
        configuration.inFlightMax = 64
        configuration.connectionCountMax = 4
        configuration.pendingDeliveryCountMax = 1_000
        configuration.endpointPendingMax = endpointPendingMax
        configuration.retryPolicy = RetryPolicy(
            delayNanoseconds: [0, 300_000_000, 300_000_000],
            jitterPercent: 0
        )
        return configuration
    }

    /// Outcome records of one run, by webhook, with the wall time each was made.
    final class Outcomes: Sendable {
        private let records = Mutex<[DeliveryOutcomeRecord]>([])
        func add(_ record: DeliveryOutcomeRecord) { records.withLock { $0.append(record) } }
        var all: [DeliveryOutcomeRecord] { records.withLock { $0 } }
    }

    @Test(.timeLimit(.minutes(2))) func aDeadEndpointDeadLettersOnScheduleAndHoldsBackNobody() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll")) { request in
            request.path == "/dead" ? 500 : 204
        }
        let configuration = try Self.configuration(
            receiver: receiver,
            directory: temporary.path + "/log",
            endpointPendingMax: 100
        )
        let events = PipelineBehaviourTests.events(2_000, seed: 11)
        let pipeline = try Pipeline(configuration: configuration)
        let outcomes = Outcomes()
        pipeline.onOutcome { outcomes.add($0) }
        try pipeline.start()
        let started = Date()
        var sawSpill = false
        for chunk in stride(from: 0, to: events.count, by: 100) {
            emitAll(Array(events[chunk..<min(chunk + 100, events.count)]), into: pipeline)
            sawSpill = sawSpill || pipeline.statistics.spillingWebhooks > 0
        }
        // The healthy webhook gets every event while the dead one still works through its backlog.
        let deadline = Date().addingTimeInterval(30)
        while receiver.requests.filter({ $0.path == "/healthy" }).count < events.count, Date() < deadline {
            sawSpill = sawSpill || pipeline.statistics.spillingWebhooks > 0
            usleep(2_000)
        }
        let healthySeconds = Date().timeIntervalSince(started)
        #expect(receiver.requests.filter { $0.path == "/healthy" }.count == events.count)
        #expect(sawSpill, "the dead endpoint's backlog past its bound stayed in the log")
        #expect(pipeline.flush(timeoutNanoseconds: 90_000_000_000), "every dead delivery ends as a dead letter")
        pipeline.stop()
        let statistics = pipeline.statistics
        #expect(statistics.delivered == events.count)
        #expect(statistics.deadLettered == events.count)
        #expect(statistics.spillingWebhooks == 0)

        // Each dead letter comes when the schedule ends (0 + 0.3 + 0.3 s after the first attempt), open breaker
        // or not: attempts it blocks fail as CIRCUIT_OPEN on time instead of waiting for a probe.
        var firstAttempt: [UInt64: Int64] = [:]
        var lateness: [Double] = []
        var circuitOpen = 0
        for record in outcomes.all where record.webhook == "dead" {
            if record.failureClass == .circuitOpen { circuitOpen += 1 }
            switch record.outcome {
            case .retrying where record.attempt == 1:
                firstAttempt[record.eventSequence] = record.at.microsecondsSinceEpoch
            case .deadLettered:
                #expect(record.attempt == 3)
                if let first = firstAttempt[record.eventSequence] {
                    lateness.append(Double(record.at.microsecondsSinceEpoch - first) / 1e6 - 0.6)
                }
            default:
                break
            }
        }
        #expect(lateness.count == events.count)
        #expect(circuitOpen > 0, "the breaker opened and its refusals used attempts")
        let worst = lateness.max() ?? .infinity
        // The goal is within 1 s (measured by isolation-bench); 2 s leaves room for a loaded test machine.
        #expect(worst < 2.0, "a dead letter came \(worst) s after its schedule's end")
        #expect(receiver.requests.filter { $0.path == "/dead" }.count < 3 * events.count, "the breaker held")
        print(
            "isolation: healthy got \(events.count) in \(healthySeconds) s; \(events.count) dead letters, "
                + "worst \(worst) s after the schedule's end; \(circuitOpen) CIRCUIT_OPEN attempts"
        )
    }

    @Test(.timeLimit(.minutes(2))) func aSpilledBacklogSurvivesARestart() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let failing = Atomic<Bool>(true)
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll")) { request in
            request.path == "/dead" && failing.load(ordering: .relaxed) ? 500 : 204
        }
        var configuration = try Self.configuration(
            receiver: receiver,
            directory: temporary.path + "/log",
            endpointPendingMax: 50
        )
        // Retries far away: the dead webhook holds its 50 and leaves the rest in the log.
        configuration.retryPolicy = RetryPolicy(delayNanoseconds: [0, 600 * RetryPolicy.second], jitterPercent: 0)
        let events = PipelineBehaviourTests.events(500, seed: 12)
        do {
            let first = try Pipeline(configuration: configuration)
            try first.start()
            emitAll(events, into: first)
            let deadline = Date().addingTimeInterval(30)
            while first.statistics.delivered < events.count || first.statistics.pendingDeliveries > 50,
                Date() < deadline
            {
                usleep(2_000)
            }
            #expect(first.statistics.delivered == events.count, "the healthy webhook got everything")
            #expect(first.statistics.spillingWebhooks == 1)
            #expect(first.statistics.pendingDeliveries == 50, "only the dead webhook's bound is in memory")
            first.stop()
        }

        failing.store(false, ordering: .relaxed)
        let second = try Pipeline(configuration: configuration)
        let recovery = try second.start()
        #expect(recovery.webhooksSpilled == 1, "recovery too keeps the bound")
        #expect(second.flush(timeoutNanoseconds: 60_000_000_000))
        second.stop()
        let dead = Set(
            receiver.requests.filter { $0.path == "/dead" }.compactMap { request in
                request.headers.first { $0.name.lowercased() == "webhook-id" }?.value
            }
        )
        #expect(dead.count == events.count, "every event reached the recovered endpoint")
        #expect(receiver.requests.filter { $0.path == "/healthy" }.count == events.count, "and no healthy one twice")
    }
}

/// `410 Gone` disables a webhook visibly and durably: journaled, in the statistics and status line, in
/// `endpoints.disabled` across restarts, and lifted only by enabling it.
@Suite(.serialized) struct EndpointGoneTests {
    @Test(.timeLimit(.minutes(2))) func goneDisablesTheWebhookUntilItIsEnabled() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let gone = Atomic<Bool>(true)
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll")) { request in
            request.path == "/gone" && gone.load(ordering: .relaxed) ? 410 : 204
        }
        let directory = temporary.path + "/log"
        let json = """
            {"webhooks": [
              {"name": "gone", "url": "\(receiver.url("/gone"))", "shared_key": "k", "event_type": "all",
               "branch_scope": "all_branches"},
              {"name": "ok", "url": "\(receiver.url("/ok"))", "shared_key": "k", "event_type": "all",
               "branch_scope": "all_branches"}]}
            """
        let configuration = try pipelineConfiguration(json: json, logDirectory: directory)
        let events = PipelineBehaviourTests.events(60, seed: 21)
        func goneRequests() -> Int { receiver.requests.filter { $0.path == "/gone" }.count }

        do {
            let pipeline = try Pipeline(configuration: configuration)
            try pipeline.start()
            emitAll(Array(events[0..<20]), into: pipeline)
            #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
            #expect(pipeline.statistics.disabledEndpoints == ["gone"])
            #expect(PipelineFiles.status(pipeline.statistics).contains("DISABLED (410 Gone): gone"))
            #expect(pipeline.disabledEndpoints.first?.reason.contains("410 Gone") == true)
            pipeline.stop()
        }
        let goneBeforeRestart = goneRequests()
        #expect(goneBeforeRestart >= 1 && goneBeforeRestart <= 20)
        #expect(try EndpointStateFiles.read(directory: directory).map(\.webhook) == ["gone"])

        // A restart keeps it disabled: nothing more is sent to it.
        gone.store(false, ordering: .relaxed)
        do {
            let pipeline = try Pipeline(configuration: configuration)
            try pipeline.start()
            #expect(pipeline.statistics.disabledEndpoints == ["gone"])
            emitAll(Array(events[20..<40]), into: pipeline)
            #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
            #expect(goneRequests() == goneBeforeRestart, "a disabled endpoint gets nothing after a restart")
            // Enabled while running: new deliveries go out again.
            try pipeline.enableEndpoint("gone")
            let deadline = Date().addingTimeInterval(10)
            while !pipeline.statistics.disabledEndpoints.isEmpty, Date() < deadline { usleep(1_000) }
            #expect(pipeline.statistics.disabledEndpoints.isEmpty)
            emitAll(Array(events[40..<60]), into: pipeline)
            #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
            #expect(goneRequests() == goneBeforeRestart + 20)
            #expect(throws: PipelineConfigurationError.self) { try pipeline.enableEndpoint("ok") }
            pipeline.stop()
        }
        #expect(try EndpointStateFiles.read(directory: directory).isEmpty)
        var states: [String] = []
        _ = try LogFiles.forEachRecord(directory: directory) { record in
            guard record.type == .deliveryOutcome, let outcome = try? DeliveryOutcomeRecord(decoding: record.body),
                outcome.outcome.isEndpointState
            else { return }
            states.append("\(outcome.webhook) \(outcome.outcome.rawValue)")
        }
        #expect(states == ["gone endpoint_disabled", "gone endpoint_enabled"], "every change is journaled")
    }

    @Test(.timeLimit(.minutes(1))) func theCommandLineListsAndEnablesDisabledEndpoints() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll")) { _ in 410 }
        let directory = temporary.path + "/log"
        let json = """
            {"webhooks": [{"name": "gone", "url": "\(receiver.url("/gone"))", "shared_key": "k",
                           "event_type": "all", "branch_scope": "all_branches"}]}
            """
        do {
            let pipeline = try Pipeline(configuration: try pipelineConfiguration(json: json, logDirectory: directory))
            try pipeline.start()
            emitAll(PipelineBehaviourTests.events(5, seed: 22), into: pipeline)
            #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
            pipeline.stop()
        }

        let listed = try CommandLineTests.run(["endpoints", "list", "--log", directory])
        #expect(listed.status == 0)
        #expect(listed.standardOutput.hasPrefix("gone disabled since "), "\(listed.standardOutput)")
        let enabled = try CommandLineTests.run(["endpoints", "enable", "--log", directory, "gone"])
        #expect(enabled.status == 0, "\(enabled.standardError)")
        #expect(try EndpointStateFiles.read(directory: directory).isEmpty)
        let again = try CommandLineTests.run(["endpoints", "enable", "--log", directory, "gone"])
        #expect(again.status == 1)
        #expect(again.standardError.contains("is not disabled"))
    }
}
