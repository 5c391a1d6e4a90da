import Foundation
import SluiceTestSupport
import Testing

/// `server.tls`: `sluice serve` speaks HTTPS with the PEM certificate and key of the configuration. The
/// certificate is made by the openssl CLI for the test (self-signed, for 127.0.0.1, in a temporary
/// directory); curl trusts it with `--cacert`, refuses it without, and a bad key file stops the start with
/// the key and the file named.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl"),
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "openssl is not installed")
)
struct ServerTLSTests {
    /// Runs `executable` with `arguments`; its exit status and standard output.
    static func run(_ executable: String, _ arguments: [String], input: [UInt8]? = nil) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let inputPipe = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : inputPipe
        try process.run()
        if let input {
            try inputPipe.fileHandleForWriting.write(contentsOf: Data(input))
            try inputPipe.fileHandleForWriting.close()
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        return (process.reapedStatus(), String(decoding: data, as: UTF8.self))
    }

    /// A self-signed certificate for 127.0.0.1 and its key, as PEM files in `directory`.
    static func makeCertificate(in directory: String) throws -> (certificate: String, key: String) {
        let certificate = directory + "/server.pem"
        let key = directory + "/server.key"
        let (status, _) = try run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1",
            ]
        )
        try #require(status == 0, "openssl req failed")
        return (certificate, key)
    }

    @Test(.timeLimit(.minutes(2)))
    func servesHTTPSWithTheConfiguredCertificate() throws {
        let files = TemporaryDirectory()
        let (certificate, key) = try Self.makeCertificate(in: files.path)
        let server = try ServeProcess(
            configuration: "server:\n  tls: {certificate: \(certificate), key: \(key)}\n"
        )
        let base = "https://127.0.0.1:\(server.port)"
        let (healthStatus, health) = try Self.run(
            "/usr/bin/curl",
            ["-sS", "--max-time", "20", "--cacert", certificate, base + "/healthz"]
        )
        #expect(healthStatus == 0)
        #expect(health == "ok\n")
        let (postStatus, posted) = try Self.run(
            "/usr/bin/curl",
            [
                "-sS", "--max-time", "20", "--cacert", certificate, "-H", "Content-Type: application/json",
                "--data-binary", "@-", "-w", "\n%{http_code}", base + "/api/events",
            ],
            input: Array(EventIngestTests.event(1).utf8)
        )
        #expect(postStatus == 0)
        #expect(posted.hasSuffix("\n200"), "\(posted)")
        #expect(posted.contains("\"accepted\":1"), "\(posted)")
        // Without the certificate as a trust anchor curl refuses the server (60: peer certificate not trusted).
        let (untrusted, _) = try Self.run("/usr/bin/curl", ["-sS", "--max-time", "20", base + "/healthz"])
        #expect(untrusted == 60)
        // Plain HTTP to the TLS port is no request.
        let (plain, plainReply) = try Self.run(
            "/usr/bin/curl",
            ["-sS", "--max-time", "20", "-w", "%{http_code}", "http://127.0.0.1:\(server.port)/healthz"]
        )
        #expect(plain != 0 || !plainReply.hasSuffix("200"), "\(plainReply)")
        #expect(server.stop() == 0)
        #expect(try EventIngestTests.loggedIDs(server.logDirectory.path).count == 1)
    }

    @Test(.timeLimit(.minutes(2)))
    func aKeyFileThatIsNoKeyStopsTheStartNamingIt() throws {
        let files = TemporaryDirectory()
        let (certificate, _) = try Self.makeCertificate(in: files.path)
        let bad = files.path + "/bad.key"
        writeFile(bad, Array("not a key\n".utf8))
        do {
            _ = try ServeProcess(configuration: "server:\n  tls: {certificate: \(certificate), key: \(bad)}\n")
            Issue.record("sluice serve started with a key file that holds no key")
        } catch let failure as ServeProcess.StartFailure {
            #expect(failure.description.contains("server.tls.key"), "\(failure)")
            #expect(failure.description.contains(bad), "\(failure)")
        }
    }
}
