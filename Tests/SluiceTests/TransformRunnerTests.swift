import Sluice
import SluiceTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Transform webhooks (spec §c.5): real child processes, standard body on stdin, new body on stdout.
@Suite struct TransformRunnerTests {
    static let python3: String? = ["/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"].first {
        access($0, X_OK) == 0
    }

    static func transform(_ command: [String], timeoutMilliseconds: Int64 = 10_000) -> WebhookDefinition.Transform {
        WebhookDefinition.Transform(command: command, timeout: .milliseconds(timeoutMilliseconds))
    }

    static func nodeCreated() throws -> Event {
        let meta = InfrahubEventMeta(
            id: EventID(high: 0xABCD, low: 0x1234),
            occurred: Timestamp(secondsSinceEpoch: 1_741_884_273),
            branchName: "main",
            branchID: "b"
        )
        var decoder = EventDecoder()
        return try InfrahubEvents.nodeMutated(
            NodeMutation(kind: "InfraDevice", nodeID: "n1", action: .created, displayLabel: "atl1-edge1 café"),
            meta: meta
        ).build(with: &decoder)
    }

    /// fixtures/transforms/slack.py end to end: event → standard body → transform → signed request → verified.
    @Test(.enabled(if: Self.python3 != nil, "python3 is not installed")) func slackTransformEndToEnd() throws {
        let python3 = try #require(Self.python3)
        let event = try Self.nodeCreated()
        let json = try JSONValue.parse(
            #"{"webhooks": [{"name": "slack-webhook", "url": "https://hooks.example/services/X", "kind": "transform","#
                + #" "event_type": "infrahub.node.created", "shared_key": "s3cret","#
                + #" "transform": {"command": ["\#(python3)", "\#(packageRoot)/fixtures/transforms/slack.py"], "timeout_seconds": 30}}]}"#
        )
        let configuration = try WebhookConfiguration(json: json, environment: [:])
        let definition = configuration.webhooks[0]
        let body = try WebhookBodies.body(for: definition, event: event).get()
        let message = try JSONValue.parse(body)
        #expect(message["text"]?.stringValue == "Node created: InfraDevice 'atl1-edge1 café'")
        let blocks = try #require(message["blocks"]?.arrayValue)
        #expect(blocks.count == 2)
        #expect(blocks[0]["text"]?["text"]?.stringValue == "*InfraDevice* was *created*")
        #expect(blocks[1]["fields"]?.arrayValue?.first?["text"]?.stringValue == "*Name:*\natl1-edge1 café")
        #expect(body == message.encoded(), "the body is the compact encoding (httpx's bytes)")
        #expect(body.contains(0xC3), "UTF-8 sent raw, not \\u-escaped")
        let signer = WebhookRequestSigner(definitions: configuration.webhooks)
        let request = signer.request(
            webhookIndex: 0,
            body: body,
            eventID: event.header.id,
            timestampSeconds: 1_741_884_300
        )
        try WebhookVerifier(infrahubSharedKey: "s3cret").verify(
            headers: request.headers.map { ($0.name, $0.value) },
            body: request.body,
            nowSeconds: 1_741_884_300
        )
    }

    @Test func failuresAreValuesWithStandardError() throws {
        let body = Array("{}".utf8)
        let exited = TransformRunner.run(
            Self.transform(["sh", "-c", "cat >/dev/null; echo boom >&2; exit 3"]),
            input: body
        )
        guard case .failure(let failure) = exited else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.reason == .exited(status: 3))
        #expect(failure.standardError == "boom\n")
        #expect(failure.description.contains("exited with status 3; stderr: boom"))

        let invalid = TransformRunner.run(Self.transform(["sh", "-c", "echo not json; echo why >&2"]), input: body)
        guard case .failure(let invalidFailure) = invalid, case .invalidJSON = invalidFailure.reason else {
            Issue.record("expected invalid JSON, got \(invalid)")
            return
        }
        #expect(invalidFailure.standardError == "why\n")

        let missing = TransformRunner.run(Self.transform(["/nonexistent/transform"]), input: body)
        guard case .failure(let missingFailure) = missing else {
            Issue.record("expected a failure")
            return
        }
        #expect(missingFailure.reason == .spawnFailed(errno: ENOENT))

        let signaled = TransformRunner.run(Self.transform(["sh", "-c", "kill -9 $$"]), input: body)
        guard case .failure(let signaledFailure) = signaled else {
            Issue.record("expected a failure")
            return
        }
        #expect(signaledFailure.reason == .signaled(signal: 9))
    }

    @Test func timeoutKillsTheTransform() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = TransformRunner.run(
            Self.transform(["sh", "-c", "echo started >&2; exec sleep 30"], timeoutMilliseconds: 300),
            input: Array("{}".utf8)
        )
        let elapsed = start.duration(to: clock.now)
        guard case .failure(let failure) = outcome else {
            Issue.record("expected a timeout")
            return
        }
        #expect(failure.reason == .timedOut)
        #expect(failure.standardError == "started\n")
        #expect(elapsed < .seconds(10), "killed at the deadline, not after the child's 30 s")
    }

    /// Large bodies both ways: `cat` writes its output while we are still writing its input, so a runner
    /// that wrote all input before reading would deadlock on full buffers.
    @Test func largeBodiesDoNotDeadlock() throws {
        var large = Array(#"{"items":["#.utf8)
        for index in 0..<100_000 {
            if index > 0 { large.append(UInt8(ascii: ",")) }
            large.append(contentsOf: #""item-\#(index)""#.utf8)
        }
        large.append(contentsOf: "]}".utf8)
        #expect(large.count > 1_000_000)
        let echoed = TransformRunner.run(Self.transform(["cat"]), input: large)
        #expect(try echoed.get() == large)
        // A transform that never reads its input: no SIGPIPE, its output counts.
        let ignoring = TransformRunner.run(Self.transform(["sh", "-c", #"echo '{"ok": true}'"#]), input: large)
        #expect(try ignoring.get() == Array(#"{"ok":true}"#.utf8))
    }
}
