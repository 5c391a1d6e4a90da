import SluiceCore
package import SluiceCrypto
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// Faults the sink injects, each with a rate in percent of requests (drawn from a seeded generator, so a
/// run is reproducible). At most one fault applies to a request, checked in this order: reset, 429,
/// status, slow body; the delay applies on its own draw.
package struct SinkFaultPlan: Sendable, Equatable {
    /// Respond with `statusCode` to `percent` % of requests (each entry drawn in order).
    package var statusRates: [(statusCode: Int, percent: Double)] = []
    /// Wait `delayNanoseconds` before answering `delayPercent` % of requests.
    package var delayNanoseconds: UInt64 = 0
    package var delayPercent: Double = 0
    /// Reset the connection instead of answering.
    package var resetPercent: Double = 0
    /// Answer 429 with `Retry-After: retryAfterSeconds`.
    package var tooManyRequestsPercent: Double = 0
    package var retryAfterSeconds: Int = 1
    /// Send the response body in `slowBodyPieceByteCount`-byte pieces, `slowBodyIntervalNanoseconds` apart.
    package var slowBodyPercent: Double = 0
    package var slowBodyPieceByteCount = 16
    package var slowBodyIntervalNanoseconds: UInt64 = 50_000_000
    /// Status of answers without a fault.
    package var successStatusCode = 204

    package init() {}

    package static func == (left: SinkFaultPlan, right: SinkFaultPlan) -> Bool {
        left.statusRates.elementsEqual(right.statusRates) { $0 == $1 }
            && left.delayNanoseconds == right.delayNanoseconds
            && left.delayPercent == right.delayPercent && left.resetPercent == right.resetPercent
            && left.tooManyRequestsPercent == right.tooManyRequestsPercent
            && left.retryAfterSeconds == right.retryAfterSeconds && left.slowBodyPercent == right.slowBodyPercent
            && left.slowBodyPieceByteCount == right.slowBodyPieceByteCount
            && left.slowBodyIntervalNanoseconds == right.slowBodyIntervalNanoseconds
            && left.successStatusCode == right.successStatusCode
    }

    /// Checks every rate is within 0...100 and the statuses are valid.
    package func validate() throws(IOError) {
        let rates = statusRates.map(\.percent) + [delayPercent, resetPercent, tooManyRequestsPercent, slowBodyPercent]
        guard rates.allSatisfy({ (0...100).contains($0) }) else {
            throw IOError(
                code: .configuration,
                operation: "sink faults",
                subject: "every rate must be within 0...100 %"
            )
        }
        guard (statusRates.map(\.statusCode) + [successStatusCode]).allSatisfy({ (200...599).contains($0) }) else {
            throw IOError(
                code: .configuration,
                operation: "sink faults",
                subject: "status codes must be within 200...599"
            )
        }
        guard slowBodyPieceByteCount > 0 else {
            throw IOError(code: .configuration, operation: "sink faults", subject: "slow body piece size must be > 0")
        }
    }

    /// The reply for one request; `draw` returns uniform values in 0..<100.
    func reply(draw: () -> Double) -> HTTPServerReply {
        let delay = draw() < delayPercent ? delayNanoseconds : 0
        if draw() < resetPercent {
            return HTTPServerReply(statusCode: 0, delayNanoseconds: delay, resetConnection: true)
        }
        if draw() < tooManyRequestsPercent {
            return HTTPServerReply(
                statusCode: 429,
                headerFields: [HTTPHeaderField("Retry-After", String(retryAfterSeconds))],
                body: Array("slow down\n".utf8),
                delayNanoseconds: delay
            )
        }
        for rate in statusRates where draw() < rate.percent {
            return HTTPServerReply(
                statusCode: rate.statusCode,
                body: Array("injected \(rate.statusCode)\n".utf8),
                delayNanoseconds: delay
            )
        }
        if draw() < slowBodyPercent {
            return HTTPServerReply(
                statusCode: 200,
                body: Array(#"{"status":"received slowly"}"#.utf8),
                delayNanoseconds: delay,
                bodyPieceByteCount: slowBodyPieceByteCount,
                bodyPieceIntervalNanoseconds: slowBodyIntervalNanoseconds
            )
        }
        return HTTPServerReply(statusCode: successStatusCode, delayNanoseconds: delay)
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
    package var faults = SinkFaultPlan()
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
        try configuration.faults.validate()
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
        let eventID = (try? JSONValue.parse(request.body))?["id"]?.stringValue
        var verified = true
        var verificationError = ""
        if let verifier = configuration.verifier {
            let headers = request.headerFields.map { (name: $0.name, value: $0.value) }
            do {
                try verifier.verify(
                    headers: headers,
                    body: request.body,
                    nowSeconds: Int64(request.arrivalWallNanoseconds / 1_000_000_000)
                )
            } catch {
                verified = false
                verificationError = "\(error)"
            }
        }
        let (reply, duplicate) = mutable.withLock { state -> (HTTPServerReply, Bool) in
            let reply: HTTPServerReply
            if verified {
                reply = configuration.faults.reply { Double(state.random.next() >> 11) / Double(1 << 53) * 100 }
            } else {
                reply = HTTPServerReply(
                    statusCode: 401,
                    body: Array("signature verification failed: \(verificationError)\n".utf8)
                )
            }
            let duplicate = eventID.map { !state.seenEventIDs.insert($0).inserted } ?? false
            if recordDescriptor >= 0 {
                appendRecord(
                    to: &state.recordBuffer,
                    eventID: eventID,
                    webhookID: webhookID,
                    request: request,
                    reply: reply,
                    verified: verified
                )
            }
            return (reply, duplicate)
        }
        if recordDescriptor >= 0 { flushIfLarge() }
        let timestamp = request.headerValue("webhook-timestamp").flatMap { Int64($0) }
        statistics.withLock { statistics in
            statistics.requests += 1
            let faulted =
                reply.resetConnection || reply.delayNanoseconds > 0 || reply.bodyPieceByteCount > 0
                || reply.statusCode != configuration.faults.successStatusCode
            if !verified {
                statistics.rejected += 1
            } else if faulted {
                statistics.faultsInjected += 1
            }
            if verified && (200..<300).contains(reply.statusCode) && !reply.resetConnection {
                statistics.delivered += 1
            }
            if duplicate { statistics.duplicateEventIDs += 1 }
            if let timestamp, statistics.latencyMillisecondsSamples.count < 1_000_000 {
                statistics.latencyMillisecondsSamples.append(
                    Int64(request.arrivalWallNanoseconds / 1_000_000) - timestamp * 1000
                )
            }
        }
        return reply
    }

    /// One JSON line: `{"event_id":…,"webhook_id":…,"arrival_ns":…,"status":…,"verified":…,"fault":…}`.
    private func appendRecord(
        to buffer: inout [UInt8],
        eventID: String?,
        webhookID: String?,
        request: HTTPServerRequest,
        reply: HTTPServerReply,
        verified: Bool
    ) {
        buffer.append(contentsOf: #"{"event_id":"#.utf8)
        if let eventID { JSONString.appendQuoted(eventID, to: &buffer) } else { buffer.append(contentsOf: "null".utf8) }
        buffer.append(contentsOf: #","webhook_id":"#.utf8)
        if let webhookID {
            JSONString.appendQuoted(webhookID, to: &buffer)
        } else {
            buffer.append(contentsOf: "null".utf8)
        }
        buffer.append(contentsOf: #","arrival_ns":\#(request.arrivalWallNanoseconds)"#.utf8)
        buffer.append(contentsOf: #","target":"#.utf8)
        JSONString.appendQuoted(request.head.target, to: &buffer)
        let status = reply.resetConnection ? "null" : String(reply.statusCode)
        buffer.append(
            contentsOf: #","status":\#(status),"verified":\#(verified),"reset":\#(reply.resetConnection)}"#.utf8
        )
        buffer.append(0x0A)
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

extension SinkFaultPlan {
    /// Parses `STATUS:PERCENT` (e.g. `503:10`).
    package static func parseStatusRate(_ text: String) throws(IOError) -> (statusCode: Int, percent: Double) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let status = Int(parts[0]), let percent = Double(parts[1]) else {
            throw IOError(
                code: .configuration,
                operation: "--status",
                subject: "'\(text)' is not STATUS:PERCENT (e.g. 503:10)"
            )
        }
        return (status, percent)
    }
}

/// Running a sink from the command line: stop on SIGINT/SIGTERM, after a duration, or after a number of
/// deliveries, reporting counts as it goes.
package enum SinkRunner {
    /// Blocks SIGINT and SIGTERM in the calling thread and the threads it starts afterwards, so
    /// ``wait(for:durationSeconds:deliveredCountMax:report:)`` can take them with `sigtimedwait`.
    /// Call before creating the ``Sink``.
    package static func blockStopSignals() {
        var signals = sigset_t()
        unsafe sigemptyset(&signals)
        unsafe sigaddset(&signals, SIGINT)
        unsafe sigaddset(&signals, SIGTERM)
        _ = unsafe pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    /// Waits until a stop signal, `durationSeconds`, or `deliveredCountMax` deliveries; calls `report`
    /// once a second when the counts changed. Returns why it stopped.
    package static func wait(
        for sink: Sink,
        durationSeconds: Double?,
        deliveredCountMax: Int?,
        report: (SinkStatistics) -> Void
    ) -> String {
        var signals = sigset_t()
        unsafe sigemptyset(&signals)
        unsafe sigaddset(&signals, SIGINT)
        unsafe sigaddset(&signals, SIGTERM)
        let start = monotonicNanoseconds()
        var lastRequests = -1
        var lastReport = start
        while true {
            var timeout = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            let signal = unsafe sigtimedwait(&signals, nil, &timeout)
            if signal == SIGINT || signal == SIGTERM { return "signal \(signal)" }
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
