import SluiceCore
import Synchronization
import Testing

@testable import SluiceIO

/// The HTTP client against the library's own HTTP server (the loop code `sluice sink` runs on), both
/// on the same backend, over real loopback sockets.
@Suite(.timeLimit(.minutes(1))) struct HTTPClientServerTests {
    static func server(
        _ kind: IOBackendKind,
        tls: TLSContext? = nil,
        _ handler: @escaping @Sendable (HTTPServerRequest) -> HTTPServerReply
    ) throws -> HTTPServer {
        try HTTPServer(
            configuration: HTTPServerConfiguration(
                backend: IOBackendSelection(kind: kind, reason: "test"),
                address: SocketAddress(numericHost: "127.0.0.1", port: 0)!,
                tls: tls
            ),
            handler: handler
        )
    }

    @Test(arguments: Backends.all) func keepAliveReuse(kind: IOBackendKind) async throws {
        let server = try Self.server(kind) { request in
            HTTPServerReply(statusCode: 200, body: request.body)
        }
        let harness = try ClientHarness(kind)
        let origin = HTTPOrigin(host: "127.0.0.1", port: server.address.port)
        for index in 0..<5 {
            let body = Array("{\"id\":\"event-\(index)\"}".utf8)
            let response = try #require(try await harness.send(origin, body: body).response)
            #expect(response.statusCode == 200)
            #expect(response.body == body)
            #expect(response.reusedConnection == (index > 0))
        }
        #expect(harness.client.statistics.connectionsOpened == 1)
        #expect(server.connectionsAccepted == 1)
    }

    @Test(arguments: Backends.all) func chunkedSlowBodyAndHeaders(kind: IOBackendKind) async throws {
        let body = Array(repeating: UInt8(ascii: "x"), count: 40_000)
        let server = try Self.server(kind) { _ in
            HTTPServerReply(
                statusCode: 200,
                headerFields: [HTTPHeaderField("X-Sink", "yes")],
                body: body,
                chunked: true,
                bodyPieceByteCount: 7_000,
                bodyPieceIntervalNanoseconds: 2_000_000
            )
        }
        let harness = try ClientHarness(kind) { $0.collectsHeaderFields = true }
        let origin = HTTPOrigin(host: "127.0.0.1", port: server.address.port)
        let response = try #require(try await harness.send(origin).response)
        #expect(response.head.framing == .chunked)
        #expect(response.body == body)
        #expect(response.headerFields.contains(HTTPHeaderField("X-Sink", "yes")))
        // The connection stays usable after a chunked response.
        #expect(try await harness.send(origin).response?.reusedConnection == true)
    }

    @Test(arguments: Backends.all) func serverClosesAndResets(kind: IOBackendKind) async throws {
        let server = try Self.server(kind) { request in
            switch request.head.target {
            case "/close": HTTPServerReply(statusCode: 200, closeAfter: true)
            case "/reset": HTTPServerReply(statusCode: 200, resetConnection: true)
            default: HTTPServerReply(statusCode: 204)
            }
        }
        let harness = try ClientHarness(kind)
        let origin = HTTPOrigin(host: "127.0.0.1", port: server.address.port)
        #expect(try await harness.send(origin, target: "/close").response?.head.keepAlive == false)
        let after = try #require(try await harness.send(origin).response)
        #expect(after.statusCode == 204 && !after.reusedConnection)
        let reset = try #require(try await harness.send(origin, target: "/reset").failure)
        #expect(reset.kind == .connection, "\(reset)")
        #expect(try await harness.send(origin).response?.statusCode == 204)
        #expect(harness.client.statistics.connectionsOpened == 3)
    }

    @Test(arguments: Backends.all) func silentCloseOfAnIdleConnection(kind: IOBackendKind) async throws {
        let server = try Self.server(kind) { _ in
            var reply = HTTPServerReply(statusCode: 204, closeAfter: true)
            reply.closeSilently = true
            return reply
        }
        let harness = try ClientHarness(kind)
        let origin = HTTPOrigin(host: "127.0.0.1", port: server.address.port)
        for _ in 0..<3 {
            let response = try #require(try await harness.send(origin).response)
            #expect(response.statusCode == 204 && response.head.keepAlive, "the server said nothing about closing")
        }
        // Each close was seen by the receive posted on the idle connection (or, in a race, the request
        // was re-queued): every request succeeded, each on a fresh connection.
        #expect(server.connectionsAccepted == 3)
        #expect(harness.client.statistics.requestsFailed == 0)
    }

    @Test(arguments: Backends.all) func deadlines(kind: IOBackendKind) async throws {
        let server = try Self.server(kind) { request in
            HTTPServerReply(statusCode: 200, delayNanoseconds: request.head.target == "/slow" ? 3_000_000_000 : 0)
        }
        let harness = try ClientHarness(kind) { $0.timeouts.requestNanoseconds = 100_000_000 }
        let origin = HTTPOrigin(host: "127.0.0.1", port: server.address.port)
        let failure = try #require(try await harness.send(origin, target: "/slow").failure)
        // The server answers only after 3 s, so a timeout naming the 100 ms request deadline is the pool's.
        // (Wall time is not asserted: under a loaded CI the test's own continuation may resume late.)
        #expect(failure.kind == .timeout, "\(failure)")
        #expect(failure.message.contains("within 100 ms"), "\(failure)")
        #expect(try await harness.send(origin).response?.statusCode == 200)
    }

    @Test(arguments: Backends.all) func statusesRedirectsAndRetryAfter(kind: IOBackendKind) async throws {
        let server = try Self.server(kind) { request in
            switch request.head.target {
            case "/moved": HTTPServerReply(statusCode: 302, headerFields: [HTTPHeaderField("Location", "/elsewhere")])
            case "/busy": HTTPServerReply(statusCode: 429, headerFields: [HTTPHeaderField("Retry-After", "7")])
            default: HTTPServerReply(statusCode: 503)
            }
        }
        let harness = try ClientHarness(kind)
        let origin = HTTPOrigin(host: "127.0.0.1", port: server.address.port)
        let moved = try #require(try await harness.send(origin, target: "/moved").response)
        #expect(moved.statusCode == 302 && !moved.isSuccess, "redirects are not followed")
        let busy = try #require(try await harness.send(origin, target: "/busy").response)
        #expect(busy.head.retryAfter == .seconds(7))
        #expect(try await harness.send(origin).response?.statusCode == 503)
    }

    @Test(arguments: Backends.all) func poolBoundsConnections(kind: IOBackendKind) async throws {
        let server = try Self.server(kind) { _ in HTTPServerReply(statusCode: 200, delayNanoseconds: 5_000_000) }
        let harness = try ClientHarness(kind) { $0.connectionCountMax = 4 }
        let origin = HTTPOrigin(host: "localhost", port: server.address.port)  // resolved off the loop thread
        let results = try await harness.sendConcurrently(origin, count: 40)
        #expect(results.allSatisfy { $0.response?.statusCode == 200 }, "\(results.compactMap(\.failure))")
        #expect(harness.client.statistics.connectionsOpened <= 4)
        #expect(server.connectionsAccepted <= 4)
        #expect(harness.client.statistics.reusedConnectionRequests >= 36)
    }

    @Test(arguments: Backends.all) func inFlightBound(kind: IOBackendKind) async throws {
        let server = try Self.server(kind) { _ in HTTPServerReply(statusCode: 204, delayNanoseconds: 2_000_000) }
        let harness = try ClientHarness(kind) {
            $0.connectionCountMax = 8
            $0.inFlightCountMax = 2
        }
        let results = try await harness.sendConcurrently(
            HTTPOrigin(host: "127.0.0.1", port: server.address.port),
            count: 20
        )
        #expect(results.allSatisfy { $0.response?.statusCode == 204 })
        #expect(
            harness.client.statistics.connectionsOpened <= 2,
            "never more connections than requests allowed in flight"
        )
        #expect(server.connectionsAccepted <= 2)
    }

    @Test(arguments: Backends.all) func serverConnectionBound(kind: IOBackendKind) async throws {
        var configuration = HTTPServerConfiguration(
            backend: IOBackendSelection(kind: kind, reason: "test"),
            address: SocketAddress(numericHost: "127.0.0.1", port: 0)!
        )
        configuration.connectionCountMax = 1
        let server = try HTTPServer(configuration: configuration) { _ in HTTPServerReply(statusCode: 204) }
        let origin = HTTPOrigin(host: "127.0.0.1", port: server.address.port)
        let first = try ClientHarness(kind)
        #expect(try await first.send(origin).response?.statusCode == 204)  // keeps its connection open
        let second = try ClientHarness(kind)
        let refused = try #require(try await second.send(origin).failure)
        #expect(refused.kind == .connection, "\(refused)")
        #expect(try await first.send(origin).response?.reusedConnection == true)
    }

    @Test(arguments: Backends.all) func connectionRefused(kind: IOBackendKind) async throws {
        // A port that was just free: bind, read the port, close.
        let listener = try Socket.makeListener(address: SocketAddress(numericHost: "127.0.0.1", port: 0)!)
        Socket.close(listener.descriptor)
        let harness = try ClientHarness(kind)
        let failure = try #require(
            try await harness.send(HTTPOrigin(host: "127.0.0.1", port: listener.address.port)).failure
        )
        #expect(failure.kind == .connection)
        #expect(failure.message.contains("Connection refused"), "\(failure)")
    }
}
