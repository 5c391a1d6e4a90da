import SluiceCore
import SluiceTools
import Testing

@testable import SluiceIO

/// HTTPS end to end on both backends: the client against an HTTPS sink whose certificate the `openssl`
/// CLI made in the test (CA + server certificate for localhost and 127.0.0.1).
@Suite(.timeLimit(.minutes(1))) struct HTTPSTests {
    @Test(arguments: Backends.all) func verificationOutcomes(kind: IOBackendKind) async throws {
        let certificates = try TestCertificates()
        let sink = try SinkTests.sink(kind, certificates: certificates)
        let harness = try ClientHarness(kind)
        let port = sink.address.port
        let body = Array(#"{"id":"tls-event"}"#.utf8)
        let headers = try SinkTests.signedHeaders(id: "msg_tls", body: body)

        // Default: verification against the system store, which does not trust the test CA.
        let failure = try #require(
            try await harness.send(
                HTTPOrigin(host: "localhost", port: port, tls: TLSClientOptions()),
                headers: headers,
                body: body
            )
            .failure
        )
        #expect(failure.kind == .tls)
        #expect(failure.message.contains("certificate verification failed for localhost"), "\(failure)")

        let trusted = HTTPOrigin(host: "localhost", port: port, tls: TLSClientOptions(caFile: certificates.caFile))
        for index in 0..<3 {
            let response = try #require(try await harness.send(trusted, headers: headers, body: body).response)
            #expect(response.statusCode == 204, "signed body verified by the sink through TLS")
            #expect(response.reusedConnection == (index > 0))
        }
        let byAddress = HTTPOrigin(host: "127.0.0.1", port: port, tls: TLSClientOptions(caFile: certificates.caFile))
        #expect(try await harness.send(byAddress, headers: headers, body: body).response?.statusCode == 204)

        let insecure = HTTPOrigin(host: "localhost", port: port, tls: TLSClientOptions(validateCertificates: false))
        #expect(try await harness.send(insecure, headers: headers, body: body).response?.statusCode == 204)

        try sink.shutdown()
        #expect(sink.statistics.delivered == 5)
    }

    @Test(arguments: Backends.all) func sessionsAreResumed(kind: IOBackendKind) async throws {
        let certificates = try TestCertificates()
        let server = try HTTPClientServerTests.server(
            kind,
            tls: TLSContext(serverCertificateFile: certificates.certificateFile, privateKeyFile: certificates.keyFile)
        ) { _ in HTTPServerReply(statusCode: 200, body: Array("ok".utf8), closeAfter: true) }
        let harness = try ClientHarness(kind)
        let origin = HTTPOrigin(
            host: "localhost",
            port: server.address.port,
            tls: TLSClientOptions(caFile: certificates.caFile)
        )
        for _ in 0..<3 {
            let response = try #require(try await harness.send(origin).response)
            #expect(response.body == Array("ok".utf8) && !response.head.keepAlive)
        }
        #expect(harness.client.statistics.connectionsOpened == 3)
        #expect(harness.client.statistics.resumedTLSSessions >= 1, "later connections resume the first session")
    }
}
