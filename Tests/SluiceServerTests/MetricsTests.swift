import Foundation
import Sluice
import SluiceTestSupport
import Testing

@testable import SluiceServer

/// `GET /metrics` read by `prometheus_client`'s own text parser (PyPI `prometheus-client`, installed by this
/// test into `.build/python-venv-server`): every line parses, and its counters equal what the test did.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl"),
    .enabled(if: PythonVenv.python != nil, "python3 is not installed")
)
struct MetricsTests {
    static let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        samples = {}
        for family in text_string_to_metric_families(sys.stdin.read()):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}"] = sample.value
        print(json.dumps(samples))
        """

    /// The samples of `text` as prometheus_client parsed them, by `name{label="value",…}` (labels sorted).
    static func parse(_ text: String) throws -> [String: Double] {
        let python = try PythonVenv.withPackage("prometheus_client", requirement: "prometheus-client==0.26.0")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        try input.fileHandleForWriting.write(contentsOf: Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try #require(process.reapedStatus() == 0, "prometheus_client could not parse /metrics: \(errorText)")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Double])
    }

    /// A disabled webhook's name is a label value: escaped so that prometheus_client reads back the very name,
    /// whatever it holds.
    @Test func aDisabledWebhooksNameIsAnEscapedLabel() throws {
        let name = "hooks \"prod\" \\ eu\nwest"
        let text = """
            # HELP sluice_pipeline_webhook_disabled 1 for each webhook disabled by 410 Gone.
            # TYPE sluice_pipeline_webhook_disabled gauge
            sluice_pipeline_webhook_disabled{webhook="\(ServerMetrics.labelValue(name))"} 1

            """
        let samples = try Self.parse(text)
        #expect(samples == ["sluice_pipeline_webhook_disabled{webhook=\"\(name)\"}": 1], "\(samples)")
    }

    @Test(.timeLimit(.minutes(3)))
    func prometheusClientReadsTheCountersOfWhatHappened() throws {
        let server = try ServeProcess(
            configuration: """
                server:
                  tokens:
                    - {name: scraper, environment: SCRAPER_TOKEN, scopes: [metrics:read]}
                    - {name: producer, environment: PRODUCER_TOKEN, scopes: [events:write]}
                  github:
                    - {source: demo, secrets: [{value: s3cret}]}
                """,
            environment: ["SCRAPER_TOKEN": "scraper-token-0123456789", "PRODUCER_TOKEN": "producer-token-0123456789"]
        )
        let write = EventIngestTests.lines.merging(["Authorization": "Bearer producer-token-0123456789"]) { $1 }
        for batch in 0..<5 {
            let body = (0..<10).map { EventIngestTests.event(batch * 10 + $0 + 1) }.joined(separator: "\n")
            #expect(try server.request("POST", "/api/events", headers: write, body: Array(body.utf8)).status == 200)
        }
        let push = try readRepositoryFile("fixtures/github/push.json")
        #expect(
            try GitHubReceiverTests.post(server, source: "demo", event: "push", body: push, secret: "s3cret").status
                == 200
        )
        #expect(
            try GitHubReceiverTests.post(server, source: "demo", event: "push", body: push, secret: "wrong").status
                == 401
        )
        #expect(try server.request("GET", "/metrics").status == 401, "metrics need a token with metrics:read")
        let forbidden = try server.request(
            "GET",
            "/metrics",
            headers: ["Authorization": "Bearer producer-token-0123456789"]
        )
        #expect(forbidden.status == 403)
        let reply = try server.request("GET", "/metrics", headers: ["Authorization": "Bearer scraper-token-0123456789"])
        #expect(reply.status == 200)
        #expect(reply.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let samples = try Self.parse(reply.text)
        #expect(samples[#"sluice_pipeline_events_total{outcome="accepted"}"#] == 51, "50 ingested + 1 GitHub")
        #expect(
            samples[#"sluice_pipeline_events_total{outcome="journaled"}"#] == 51,
            "every reply waited for durability"
        )
        #expect(samples[#"sluice_github_deliveries_total{source="demo",verdict="accepted"}"#] == 1)
        #expect(samples[#"sluice_github_deliveries_total{source="demo",verdict="unauthenticated"}"#] == 1)
        let ingestRequests = samples.filter {
            $0.key.hasPrefix("sluice_http_requests_total{") && $0.key.contains("events")
        }
        #expect(ingestRequests.values.reduce(0, +) == 5, "\(samples.keys.sorted())")
        #expect(samples.keys.contains { $0.hasPrefix("sluice_http_request_duration_seconds_bucket{") })
        #expect(samples[#"sluice_pipeline_failed{}"#] == 0)
        #expect(server.stop() == 0)
    }
}

/// A Python virtual environment under `.build` with one PyPI package, made on first use.
enum PythonVenv {
    static let python: String? = {
        for directory in ["/usr/local/bin", "/usr/bin", "/bin"]
            + (ProcessInfo.processInfo.environment["PATH"] ?? "")
            .split(separator: ":").map(String.init)
        where FileManager.default.isExecutableFile(atPath: directory + "/python3") {
            return directory + "/python3"
        }
        return nil
    }()

    /// The venv's python with `module` importable, installing `requirement` when needed; fails (does not
    /// skip) when it cannot be installed, so the check cannot pass without running.
    static func withPackage(_ module: String, requirement: String) throws -> String {
        let venv = packageRoot + "/.build/python-venv-server"
        let venvPython = venv + "/bin/python"
        if FileManager.default.isExecutableFile(atPath: venvPython), run(venvPython, ["-c", "import \(module)"]) == 0 {
            return venvPython
        }
        if !FileManager.default.isExecutableFile(atPath: venvPython) {
            let python = try #require(python)
            try #require(run(python, ["-m", "venv", "--clear", venv]) == 0, "python3 -m venv failed")
        }
        try #require(
            run(venvPython, ["-m", "pip", "install", "--disable-pip-version-check", "--quiet", requirement]) == 0,
            "pip install \(requirement) failed (is PyPI reachable?)"
        )
        return venvPython
    }

    static func run(_ executable: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        return process.reapedStatus()
    }
}
