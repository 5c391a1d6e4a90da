import Foundation
import Sluice
import SluiceCrypto
import SluiceIO
import SluiceTestSupport
import SluiceTools
import Synchronization
import Testing

/// The assembled pipeline end to end on loopback: generated fixture → emit → log → match → sign →
/// HTTP → a real receiver, on both I/O backends.
@Suite(.serialized) struct PipelineTests {
    /// Three webhooks with different subscriptions and keys, each on its own path of one receiver.
    static func configuration(
        receiver: RecordingReceiver,
        logDirectory: String,
        backend: String
    ) throws
        -> PipelineConfiguration
    {
        let json = """
            {"default_branch": "main",
             "webhooks": [
               {"name": "devices", "url": "\(receiver.url("/devices"))", "shared_key": "devices-secret",
                "event_type": "infrahub.node.updated", "branch_scope": "all_branches", "node_kind": "Infra*"},
               {"name": "main-all", "url": "\(receiver.url("/main-all?x=1"))", "shared_key": "main-secret",
                "event_type": "all"},
               {"name": "merges", "url": "\(receiver.url("/merges"))", "shared_key": "merge-secret",
                "event_type": "infrahub.branch.merged", "branch_scope": "other_branches"}]}
            """
        var configuration = try pipelineConfiguration(json: json, logDirectory: logDirectory, backend: backend)
        configuration.ringCapacity = 256
        configuration.log.fsync = .interval(milliseconds: 5)
        return configuration
    }

    @Test(.timeLimit(.minutes(3)), arguments: pipelineBackends().map { $0.kind.rawValue })
    func everyMatchedPairArrivesSignedAndByteExactAndNothingElse(_ backend: String) throws {
        let seed = testSeed()
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: backend))
        let configuration = try Self.configuration(
            receiver: receiver,
            logDirectory: temporary.path + "/log",
            backend: backend
        )
        var generator = FixtureGenerator(.init(eventCount: 1_500, seed: seed))
        var events: [[UInt8]] = []
        while let event = generator.next() { events.append(event) }

        // What should arrive, from the reference matcher (spec §b applied to each webhook's trigger).
        var decoder = EventDecoder()
        var expected: [String: [UInt8]] = [:]  // "webhook event-id" → standard body
        for bytes in events {
            let event = try decoder.decode(bytes)
            for webhook in configuration.webhooks.webhooks
            where ReferenceMatcher.matches(
                webhook.trigger(defaultBranch: "main"),
                event,
                symbols: decoder.symbols
            ) {
                expected["\(webhook.name) \(event.header.id)"] = event.webhookBody()
            }
        }
        #expect(expected.count > 100, "seed \(seed): the fixture exercises the webhooks")

        let pipeline = try Pipeline(configuration: configuration)
        let recovery = try pipeline.start()
        #expect(recovery.ioBackend.contains(backend == "uring" ? "io_uring" : "epoll"))
        emitAll(events, into: pipeline)
        #expect(pipeline.flush(timeoutNanoseconds: 60_000_000_000), "seed \(seed): everything settles")
        pipeline.stop()
        let statistics = pipeline.statistics
        #expect(statistics.accepted == events.count)
        #expect(statistics.journaled == events.count)
        #expect(statistics.delivered == expected.count)
        #expect(statistics.failedAttempts == 0)

        let verifiers: [String: WebhookVerifier] = [
            "devices": try WebhookVerifier(infrahubSharedKey: "devices-secret"),
            "main-all": try WebhookVerifier(infrahubSharedKey: "main-secret"),
            "merges": try WebhookVerifier(infrahubSharedKey: "merge-secret"),
        ]
        var seen: Set<String> = []
        var webhookIDs: [String: String] = [:]
        for request in receiver.requests {
            let name = String(request.path.dropFirst().prefix { $0 != "?" })
            #expect(request.path != "/main-all", "the query string is sent")
            let body = try JSONValue.parse(request.body)
            let id = body["id"]?.stringValue ?? "?"
            let key = "\(name) \(id)"
            #expect(seen.insert(key).inserted, "seed \(seed): \(key) arrived once")
            #expect(request.body == expected[key], "seed \(seed): \(key) body is the standard body, byte for byte")
            if let verifier = verifiers[name] {
                #expect(throws: Never.self, "seed \(seed): \(key) signature") {
                    try verifier.verify(
                        headers: request.headers,
                        body: request.body,
                        nowSeconds: Int64(Date().timeIntervalSince1970)
                    )
                }
            }
            webhookIDs[key] = request.headers.first { $0.name == "webhook-id" }?.value
            #expect(request.headers.prefix(4).map(\.name) == ["Host", "Accept", "Content-Type", "User-Agent"])
            #expect(request.headers.first { $0.name == "User-Agent" }?.value == "sluice/\(SluiceVersion.current)")
        }
        #expect(seen == Set(expected.keys), "seed \(seed): exactly the matched pairs arrived")
        #expect(Set(webhookIDs.values).count == webhookIDs.count, "webhook-ids are distinct per pair")
    }

    /// The two request paths of a delivery loop besides the signed standard one: a custom webhook without a
    /// key (unsigned: no signature headers) and a transform webhook with a key (its command's output is the
    /// body, and the signature covers that output).
    @Test(.timeLimit(.minutes(2))) func unsignedCustomAndSignedTransformWebhooksDeliverTheirBodies() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll"))
        let json = """
            {"webhooks": [
               {"name": "plain", "url": "\(receiver.url("/plain"))", "kind": "custom", "event_type": "all"},
               {"name": "shout", "url": "\(receiver.url("/shout"))", "kind": "transform", "shared_key": "t-key",
                "event_type": "all",
                "transform": {"command": ["python3", "-c", "import json, sys; print(json.dumps({'text': json.load(sys.stdin)['event']}))"],
                              "timeout_seconds": 10}}]}
            """
        let configuration = try pipelineConfiguration(json: json, logDirectory: temporary.path + "/log")
        let (events, flushed, statistics) = try deliverGenerated(12, seed: 21, configuration: configuration)
        #expect(flushed && statistics.failedAttempts == 0)

        var decoder = EventDecoder()
        var bodies: Set<[UInt8]> = []
        var names: Set<String> = []
        for bytes in events {
            let body = try decoder.decode(bytes).webhookBody()
            bodies.insert(body)
            names.insert(try JSONValue.parse(body)["event"]?.stringValue ?? "")
        }
        let plain = receiver.requests.filter { $0.path == "/plain" }
        let shout = receiver.requests.filter { $0.path == "/shout" }
        #expect(plain.count == shout.count && !plain.isEmpty, "both webhooks get the same events")
        for request in plain {
            #expect(bodies.contains(request.body), "the standard body, byte for byte")
            #expect(!request.headers.contains { $0.name.hasPrefix("webhook-") }, "unsigned: no signature headers")
        }
        let verifier = try WebhookVerifier(infrahubSharedKey: "t-key")
        for request in shout {
            let text = try JSONValue.parse(request.body)["text"]?.stringValue ?? "?"
            #expect(names.contains(text), "the transform's output is the body: \(text)")
            #expect(throws: Never.self, "the signature covers the transformed body") {
                try verifier.verify(
                    headers: request.headers,
                    body: request.body,
                    nowSeconds: Int64(Date().timeIntervalSince1970)
                )
            }
        }
    }

    /// A transform that takes a second runs beside the loop: the other webhook's deliveries on the same
    /// endpoint (same delivery loop) all arrive before the first transformed one.
    @Test(.timeLimit(.minutes(2))) func slowTransformsDoNotStallTheOtherDeliveriesOfTheirLoop() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll"))
        let json = """
            {"webhooks": [
               {"name": "slow", "url": "\(receiver.url("/slow"))", "kind": "transform", "event_type": "all",
                "branch_scope": "all_branches",
                "transform": {"command": ["python3", "-c", "import sys, time; time.sleep(1); sys.stdout.write(sys.stdin.read())"],
                              "timeout_seconds": 20}},
               {"name": "fast", "url": "\(receiver.url("/fast"))", "kind": "custom", "event_type": "all", "branch_scope": "all_branches"}]}
            """
        var configuration = try pipelineConfiguration(json: json, logDirectory: temporary.path + "/log")
        configuration.transformConcurrency = 4
        let (events, flushed, statistics) = try deliverGenerated(8, seed: 4, configuration: configuration)
        #expect(flushed && statistics.failedAttempts == 0)
        let paths = receiver.requests.map(\.path)
        #expect(
            paths.filter { $0 == "/slow" }.count == events.count && paths.filter { $0 == "/fast" }.count == events.count
        )
        let firstSlow = paths.firstIndex(of: "/slow") ?? 0
        #expect(paths[..<firstSlow].allSatisfy { $0 == "/fast" } && firstSlow == events.count, "order: \(paths)")
    }

    /// A transform runs once per delivery: its retries resend the first output (the command counts its
    /// runs in a file).
    @Test(.timeLimit(.minutes(2))) func transformRetriesResendTheFirstOutput() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let seen = Mutex<Set<String>>([])
        // The first attempt of every delivery fails (503), the second succeeds.
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll")) { request in
            let id = request.headers.first { $0.name == "webhook-id" }?.value ?? ""
            return seen.withLock { $0.insert(id).inserted } ? 503 : 204
        }
        let runs = temporary.path + "/runs"
        let json = """
            {"webhooks": [
               {"name": "once", "url": "\(receiver.url("/once"))", "kind": "transform", "shared_key": "k",
                "event_type": "all", "branch_scope": "all_branches",
                "transform": {"command": ["sh", "-c", "echo run >> \(runs); cat"], "timeout_seconds": 10}}]}
            """
        var configuration = try pipelineConfiguration(json: json, logDirectory: temporary.path + "/log")
        configuration.retryPolicy.delayNanoseconds = [0, 10_000_000]
        configuration.retryPolicy.jitterPercent = 0
        configuration.circuitBreaker.requestCountMin = 1_000_000
        let (events, flushed, statistics) = try deliverGenerated(6, seed: 8, configuration: configuration)
        #expect(flushed && statistics.delivered == events.count)
        #expect(statistics.failedAttempts == events.count, "one failed attempt each")
        let bodies = receiver.requests.map(\.body)
        #expect(bodies.count == 2 * events.count)
        let runCount = try String(contentsOfFile: runs, encoding: .utf8).split(separator: "\n").count
        #expect(runCount == events.count, "the command ran once per delivery, not once per attempt")
        for (id, requests) in Dictionary(
            grouping: receiver.requests,
            by: { $0.headers.first { $0.name == "webhook-id" }?.value ?? "" }
        ) {
            #expect(
                requests.count == 2 && requests[0].body == requests[1].body,
                "\(id): the retry resent the same bytes"
            )
        }
    }
}
