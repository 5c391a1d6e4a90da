import Testing

@testable import SluiceIO

/// OpenSSL over memory BIOs, client and server pumped into each other in memory (no sockets): the
/// verification outcomes the HTTPS tests rely on, with a certificate made by the `openssl` CLI.
@Suite struct TLSTests {
    /// Runs both handshakes to completion or failure; returns the client's last step.
    func handshake(_ client: TLSConnection, _ server: TLSConnection) -> TLSConnection.Step {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 8)
        defer { buffer.deallocate() }
        var clientStep = client.handshake()
        for _ in 0..<20 {
            let toServer = client.takeCiphertext(into: buffer)
            server.receiveCiphertext(UnsafeRawBufferPointer(rebasing: buffer[0..<toServer]))
            _ = server.handshake()
            let toClient = server.takeCiphertext(into: buffer)
            client.receiveCiphertext(UnsafeRawBufferPointer(rebasing: buffer[0..<toClient]))
            clientStep = client.handshake()
            if case .failed = clientStep { return clientStep }
            if client.isHandshakeDone && server.isHandshakeDone { return .done }
        }
        return clientStep
    }

    @Test func verificationOutcomes() throws {
        let certificates = try TestCertificates()
        let serverContext = try TLSContext(
            serverCertificateFile: certificates.certificateFile,
            privateKeyFile: certificates.keyFile
        )
        let cases: [(TLSClientOptions, String, Bool)] = [
            (TLSClientOptions(), "localhost", false),  // system store does not trust the test CA
            (TLSClientOptions(caFile: certificates.caFile), "localhost", true),
            (TLSClientOptions(caFile: certificates.caFile), "127.0.0.1", true),
            (TLSClientOptions(caFile: certificates.caFile), "sluice.invalid", false),  // host name mismatch
            (TLSClientOptions(validateCertificates: false), "sluice.invalid", true),
        ]
        for (options, name, succeeds) in cases {
            let client = try TLSConnection(context: TLSContext(client: options), serverName: name, session: nil)
            let server = try TLSConnection(serverContext: serverContext)
            let step = handshake(client, server)
            if succeeds {
                #expect(step == .done, "\(options) \(name): \(step)")
            } else {
                guard case .failed(let reason) = step else {
                    Issue.record("\(options) \(name) should fail, got \(step)")
                    continue
                }
                #expect(reason.contains("certificate verification failed for \(name)"), "\(reason)")
            }
        }
    }

    @Test func badFilesAreClearErrors() {
        #expect(throws: IOError.self) {
            try TLSContext(client: TLSClientOptions(caFile: "/nonexistent/ca.pem"))
        }
        #expect(throws: IOError.self) {
            try TLSContext(serverCertificateFile: "/nonexistent/cert.pem", privateKeyFile: "/nonexistent/key.pem")
        }
    }
}

extension TLSTests {
    @Test func sessionResumesInMemory() throws {
        let certificates = try TestCertificates()
        let serverContext = try TLSContext(
            serverCertificateFile: certificates.certificateFile,
            privateKeyFile: certificates.keyFile
        )
        let clientContext = try TLSContext(client: TLSClientOptions(caFile: certificates.caFile))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 8)
        defer { buffer.deallocate() }
        var session: TLSSession? = nil
        for round in 0..<2 {
            let client = try TLSConnection(context: clientContext, serverName: "localhost", session: session)
            let server = try TLSConnection(serverContext: serverContext)
            #expect(handshake(client, server) == .done)
            let message = Array("hello".utf8)
            _ = message.withUnsafeBytes { server.write($0) }
            let count = server.takeCiphertext(into: buffer)
            client.receiveCiphertext(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            let (read, _) = client.read(into: buffer)
            #expect(read == message.count)
            #expect(client.resumedSession == (round == 1), "round \(round)")
            if session == nil { session = client.resumableSession() }
            #expect(session != nil, "round \(round)")
            client.markCleanShutdown()
        }
    }
}
