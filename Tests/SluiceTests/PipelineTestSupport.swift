import Foundation
import Sluice
import SluiceCrypto
import SluiceIO
import SluiceTestSupport
import SluiceTools
import Synchronization
import Testing

/// A webhook receiver on 127.0.0.1 for pipeline tests: records every request (path, headers, body) and
/// answers with the status `respond` picks (204 by default) and `replyHeaderFields`.
final class RecordingReceiver: Sendable {
    struct Received: Sendable {
        var path: String
        var headers: [(name: String, value: String)]
        var body: [UInt8]
    }

    let server: HTTPServer
    private let received = Mutex<[Received]>([])
    let port: UInt16

    init(
        backend: IOBackendSelection,
        replyHeaderFields: [HTTPHeaderField] = [],
        respond: @escaping @Sendable (Received) -> Int = { _ in 204 }
    ) throws {
        let box = Box()
        server = try HTTPServer(
            configuration: HTTPServerConfiguration(
                backend: backend,
                address: SocketAddress(numericHost: "127.0.0.1", port: 0)!
            )
        ) { request in
            let entry = Received(
                path: request.head.target,
                headers: request.headerFields.map { ($0.name, $0.value) },
                body: request.body
            )
            box.receiver?.received.withLock { $0.append(entry) }
            return HTTPServerReply(statusCode: respond(entry), headerFields: replyHeaderFields)
        }
        port = server.address.port
        box.receiver = self
    }

    var requests: [Received] { received.withLock { $0 } }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    private final class Box: @unchecked Sendable {
        weak var receiver: RecordingReceiver?
    }
}

/// Every receiver of these tests listens on loopback, which the SSRF guard refuses unless allowed: each
/// test configuration allows it (and nothing else).
let loopbackNetworks = [
    IPNetwork(IPAddress(ipv4: 0x7F00_0000), prefixLength: 8),
    IPNetwork(IPAddress(ipv6High: 0, low: 1), prefixLength: 128),
]

/// ``loopbackNetworks`` as a `pipeline` entry of a YAML configuration file.
let loopbackAllowedNetworksYAML = #"allowed_networks: ["127.0.0.0/8", "::1/128"]"#

/// The backends to run pipeline tests on: epoll always; io_uring where the kernel allows it.
/// A pipeline configuration from webhook and trigger JSON (the `sluice run` configuration shape), logging to
/// `logDirectory`, on `backend`.
func pipelineConfiguration(
    json: String,
    logDirectory: String,
    backend: String = "epoll"
) throws
    -> PipelineConfiguration
{
    let value = try JSONValue.parse(Array(json.utf8))
    var configuration = PipelineConfiguration(
        log: LogConfiguration(directory: logDirectory),
        triggers: try TriggerConfiguration(json: value)
    )
    configuration.webhooks = try WebhookConfiguration(json: value, environment: [:])
    configuration.ioBackend = backend
    configuration.allowedNetworks = loopbackNetworks
    return configuration
}

/// Runs `count` generated fixture events (`seed`) through a pipeline made from `configuration` until every
/// delivery is final; returns the events and whether the flush finished in time, with the statistics.
func deliverGenerated(
    _ count: Int,
    seed: UInt64,
    configuration: PipelineConfiguration
) throws -> (
    events: [[UInt8]], flushed: Bool, statistics: PipelineStatistics
) {
    var generator = FixtureGenerator(.init(eventCount: count, seed: seed))
    var events: [[UInt8]] = []
    while let event = generator.next() { events.append(event) }
    let pipeline = try Pipeline(configuration: configuration)
    try pipeline.start()
    emitAll(events, into: pipeline)
    let flushed = pipeline.flush(timeoutNanoseconds: 60_000_000_000)
    pipeline.stop()
    return (events, flushed, pipeline.statistics)
}

func pipelineBackends() -> [IOBackendSelection] {
    var selections: [IOBackendSelection] = []
    if let epoll = try? IOBackendSelection.detect(override: "epoll") { selections.append(epoll) }
    if let uring = try? IOBackendSelection.detect(override: "uring") {
        selections.append(uring)
    } else {
        print("pipeline runs on epoll only: io_uring is not available here")
    }
    return selections
}

/// Emits every event, retrying on backpressure; returns the ring positions.
@discardableResult
func emitAll(_ events: [[UInt8]], into pipeline: Pipeline) -> [Int] {
    var positions: [Int] = []
    for event in events {
        while true {
            switch pipeline.emit(event) {
            case .accepted(let position):
                positions.append(position)
            case .backpressure:
                usleep(100)
                continue
            case .invalid(let error):
                fatalError("generated event rejected: \(error)")
            case .stopped:
                fatalError("pipeline stopped: \(pipeline.failure ?? "")")
            }
            break
        }
    }
    return positions
}

/// A `sluice sink` child process on 127.0.0.1 that verifies Infrahub signatures with `key` and records every
/// request to `record` (2 ms answer delay); `nil` (with a recorded issue) when it does not start.
struct SinkProcess {
    let process: Process
    let port: String

    static func start(key: String, record: String) throws -> SinkProcess? {
        let sink = Process()
        sink.executableURL = URL(fileURLWithPath: CommandLineTests.executable)
        sink.arguments = [
            "sink", "--port", "0", "--infrahub-key", key, "--record", record,
            "--faults-json", #"{"faults": [{"rate": 1.0, "delay_ms": 2}]}"#,
        ]
        let sinkOutput = Pipe()
        sink.standardOutput = sinkOutput
        let sinkErrors = Pipe()
        sink.standardError = sinkErrors
        try sink.run()
        var port = ""
        var buffered = Data()
        while port.isEmpty {
            let chunk = sinkOutput.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            buffered.append(chunk)
            let text = String(decoding: buffered, as: UTF8.self)
            if let range = text.range(of: "http://127.0.0.1:") {
                port = String(text[range.upperBound...].prefix { $0.isNumber })
            }
        }
        if port.isEmpty {
            let errors = String(decoding: sinkErrors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            Issue.record("the sink did not start: \(errors)")
            sink.terminate()
            return nil
        }
        return SinkProcess(process: sink, port: port)
    }
}

/// Runs `sluice run --config C --input FILE --report-acknowledged --exit-when-done` and SIGKILLs it after
/// `killAfterAcks` `ack N` lines and a random delay under 30 ms (or when it ends on its own); returns
/// the largest acknowledged count it reported.
func runAndKill(configuration: String, input: String, killAfterAcks: Int, random: inout SplitMix64) throws -> Int {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: CommandLineTests.executable)
    child.arguments = [
        "run", "--config", configuration, "--input", input, "--report-acknowledged", "--exit-when-done",
        "--status-interval", "0",
    ]
    let output = Pipe()
    child.standardOutput = output
    child.standardError = FileHandle.nullDevice
    try child.run()
    var acks = 0
    var durable = 0
    var lines = Data()
    reading: while true {
        let data = output.fileHandleForReading.availableData
        if data.isEmpty { break }  // finished on its own
        lines.append(data)
        while let newline = lines.firstIndex(of: 0x0A) {
            let line = String(decoding: lines[lines.startIndex..<newline], as: UTF8.self)
            lines.removeSubrange(lines.startIndex...newline)
            if line.hasPrefix("ack "), let count = Int(line.dropFirst(4)) {
                durable = max(durable, count)
                acks += 1
                if acks >= killAfterAcks { break reading }
            }
        }
    }
    usleep(UInt32(random.next(below: 30_000)))
    kill(child.processIdentifier, SIGKILL)
    _ = child.reapedStatus()
    return durable
}
