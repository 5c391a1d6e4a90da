import Foundation
import Sluice
import SluiceTestSupport
import Testing

/// `sluice webhooks sign | verify | request` end to end.
@Suite struct WebhookCommandTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    @Test func signThenVerify() throws {
        let directory = TemporaryDirectory()
        let bodyPath = directory.path + "/body.json"
        writeFile(bodyPath, Array(#"{"test": 2432232314}"#.utf8))
        let signed = try CommandLineTests.run([
            "webhooks", "sign", "--secret", Self.secret, "--key-mode", "standard", "--id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp", "1614265330", bodyPath,
        ])
        #expect(signed.status == 0, "\(signed.standardError)")
        #expect(
            signed.standardOutput
                == "webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek\nwebhook-timestamp: 1614265330\n"
                + "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n",
            "the official Standard Webhooks vector"
        )
        let verify = [
            "webhooks", "verify", "--secret", Self.secret, "--key-mode", "standard", "--id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp", "1614265330", "--signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ]
        let valid = try CommandLineTests.run(verify + ["--now", "1614265400", bodyPath])
        #expect(valid.status == 0)
        #expect(valid.standardOutput == "valid\n")
        let old = try CommandLineTests.run(verify + ["--now", "1614265631", bodyPath])
        #expect(old.status == 1)
        #expect(old.standardOutput.contains("timestamp too old"))
        writeFile(bodyPath, Array(#"{"test": 2432232315}"#.utf8))
        let tampered = try CommandLineTests.run(verify + ["--now", "1614265330", bodyPath])
        #expect(tampered.status == 1)
        #expect(tampered.standardOutput.contains("no matching signature"))
        // GitHub's official vector (X-Hub-Signature-256).
        writeFile(bodyPath, Array("Hello, World!".utf8))
        let gitHub = [
            "webhooks", "verify", "--github", "--secret", "It's a Secret to Everybody", "--signature",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ]
        let gitHubValid = try CommandLineTests.run(gitHub + [bodyPath])
        #expect(gitHubValid.status == 0)
        #expect(gitHubValid.standardOutput == "valid\n")
        writeFile(bodyPath, Array("Hello, World?".utf8))
        let gitHubInvalid = try CommandLineTests.run(gitHub + [bodyPath])
        #expect(gitHubInvalid.status == 1)
        #expect(gitHubInvalid.standardOutput.contains("X-Hub-Signature-256: no matching signature"))
        let badKey = try CommandLineTests.run([
            "webhooks", "sign", "--secret", "whsec_", "--key-mode", "standard", "--id", "m", bodyPath,
        ])
        #expect(badKey.status == 64 || badKey.status == 2, "usage error for an empty secret (as the other commands)")
    }

    @Test func requestForAnEvent() throws {
        let directory = TemporaryDirectory()
        let events = try readRepositoryFile("fixtures/infrahub/all-event-types.jsonl")
        let eventPath = directory.path + "/event.json"
        writeFile(eventPath, Array(events.prefix { $0 != UInt8(ascii: "\n") }))
        let configPath = directory.path + "/webhooks.json"
        writeFile(
            configPath,
            Array(
                #"{"webhooks": [{"name": "ops", "url": "https://ops.example/hook", "kind": "custom", "shared_key": "supersecret","#
                    .utf8
            )
                + Array(
                    #" "headers": [{"key": "X-Path", "environment": "PATH"}, {"key": "X-Team", "value": "netops"}]}]}"#
                        .utf8
                )
        )
        let outcome = try CommandLineTests.run([
            "webhooks", "request", "--config", configPath, "--webhook", "ops", "--timestamp", "1741884273",
            "--show-secrets", eventPath,
        ])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let lines = outcome.standardOutput.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "POST https://ops.example/hook")
        let names = lines.dropFirst().prefix { !$0.isEmpty }.map { String($0.prefix { $0 != ":" }) }
        #expect(
            names == [
                "Accept", "Content-Type", "User-Agent", "X-Path", "X-Team", "webhook-id", "webhook-timestamp",
                "webhook-signature",
            ]
        )
        let headers = Dictionary(
            uniqueKeysWithValues: lines.dropFirst().prefix { !$0.isEmpty }.map { line in
                let colon = line.firstIndex(of: ":")!
                return (String(line[..<colon]), String(line[line.index(colon, offsetBy: 2)...]))
            }
        )
        #expect(headers["X-Path"] == ProcessInfo.processInfo.environment["PATH"])
        let body = try #require(lines.drop { !$0.isEmpty }.dropFirst().first)
        #expect(body.hasPrefix(#"{"data":"#) && body.contains(#""event":"infrahub.node.created"}"#))
        try WebhookVerifier(infrahubSharedKey: "supersecret").verify(
            webhookID: headers["webhook-id"],
            timestamp: headers["webhook-timestamp"],
            signature: headers["webhook-signature"],
            body: Array(body.utf8),
            nowSeconds: 1_741_884_273
        )

        // Without --show-secrets, the signature and environment-sourced values are redacted (spec §c.6).
        let redacted = try CommandLineTests.run([
            "webhooks", "request", "--config", configPath, "--webhook", "ops", "--timestamp", "1741884273", eventPath,
        ])
        #expect(redacted.status == 0)
        #expect(redacted.standardOutput.contains("\nX-Path: ***\n"))
        #expect(redacted.standardOutput.contains("\nwebhook-signature: ***\n"))
        #expect(redacted.standardOutput.contains("\nX-Team: netops\n"))
        #expect(redacted.standardOutput.contains("\nwebhook-id: msg_"))

        // A missing environment variable is a configuration error at load, naming webhook and header.
        writeFile(
            configPath,
            Array(
                #"{"webhooks": [{"name": "ops", "url": "https://ops.example/hook", "kind": "custom", "headers": [{"key": "X-Token", "environment": "SLUICE_TEST_UNSET_VARIABLE_5"}]}]}"#
                    .utf8
            )
        )
        let missing = try CommandLineTests.run([
            "webhooks", "request", "--config", configPath, "--webhook", "ops", eventPath,
        ])
        #expect(missing.status == 1)
        #expect(
            missing.standardError.contains(
                "webhooks[0].headers[0].environment: environment variable SLUICE_TEST_UNSET_VARIABLE_5 is not set (webhook 'ops', header 'X-Token')"
            ),
            "\(missing.standardError)"
        )
    }
}
