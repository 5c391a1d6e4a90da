package import SluiceCore
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// Where a request goes: host, port and, for HTTPS, the TLS options. Requests to the same origin share
/// a keep-alive pool.
package struct HTTPOrigin: Hashable, Sendable, CustomStringConvertible {
    package var host: String
    package var port: UInt16
    /// `nil` for plain HTTP.
    package var tls: TLSClientOptions?
    /// The SSRF guard for this origin (the pipeline's and the webhook's `allowed_networks`); `nil` uses the
    /// client's ``HTTPClientConfiguration/addressPolicy``. Origins with different policies get different pools.
    package var addressPolicy: AddressPolicy?

    package init(host: String, port: UInt16, tls: TLSClientOptions? = nil, addressPolicy: AddressPolicy? = nil) {
        self.host = host
        self.port = port
        self.tls = tls
        self.addressPolicy = addressPolicy
    }

    /// The `Host` header value (the port is left out when it is the scheme's default).
    package var authority: String {
        let defaultPort: UInt16 = tls == nil ? 80 : 443
        let name = host.contains(":") ? "[\(host)]" : host
        return port == defaultPort ? name : "\(name):\(port)"
    }

    package var description: String { "\(tls == nil ? "http" : "https")://\(authority)" }
}

/// One request for ``HTTPClient``: the encoded bytes (head and body, from ``HTTPRequestEncoder``) and
/// what the driver needs to know about them.
package struct HTTPClientRequest: Sendable {
    /// The caller's identifier, handed back with the result.
    package var tag: UInt64
    package var origin: HTTPOrigin
    /// The method (a HEAD response has no body).
    package var method: HTTPMethod
    /// The exact bytes to send.
    package var bytes: [UInt8]

    package init(tag: UInt64, origin: HTTPOrigin, method: HTTPMethod, bytes: [UInt8]) {
        self.tag = tag
        self.origin = origin
        self.method = method
        self.bytes = bytes
    }

    /// Encodes `head` and `body` with ``HTTPRequestEncoder``.
    package init(
        tag: UInt64,
        origin: HTTPOrigin,
        head: HTTPRequestHead,
        body: [UInt8]
    ) throws(HTTPEncodingError) {
        var encoder = HTTPRequestEncoder(byteCountReserved: body.count + 512)
        try encoder.encode(head, body: body)
        self.init(tag: tag, origin: origin, method: head.method, bytes: encoder.bytes)
    }
}

/// A complete response. Redirects are not followed: a 3xx is returned as is (a failed delivery, like
/// Infrahub's, spec §c.7).
package struct HTTPClientResponse: Sendable {
    package var head: HTTPResponseHead
    /// The header fields in received order, when ``HTTPClientConfiguration/collectsHeaderFields`` is set.
    package var headerFields: [HTTPHeaderField]
    /// The body (dechunked), at most ``HTTPClientConfiguration/bodyByteCountMax`` bytes are kept.
    package var body: [UInt8]
    /// The request went over a connection that had already carried a response (keep-alive reuse).
    package var reusedConnection: Bool
    /// The TLS connection resumed a session.
    package var resumedTLSSession: Bool
    /// Submission to the end of the response.
    package var latencyNanoseconds: UInt64

    package var statusCode: Int { head.statusCode }
    package var isSuccess: Bool { (200..<300).contains(head.statusCode) }
}

/// A request that got no complete response.
package struct HTTPClientFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The failure classes of spec §c.8 the transport can produce (HTTP status classes come from responses).
    package enum Kind: String, Sendable, Equatable {
        /// Resolution, connect, reset, or a close before the response completed.
        case connection = "CONNECTION"
        /// Handshake or certificate verification failed.
        case tls = "TLS"
        /// The request's deadline passed.
        case timeout = "TIMEOUT"
        /// The response was not valid HTTP/1.1 (or exceeded a limit).
        case protocolViolation = "PROTOCOL"
        /// The origin's queue is full (``HTTPClientConfiguration/pendingRequestCountMax``), or the client stopped.
        case overloaded = "OVERLOADED"
        /// The SSRF guard refused the resolved address before any connect (``AddressPolicy``).
        case addressRefused = "ADDRESS_REFUSED"
    }

    package var kind: Kind
    package var origin: String
    package var message: String

    package var description: String { "\(kind.rawValue) \(origin): \(message)" }
}

package typealias HTTPClientResult = Result<HTTPClientResponse, HTTPClientFailure>

/// Limits and timeouts of an ``HTTPClient``; every bound is fixed at start.
package struct HTTPClientConfiguration: Sendable {
    package var backend: IOBackendSelection
    /// Connections per origin.
    package var connectionCountMax: Int = 64
    /// Requests in flight per origin (at most one per connection: no pipelining); `nil` means
    /// ``connectionCountMax``.
    package var inFlightCountMax: Int? = nil
    /// Requests waiting for a connection per origin; more fail with `OVERLOADED`.
    package var pendingRequestCountMax: Int = 65_536
    /// Connect, TLS handshake, request (from send to the end of the response) and idle keep-alive limits,
    /// enforced by each origin's ``EndpointPool``.
    package var timeouts = ConnectionTimeouts()
    /// Copy every response header field into ``HTTPClientResponse/headerFields`` (allocates per field;
    /// delivery needs only the status and `Retry-After`, which the head always carries).
    package var collectsHeaderFields = false
    /// Bytes of response body kept per response.
    package var bodyByteCountMax: Int = 1 << 20
    package var parserLimits = HTTPParserLimits()
    /// Per connection: receive buffer, send buffer (and a TLS plaintext buffer), each this size.
    package var bufferByteCount: Int = 16_384
    package var resolverTimeToLiveNanoseconds: UInt64 = 60_000_000_000
    /// The SSRF guard, on by default: loopback, private, link-local, metadata and the other internal ranges
    /// are refused (``AddressPolicy``), checked on the resolved address right before every connect. An
    /// origin's own ``HTTPOrigin/addressPolicy`` replaces it.
    package var addressPolicy = AddressPolicy()
    /// Name resolution, called on the resolver's thread (blocking is fine there): `getaddrinfo` by default.
    /// Tests put a stub here to answer addresses they must never connect to.
    package var nameLookUp: Resolver.LookUp = Resolver.lookUp(host:port:)
    /// Called on the loop thread with each address right before its socket is made and connected (after
    /// the SSRF guard allowed it); `false` fails that connect as CONNECTION. Tests use it to see every
    /// connect, and to make sure that nothing but loopback is ever connected even if the guard regressed.
    package var beforeConnect: (@Sendable (SocketAddress) -> Bool)? = nil

    package init(backend: IOBackendSelection) {
        self.backend = backend
    }

    func validate() throws(IOError) {
        guard connectionCountMax > 0, connectionCountMax <= 4096, pendingRequestCountMax > 0, bufferByteCount >= 4096,
            (inFlightCountMax ?? 1) > 0
        else {
            throw IOError(
                code: .configuration,
                operation: "HTTPClientConfiguration",
                subject:
                    "connectionCountMax must be in 1...4096, inFlightCountMax and pendingRequestCountMax > 0, bufferByteCount >= 4096"
            )
        }
    }
}

/// Counters of an ``HTTPClient``, readable from any thread.
package struct HTTPClientStatistics: Sendable, Equatable {
    package var connectionsOpened: Int
    package var requestsCompleted: Int
    package var requestsFailed: Int
    package var reusedConnectionRequests: Int
    package var resumedTLSSessions: Int
    /// `connect` calls started (each after the SSRF guard allowed the address).
    package var connectsStarted: Int
    /// Resolved addresses the SSRF guard refused (no socket was made for them).
    package var addressesRefused: Int
}

/// An HTTP/1.1 client on one dedicated loop thread (io_uring or epoll): keep-alive pools per origin,
/// bounded connections and queues, deadlines, DNS off the loop thread, TLS with verification on by default.
///
/// ``submit(_:)`` may be called from any thread, including from `onComplete` (which runs on the loop
/// thread; there the request is queued without a lock or a wake-up). Thread-safe.
///
/// A client made with ``init(configuration:ownerRunsLoop:onComplete:)`` has no thread of its own: its owner
/// calls ``run(turn:)`` on a thread it dedicates to it and does its own work between I/O turns (the
/// pipeline's delivery loops: signing, encoding and outcome handling share the I/O thread, so a request
/// crosses no thread from its job to its completion).
package final class HTTPClient: Sendable {
    private let driver: HTTPClientDriver
    /// `nil` when the owner runs the loop (``run(turn:)``).
    private let thread: LoopThread?
    package var backend: IOBackendSelection { driver.configuration.backend }

    /// Starts the loop thread.
    /// - Parameter onComplete: called on the loop thread once per submitted request, with its tag.
    package init(
        configuration: HTTPClientConfiguration,
        onComplete: @escaping @Sendable (_ tag: UInt64, _ result: HTTPClientResult) -> Void
    ) throws(IOError) {
        try configuration.validate()
        let driver = try HTTPClientDriver(configuration: configuration, onComplete: onComplete)
        self.driver = driver
        thread = try LoopThread(name: "sluice-http") { driver.runLoop() }
    }

    /// A client whose loop runs on the owner's thread, in ``run(turn:)`` (`ownerRunsLoop` must be true).
    /// - Parameter onComplete: called on that thread, inside ``run(turn:)``, once per submitted request.
    package init(
        configuration: HTTPClientConfiguration,
        ownerRunsLoop: Bool,
        onComplete: @escaping @Sendable (_ tag: UInt64, _ result: HTTPClientResult) -> Void
    ) throws(IOError) {
        precondition(ownerRunsLoop, "without an owner-run loop, use init(configuration:onComplete:)")
        try configuration.validate()
        driver = try HTTPClientDriver(configuration: configuration, onComplete: onComplete)
        thread = nil
    }

    deinit { shutdown() }

    /// Runs the loop on the calling thread (a client made with `ownerRunsLoop`), calling `turn`
    /// between I/O turns, until `turn` returns ``HTTPClientLoopWait/stop`` or ``shutdown()`` is called. On
    /// return, connections are closed and every request still pending has failed with `OVERLOADED`.
    package func run(turn: () -> HTTPClientLoopWait) {
        precondition(thread == nil, "this client runs its own loop thread")
        withoutActuallyEscaping(turn) { turn in driver.runLoop(turn: turn) }
    }

    /// Wakes a loop waiting in ``run(turn:)`` (``HTTPClientLoopWait/untilWoken`` or ``HTTPClientLoopWait/until(_:)``)
    /// so that it calls `turn` again. Any thread.
    package func wake() { driver.wake() }

    package func submit(_ request: HTTPClientRequest) {
        driver.submit(request)
    }

    package var statistics: HTTPClientStatistics { driver.statistics }

    /// Stops the loop: pending requests fail with `OVERLOADED`, connections close, the thread ends.
    package func shutdown() {
        driver.stop()
        thread?.join()
    }
}

/// What an owner-run loop (``HTTPClient/run(turn:)``) does after a turn of the owner's work.
package enum HTTPClientLoopWait: Sendable, Equatable {
    /// Collect ready completions without waiting (the owner has more to do).
    case poll
    /// Wait for I/O until this ``monotonicNanoseconds()`` deadline (the owner's next timer).
    case until(UInt64)
    /// Wait for I/O or ``HTTPClient/wake()``.
    case untilWoken
    /// End the loop.
    case stop
}

/// Atomic counters behind ``HTTPClientStatistics``.
final class HTTPClientCounters: Sendable {
    let connectionsOpened = Atomic<Int>(0)
    let requestsCompleted = Atomic<Int>(0)
    let requestsFailed = Atomic<Int>(0)
    let reusedConnectionRequests = Atomic<Int>(0)
    let resumedTLSSessions = Atomic<Int>(0)
    let connectsStarted = Atomic<Int>(0)
    let addressesRefused = Atomic<Int>(0)

    var snapshot: HTTPClientStatistics {
        HTTPClientStatistics(
            connectionsOpened: connectionsOpened.load(ordering: .relaxed),
            requestsCompleted: requestsCompleted.load(ordering: .relaxed),
            requestsFailed: requestsFailed.load(ordering: .relaxed),
            reusedConnectionRequests: reusedConnectionRequests.load(ordering: .relaxed),
            resumedTLSSessions: resumedTLSSessions.load(ordering: .relaxed),
            connectsStarted: connectsStarted.load(ordering: .relaxed),
            addressesRefused: addressesRefused.load(ordering: .relaxed)
        )
    }

    static func increment(_ counter: borrowing Atomic<Int>) {
        counter.wrappingAdd(1, ordering: .relaxed)
    }
}
