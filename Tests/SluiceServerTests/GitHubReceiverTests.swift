import Foundation
import Sluice
import SluiceTestSupport
import Testing

/// GitHub as a sender: every payload of `fixtures/github` POSTed to a real `sluice serve` with a real
/// `X-Hub-Signature-256`, `X-GitHub-Event` and `X-GitHub-Delivery`; wrong signatures, redeliveries,
/// rotation, legacy SHA-1 and event types outside the twelve.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl")
)
struct GitHubReceiverTests {
    static let secret = "It's a Secret to Everybody"
    static let oldSecret = "the-secret-before-the-rotation"
    static let configuration = """
        server:
          github:
            - source: infrahub-demo
              secrets: [{environment: GITHUB_SECRET}, {value: "\(oldSecret)"}]
            - source: strict
              secrets: [{environment: GITHUB_SECRET}]
              other_events: ignore
              allow_sha1: true
        pipeline:
          ring_capacity: 64
        """

    static func start(logDirectory: TemporaryDirectory = TemporaryDirectory()) throws -> ServeProcess {
        try ServeProcess(
            configuration: configuration,
            logDirectory: logDirectory,
            environment: ["GITHUB_SECRET": secret]
        )
    }

    static func post(
        _ server: ServeProcess,
        source: String = "infrahub-demo",
        event: String,
        delivery: String = UUID().uuidString.lowercased(),
        body: [UInt8],
        secret: String = secret,
        signatureHeader: String = "X-Hub-Signature-256"
    ) throws -> HTTPReply {
        let signature =
            signatureHeader == "X-Hub-Signature-256"
            ? GitHubSignatureVerifier(secret: secret).signature256(body: body) : sha1Signature(body, secret: secret)
        return try server.request(
            "POST",
            "/github/\(source)",
            headers: [
                "Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
                signatureHeader: signature,
            ],
            body: body
        )
    }

    /// `sha1=<hex>` computed by openssl's command line (an implementation independent of ours).
    static func sha1Signature(_ body: [UInt8], secret: String) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["dgst", "-sha1", "-hmac", secret, "-r"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try? process.run()
        try? input.fileHandleForWriting.write(contentsOf: Data(body))
        try? input.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        _ = process.reapedStatus()
        return "sha1=" + (text.split(separator: " ").first.map(String.init) ?? "")
    }

    /// The names of the events in the log.
    static func loggedNames(_ directory: String) throws -> [String] {
        var names: [String] = []
        var decoder = EventDecoder()
        _ = try LogFiles.forEachRecord(directory: directory) { record in
            guard record.type == .event, let event = try? decoder.decode(record.body) else { return }
            names.append(decoder.symbols.string(event.header.name))
        }
        return names
    }

    @Test(.timeLimit(.minutes(3)))
    func everyFixtureDeliveryBecomesAnEventInTheLog() throws {
        let directory = packageRoot + "/fixtures/github"
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }
            .sorted()
        #expect(files.count >= 12)
        let server = try Self.start()
        var expected: [String] = []
        for file in files {
            let body = try readRepositoryFile("fixtures/github/" + file)
            let event = String(file.prefix { $0 != "." })
            let reply = try Self.post(server, event: event, body: body)
            #expect(reply.status == 200, "\(file): \(reply.text)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any])
            #expect(object["status"] as? String == "accepted", "\(file)")
            #expect(object["sequence"] as? Int != nil, "\(file): answered when durable, with the sequence")
            expected.append(try #require(object["event"] as? String))
            #expect(expected.last?.hasPrefix("github.\(event)") == true)
        }
        #expect(server.stop() == 0)
        #expect(try Self.loggedNames(server.logDirectory.path) == expected)
    }

    @Test(.timeLimit(.minutes(2)))
    func badSignaturesAreRefusedAndNothingIsStored() throws {
        let server = try Self.start()
        let body = try readRepositoryFile("fixtures/github/push.json")
        let wrong = try Self.post(server, event: "push", body: body, secret: "not the secret")
        #expect(wrong.status == 401)
        #expect(wrong.text.contains("invalid_signature"))
        var tampered = body
        tampered[tampered.count / 2] ^= 0x01
        let signedOriginal = GitHubSignatureVerifier(secret: Self.secret).signature256(body: body)
        let changed = try server.request(
            "POST",
            "/github/infrahub-demo",
            headers: ["X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": signedOriginal],
            body: tampered
        )
        #expect(changed.status == 401, "the signature covers the exact bytes")
        let unsigned = try server.request(
            "POST",
            "/github/infrahub-demo",
            headers: ["X-GitHub-Event": "push", "X-GitHub-Delivery": "d-2"],
            body: body
        )
        #expect(unsigned.status == 401)
        let sha1Only = try Self.post(server, event: "push", body: body, signatureHeader: "X-Hub-Signature")
        #expect(sha1Only.status == 401, "legacy SHA-1 only where the source allows it")
        let unknown = try Self.post(server, source: "elsewhere", event: "push", body: body)
        #expect(unknown.status == 404)
        #expect(server.stop() == 0)
        #expect(try Self.loggedNames(server.logDirectory.path).isEmpty)
    }

    @Test(.timeLimit(.minutes(2)))
    func redeliveryIsOneEventAndRotatedSecretsVerify() throws {
        let logDirectory = TemporaryDirectory()
        var server = try Self.start(logDirectory: logDirectory)
        let body = try readRepositoryFile("fixtures/github/pull_request.opened.json")
        let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
        let first = try Self.post(server, event: "pull_request", delivery: delivery, body: body)
        #expect(first.text.contains(#""status":"accepted""#), "\(first.text)")
        let again = try Self.post(server, event: "pull_request", delivery: delivery, body: body, secret: Self.oldSecret)
        #expect(again.status == 200)
        #expect(again.text.contains(#""status":"duplicate""#), "a redelivery keeps X-GitHub-Delivery: \(again.text)")
        #expect(server.stop(signal: SIGKILL) == SIGKILL)
        server = try Self.start(logDirectory: logDirectory)
        let afterCrash = try Self.post(server, event: "pull_request", delivery: delivery, body: body)
        #expect(afterCrash.text.contains(#""status":"duplicate""#), "\(afterCrash.text)")
        #expect(server.stop() == 0)
        #expect(try Self.loggedNames(logDirectory.path) == ["github.pull_request.opened"])
    }

    @Test(.timeLimit(.minutes(2)))
    func otherEventsAndLegacySignaturesFollowTheSourceSettings() throws {
        let server = try Self.start()
        let body = Array(#"{"action":"created","repository":{"full_name":"o/r"}}"#.utf8)
        let ignored = try Self.post(server, source: "strict", event: "star", body: body)
        #expect(ignored.status == 202)
        #expect(ignored.text.contains(#""status":"ignored""#))
        let accepted = try Self.post(server, event: "star", body: body)
        #expect(accepted.status == 200)
        #expect(accepted.text.contains(#""event":"github.star.created""#), "\(accepted.text)")
        let push = try readRepositoryFile("fixtures/github/push.json")
        let legacy = try Self.post(
            server,
            source: "strict",
            event: "push",
            body: push,
            signatureHeader: "X-Hub-Signature"
        )
        #expect(legacy.status == 200, "\(legacy.text)")
        #expect(server.stop() == 0)
        #expect(try Self.loggedNames(server.logDirectory.path) == ["github.star.created", "github.push"])
    }
}
