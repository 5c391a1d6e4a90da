import Foundation
import Glibc
import SluiceCore
import SluiceTestSupport
import Testing

@testable import SluiceIO
@testable import SluiceTools

/// `sluice sink` as a process: it prints its port, answers, injects the configured fault, records, and
/// stops after `--count` deliveries with a summary; each backend forced through `SLUICE_IO`.
@Suite(.timeLimit(.minutes(1)), .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"))
struct SinkCommandTests {
    static let executable = SluiceExecutable.path

    @Test(arguments: Backends.all) func runsUntilCount(kind: IOBackendKind) async throws {
        try await runSink(kind, https: nil)
    }

    @Test(arguments: Backends.all) func servesHTTPS(kind: IOBackendKind) async throws {
        try await runSink(kind, https: try TestCertificates())
    }

    /// The sink is a test oracle: what it answered, it recorded. 200 requests answered 204, then `kill -9`
    /// of the sink process (no shutdown, no flush): all 200 are in the record file. (Before records were
    /// written before answering, a buffered sink recorded 0 of 200 here.)
    @Test(arguments: Backends.all) func answeredRequestsSurviveKill9(kind: IOBackendKind) async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.executable),
            "build sluice first: \(Self.executable)"
        )
        let directory = TemporaryDirectory()
        let record = directory.path + "/records.jsonl"
        let (process, port) = try startSink(
            kind,
            arguments: ["--record", record, "--faults-json", #"{"status": 204}"#]
        )
        defer { if process.isRunning { process.terminate() } }
        let harness = try ClientHarness(kind)
        let origin = HTTPOrigin(host: "127.0.0.1", port: port)
        let requestCount = 200
        var answered = 0
        for index in 0..<requestCount {
            let body = Array("{\"id\":\"kill-\(index)\"}".utf8)
            let headers = [HTTPHeaderField("webhook-id", "msg_kill_\(index)")]
            if try await harness.send(origin, headers: headers, body: body).response?.statusCode == 204 {
                answered += 1
            }
        }
        #expect(answered == requestCount)
        #expect(kill(process.processIdentifier, SIGKILL) == 0)
        #expect(process.reapedStatus() == SIGKILL)
        let records = try SinkDeliveryRecord.decodeLines(try readRepositoryFileAbsolute(record))
        #expect(records.count == requestCount, "every answered request is in the record file")
        #expect(Set(records.compactMap(\.eventID)) == Set((0..<requestCount).map { "kill-\($0)" }))
        #expect(records.allSatisfy { $0.statusCode == 204 })
    }

    /// Starts `sluice sink --port 0` with `arguments` and reads the port from its first line.
    func startSink(_ kind: IOBackendKind, arguments: [String]) throws -> (Process, UInt16) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["sink", "--port", "0", "--duration", "50"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SLUICE_IO"] = kind.rawValue
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var firstLine = Data()
        while !firstLine.contains(0x0A) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            firstLine.append(chunk)
        }
        let line = String(decoding: firstLine, as: UTF8.self)
        guard let port = line.split(separator: ":").last.flatMap({ UInt16($0.prefix { $0.isNumber }) }) else {
            process.terminate()
            throw SinkStartError(line: line)
        }
        return (process, port)
    }

    struct SinkStartError: Error, CustomStringConvertible {
        var line: String
        var description: String { "sluice sink did not print its port: \(line)" }
    }

    func runSink(_ kind: IOBackendKind, https certificates: TestCertificates?) async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.executable),
            "build sluice first: \(Self.executable)"
        )
        let directory = TemporaryDirectory()
        let record = directory.path + "/records.jsonl"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments =
            [
                "sink", "--port", "0", "--count", "2", "--record", record, "--faults-json", #"{"status": 204}"#,
                "--duration", "20",
            ] + (certificates.map { ["--cert", $0.certificateFile, "--key", $0.keyFile] } ?? [])
        var environment = ProcessInfo.processInfo.environment
        environment["SLUICE_IO"] = kind.rawValue
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // The first line names the address: "listening on http://127.0.0.1:PORT".
        var firstLine = Data()
        while !firstLine.contains(0x0A) {
            let chunk = output.fileHandleForReading.availableData
            try #require(
                !chunk.isEmpty,
                "sluice sink exited early: \(String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))"
            )
            firstLine.append(chunk)
        }
        let line = String(decoding: firstLine, as: UTF8.self)
        let port = try #require(
            line.split(separator: ":").last.flatMap { UInt16($0.prefix { $0.isNumber }) },
            "\(line)"
        )

        #expect(line.hasPrefix(certificates == nil ? "listening on http://" : "listening on https://"), "\(line)")
        let harness = try ClientHarness(kind)
        let origin = HTTPOrigin(
            host: "127.0.0.1",
            port: port,
            tls: certificates.map { TLSClientOptions(caFile: $0.caFile) }
        )
        for index in 0..<2 {
            let result = try await harness.send(origin, body: Array("{\"id\":\"cli-\(index)\"}".utf8))
            let response = try #require(result.response, "request \(index): \(result)")
            #expect(response.statusCode == 204)
        }
        let rest = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let status = process.reapedStatus()
        let standardError = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status == 0, "\(standardError)")
        #expect(
            standardError.contains("I/O backend: \(kind) (forced by SLUICE_IO=\(kind.rawValue))"),
            "\(standardError)"
        )
        #expect(rest.contains("stopped (2 deliveries): requests 2, delivered 2"), "\(rest)")
        let records = try readRepositoryFileAbsolute(record).split(separator: 0x0A)
        #expect(records.count == 2)
        #expect(try JSONValue.parse(Array(records[1]))["event_id"]?.stringValue == "cli-1")
    }
}
