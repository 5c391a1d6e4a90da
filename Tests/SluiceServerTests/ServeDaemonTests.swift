import Foundation
import SluiceTestSupport
import Testing

/// `sluice serve` as a process on 127.0.0.1: health routes, clean stop on SIGTERM and SIGINT (exit 0),
/// configuration errors before it listens.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl")
)
struct ServeDaemonTests {
    @Test(.timeLimit(.minutes(2)), arguments: [SIGTERM, SIGINT])
    func servesHealthAndStopsCleanlyOnSignal(signal: Int32) throws {
        let server = try ServeProcess(configuration: "default_branch: main\n")
        let health = try server.request("GET", "/healthz")
        #expect(health.status == 200)
        #expect(health.text == "ok\n")
        let ready = try server.request("GET", "/readyz")
        #expect(ready.status == 200)
        #expect(ready.text == "ready\n")
        #expect(try server.request("GET", "/nowhere").status == 404)
        #expect(server.stop(signal: signal) == 0)
        #expect(server.errorOutput().contains("stopped:"))
    }

    @Test(.timeLimit(.minutes(2)))
    func jsonLogsAreOneObjectPerLineWithoutSecrets() throws {
        let server = try ServeProcess(
            configuration: """
                server:
                  log_format: json
                  tokens: [{name: producer, environment: PRODUCER_TOKEN, scopes: [events:write]}]
                  github: [{source: demo, secrets: [{value: the-github-secret}]}]
                """,
            environment: ["PRODUCER_TOKEN": "producer-token-0123456789"]
        )
        #expect(try server.request("GET", "/healthz").status == 200)
        #expect(server.stop() == 0)
        let text = server.errorOutput()
        let lines = text.split(separator: "\n")
        #expect(lines.count >= 3, "\(text)")
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] as? String != nil, "not a JSON log record: \(line)")
            #expect(object?["message"] as? String != nil, "not a JSON log record: \(line)")
        }
        #expect(text.contains(#""message":"listening""#))
        #expect(!text.contains("producer-token-0123456789"))
        #expect(!text.contains("the-github-secret"))
    }

    @Test(.timeLimit(.minutes(2)))
    func unknownServerKeyIsAnErrorWithFileLineAndKey() throws {
        #expect {
            _ = try ServeProcess(configuration: "server:\n  listen: 127.0.0.1:0\n  body_byte_max: 5000\n")
        } throws: { error in
            let text = "\(error)"
            return text.contains("exited with 1")
                && text.contains(
                    "sluice.yaml:3:3: server.body_byte_max: unknown key 'body_byte_max'; did you mean 'body_bytes_max'?"
                )
        }
    }
}
