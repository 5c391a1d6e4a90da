import SluiceCore
import SluiceCrypto
import SluiceIO
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// What one delivery-benchmark round measured.
@_spi(Benchmarks) public struct DeliveryBenchmarkResult: Sendable {
    public var backend: String
    public var deliveries: Int
    public var failures: Int
    public var seconds: Double
    public var p50Microseconds: Double
    public var p99Microseconds: Double
    public var connectionsOpened: Int
    /// CPU time of the client's loop thread (user + system) per delivery in the measured window.
    public var cpuMicrosecondsPerDelivery: Double
    public var deliveriesPerSecond: Double { Double(deliveries) / seconds }
}

/// The signed webhook POST the delivery benchmark sends, and the benchmark loop itself, for the
/// `Benchmarks/` package (which sees only `public` API, hence `@_spi(Benchmarks)`).
@_spi(Benchmarks) public enum DeliveryBenchmark {
    /// The shared key the benchmark signs with (Standard Webhooks secret).
    public static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let timestampSeconds: UInt64 = 1_740_656_629

    /// A JSON body of exactly `byteCount` bytes (an Infrahub-like event, padded in a string field).
    public static func body(byteCount: Int = 1024) -> [UInt8] {
        let prefix =
            #"{"data":{"id":"17d1c2a4-8b5e-4f0a-9c1e-2a3b4c5d6e7f","kind":"InfraDevice","action":"updated","padding":""#
        let suffix = #""},"event_type":"infrahub.node.updated","branch":"main"}"#
        let padding = max(0, byteCount - prefix.utf8.count - suffix.utf8.count)
        return Array(prefix.utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: padding) + Array(suffix.utf8)
    }

    /// A `webhook-id` of fixed length for delivery `number`: `msg_` and 26 decimal digits.
    static func webhookID(_ number: UInt64) -> [UInt8] {
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: 26)
        var value = number
        var position = digits.count - 1
        while value > 0 {
            digits[position] = UInt8(ascii: "0") + UInt8(value % 10)
            value /= 10
            position -= 1
        }
        return Array("msg_".utf8) + digits
    }

    /// The header fields of delivery `number` (what wrk's Lua script sends too, for delivery 0).
    public static func headerFields(number: UInt64, body: [UInt8]) -> [(name: String, value: String)] {
        let signer = HMACBatchSigner(keys: [try! WebhookSigningKey(mode: .standard, secret: secret)])  // valid constant
        let id = String(decoding: webhookID(number), as: UTF8.self)
        let signature = signer.signature(keyIndex: 0, webhookID: id, timestampSeconds: timestampSeconds, body: body)
        return [
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
            ("webhook-id", id),
            ("webhook-timestamp", String(timestampSeconds)),
            ("webhook-signature", signature.description),
        ]
    }

    /// Keeps `connections` signed POSTs in flight to `http://127.0.0.1:port/hook` on one client loop
    /// thread for `seconds`, each delivery with its own `webhook-id` and a fresh signature over the exact
    /// bytes sent; returns deliveries per second and latency percentiles.
    public static func run(
        port: UInt16,
        backend: String,
        connections: Int,
        seconds: Double,
        bodyByteCount: Int = 1024
    ) throws -> DeliveryBenchmarkResult {
        let selection: IOBackendSelection
        do {
            selection = try IOBackendSelection.detect(override: backend)
        } catch {
            throw DeliveryBenchmarkError(message: "\(error)")
        }
        let template = try RequestTemplate(port: port, body: body(byteCount: bodyByteCount))
        let state = BenchmarkState(
            template: template,
            durationNanoseconds: UInt64(seconds * 1e9),
            latencyCountMax: 4_000_000
        )
        var configuration = HTTPClientConfiguration(backend: selection)
        configuration.connectionCountMax = connections
        // The benchmark's peer is on loopback, which the SSRF guard refuses unless allowed.
        configuration.addressPolicy = AddressPolicy(allowedNetworks: [
            IPNetwork(IPAddress(ipv4: 0x7F00_0001), prefixLength: 32)
        ])
        let client: HTTPClient
        do {
            client = try HTTPClient(configuration: configuration) { _, result in state.completed(result) }
        } catch {
            throw DeliveryBenchmarkError(message: "\(error)")
        }
        state.client = client
        state.start(connections: connections)
        state.finished.wait()
        let statistics = client.statistics
        client.shutdown()
        return state.result(backend: selection.kind.description, connectionsOpened: statistics.connectionsOpened)
    }
}

@_spi(Benchmarks) public struct DeliveryBenchmarkError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The encoded request with the byte offsets of its `webhook-id` digits and signature, so each delivery
/// is a copy, an id, and a signature written in place.
struct RequestTemplate: Sendable {
    let origin: HTTPOrigin
    let bytes: [UInt8]
    let idOffset: Int
    let signatureOffset: Int
    let bodyOffset: Int
    let signer: HMACBatchSigner

    init(port: UInt16, body: [UInt8]) throws {
        origin = HTTPOrigin(host: "127.0.0.1", port: port)
        let fields = DeliveryBenchmark.headerFields(number: 0, body: body).map { HTTPHeaderField($0.name, $0.value) }
        let request = try HTTPClientRequest(
            tag: 0,
            origin: origin,
            head: HTTPRequestHead(method: .post, target: "/hook", host: origin.authority, headerFields: fields),
            body: body
        )
        bytes = request.bytes
        bodyOffset = bytes.count - body.count
        idOffset = Self.offset(of: "webhook-id: ", in: bytes) + "webhook-id: ".utf8.count
        signatureOffset = Self.offset(of: "webhook-signature: ", in: bytes) + "webhook-signature: ".utf8.count
        signer = HMACBatchSigner(keys: [try WebhookSigningKey(mode: .standard, secret: DeliveryBenchmark.secret)])
    }

    private static func offset(of text: String, in bytes: [UInt8]) -> Int {
        let needle = Array(text.utf8)
        for start in 0...(bytes.count - needle.count) where bytes[start..<(start + needle.count)].elementsEqual(needle)
        {
            return start
        }
        preconditionFailure("\(text) not in the request template")
    }

    /// The bytes of delivery `number`: its id, and its signature over id, timestamp and body.
    func request(number: UInt64) -> HTTPClientRequest {
        var bytes = self.bytes
        let id = DeliveryBenchmark.webhookID(number)
        bytes.replaceSubrange(idOffset..<(idOffset + id.count), with: id)
        let signature = unsafe bytes.withUnsafeBytes { raw in
            unsafe signer.sign(
                keyIndex: 0,
                webhookID: UnsafeRawBufferPointer(rebasing: raw[idOffset..<(idOffset + id.count)]),
                timestampSeconds: DeliveryBenchmark.timestampSeconds,
                body: UnsafeRawBufferPointer(rebasing: raw[bodyOffset...])
            )
        }
        unsafe signature.withUnsafeBytes { raw in
            unsafe bytes.replaceSubrange(signatureOffset..<(signatureOffset + raw.count), with: raw)
        }
        return HTTPClientRequest(
            tag: number,
            origin: origin,
            method: .post,
            bytes: bytes
        )
    }
}

/// Counters and latencies of one run; touched by the client's loop thread only, after `start`.
final class BenchmarkState: @unchecked Sendable {
    // @unchecked: `start` runs before the first completion can arrive (it submits the first requests);
    // afterwards only the loop thread touches the fields, and the caller reads them after `finished`.
    let template: RequestTemplate
    let durationNanoseconds: UInt64
    var client: HTTPClient?
    let finished = Semaphore()
    private var latencies: [UInt64]
    private let latencyCountMax: Int
    private var nextNumber: UInt64 = 0
    private var inFlight = 0
    private var startNanoseconds: UInt64 = 0
    private var endNanoseconds: UInt64 = 0
    private var deliveries = 0
    private var failures = 0
    private var stopping = false
    private var cpuStartNanoseconds: UInt64?
    private var cpuEndNanoseconds: UInt64 = 0

    init(template: RequestTemplate, durationNanoseconds: UInt64, latencyCountMax: Int) {
        self.template = template
        self.durationNanoseconds = durationNanoseconds
        self.latencyCountMax = latencyCountMax
        latencies = []
        latencies.reserveCapacity(latencyCountMax)
    }

    func start(connections: Int) {
        startNanoseconds = SluiceIO.monotonicNanoseconds()
        inFlight = connections
        let requests = (0..<connections).map { _ in nextRequest() }
        for request in requests { client!.submit(request) }
    }

    private func nextRequest() -> HTTPClientRequest {
        nextNumber += 1
        return template.request(number: nextNumber)
    }

    /// On the loop thread: count, then keep the connection busy until the time is up.
    func completed(_ result: HTTPClientResult) {
        if cpuStartNanoseconds == nil { cpuStartNanoseconds = threadCPUNanoseconds() }
        switch result {
        case .success where stopping:
            break  // finished after the measured window closed
        case .success(let response) where response.isSuccess:
            deliveries += 1
            if latencies.count < latencyCountMax { latencies.append(response.latencyNanoseconds) }
        case .success, .failure:
            failures += 1
        }
        inFlight -= 1
        let now = SluiceIO.monotonicNanoseconds()
        if !stopping && now - startNanoseconds < durationNanoseconds {
            inFlight += 1
            client!.submit(nextRequest())
            return
        }
        if !stopping {
            stopping = true
            endNanoseconds = now
            cpuEndNanoseconds = threadCPUNanoseconds()
        }
        if inFlight == 0 { finished.post() }
    }

    func result(backend: String, connectionsOpened: Int) -> DeliveryBenchmarkResult {
        latencies.sort()
        func percentile(_ fraction: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            return Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * fraction))]) / 1000
        }
        return DeliveryBenchmarkResult(
            backend: backend,
            deliveries: deliveries,
            failures: failures,
            seconds: Double(endNanoseconds - startNanoseconds) / 1e9,
            p50Microseconds: percentile(0.5),
            p99Microseconds: percentile(0.99),
            connectionsOpened: connectionsOpened,
            cpuMicrosecondsPerDelivery: Double(cpuEndNanoseconds - (cpuStartNanoseconds ?? cpuEndNanoseconds)) / 1000
                / Double(max(deliveries, 1))
        )
    }
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`).
func threadCPUNanoseconds() -> UInt64 {
    var time = timespec()
    unsafe clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
}
