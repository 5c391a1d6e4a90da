import Foundation
import Sluice
import SluiceCrypto
import SluiceIO
import SluiceTestSupport
import Synchronization

/// A webhook receiver on 127.0.0.1 for pipeline tests: records every request (path, headers, body) and
/// answers with the status `respond` picks (204 by default).
final class RecordingReceiver: Sendable {
    struct Received: Sendable {
        var path: String
        var headers: [(name: String, value: String)]
        var body: [UInt8]
    }

    let server: HTTPServer
    private let received = Mutex<[Received]>([])
    let port: UInt16

    init(backend: IOBackendSelection, respond: @escaping @Sendable (Received) -> Int = { _ in 204 }) throws {
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
            return HTTPServerReply(statusCode: respond(entry))
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
        print("skipping io_uring pipeline runs: io_uring is not available here")
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
