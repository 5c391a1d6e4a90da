import Foundation
import SluiceTestSupport
import Testing

/// `server.log_format: json`: every line the daemon writes to standard error is one JSON object (requests
/// logged with method, route, status and duration at `info`), and no token or GitHub secret appears in
/// it — not even at `trace`, with requests that carry them, right or wrong.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl")
)
struct ServerLogTests {
    @Test(.timeLimit(.minutes(2)))
    func jsonLogLinesNeverHoldASecret() throws {
        let token = "producer-token-SECRET-0123456789"
        let wrongToken = "wrong-token-SECRET-9876543210"
        let gitHubSecret = "github-SECRET-abcdef"
        let server = try ServeProcess(
            configuration: """
                server:
                  log_format: json
                  log_level: trace
                  tokens:
                    - {name: producer, environment: SERVE_LOG_TEST_TOKEN, scopes: [events:write, metrics:read]}
                  github:
                    - {source: demo, secrets: [{environment: SERVE_LOG_TEST_GITHUB}]}
                """,
            environment: ["SERVE_LOG_TEST_TOKEN": token, "SERVE_LOG_TEST_GITHUB": gitHubSecret]
        )
        let event = Array(EventIngestTests.event(1).utf8)
        let allowed = EventIngestTests.json.merging(["Authorization": "Bearer \(token)"]) { $1 }
        #expect(try server.request("POST", "/api/events", headers: allowed, body: event).status == 200)
        let refused = EventIngestTests.json.merging(["Authorization": "Bearer \(wrongToken)"]) { $1 }
        #expect(try server.request("POST", "/api/events", headers: refused, body: event).status == 401)
        #expect(
            try server.request("GET", "/metrics", headers: ["Authorization": "Bearer \(token)"]).status == 200
        )
        let push = try readRepositoryFile("fixtures/github/push.json")
        #expect(
            try GitHubReceiverTests.post(server, source: "demo", event: "push", body: push, secret: gitHubSecret)
                .status == 200
        )
        #expect(
            try GitHubReceiverTests.post(server, source: "demo", event: "push", body: push, secret: "wrong-SECRET")
                .status == 401
        )
        #expect(server.stop() == 0)
        let log = server.errorOutput()
        let lines = log.split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] is String && object?["message"] is String, "not a JSON log line: \(line)")
        }
        let requests = lines.filter { $0.contains(#""message":"request""#) }
        #expect(requests.count >= 5, "each request is logged at info: \(log)")
        #expect(requests.contains { $0.contains(#""route":"/api/events""#) && $0.contains(#""status":"401""#) })
        for secret in [token, wrongToken, gitHubSecret, "SECRET"] {
            #expect(!log.contains(secret), "a secret reached the log: \(secret)")
        }
    }
}
