import SluiceCore
import SluiceTestSupport
import Testing

/// Webhook definitions (spec §c.1) from configuration JSON, and the §c.6 header order of their requests.
@Suite struct WebhookDefinitionTests {
    static let configuration = """
        {"default_branch": "main", "webhooks": [
          {"name": "audit", "url": "https://audit.example/hook", "shared_key": "supersecret",
           "headers": [{"key": "X-Source", "value": "sluice"}]},
          {"name": "slack", "url": "https://hooks.example/T/B", "kind": "transform",
           "event_type": "infrahub.node.created", "branch_scope": "all_branches", "node_kind": "Infra*",
           "validate_certificates": false, "description": "to Slack",
           "signature_key_mode": "standard",
           "shared_keys": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"],
           "headers": [{"key": "X-Team", "value": "netops"}, {"key": "Authorization", "environment": "SLACK_TOKEN"},
                       {"key": "x-team", "value": "platform"}, {"key": "Content-Type", "value": "application/vnd+json"}],
           "transform": {"command": ["python3", "fixtures/transforms/slack.py"], "timeout_seconds": 2.5}},
          {"name": "plain", "url": "http://127.0.0.1:9/x", "kind": "custom", "active": false,
           "headers": [{"key": "webhook-id", "value": "mine"}]}
        ], "triggers": []}
        """

    static func load(
        _ text: String,
        environment: [String: String] = ["SLACK_TOKEN": "Bearer xoxb-1"]
    ) throws
        -> WebhookConfiguration
    {
        try WebhookConfiguration(json: JSONValue.parse(text), environment: environment)
    }

    @Test func everyFieldIsRead() throws {
        let configuration = try Self.load(Self.configuration)
        #expect(configuration.webhooks.map(\.name) == ["audit", "slack", "plain"])
        let audit = try #require(configuration.webhook(named: "audit"))
        #expect(
            audit.headers == [.init(name: "X-Source", value: "sluice")],
            "standard webhooks have headers too (CoreWebhook)"
        )
        #expect(audit.kind == .standard)
        #expect(audit.validateCertificates, "certificate validation is on by default (Infrahub: off)")
        #expect(audit.signatureKeyMode == .infrahub)
        #expect(audit.keys == [WebhookSigningKey(mode: .infrahub, bytes: Array("supersecret".utf8))])
        #expect(audit.subscription.branchScope == .defaultBranch)
        #expect(audit.subscription.eventType == "all")

        let slack = try #require(configuration.webhook(named: "slack"))
        #expect(slack.kind == .transform)
        #expect(!slack.validateCertificates)
        #expect(slack.description == "to Slack")
        #expect(slack.keys.count == 2)
        #expect(
            slack.keys.map(\.standardSecret) == [
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            ]
        )
        #expect(slack.subscription.nodeKind == "Infra*")
        #expect(
            slack.transform
                == .init(command: ["python3", "fixtures/transforms/slack.py"], timeout: .milliseconds(2500))
        )
        #expect(
            slack.headers == [
                .init(name: "Authorization", value: "Bearer xoxb-1", source: .environment("SLACK_TOKEN")),
                .init(name: "x-team", value: "platform"),
                .init(name: "Content-Type", value: "application/vnd+json"),
            ],
            "duplicate names: last wins (case-insensitive)"
        )

        let plain = try #require(configuration.webhook(named: "plain"))
        #expect(!plain.signs)
        #expect(!plain.subscription.active)
        #expect(plain.headers == [.init(name: "webhook-id", value: "mine")], "an unsigned webhook may send any header")
    }

    @Test func triggersAreTheTriggerConfigurationsOnes() throws {
        let json = try JSONValue.parse(Self.configuration)
        let definitions = try WebhookConfiguration(json: json, environment: ["SLACK_TOKEN": "t"])
        let triggers = try TriggerConfiguration(json: json)
        #expect(definitions.triggers == triggers.allTriggers)
        #expect(definitions.triggers.map(\.name) == ["webhook::audit", "webhook::slack", "webhook::plain"])
        #expect(definitions.triggers[2].enabled == false)
    }

    @Test func headersInMergeOrder() throws {
        let configuration = try Self.load(Self.configuration)
        let slack = try #require(configuration.webhook(named: "slack"))
        let signature = WebhookSignatureHeaders(webhookID: "msg_1", timestampSeconds: 1_700_000_000, signature: "v1,x")
        let request = slack.request(body: Array("{}".utf8), signature: signature)
        #expect(
            request.headers.map(\.name) == [
                "Accept", "Content-Type", "User-Agent", "Authorization", "x-team", "webhook-id", "webhook-timestamp",
                "webhook-signature",
            ]
        )
        #expect(request.header("content-type") == "application/vnd+json")
        #expect(
            slack.redactedHeaders(of: request).map(\.value) == [
                "application/json", "application/vnd+json", SluiceVersion.userAgent, "***", "platform", "msg_1",
                "1700000000", "***",
            ],
            "environment-sourced values and the signature are redacted for logs"
        )
        #expect(request.header("webhook-timestamp") == "1700000000")
        #expect(request.url == "https://hooks.example/T/B")
        #expect(!request.validateCertificates)
        let plain = try #require(configuration.webhook(named: "plain"))
        #expect(
            plain.request(body: [], signature: nil).headers.map(\.name) == [
                "Accept", "Content-Type", "User-Agent", "webhook-id",
            ]
        )
    }

    /// The exact request bytes of a signed webhook, built as the delivery loop builds them (the template from
    /// ``WebhookDefinition/request(body:signature:)`` without the signature fields, then
    /// ``HTTPRequestEncoder/signedWebhookRequest``): `User-Agent: sluice/<version>` is among the static
    /// headers.
    @Test func requestBytesCarryTheUserAgent() throws {
        let audit = try #require(try Self.load(Self.configuration).webhook(named: "audit"))
        let placeholder = WebhookSignatureHeaders(webhookID: "", timestampSeconds: 0, signature: "")
        let fields = audit.request(body: [], signature: placeholder).headers
            .filter { !WebhookDefinition.signatureHeaderNames.contains($0.name) }
            .map { HTTPHeaderField($0.name, $0.value) }
        let template = try HTTPRequestTemplate(
            HTTPRequestHead(method: .post, target: "/hook", host: "audit.example", headerFields: fields)
        )
        let body = Array(#"{"data":{}}"#.utf8)
        let bytes = HTTPRequestEncoder.signedWebhookRequest(
            template,
            webhookID: "msg_1",
            timestampSeconds: 1_700_000_000,
            signatureByteCount: 4,
            body: body
        ) { _, _, signature in
            for index in signature.indices { signature[index] = UInt8(ascii: "s") }
        }
        #expect(
            bytes.utf8String
                == "POST /hook HTTP/1.1\r\nHost: audit.example\r\nAccept: application/json\r\n"
                + "Content-Type: application/json\r\nUser-Agent: sluice/\(SluiceVersion.current)\r\n"
                + "X-Source: sluice\r\nwebhook-id: msg_1\r\nwebhook-timestamp: 1700000000\r\n"
                + "webhook-signature: ssss\r\nContent-Length: 11\r\n\r\n{\"data\":{}}"
        )
    }

    /// A custom `User-Agent` (any case) replaces Sluice's in place; nothing sends two.
    @Test(arguments: ["User-Agent", "user-agent", "USER-AGENT"]) func customUserAgentReplacesTheDefault(
        name: String
    ) throws {
        let text = """
            {"webhooks": [{"name": "ua", "url": "http://127.0.0.1:9/x", "kind": "custom",
              "headers": [{"key": "\(name)", "value": "acme-hooks/2"}]}], "triggers": []}
            """
        let definition = try #require(try Self.load(text).webhook(named: "ua"))
        let headers = definition.request(body: [], signature: nil).headers
        #expect(headers.map(\.name) == ["Accept", "Content-Type", name])
        #expect(headers.filter { $0.name.lowercased() == "user-agent" }.map(\.value) == ["acme-hooks/2"])
    }

    static func error(_ text: String, environment: [String: String] = [:]) -> TriggerDefinitionError? {
        guard let json = try? JSONValue.parse(text) else {
            Issue.record("not JSON: \(text)")
            return nil
        }
        do {
            _ = try WebhookConfiguration(json: json, environment: environment)
            return nil
        } catch {
            return error
        }
    }

    @Test func configurationErrorsNameTheField() throws {
        let missing = Self.error(
            #"{"webhooks": [{"name": "w", "url": "https://x.example", "kind": "custom", "headers": [{"key": "X-A", "environment": "NOPE"}]}]}"#
        )
        #expect(missing?.path == "webhooks[0].headers[0].environment")
        #expect(missing?.message.contains("NOPE") == true)
        #expect(missing?.message.contains("webhook 'w'") == true)
        #expect(missing?.message.contains("header 'X-A'") == true)
        let cases: [(String, String)] = [
            (#"{"webhooks": [{"name": "w"}]}"#, "webhooks[0].url"),
            (#"{"webhooks": [{"name": "w", "url": "ftp://x"}]}"#, "webhooks[0].url"),
            (#"{"webhooks": [{"name": "w", "url": "https://x.example"}]}"#, "webhooks[0].shared_key"),
            (#"{"webhooks": [{"name": "w", "url": "https://x.example", "kind": "odd"}]}"#, "webhooks[0].kind"),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "kind": "transform"}]}"#,
                "webhooks[0].transform"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "kind": "custom", "transform": {"command": ["a"]}}]}"#,
                "webhooks[0].transform"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "kind": "transform", "transform": {"command": []}}]}"#,
                "webhooks[0].transform.command"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "kind": "transform", "transform": {"command": ["a"], "timeout_seconds": 0}}]}"#,
                "webhooks[0].transform.timeout_seconds"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "shared_key": "k", "signature_key_mode": "x"}]}"#,
                "webhooks[0].signature_key_mode"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "shared_key": "not base64!", "signature_key_mode": "standard"}]}"#,
                "webhooks[0].shared_key"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "shared_keys": ["a", 1]}]}"#,
                "webhooks[0].shared_keys[1]"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "kind": "custom", "shared_key": "k", "headers": [{"key": "Webhook-Signature", "value": "v"}]}]}"#,
                "webhooks[0].headers[0].key"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "kind": "custom", "headers": [{"key": "Content-Length", "value": "1"}]}]}"#,
                "webhooks[0].headers[0].key"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "kind": "custom", "headers": [{"key": "X Y", "value": "v"}]}]}"#,
                "webhooks[0].headers[0].key"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "kind": "custom", "headers": [{"key": "X", "value": "a\r\nB: c"}]}]}"#,
                "webhooks[0].headers[0]"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "kind": "custom", "headers": [{"key": "X", "value": "a", "environment": "E"}]}]}"#,
                "webhooks[0].headers[0]"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "validate_certificates": "no", "shared_key": "k"}]}"#,
                "webhooks[0].validate_certificates"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "shared_key": "k"}, {"name": "w", "url": "https://y.example", "shared_key": "k"}]}"#,
                "webhooks[1].name"
            ),
            (
                #"{"webhooks": [{"name": "w", "url": "https://x.example", "branch_scope": "some"}]}"#,
                "webhooks[0].branch_scope"
            ),
        ]
        for (text, path) in cases {
            let error = Self.error(text)
            #expect(error?.path == path, "\(text) → \(error.map(String.init(describing:)) ?? "accepted")")
        }
    }

    /// The example configuration of docs/webhooks.md loads and means what the text says.
    @Test func documentedExampleLoads() throws {
        let section = try readRepositoryFile("docs/webhooks.md").utf8String
        let block = try #require(
            section.split(separator: "```json\n", maxSplits: 1).last?.split(separator: "```").first
        )
        let configuration = try Self.load(String(block), environment: ["OPS_TOKEN": "Bearer t"])
        #expect(configuration.webhooks.map(\.kind) == [.standard, .custom, .transform])
        #expect(configuration.webhooks[1].keys.count == 2)
        #expect(
            configuration.webhooks[1].headers.last
                == .init(name: "Authorization", value: "Bearer t", source: .environment("OPS_TOKEN"))
        )
        #expect(configuration.webhooks[2].transform?.command == ["python3", "fixtures/transforms/slack.py"])
        #expect(Self.error(String(block))?.path == "webhooks[1].headers[1].environment")
    }

    @Test func asciiEscapingMatchesPython() {
        // json.dumps(..., ensure_ascii=True): é → \u00e9, DEL → \u007f, U+1F680 → surrogate pair.
        let body = Array("{\"a\":\"café \u{7F} 🚀 ☕\"}".utf8)
        #expect(
            InfrahubSignedPayload.asciiEscaped(body).utf8String == #"{"a":"caf\u00e9 \u007f \ud83d\ude80 \u2615"}"#
        )
        #expect(InfrahubSignedPayload.asciiEscaped(Array("{}".utf8)) == Array("{}".utf8))
    }

    @Test func base64RoundTrips() {
        for count in 0..<70 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let text = Base64.encodedString(bytes)
            #expect(text.utf8.count == Base64.encodedByteCount(count))
            #expect(Base64.decode(text.utf8) == bytes)
            #expect(Base64.decode(text.utf8.prefix { $0 != UInt8(ascii: "=") }, paddingOptional: true) == bytes)
        }
        #expect(Base64.encodedString(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.encodedString(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.decode("Zm8".utf8) == nil, "padding required unless optional")
        #expect(Base64.decode("Zm=8".utf8) == nil)
        #expect(Base64.decode("Z!8=".utf8) == nil)
    }
}
