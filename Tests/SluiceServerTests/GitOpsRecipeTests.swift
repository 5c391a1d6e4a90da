import Foundation
import Sluice
import SluiceTestSupport
import Testing

/// The four GitOps recipes of `examples/gitops/` end to end (docs/gitops.md): each recipe's configuration
/// runs in a real `sluice serve`, GitHub deliveries (the `fixtures/github` bodies, edited as
/// `fixtures/gitops/README.md` says) are POSTed to its GitHub receiver signed with `X-Hub-Signature-256`,
/// and the recipe's own commands (`examples/gitops/bin`, found through `PATH`) record each step they take:
/// every expected command runs exactly once, with the expected parameters, and nothing else runs.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl")
)
struct GitOpsRecipeTests {
    static let secret = "gitops-recipe-secret"

    /// One delivery: a fixture body with some fields replaced.
    struct Delivery {
        var fixture: String
        var event: String
        var edits: [([String], JSONValue)] = []
    }

    /// The recipe at `examples/gitops/<name>` with `replacements` applied, served with the recipe's
    /// commands on `PATH`; `record` gets their steps.
    static func serve(_ name: String, replacements: [(String, String)] = [], record: String) throws -> ServeProcess {
        var text = try readRepositoryFile("examples/gitops/" + name).utf8String
        for (old, new) in replacements {
            #expect(text.contains(old), "\(name) holds \(old)")
            text = text.replacingOccurrences(of: old, with: new)
        }
        // The recipe's commands, and `sluice` (for `sluice emit`), on PATH.
        let executableDirectory = String(SluiceExecutable.path[..<SluiceExecutable.path.lastIndex(of: "/")!])
        let path =
            executableDirectory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        return try ServeProcess(
            configuration: text,
            environment: [
                "GITHUB_WEBHOOK_SECRET": secret, "PATH": packageRoot + "/examples/gitops/bin:" + path,
                "GITOPS_RECORD": record,
            ]
        )
    }

    static func body(_ delivery: Delivery) throws -> [UInt8] {
        let original = try readRepositoryFile("fixtures/github/" + delivery.fixture)
        guard !delivery.edits.isEmpty else { return original }
        var value = try JSONValue.parse(original)
        for (path, replacement) in delivery.edits { value = setting(replacement, at: path[...], in: value) }
        return value.encoded()
    }

    static func setting(_ value: JSONValue, at path: ArraySlice<String>, in root: JSONValue) -> JSONValue {
        guard let key = path.first, case .object(var object) = root else { return value }
        object[key] = setting(value, at: path.dropFirst(), in: object[key] ?? .null)
        return .object(object)
    }

    /// POSTs each delivery, signed, and expects it accepted.
    static func post(_ deliveries: [Delivery], to server: ServeProcess) throws {
        for delivery in deliveries {
            let body = try body(delivery)
            let reply = try server.request(
                "POST",
                "/github/acme",
                headers: [
                    "Content-Type": "application/json", "X-GitHub-Event": delivery.event,
                    "X-GitHub-Delivery": UUID().uuidString.lowercased(),
                    "X-Hub-Signature-256": GitHubSignatureVerifier(secret: secret).signature256(body: body),
                ],
                body: body
            )
            #expect((200..<300).contains(reply.status), "\(delivery.fixture): \(reply.status) \(reply.text)")
        }
    }

    /// Waits until `record` has `count` lines (or 30 s), then a little longer for any unexpected extra one.
    static func steps(_ record: String, count: Int) -> [String] {
        func read() -> [String] {
            ((try? String(contentsOfFile: record, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while read().count < count, ContinuousClock.now < deadline { usleep(20_000) }
        usleep(500_000)
        return read().sorted()
    }

    static let repository = "repository=Codertocat/Hello-World"

    @Test(.timeLimit(.minutes(2))) func previewEnvironments() throws {
        let scratch = TemporaryDirectory()
        defer { withExtendedLifetime(scratch) {} }
        let record = scratch.path + "/steps"
        let server = try Self.serve("preview-environments.yaml", record: record)
        try Self.post(
            [
                Delivery(fixture: "pull_request.opened.json", event: "pull_request"),
                Delivery(fixture: "pull_request.labeled.json", event: "pull_request"),  // no step
                Delivery(fixture: "pull_request.synchronize.json", event: "pull_request"),
                Delivery(fixture: "pull_request.closed.json", event: "pull_request"),
            ],
            to: server
        )
        let steps = Self.steps(record, count: 3)
        #expect(server.stop() == 0, "\(server.errorOutput())")
        let common =
            "pr=2 \(Self.repository) branch=changes sha=ec26c3e57ca3a959ca5aad62de7213c562f8c821 namespace=preview-pr-2"
        #expect(
            steps == [
                "preview-env action=create \(common)", "preview-env action=destroy \(common)",
                "preview-env action=update \(common)",
            ]
        )
    }

    @Test(.timeLimit(.minutes(2))) func branchBasedDeployment() throws {
        let scratch = TemporaryDirectory()
        defer { withExtendedLifetime(scratch) {} }
        let record = scratch.path + "/steps"
        let server = try Self.serve("branch-deploy.yaml", record: record)
        try Self.post(
            [
                Delivery(fixture: "push.json", event: "push", edits: [(["ref"], "refs/heads/main")]),
                Delivery(fixture: "push.json", event: "push"),  // refs/heads/master: not main, no step
                Delivery(fixture: "release.published.json", event: "release"),
                Delivery(fixture: "release.prereleased.json", event: "release"),  // a prerelease: no step
                Delivery(
                    fixture: "delete.json",
                    event: "delete",
                    edits: [(["ref"], "changes"), (["ref_type"], "branch")]
                ),
                Delivery(fixture: "delete.json", event: "delete"),  // a tag: no step
            ],
            to: server
        )
        let steps = Self.steps(record, count: 3)
        #expect(server.stop() == 0, "\(server.errorOutput())")
        #expect(
            steps == [
                "cleanup-env \(Self.repository) branch=changes",
                "deploy environment=production \(Self.repository) ref=0.0.1 source=release",
                "deploy environment=staging \(Self.repository) ref=6113728f27ae82c7b1a177c8d03f9e96e0adf246 source=push",
            ]
        )
    }

    @Test(.timeLimit(.minutes(2))) func ciGatedDeployment() throws {
        let scratch = TemporaryDirectory()
        defer { withExtendedLifetime(scratch) {} }
        let record = scratch.path + "/steps"
        let server = try Self.serve("ci-gated-deploy.yaml", record: record)
        let checkSuite = Delivery(
            fixture: "check_suite.completed.json",
            event: "check_suite",
            edits: [(["check_suite", "head_branch"], "develop")]
        )
        try Self.post(
            [
                checkSuite,  // green checks before any push: no window open, no step
                Delivery(fixture: "push.json", event: "push", edits: [(["ref"], "refs/heads/develop")]),
                checkSuite,  // within 30 minutes of the push: deploy
                Delivery(
                    fixture: "workflow_run.completed.json",
                    event: "workflow_run",
                    edits: [(["workflow_run", "head_branch"], "develop")]
                ),
            ],
            to: server
        )
        let steps = Self.steps(record, count: 4)
        #expect(server.stop() == 0, "\(server.errorOutput())")
        let signal = "signal event=gitops.checks.passed resource=gitops.checks.Codertocat/Hello-World"
        #expect(
            steps == [
                "deploy environment=dev \(Self.repository) ref=ec26c3e57ca3a959ca5aad62de7213c562f8c821 source=check-suite",
                "deploy environment=dev-artifacts repository=octo-org/octo-repo "
                    + "ref=3484a3fb816e0859fd6e1cea078d76385ff50625 source=workflow-run 289782451",
                signal, signal,
            ]
        )
    }

    /// With the stalled window cut to 10 s (the shortest Proactive window) so the test can wait for it.
    @Test(.timeLimit(.minutes(2))) func deploymentStatusTrackingWithRollback() throws {
        let scratch = TemporaryDirectory()
        defer { withExtendedLifetime(scratch) {} }
        let record = scratch.path + "/steps"
        let sinkRecord = scratch.path + "/notifications.jsonl"
        let sink = try SinkRecorder(key: "notify-key", record: sinkRecord)
        defer { sink.stop() }
        let server = try Self.serve(
            "deployment-status.yaml",
            replacements: [("http://127.0.0.1:8099", "http://127.0.0.1:\(sink.port)"), ("within: 900", "within: 10")],
            record: record
        )
        let status = "deployment_status.created.json"
        try Self.post(
            [
                Delivery(fixture: "deployment.created.json", event: "deployment"),
                Delivery(
                    fixture: status,
                    event: "deployment_status",
                    edits: [(["deployment_status", "state"], "in_progress")]
                ),
                Delivery(fixture: status, event: "deployment_status"),  // success
                Delivery(
                    fixture: status,
                    event: "deployment_status",
                    edits: [(["deployment_status", "state"], "failure")]
                ),
                // A second deployment that never succeeds: stalled after the window.
                Delivery(
                    fixture: "deployment.created.json",
                    event: "deployment",
                    edits: [(["deployment", "id"], 999)]
                ),
            ],
            to: server
        )
        let steps = Self.steps(record, count: 6)
        let notifications = sink.deliveredCount(atLeast: 2)
        #expect(server.stop() == 0, "\(server.errorOutput())")
        let sha = "sha=f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
        #expect(
            steps == [
                "deployment-track state=complete deployment=145988746 environment=production \(sha)",
                "deployment-track state=rollback deployment=145988746 environment=production \(sha)",
                "deployment-track state=stalled deployment=999 environment=production sha=",
                "deployment-track state=start deployment=145988746 environment=production \(sha)",
                "deployment-track state=start deployment=999 environment=production \(sha)",
                "signal event=gitops.deployment.succeeded resource=github.deployment.145988746",
            ]
        )
        #expect(notifications == 2, "in_progress and failure were notified")
    }
}

/// `sluice sink` on 127.0.0.1 verifying Infrahub signatures with `key` and recording each request.
final class SinkRecorder {
    let process = Process()
    let port: Int
    let record: String

    init(key: String, record: String) throws {
        self.record = record
        process.executableURL = URL(fileURLWithPath: SluiceExecutable.path)
        process.arguments = ["sink", "--port", "0", "--infrahub-key", key, "--record", record]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var buffered = Data()
        var found = 0
        while found == 0 {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            buffered.append(chunk)
            let text = String(decoding: buffered, as: UTF8.self)
            if let range = text.range(of: "http://127.0.0.1:") {
                found = Int(text[range.upperBound...].prefix { $0.isNumber }) ?? 0
            }
        }
        port = found
    }

    /// Requests answered 2xx with a valid signature, once there are `count` (or after 20 s).
    func deliveredCount(atLeast count: Int) -> Int {
        func read() -> Int {
            ((try? String(contentsOfFile: record, encoding: .utf8)) ?? "").split(separator: "\n").filter {
                $0.contains(#""signature":"valid""#) && $0.contains(#""status":2"#)
            }.count
        }
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while read() < count, ContinuousClock.now < deadline { usleep(20_000) }
        usleep(300_000)
        return read()
    }

    func stop() {
        if process.isRunning { process.interrupt() }
        _ = process.reapedStatus()
    }
}
