import Foundation
import SluiceCore
import SluiceCrypto
import SluiceTestSupport
import Testing

@testable import SluiceIO
@testable import SluiceTools

/// `Sink` (what `sluice sink` runs) against the HTTP client on both backends: signature verification,
/// records, counts and every injected fault.
@Suite(.timeLimit(.minutes(1))) struct SinkTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    static func sink(
        _ kind: IOBackendKind,
        record: String? = nil,
        certificates: TestCertificates? = nil,
        faults: SinkFaultConfiguration = SinkFaultConfiguration()
    ) throws -> Sink {
        var configuration = SinkConfiguration(
            backend: IOBackendSelection(kind: kind, reason: "test"),
            address: SocketAddress(numericHost: "127.0.0.1", port: 0)!
        )
        configuration.verifier = try WebhookVerifier(standardSecret: secret)
        configuration.recordPath = record
        configuration.certificateFile = certificates?.certificateFile
        configuration.privateKeyFile = certificates?.keyFile
        configuration.faults = faults
        return try Sink(configuration: configuration)
    }

    /// Standard Webhooks headers for `body`, signed now (or with a wrong key).
    static func signedHeaders(id: String, body: [UInt8], tampered: Bool = false) throws -> [HTTPHeaderField] {
        let key = try WebhookSigningKey(
            mode: .standard,
            secret: tampered ? "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD" : secret
        )
        let now = UInt64(wallClockNanoseconds() / 1_000_000_000)
        let signature = HMACBatchSigner(keys: [key]).signature(
            keyIndex: 0,
            webhookID: id,
            timestampSeconds: now,
            body: body
        )
        return [
            HTTPHeaderField("Content-Type", "application/json"),
            HTTPHeaderField("webhook-id", id),
            HTTPHeaderField("webhook-timestamp", String(now)),
            HTTPHeaderField("webhook-signature", signature.description),
        ]
    }

    @Test(arguments: Backends.all) func verifiesAndRecords(kind: IOBackendKind) async throws {
        let directory = TemporaryDirectory()
        let recordPath = directory.path + "/deliveries.jsonl"
        let sink = try Self.sink(kind, record: recordPath)
        let harness = try ClientHarness(kind)
        let origin = HTTPOrigin(host: "127.0.0.1", port: sink.address.port)
        for index in 0..<3 {
            let body = Array("{\"id\":\"event-\(index)\",\"data\":{}}".utf8)
            let headers = try Self.signedHeaders(id: "msg_\(index)", body: body)
            #expect(try await harness.send(origin, headers: headers, body: body).response?.statusCode == 204)
        }
        let body = Array(#"{"id":"event-0"}"#.utf8)
        let forged = try Self.signedHeaders(id: "msg_forged", body: body, tampered: true)
        let rejected = try #require(try await harness.send(origin, headers: forged, body: body).response)
        #expect(rejected.statusCode == 401)
        let unsigned = try #require(try await harness.send(origin, body: body).response)
        #expect(unsigned.statusCode == 401, "a missing signature is rejected too")
        try sink.shutdown()

        let statistics = sink.statistics
        #expect(statistics.requests == 5)
        #expect(statistics.delivered == 3)
        #expect(statistics.rejected == 2)
        #expect(statistics.duplicateWebhookIDs == 0, "3 webhook-ids answered once each; rejected ones do not count")
        let lines = try readRepositoryFileAbsolute(recordPath).split(separator: 0x0A)
        #expect(lines.count == 5)
        let first = try JSONValue.parse(Array(lines[0]))
        #expect(first["event_id"]?.stringValue == "event-0")
        #expect(first["webhook_id"]?.stringValue == "msg_0")
        #expect(first["status"]?.int64Value == 204)
        let records = try SinkDeliveryRecord.decodeLines(try readRepositoryFileAbsolute(recordPath))
        #expect(records.map(\.signature) == [.valid, .valid, .valid, .invalid, .unchecked])
        #expect(records.map(\.statusCode) == [204, 204, 204, 401, 401])
        #expect(
            records.allSatisfy {
                $0.webhookTimestamp == nil || $0.arrivedAt.microsecondsSinceEpoch > 1_700_000_000_000_000
            }
        )
    }

    @Test(arguments: Backends.all) func injectsFaults(kind: IOBackendKind) async throws {
        let cases: [(String, String, @Sendable (HTTPClientResult) -> Bool)] = [
            ("status", #"{"faults": [{"rate": 1, "status": 503}]}"#, { $0.response?.statusCode == 503 }),
            (
                "429", #"{"faults": [{"rate": 1, "status": 429, "retry_after_seconds": 2}]}"#,
                { $0.response?.statusCode == 429 && $0.response?.head.retryAfter == .seconds(2) }
            ),
            ("reset", #"{"faults": [{"rate": 1, "reset": true}]}"#, { $0.failure?.kind == .connection }),
            ("delay", #"{"faults": [{"rate": 1, "delay_ms": 2000}]}"#, { $0.failure?.kind == .timeout }),
            (
                "slow body", #"{"faults": [{"rate": 1, "slow_body": {"byte_count": 64, "bytes_per_second": 640}}]}"#,
                { $0.response?.body == [UInt8](repeating: UInt8(ascii: "."), count: 64) }
            ),
        ]
        for (name, json, check) in cases {
            let sink = try Self.sink(kind, faults: try SinkFaultConfiguration(jsonBytes: Array(json.utf8)))
            let harness = try ClientHarness(kind) { $0.timeouts.requestNanoseconds = 500_000_000 }
            let body = Array(#"{"id":"e"}"#.utf8)
            let result = try await harness.send(
                HTTPOrigin(host: "127.0.0.1", port: sink.address.port),
                headers: try Self.signedHeaders(id: "msg_1", body: body),
                body: body
            )
            #expect(check(result), "\(name): \(result)")
            try sink.shutdown()
            #expect(sink.statistics.faultsInjected == 1, "\(name)")
        }
    }

    /// Duplicates are counted by `webhook-id`: one event sent to two webhooks (two ids) is no duplicate; the
    /// same id answered 2xx twice is one.
    @Test(arguments: Backends.all) func countsDuplicatesByWebhookID(kind: IOBackendKind) async throws {
        let sink = try Self.sink(kind)
        let harness = try ClientHarness(kind)
        let origin = HTTPOrigin(host: "127.0.0.1", port: sink.address.port)
        let body = Array(#"{"id":"67acc7ea-93b1-4175-a69b-801c869aea07","data":{}}"#.utf8)
        for webhookID in ["msg_webhook_a", "msg_webhook_b"] {
            let headers = try Self.signedHeaders(id: webhookID, body: body)
            #expect(try await harness.send(origin, headers: headers, body: body).response?.statusCode == 204)
        }
        #expect(sink.statistics.duplicateWebhookIDs == 0, "the same event to two webhooks")
        let again = try Self.signedHeaders(id: "msg_webhook_a", body: body)
        #expect(try await harness.send(origin, headers: again, body: body).response?.statusCode == 204)
        try sink.shutdown()
        #expect(sink.statistics.duplicateWebhookIDs == 1, "the same (event, webhook) delivered twice")
        #expect(sink.statistics.delivered == 3)
    }

    @Test func faultRatesAreReproducible() throws {
        let faults = try SinkFaultConfiguration(jsonBytes: Array(#"{"faults": [{"rate": 0.5, "status": 503}]}"#.utf8))
        var first = SplitMix64(seed: 7)
        var second = SplitMix64(seed: 7)
        let plans = (0..<200).map { _ in faults.decide(random: &first).statusCode }
        #expect(plans == (0..<200).map { _ in faults.decide(random: &second).statusCode })
        #expect((60...140).contains(plans.filter { $0 == 503 }.count))
    }
}

/// Reads a file by absolute path.
func readRepositoryFileAbsolute(_ path: String) throws -> [UInt8] {
    let data = try #require(FileManager.default.contents(atPath: path), "cannot read \(path)")
    return Array(data)
}
