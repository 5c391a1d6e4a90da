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

    /// Bucket bounds and sums in seconds, as the text format writes them (no exponent, no trailing zeros).
    @Test func secondsAreWrittenExactly() {
        #expect(ServerMetrics.seconds(50_000) == "0.00005")
        #expect(ServerMetrics.seconds(2_500_000_000) == "2.5")
        #expect(ServerMetrics.seconds(60_000_000_000) == "60")
        #expect(ServerMetrics.seconds(0) == "0")
        #expect(ServerMetrics.seconds(1_000_000_001) == "1.000000001")
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

extension MetricsTests {
    /// A small load test over HTTP: 4 batches of 25 events through `POST /api/events`, each delivered to
    /// two webhooks — `ok` (a `sluice sink` on loopback, 2xx) and `refused` (port 9, nothing listens: two
    /// attempts, then a dead letter). Once every delivery is final, what prometheus_client reads from
    /// /metrics equals what the test counted: events accepted (from the replies), deliveries delivered
    /// (from the sink's record), failed attempts by class and dead letters, and every stage histogram
    /// holds one sample per event or per final delivery.
    @Test(.timeLimit(.minutes(3)))
    func afterALoadTestTheCountersEqualWhatTheLoadTestSaw() throws {
        let sink = try SinkProcess()
        let server = try ServeProcess(
            configuration: """
                webhooks:
                  - {name: ok, url: "http://127.0.0.1:\(sink.port)/hook", shared_key: k, event_type: all,
                     branch_scope: all_branches, allowed_networks: ["127.0.0.0/8"]}
                  - {name: refused, url: "http://127.0.0.1:9/hook", shared_key: k, event_type: all,
                     branch_scope: all_branches, allowed_networks: ["127.0.0.0/8"]}
                pipeline:
                  retry_schedule_s: [0, 0]
                  circuit_breaker: {request_count_min: 1000000}   # never opens: every failure is CONNECTION
                """
        )
        var accepted = 0
        for batch in 0..<4 {
            let body = (0..<25).map { DeliveryQueryTests.infrahubEvent(batch * 25 + $0 + 1) }.joined(separator: "\n")
            let reply = try server.request(
                "POST",
                "/api/events",
                headers: EventIngestTests.lines,
                body: Array(body.utf8)
            )
            #expect(reply.status == 200, "\(reply.text)")
            accepted += try EventIngestTests.object(reply)["accepted"] as? Int ?? 0
        }
        #expect(accepted == 100)
        var samples: [String: Double] = [:]
        for _ in 0..<100 {
            samples = try Self.parse(try server.request("GET", "/metrics").text)
            // The counters are each exact but not read atomically together (a delivery bumps its webhook's
            // counter, the pipeline's and the stage histograms one after another): wait until all have it.
            let final =
                (samples[#"sluice_webhook_deliveries_total{outcome="delivered",webhook="ok"}"#] ?? 0)
                + (samples[#"sluice_webhook_deliveries_total{outcome="dead_lettered",webhook="refused"}"#] ?? 0)
            let pipelineFinal =
                (samples[#"sluice_pipeline_deliveries_total{outcome="delivered"}"#] ?? 0)
                + (samples[#"sluice_pipeline_deliveries_total{outcome="dead_lettered"}"#] ?? 0)
            let stagesFinal = samples["sluice_stage_latency_seconds_count{stage=\"sent_to_final\"}"] ?? 0
            if final >= 200, pipelineFinal >= 200, stagesFinal >= 200 { break }
            usleep(200_000)
        }
        let delivered = try sink.deliveredCount()
        #expect(delivered == 100, "the sink got every event once")
        #expect(samples[#"sluice_pipeline_events_total{outcome="accepted"}"#] == Double(accepted))
        #expect(samples[#"sluice_pipeline_events_total{outcome="journaled"}"#] == Double(accepted))
        #expect(samples[#"sluice_webhook_deliveries_total{outcome="delivered",webhook="ok"}"#] == Double(delivered))
        #expect(samples[#"sluice_webhook_deliveries_total{outcome="dead_lettered",webhook="ok"}"#] == 0)
        #expect(samples[#"sluice_webhook_deliveries_total{outcome="delivered",webhook="refused"}"#] == 0)
        #expect(samples[#"sluice_webhook_deliveries_total{outcome="dead_lettered",webhook="refused"}"#] == 100)
        #expect(samples[#"sluice_webhook_deliveries_total{outcome="retried",webhook="refused"}"#] == 100)
        #expect(
            samples[#"sluice_webhook_failed_attempts_total{failure_class="CONNECTION",webhook="refused"}"#] == 200,
            "two failed attempts per event"
        )
        #expect(samples[#"sluice_pipeline_deliveries_total{outcome="delivered"}"#] == Double(delivered))
        #expect(samples[#"sluice_pipeline_deliveries_total{outcome="dead_lettered"}"#] == 100)
        #expect(samples[#"sluice_pipeline_deliveries_total{outcome="attempts_failed"}"#] == 200)
        for (stage, count) in [
            ("emit_to_journaled", accepted), ("journaled_to_matched", accepted), ("matched_to_sent", 200),
            ("sent_to_final", 200),
        ] {
            #expect(samples["sluice_stage_latency_seconds_count{stage=\"\(stage)\"}"] == Double(count), "\(stage)")
            #expect(
                samples["sluice_stage_latency_seconds_bucket{le=\"+Inf\",stage=\"\(stage)\"}"] == Double(count),
                "\(stage)"
            )
        }
        #expect((samples["sluice_log_fsync_duration_seconds_count{}"] ?? 0) >= 1, "fsync: always syncs each batch")
        #expect((samples["sluice_log_written_bytes_total{}"] ?? 0) > 0)
        #expect(samples["sluice_log_segments{}"] == 1)
        #expect(samples[#"sluice_webhook_breaker_state{state="closed",webhook="ok"}"#] == 1)
        #expect(samples["sluice_ring_capacity_slots{}"] != nil)
        #expect(samples["sluice_delivery_jobs_queued{}"] == 0)
        #expect(server.stop() == 0)
        sink.stop()
    }
}

/// `sluice sink` on 127.0.0.1 (a free port), recording each request it answers with a 2xx.
final class SinkProcess {
    let process = Process()
    let directory = TemporaryDirectory()
    private(set) var port = 0
    private let standardOutput = Pipe()
    private var stopped = false

    init() throws {
        process.executableURL = URL(fileURLWithPath: SluiceExecutable.path)
        process.arguments = ["sink", "--port", "0", "--record", directory.path + "/record.jsonl"]
        process.standardOutput = standardOutput
        process.standardError = FileHandle.nullDevice
        try process.run()
        var buffered = Data()
        while port == 0 {
            let chunk = standardOutput.fileHandleForReading.availableData
            if chunk.isEmpty { throw ServeProcess.StartFailure(description: "sluice sink exited before listening") }
            buffered.append(chunk)
            let text = String(decoding: buffered, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }),
                let colon = line.lastIndex(of: ":"), let number = Int(line[line.index(after: colon)...])
            {
                port = number
            }
        }
    }

    deinit { stop() }

    /// The requests recorded so far (one JSON line each).
    func deliveredCount() throws -> Int {
        let data = FileManager.default.contents(atPath: directory.path + "/record.jsonl") ?? Data()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").count
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        kill(process.processIdentifier, SIGTERM)
        _ = process.reapedStatus()
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
