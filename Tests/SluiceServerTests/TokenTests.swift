import Foundation
import Sluice
import SluiceServer
import SluiceTestSupport
import Testing

/// Bearer tokens: read from the file (as digests) or the environment (hashed at load), scopes enforced
/// before a body is read, and no public listen address without a token.
@Suite struct TokenConfigurationTests {
    /// `printf %s "hello world!" | sha256sum`
    static let digest = "7509e5bda0c762d2bac7f90d758b5b2263fa01ccbc542ab5e3df163be08e6ca9"

    func parse(_ yaml: String, environment: [String: String] = [:]) throws(ConfigurationError) -> ServerConfiguration {
        try ServerConfiguration(
            document: ConfigurationDocument.parse(Array(yaml.utf8), format: .yaml, file: "c.yaml"),
            environment: environment
        )
    }

    @Test func digestsFromTheFileAndTokensFromTheEnvironment() throws {
        let configuration = try parse(
            """
            server:
              tokens:
                - {name: a, sha256: \(Self.digest), scopes: [events:write]}
                - {name: b, environment: B_TOKEN, scopes: [admin]}
            """,
            environment: ["B_TOKEN": "hello world!-and-more"]
        )
        #expect(configuration.tokens.map(\.name) == ["a", "b"])
        #expect(configuration.tokens[0].digest == SHA256Digest.hash(Array("hello world!".utf8)))
        #expect(configuration.tokens[1].digest == SHA256Digest.hash(Array("hello world!-and-more".utf8)))
        #expect(configuration.tokens[1].allows(.eventsWrite))
        #expect(!configuration.tokens[0].allows(.admin))
    }

    @Test(arguments: [
        ("- {name: a, sha256: abc, scopes: [admin]}", "server.tokens[0].sha256", "must be the token's SHA-256"),
        ("- {name: a, environment: NOPE, scopes: [admin]}", "server.tokens[0].environment", "NOPE is not set"),
        (
            "- {name: a, environment: SHORT, scopes: [admin]}", "server.tokens[0].environment",
            "from 16 to 4096 bytes, not 5"
        ),
        ("- {name: a, sha256: \(digest), scopes: [root]}", "server.tokens[0].scopes[0]", "must be one of events:write"),
        ("- {name: a, sha256: \(digest), scopes: []}", "server.tokens[0].scopes", "non-empty list"),
        ("- {name: a, sha256: \(digest), environment: X, scopes: [admin]}", "server.tokens[0]", "exactly one of"),
        ("- {name: a, sha256: \(digest), scope: [admin]}", "server.tokens[0].scope", "did you mean 'scopes'?"),
    ])
    func badEntriesNameTheirField(entry: String, field: String, message: String) {
        #expect {
            try parse("server:\n  tokens:\n    \(entry)\n", environment: ["SHORT": "12345"])
        } throws: { error in
            let error = error as? ConfigurationError
            return error?.line == 3 && error?.field == field && error?.message.contains(message) == true
        }
    }
}

@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl")
)
struct TokenServeTests {
    static let producer = "producer-token-0123456789"
    static let reader = "reader-token-0123456789"
    static let configuration = """
        server:
          tokens:
            - {name: producer, environment: PRODUCER_TOKEN, scopes: [events:write]}
            - {name: reader, environment: READER_TOKEN, scopes: [events:read]}
        """

    @Test(.timeLimit(.minutes(2)))
    func ingestNeedsATokenWithTheScope() throws {
        let server = try ServeProcess(
            configuration: Self.configuration,
            environment: ["PRODUCER_TOKEN": Self.producer, "READER_TOKEN": Self.reader]
        )
        let body = Array(EventIngestTests.event(1).utf8)
        let none = try server.request("POST", "/api/events", headers: EventIngestTests.json, body: body)
        #expect(none.status == 401)
        #expect(none.headers["www-authenticate"] == "Bearer")
        let wrong = try server.request(
            "POST",
            "/api/events",
            headers: EventIngestTests.json.merging(["Authorization": "Bearer not-a-token-at-all"]) { $1 },
            body: body
        )
        #expect(wrong.status == 401)
        let readOnly = try server.request(
            "POST",
            "/api/events",
            headers: EventIngestTests.json.merging(["Authorization": "Bearer \(Self.reader)"]) { $1 },
            body: body
        )
        #expect(readOnly.status == 403)
        #expect(readOnly.text.contains("does not have the scope events:write"))
        #expect(try server.request("GET", "/healthz").status == 200, "health needs no token")
        let allowed = try server.request(
            "POST",
            "/api/events",
            headers: EventIngestTests.json.merging(["Authorization": "bearer \(Self.producer)"]) { $1 },
            body: Array(EventIngestTests.event(2).utf8)
        )
        #expect(allowed.status == 200, "\(allowed.text)")
        #expect(server.stop() == 0)
        #expect(!server.errorOutput().contains(Self.producer), "tokens are never logged")
        #expect(try EventIngestTests.loggedIDs(server.logDirectory.path) == ["bf569ddc-2a30-4491-82f1-000000000002"])
    }

    @Test(.timeLimit(.minutes(2)))
    func aPublicAddressWithoutTokensRefusesToStart() throws {
        // Nothing is bound: the check runs before the pipeline starts.
        #expect {
            _ = try ServeProcess(configuration: "default_branch: main\n", listen: "0.0.0.0:0")
        } throws: { error in
            "\(error)".contains("exited with 1") && "\(error)".contains("refusing to listen on 0.0.0.0:0 with no token")
        }
    }
}
