import SluiceCore
import Synchronization
import Testing

@testable import SluiceIO

/// An ``HTTPClient`` with `async` requests for tests: each submit waits for its own result.
final class ClientHarness: Sendable {
    private let waiters = Mutex<[UInt64: CheckedContinuation<HTTPClientResult, Never>]>([:])
    private let nextTag = Atomic<UInt64>(1)
    let client: HTTPClient

    init(_ kind: IOBackendKind, configure: (inout HTTPClientConfiguration) -> Void = { _ in }) throws {
        var configuration = loopbackClientConfiguration(kind)
        configure(&configuration)
        let reference = HarnessReference()
        client = try HTTPClient(configuration: configuration) { tag, result in
            reference.target?.resume(tag, result)
        }
        reference.target = self
    }

    deinit { client.shutdown() }

    fileprivate func resume(_ tag: UInt64, _ result: HTTPClientResult) {
        let waiter = waiters.withLock { $0.removeValue(forKey: tag) }
        waiter?.resume(returning: result)
    }

    /// Sends one request and waits for its result.
    func send(
        _ origin: HTTPOrigin,
        method: HTTPMethod = .post,
        target: String = "/hook",
        headers: [HTTPHeaderField] = [],
        body: [UInt8] = Array(#"{"id":"e1"}"#.utf8),
        keepAlive: Bool = true
    ) async throws -> HTTPClientResult {
        let tag = nextTag.wrappingAdd(1, ordering: .relaxed).oldValue
        let request = try HTTPClientRequest(
            tag: tag,
            origin: origin,
            head: HTTPRequestHead(
                method: method,
                target: target,
                host: origin.authority,
                headerFields: headers,
                keepAlive: keepAlive
            ),
            body: body
        )
        return await withCheckedContinuation { continuation in
            waiters.withLock { $0[tag] = continuation }
            client.submit(request)
        }
    }

    /// Sends `count` requests at once and waits for all results (in submission order).
    func sendConcurrently(_ origin: HTTPOrigin, count: Int) async throws -> [HTTPClientResult] {
        try await withThrowingTaskGroup(of: (Int, HTTPClientResult).self) { group in
            for index in 0..<count {
                group.addTask { (index, try await self.send(origin, body: Array("{\"id\":\"e\(index)\"}".utf8))) }
            }
            var results = [HTTPClientResult?](repeating: nil, count: count)
            for try await (index, result) in group { results[index] = result }
            return results.map { $0! }
        }
    }
}

/// The networks of every peer in these tests (loopback), allowed past the SSRF guard — and nothing else.
let loopbackNetworks = [
    IPNetwork(IPAddress(ipv4: 0x7F00_0000), prefixLength: 8),
    IPNetwork(IPAddress(ipv6High: 0, low: 1), prefixLength: 128),
]

/// An ``HTTPClientConfiguration`` for loopback peers: `kind`, and ``loopbackNetworks`` allowed.
func loopbackClientConfiguration(_ kind: IOBackendKind) -> HTTPClientConfiguration {
    var configuration = HTTPClientConfiguration(backend: IOBackendSelection(kind: kind, reason: "test"))
    configuration.addressPolicy = AddressPolicy(allowedNetworks: loopbackNetworks)
    return configuration
}

/// A late-bound weak reference, so the client's callback can reach the harness that owns the client.
final class HarnessReference: @unchecked Sendable {
    // @unchecked: written once right after init, before any request is submitted.
    weak var target: ClientHarness?
}

extension HTTPClientResult {
    var response: HTTPClientResponse? {
        if case .success(let response) = self { return response }
        return nil
    }

    var failure: HTTPClientFailure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
