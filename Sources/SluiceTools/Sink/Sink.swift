package import SluiceCore
package import SluiceCrypto
package import SluiceIO
import SluiceSystem
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

extension SinkResponsePlan {
    /// The server reply carrying out this plan: status (with `Retry-After`), delay, reset, or a slow body
    /// sent in tenth-of-a-second pieces at the plan's rate.
    func reply() -> HTTPServerReply {
        let delay = UInt64(max(0, delayMilliseconds)) * 1_000_000
        if reset { return HTTPServerReply(statusCode: 0, delayNanoseconds: delay, resetConnection: true) }
        var fields: [HTTPHeaderField] = []
        if let retryAfterSeconds { fields.append(HTTPHeaderField("Retry-After", String(retryAfterSeconds))) }
        guard let slowBody else {
            return HTTPServerReply(statusCode: statusCode, headerFields: fields, delayNanoseconds: delay)
        }
        let pieceByteCount = max(1, slowBody.bytesPerSecond / 10)
        return HTTPServerReply(
            statusCode: statusCode,
            headerFields: fields,
            body: [UInt8](repeating: UInt8(ascii: "."), count: slowBody.byteCount),
            delayNanoseconds: delay,
            bodyPieceByteCount: pieceByteCount,
            bodyPieceIntervalNanoseconds: 100_000_000
        )
    }
}

/// What `sluice sink` does: where it listens, how it verifies, where it records, which faults it injects.
package struct SinkConfiguration: Sendable {
    package var backend: IOBackendSelection
    package var address: SocketAddress
    /// HTTPS with this PEM certificate chain and key.
    package var certificateFile: String?
    package var privateKeyFile: String?
    /// Verify `webhook-signature` (requests that fail get 401 and are counted, not recorded as delivered).
    package var verifier: WebhookVerifier?
    /// Append one JSON line per request to this file, written (`write(2)`) before the request is answered.
    package var recordPath: String?
    /// Fault rules (issue-6-codec's `SinkFaultConfiguration`, JSON documented in docs/load-testing.md, "Sink faults").
    package var faults = SinkFaultConfiguration()
    package var seed: UInt64 = 1

    package init(backend: IOBackendSelection, address: SocketAddress) {
        self.backend = backend
        self.address = address
    }
}

/// Counts and latencies the sink reports.
package struct SinkStatistics: Sendable, Equatable {
    package var requests = 0
    /// Answered 2xx with a valid (or unchecked) signature.
    package var delivered = 0
    /// Signature verification failed (answered 401).
    package var rejected = 0
    package var faultsInjected = 0
    /// Requests answered 2xx whose `webhook-id` was answered 2xx before: the same (event, webhook) pair
    /// delivered twice (at-least-once redelivery). The same event sent to two webhooks carries two
    /// `webhook-id`s and is not a duplicate; a retry after a non-2xx answer is not one either.
    package var duplicateWebhookIDs = 0
    /// Requests answered 503 because their record could not be written (never answered 2xx unrecorded).
    package var recordWriteFailures = 0
    /// Arrival minus `webhook-timestamp`, in milliseconds (the header has whole seconds, so this is
    /// coarse: it shows queueing and retries, not microseconds).
    package var latencyMillisecondsSamples: [Int64] = []

    package func latencyMilliseconds(percentile: Double) -> Int64? {
        guard !latencyMillisecondsSamples.isEmpty else { return nil }
        let sorted = latencyMillisecondsSamples.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * percentile))]
    }

    package var summary: String {
        var text = "requests \(requests), delivered \(delivered), rejected \(rejected), faults \(faultsInjected), "
        text += "duplicate webhook ids \(duplicateWebhookIDs)"
        if recordWriteFailures > 0 { text += ", record write failures \(recordWriteFailures)" }
        if let p50 = latencyMilliseconds(percentile: 0.5), let p99 = latencyMilliseconds(percentile: 0.99) {
            text += ", latency since webhook-timestamp p50 \(p50) ms p99 \(p99) ms"
        }
        return text
    }
}

/// A loopback webhook receiver for tests and load tests (`sluice sink`), on the library's HTTP server:
/// verifies signatures, records each delivery (event id, `webhook-id`, arrival time) as a JSON line,
/// counts, and injects faults. Thread-safe handle.
///
/// The sink is a test oracle, so it answers only what it recorded: each request's record line is written
/// into the record file with `write(2)` before the reply is handed to the server. A `kill -9` of the sink
/// (a process crash) then loses no answered request: the kernel holds the written bytes. The file is not
/// `fdatasync`ed: surviving a power loss or kernel crash is not what a loopback oracle is for, and a sync
/// per request would make the sink, not the pipeline, the bottleneck of a load test. A record that cannot
/// be written is answered 503 (the sender retries) and counted; ``shutdown()`` then throws.
package final class Sink: Sendable {
    private let server: HTTPServer
    private let state: SinkState
    package var address: SocketAddress { server.address }

    package init(configuration: SinkConfiguration) throws(IOError) {
        var tls: TLSContext? = nil
        if let certificate = configuration.certificateFile, let key = configuration.privateKeyFile {
            tls = try TLSContext(serverCertificateFile: certificate, privateKeyFile: key)
        }
        let state = try SinkState(configuration: configuration)
        self.state = state
        server = try HTTPServer(
            configuration: HTTPServerConfiguration(
                backend: configuration.backend,
                address: configuration.address,
                tls: tls
            )
        ) { request in state.handle(request) }
    }

    deinit { server.shutdown() }

    package var statistics: SinkStatistics { state.statistics.withLock { $0 } }

    /// Stops the server.
    /// - Throws: the first record write error, if a record could not be written (its request was
    ///   answered 503, not 2xx).
    package func shutdown() throws(IOError) {
        server.shutdown()
        if let error = state.firstRecordError.withLock({ $0 }) { throw error }
    }
}

/// The sink's per-request logic; `handle` runs on the server's loop thread, the statistics are read
/// from others (behind a Mutex: one short lock per request, a test tool's rate).
final class SinkState: Sendable {
    let statistics = Mutex(SinkStatistics())
    private let configuration: SinkConfiguration
    private let mutable: Mutex<Mutable>
    private let recordDescriptor: Int32

    /// The first failed record write, reported by ``Sink/shutdown()``.
    let firstRecordError = Mutex<IOError?>(nil)

    private struct Mutable: Sendable {
        var random: SplitMix64
        /// One record line, reused (the loop thread writes one at a time).
        var recordLine: [UInt8] = []
        /// `webhook-id`s answered 2xx so far.
        var deliveredWebhookIDs: Set<String> = []
    }

    init(configuration: SinkConfiguration) throws(IOError) {
        self.configuration = configuration
        mutable = Mutex(Mutable(random: SplitMix64(seed: configuration.seed)))
        if let path = configuration.recordPath {
            recordDescriptor = try systemCall("open", subject: path) {
                unsafe open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            }
        } else {
            recordDescriptor = -1
        }
    }

    deinit { if recordDescriptor >= 0 { Socket.close(recordDescriptor) } }

    func handle(_ request: HTTPServerRequest) -> HTTPServerReply {
        let webhookID = request.headerValue("webhook-id")
        let eventID = (try? JSONValue.parse(request.body))?["id"]?.stringValue  // a non-JSON body has no id
        let timestamp = request.headerValue("webhook-timestamp").flatMap { Int64($0) }
        var check = SinkSignatureCheck.unchecked
        var verificationError = ""
        if let verifier = configuration.verifier {
            let headers = request.headerFields.map { (name: $0.name, value: $0.value) }
            do {
                let nowSeconds = Int64(request.arrivalWallNanoseconds / 1_000_000_000)
                try verifier.verify(headers: headers, body: request.body, nowSeconds: nowSeconds)
                check = .valid
            } catch {
                check = request.headerValue("webhook-signature") == nil ? .unchecked : .invalid
                verificationError = "\(error)"
            }
        }
        let verified = configuration.verifier == nil || check == .valid
        let arrivedAt = Timestamp(microsecondsSinceEpoch: Int64(request.arrivalWallNanoseconds / 1000))
        let (plan, duplicate, recordError) = mutable.withLock { state -> (SinkResponsePlan?, Bool, IOError?) in
            let plan = verified ? configuration.faults.decide(random: &state.random) : nil
            if recordDescriptor >= 0 {
                let record = SinkDeliveryRecord(
                    arrivedAt: arrivedAt,
                    eventID: eventID,
                    webhookID: webhookID,
                    webhookTimestamp: timestamp,
                    statusCode: plan.map { $0.reset ? nil : $0.statusCode } ?? 401,
                    signature: check
                )
                state.recordLine.removeAll(keepingCapacity: true)
                record.appendLine(to: &state.recordLine)
                // Recorded before answered: the reply is queued only after this returns.
                do throws(IOError) {
                    try writeRecord(state.recordLine)
                } catch {
                    return (plan, false, error)
                }
            }
            guard let plan, !plan.reset, (200..<300).contains(plan.statusCode), let webhookID else {
                return (plan, false, nil)
            }
            return (plan, !state.deliveredWebhookIDs.insert(webhookID).inserted, nil)
        }
        if let recordError {
            firstRecordError.withLock { first in if first == nil { first = recordError } }
            statistics.withLock { statistics in
                statistics.requests += 1
                statistics.recordWriteFailures += 1
            }
            return HTTPServerReply(statusCode: 503, body: Array("the sink could not record this request\n".utf8))
        }
        statistics.withLock { statistics in
            statistics.requests += 1
            if !verified { statistics.rejected += 1 }
            if plan?.ruleIndex != nil { statistics.faultsInjected += 1 }
            if let plan, !plan.reset && (200..<300).contains(plan.statusCode) { statistics.delivered += 1 }
            if duplicate { statistics.duplicateWebhookIDs += 1 }
            if let timestamp, statistics.latencyMillisecondsSamples.count < 1_000_000 {
                let arrivalMilliseconds = Int64(request.arrivalWallNanoseconds / 1_000_000)
                statistics.latencyMillisecondsSamples.append(arrivalMilliseconds - timestamp * 1000)
            }
        }
        guard let plan else {
            return HTTPServerReply(
                statusCode: 401,
                body: Array("signature verification failed: \(verificationError)\n".utf8)
            )
        }
        return plan.reply()
    }

    /// Writes one record line into the record file (`O_APPEND`), the whole line or an error.
    private func writeRecord(_ bytes: [UInt8]) throws(IOError) {
        var written = 0
        while written < bytes.count {
            let already = written
            let count = try systemCall("write", subject: configuration.recordPath ?? "") {
                unsafe bytes.withUnsafeBytes { raw in
                    unsafe write(recordDescriptor, raw.baseAddress! + already, raw.count - already)
                }
            }
            guard count > 0 else {
                throw IOError(
                    code: .systemCall,
                    operation: "write",
                    subject: "\(configuration.recordPath ?? ""): wrote 0 bytes"
                )
            }
            written += count
        }
        assert(written == bytes.count, "a record line is written whole")
    }
}

/// Running a sink from the command line: stop on SIGINT/SIGTERM, after a duration, or after a number of
/// deliveries, reporting counts as it goes.
package enum SinkRunner {
    /// Blocks SIGINT and SIGTERM (``StopSignals/block()``) so ``wait(for:durationSeconds:deliveredCountMax:report:)``
    /// can take them. Call before creating the ``Sink``.
    package static func blockStopSignals() { StopSignals.block() }

    /// Waits until a stop signal, `durationSeconds`, or `deliveredCountMax` deliveries; calls `report`
    /// once a second when the counts changed. Returns why it stopped.
    package static func wait(
        for sink: Sink,
        durationSeconds: Double?,
        deliveredCountMax: Int?,
        report: (SinkStatistics) -> Void
    ) -> String {
        let start = SluiceIO.monotonicNanoseconds()
        var lastRequests = -1
        var lastReport = start
        while true {
            if let signal = StopSignals.wait(nanoseconds: 20_000_000) { return "signal \(signal)" }
            let now = SluiceIO.monotonicNanoseconds()
            let statistics = sink.statistics
            if let deliveredCountMax, statistics.delivered >= deliveredCountMax {
                return "\(statistics.delivered) deliveries"
            }
            if let durationSeconds, Double(now - start) / 1e9 >= durationSeconds { return "duration elapsed" }
            if now - lastReport >= 1_000_000_000 {
                lastReport = now
                if statistics.requests != lastRequests {
                    lastRequests = statistics.requests
                    report(statistics)
                }
            }
        }
    }
}

/// `sluice sink`'s settings as the command line gives them; ``Sink/init(options:backendLine:)`` turns them
/// into a ``SinkConfiguration`` (backend, loopback address, verifier, fault file), so the command needs
/// nothing below the tools.
package struct SinkOptions: Sendable {
    /// Port on 127.0.0.1; 0 picks a free one.
    package var port: UInt16 = 0
    /// Verify Standard Webhooks signatures with this secret (`whsec_…` or base64).
    package var standardSecret: String?
    /// Verify Infrahub signatures with this shared key.
    package var infrahubSharedKey: String?
    package var recordPath: String?
    package var certificateFile: String?
    package var privateKeyFile: String?
    /// A JSON file of fault rules (``SinkFaultConfiguration``).
    package var faultsPath: String?
    /// Fault rules as JSON text.
    package var faultsJSON: String?
    package var seed: UInt64 = 1

    package init() {}
}

/// A fault file that did not parse, with its path.
package struct SinkFaultFileError: Error, CustomStringConvertible {
    package var path: String
    package var error: DeliveryConfigurationError
    package var description: String { "\(path): \(error)" }
}

extension Sink {
    /// A sink on 127.0.0.1 as `options` say; `backendLine` receives the I/O backend chosen (and why).
    package convenience init(options: SinkOptions, backendLine: (String) -> Void) throws {
        let backend = try IOBackendSelection.detect()
        backendLine(backend.description)
        var configuration = SinkConfiguration(
            backend: backend,
            address: SocketAddress(numericHost: "127.0.0.1", port: options.port)!  // a numeric literal host
        )
        configuration.certificateFile = options.certificateFile
        configuration.privateKeyFile = options.privateKeyFile
        configuration.recordPath = options.recordPath
        configuration.seed = options.seed
        if let secret = options.standardSecret { configuration.verifier = try WebhookVerifier(standardSecret: secret) }
        if let key = options.infrahubSharedKey { configuration.verifier = try WebhookVerifier(infrahubSharedKey: key) }
        if let path = options.faultsPath {
            do {
                configuration.faults = try SinkFaultConfiguration(
                    jsonBytes: try readWholeFile(path: path, byteCountMax: 1 << 20)
                )
            } catch let error as DeliveryConfigurationError {
                throw SinkFaultFileError(path: path, error: error)
            }
        }
        if let json = options.faultsJSON {
            configuration.faults = try SinkFaultConfiguration(jsonBytes: Array(json.utf8))
        }
        try self.init(configuration: configuration)
    }
}
