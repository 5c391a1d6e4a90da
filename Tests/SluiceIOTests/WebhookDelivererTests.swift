import SluiceCore
import Synchronization
import Testing

@testable import SluiceIO

/// The delivery policy (retry schedule, Retry-After, dead letters, 410) executed over real loopback
/// HTTP on both backends, with a server that answers from a script.
@Suite(.timeLimit(.minutes(1))) struct WebhookDelivererTests {
    /// A server answering the n-th request with `statuses[n]` (the last one repeats); counts requests.
    final class ScriptedServer: Sendable {
        let server: HTTPServer

        init(_ kind: IOBackendKind, statuses: [Int], headers: [HTTPHeaderField] = []) throws {
            let counter = Counter()
            server = try HTTPClientServerTests.server(kind) { _ in
                let index = counter.value.wrappingAdd(1, ordering: .relaxed).oldValue
                return HTTPServerReply(statusCode: statuses[min(index, statuses.count - 1)], headerFields: headers)
            }
            self.counter = counter
        }

        private let counter: Counter
        var requests: Int { counter.value.load(ordering: .relaxed) }
        var port: UInt16 { server.address.port }
    }

    final class Counter: Sendable { let value = Atomic<Int>(0) }

    /// A deliverer whose reports arrive on an async stream.
    static func deliverer(
        _ kind: IOBackendKind,
        delays: [UInt64]
    ) throws -> (WebhookDeliverer, AsyncStream<DeliveryReport>) {
        let (stream, continuation) = AsyncStream<DeliveryReport>.makeStream()
        let deliverer = try WebhookDeliverer(
            client: loopbackClientConfiguration(kind),
            policy: RetryPolicy(delayNanoseconds: delays, jitterPercent: 0),
            seed: 42
        ) { report in continuation.yield(report) }
        return (deliverer, stream)
    }

    static func delivery(_ id: UInt64, port: UInt16) -> WebhookDelivery {
        let origin = HTTPOrigin(host: "127.0.0.1", port: port)
        return WebhookDelivery(id: id, origin: origin) { attempt in
            let head = HTTPRequestHead(method: .post, target: "/hook", host: origin.authority)
            return try! HTTPClientRequest(
                tag: id,
                origin: origin,
                head: head,
                body: Array("{\"attempt\":\(attempt)}".utf8)
            ).bytes  // valid constant head
        }
    }

    static func next(_ iterator: inout AsyncStream<DeliveryReport>.Iterator) async throws -> DeliveryReport {
        try #require(await iterator.next())
    }

    @Test(arguments: Backends.all) func retriesThenSucceeds(kind: IOBackendKind) async throws {
        let server = try ScriptedServer(kind, statuses: [503, 503, 204])
        let (deliverer, reports) = try Self.deliverer(kind, delays: [0, 20_000_000, 20_000_000])
        var iterator = reports.makeAsyncIterator()
        deliverer.deliver(Self.delivery(1, port: server.port))
        for attempt in 2...3 {
            guard case .attemptFailed(1, let failure, let next, _) = try await Self.next(&iterator) else {
                Issue.record("expected a failed attempt")
                return
            }
            #expect(failure.failureClass == .httpServerError && failure.statusCode == 503)
            #expect(next == attempt)
        }
        #expect(try await Self.next(&iterator) == .succeeded(id: 1, statusCode: 204, attempt: 3))
        #expect(server.requests == 3)
        deliverer.shutdown()
    }

    @Test(arguments: Backends.all) func exhaustedAttemptsDeadLetter(kind: IOBackendKind) async throws {
        let server = try ScriptedServer(kind, statuses: [500])
        let (deliverer, reports) = try Self.deliverer(kind, delays: [0, 10_000_000])
        var iterator = reports.makeAsyncIterator()
        deliverer.deliver(Self.delivery(7, port: server.port))
        guard case .attemptFailed(7, _, 2, _) = try await Self.next(&iterator) else {
            Issue.record("expected a failed first attempt")
            return
        }
        guard case .deadLettered(7, let deadLetter) = try await Self.next(&iterator) else {
            Issue.record("expected a dead letter")
            return
        }
        #expect(deadLetter.reason == .attemptsExhausted && deadLetter.attemptCount == 2)
        #expect(deadLetter.lastFailure?.failureClass == .httpServerError)
        deliverer.shutdown()
    }

    @Test(arguments: Backends.all) func goneDisablesTheEndpoint(kind: IOBackendKind) async throws {
        let server = try ScriptedServer(kind, statuses: [410])
        let (deliverer, reports) = try Self.deliverer(kind, delays: [0, 10_000_000])
        var iterator = reports.makeAsyncIterator()
        deliverer.deliver(Self.delivery(1, port: server.port))
        guard case .deadLettered(1, let gone) = try await Self.next(&iterator) else {
            Issue.record("expected a dead letter for 410")
            return
        }
        #expect(gone.reason == .endpointGone && gone.disablesEndpoint)
        deliverer.deliver(Self.delivery(2, port: server.port))
        guard case .deadLettered(2, let disabled) = try await Self.next(&iterator) else {
            Issue.record("expected the second delivery to dead-letter")
            return
        }
        #expect(disabled.reason == .endpointDisabled && disabled.attemptCount == 0)
        #expect(server.requests == 1, "nothing more is sent to a disabled endpoint")
        deliverer.shutdown()
    }

    @Test(arguments: Backends.all) func retryAfterAndConnectionFailures(kind: IOBackendKind) async throws {
        let server = try ScriptedServer(kind, statuses: [429], headers: [HTTPHeaderField("Retry-After", "30")])
        let (deliverer, reports) = try Self.deliverer(kind, delays: [0, 10_000_000])
        var iterator = reports.makeAsyncIterator()
        let before = monotonicNanoseconds()
        deliverer.deliver(Self.delivery(3, port: server.port))
        guard case .attemptFailed(3, let failure, 2, let due) = try await Self.next(&iterator) else {
            Issue.record("expected a failed attempt")
            return
        }
        #expect(failure.failureClass == .httpClientError && failure.retryAfter == .seconds(30))
        #expect(due >= before + 30_000_000_000, "Retry-After (30 s) outweighs the 10 ms schedule")

        let listener = try Socket.makeListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!)
        Socket.close(listener.descriptor)
        deliverer.deliver(Self.delivery(4, port: listener.address.port))
        guard case .attemptFailed(4, let refused, 2, _) = try await Self.next(&iterator) else {
            Issue.record("expected a connection failure")
            return
        }
        #expect(refused.failureClass == .connection, "\(refused)")
        deliverer.shutdown()
    }
}
