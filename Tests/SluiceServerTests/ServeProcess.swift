import Foundation
import SluiceTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A `sluice serve` child process on 127.0.0.1 (a free port), and a curl client for it.
///
/// Each test gets its own configuration and log directories; ``stop(signal:)`` sends the signal and
/// returns the exit status. `deinit` kills a server a failed test left running.
final class ServeProcess {
    let process = Process()
    let directory = TemporaryDirectory()
    let logDirectory: TemporaryDirectory
    let configurationPath: String
    private(set) var port = 0
    private let standardError = Pipe()
    private let standardOutput = Pipe()
    private var exited = false

    /// Writes `configuration` (YAML; `log.directory` is added when it has no `log:` section) and starts
    /// the server; waits for its `listening on` line.
    init(
        configuration: String,
        logDirectory: TemporaryDirectory = TemporaryDirectory(),
        arguments: [String] = [],
        environment: [String: String] = [:],
        listen: String = "127.0.0.1:0"
    ) throws {
        self.logDirectory = logDirectory
        configurationPath = directory.path + "/sluice.yaml"
        var text = configuration
        if !text.contains("log:") { text += "\nlog:\n  directory: \(logDirectory.path)\n" }
        writeFile(configurationPath, Array(text.utf8))
        process.executableURL = URL(fileURLWithPath: SluiceExecutable.path)
        process.arguments = ["serve", "--config", configurationPath, "--listen", listen] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = standardOutput
        process.standardError = standardError
        try process.run()
        port = try readPort()
    }

    deinit {
        if !exited {
            kill(process.processIdentifier, SIGKILL)
            _ = process.reapedStatus()
        }
    }

    struct StartFailure: Error, CustomStringConvertible {
        var description: String
    }

    private func readPort() throws -> Int {
        var buffered = Data()
        while true {
            let chunk = standardOutput.fileHandleForReading.availableData
            if chunk.isEmpty {
                exited = true
                let status = process.reapedStatus()
                let errors = String(decoding: standardError.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                throw StartFailure(description: "sluice serve exited with \(status) before listening: \(errors)")
            }
            buffered.append(chunk)
            let text = String(decoding: buffered, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }),
                let colon = line.lastIndex(of: ":"), let port = Int(line[line.index(after: colon)...])
            {
                return port
            }
        }
    }

    /// Sends `signal` and returns the exit status (the signal number if it killed the process).
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        kill(process.processIdentifier, signal)
        exited = true
        return process.reapedStatus()
    }

    /// What the server wrote on standard error (after it exited).
    func errorOutput() -> String {
        String(decoding: standardError.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// One request with curl: the status and the body.
    func request(
        _ method: String = "GET",
        _ path: String,
        headers: [String: String] = [:],
        body: [UInt8]? = nil
    ) throws -> HTTPReply {
        try Curl.request(method, baseURL + path, headers: headers, body: body, scratch: directory.path)
    }
}

/// A reply as curl saw it.
struct HTTPReply {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// curl as the client (a real HTTP/1.1 client process, loopback only).
enum Curl {
    static var isInstalled: Bool { access("/usr/bin/curl", X_OK) == 0 }

    static func request(
        _ method: String,
        _ url: String,
        headers: [String: String],
        body: [UInt8]?,
        scratch: String
    ) throws -> HTTPReply {
        precondition(url.hasPrefix("http://127.0.0.1:"), "tests talk to loopback only")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        let headerFile = scratch + "/curl-headers-\(UInt64.random(in: 0 ... .max))"
        var arguments = ["-s", "-S", "-X", method, "-D", headerFile, "--max-time", "30"]
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { arguments += ["-H", "\(name): \(value)"] }
        let input = Pipe()
        if body != nil { arguments += ["--data-binary", "@-"] }
        process.arguments = arguments + [url]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = body != nil ? input : FileHandle.nullDevice
        try process.run()
        if let body {
            // Written from another thread: curl may answer (413) before it read it all.
            let writer = input.fileHandleForWriting
            Thread.detachNewThread {
                try? writer.write(contentsOf: Data(body))
                try? writer.close()
            }
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let status = process.reapedStatus()
        defer { unlink(headerFile) }
        guard status == 0 else { throw CurlFailure(status: status, url: url) }
        let headerText = String(decoding: FileManager.default.contents(atPath: headerFile) ?? Data(), as: UTF8.self)
        var code = 0
        var parsed: [String: String] = [:]
        for line in headerText.split(separator: "\r\n") {
            if line.hasPrefix("HTTP/") {
                code = Int(line.split(separator: " ")[1]) ?? 0
                parsed = [:]
            } else if let colon = line.firstIndex(of: ":") {
                parsed[line[..<colon].lowercased()] = line[line.index(after: colon)...]
                    .trimmingCharacters(in: .whitespaces)
            }
        }
        return HTTPReply(status: code, headers: parsed, body: Array(data))
    }

    struct CurlFailure: Error, CustomStringConvertible {
        var status: Int32
        var url: String
        var description: String { "curl exited with \(status) for \(url)" }
    }
}
