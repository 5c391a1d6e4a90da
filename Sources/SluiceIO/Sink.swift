package import SluiceCore
package import SluiceCrypto
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
    /// Append one JSON line per request to this file.
    package var recordPath: String?
    /// Fault rules (issue-6-codec's `SinkFaultConfiguration`, JSON documented in the README).
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
    /// Requests carrying an event id seen before (at-least-once redelivery).
    package var duplicateEventIDs = 0
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
        text += "duplicate event ids \(duplicateEventIDs)"
        if let p50 = latencyMilliseconds(percentile: 0.5), let p99 = latencyMilliseconds(percentile: 0.99) {
            text += ", latency since webhook-timestamp p50 \(p50) ms p99 \(p99) ms"
        }
        return text
    }
}

/// A loopback webhook receiver for tests and load tests (`sluice sink`), on the library's HTTP server:
/// verifies signatures, records each delivery (event id, `webhook-id`, arrival time) as a JSON line,
/// counts, and injects faults. Thread-safe handle.
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

    deinit {
        server.shutdown()
        // A last flush for a sink dropped without shutdown(); its error has no caller left to reach.
        _ = try? state.flush()
    }

    package var statistics: SinkStatistics { state.statistics.withLock { $0 } }

    /// Stops the server and flushes the record file.
    package func shutdown() throws(IOError) {
        server.shutdown()
        try state.flush()
    }
}

/// The sink's per-request logic; `handle` runs on the server's loop thread, the statistics are read
/// from others (behind a Mutex: one short lock per request, a test tool's rate).
final class SinkState: Sendable {
    let statistics = Mutex(SinkStatistics())
    private let configuration: SinkConfiguration
    private let mutable: Mutex<Mutable>
    private let recordDescriptor: Int32

    private struct Mutable: Sendable {
        var random: SplitMix64
        var recordBuffer: [UInt8] = []
        var seenEventIDs: Set<String> = []
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
        let (plan, duplicate) = mutable.withLock { state -> (SinkResponsePlan?, Bool) in
            let plan = verified ? configuration.faults.decide(random: &state.random) : nil
            let duplicate = eventID.map { !state.seenEventIDs.insert($0).inserted } ?? false
            if recordDescriptor >= 0 {
                let record = SinkDeliveryRecord(
                    arrivedAt: Timestamp(microsecondsSinceEpoch: Int64(request.arrivalWallNanoseconds / 1000)),
                    eventID: eventID,
                    webhookID: webhookID,
                    webhookTimestamp: timestamp,
                    statusCode: plan.map { $0.reset ? nil : $0.statusCode } ?? 401,
                    signature: check
                )
                record.appendLine(to: &state.recordBuffer)
            }
            return (plan, duplicate)
        }
        if recordDescriptor >= 0 { flushIfLarge() }
        statistics.withLock { statistics in
            statistics.requests += 1
            if !verified { statistics.rejected += 1 }
            if plan?.ruleIndex != nil { statistics.faultsInjected += 1 }
            if let plan, !plan.reset && (200..<300).contains(plan.statusCode) { statistics.delivered += 1 }
            if duplicate { statistics.duplicateEventIDs += 1 }
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

    private func flushIfLarge() {
        let large = mutable.withLock { $0.recordBuffer.count >= 65_536 }
        if large {
            // A failed record write is reported at shutdown's flush; the request was answered anyway.
            _ = try? flush()
        }
    }

    /// Writes buffered records to the file.
    func flush() throws(IOError) {
        guard recordDescriptor >= 0 else { return }
        let bytes = mutable.withLock { state -> [UInt8] in
            defer { state.recordBuffer.removeAll(keepingCapacity: true) }
            return state.recordBuffer
        }
        var written = 0
        while written < bytes.count {
            let already = written
            written += try systemCall("write", subject: configuration.recordPath ?? "") {
                unsafe bytes.withUnsafeBytes { raw in
                    unsafe write(recordDescriptor, raw.baseAddress! + already, raw.count - already)
                }
            }
        }
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
        let start = monotonicNanoseconds()
        var lastRequests = -1
        var lastReport = start
        while true {
            if let signal = StopSignals.wait(nanoseconds: 20_000_000) { return "signal \(signal)" }
            let now = monotonicNanoseconds()
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
