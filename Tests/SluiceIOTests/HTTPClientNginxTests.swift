import Foundation
import SluiceCore
import Testing

@testable import SluiceIO

/// The HTTP client against nginx from Debian (a real, independent HTTP/1.1 server) on both backends:
/// keep-alive reuse, chunked responses, server closes, timeouts.
@Suite(.timeLimit(.minutes(1)), .disabled(if: NginxPeer.path == nil, "\(NginxPeer.missingMessage)"))
struct HTTPClientNginxTests {
    static let page = Array(String(repeating: "sluice delivers webhooks. ", count: 400).utf8)

    static func nginx() throws -> NginxPeer {
        try NginxPeer(
            serverBlock: """
                keepalive_requests 1000;
                location = /hook { return 204; }
                location = /close { keepalive_timeout 0; return 200 "closing\\n"; }
                location = /page.txt { sub_filter 'sluice' 'SLUICE'; sub_filter_once off; sub_filter_types *; }
                location = /slow.txt { limit_rate 2k; }
                location = /moved { return 301 /hook; }
                """,
            files: ["page.txt": page, "slow.txt": page + page]
        )
    }

    @Test(arguments: Backends.all) func keepAliveReuse(kind: IOBackendKind) async throws {
        let nginx = try Self.nginx()
        let harness = try ClientHarness(kind)
        let origin = HTTPOrigin(host: "127.0.0.1", port: nginx.port)
        for index in 0..<10 {
            let response = try #require(try await harness.send(origin, target: "/hook").response)
            #expect(response.statusCode == 204)
            #expect(response.reusedConnection == (index > 0))
        }
        #expect(harness.client.statistics.connectionsOpened == 1)
        let results = try await harness.sendConcurrently(HTTPOrigin(host: "localhost", port: nginx.port), count: 32)
        #expect(results.allSatisfy { $0.response?.statusCode == 204 })
    }

    @Test(arguments: Backends.all) func chunkedResponse(kind: IOBackendKind) async throws {
        let nginx = try Self.nginx()
        let harness = try ClientHarness(kind)
        let origin = HTTPOrigin(host: "127.0.0.1", port: nginx.port)
        for _ in 0..<3 {
            let response = try #require(
                try await harness.send(origin, method: .get, target: "/page.txt", body: []).response
            )
            #expect(response.statusCode == 200)
            #expect(response.head.framing == .chunked, "sub_filter drops Content-Length, so nginx chunks")
            let expected = String(decoding: Self.page, as: UTF8.self).replacingOccurrences(of: "sluice", with: "SLUICE")
            #expect(response.body == Array(expected.utf8))
        }
        #expect(harness.client.statistics.connectionsOpened == 1, "chunked responses keep the connection")
    }

    @Test(arguments: Backends.all) func serverCloses(kind: IOBackendKind) async throws {
        let nginx = try Self.nginx()
        let harness = try ClientHarness(kind)
        let origin = HTTPOrigin(host: "127.0.0.1", port: nginx.port)
        let closing = try #require(try await harness.send(origin, method: .get, target: "/close", body: []).response)
        #expect(closing.statusCode == 200 && !closing.head.keepAlive)
        #expect(closing.body == Array("closing\n".utf8))
        let next = try #require(try await harness.send(origin, target: "/hook").response)
        #expect(next.statusCode == 204 && !next.reusedConnection)
        #expect(harness.client.statistics.connectionsOpened == 2)
        let moved = try #require(try await harness.send(origin, method: .get, target: "/moved", body: []).response)
        #expect(moved.statusCode == 301, "redirects are returned, not followed")
    }

    @Test(arguments: Backends.all) func timeouts(kind: IOBackendKind) async throws {
        let nginx = try Self.nginx()
        let harness = try ClientHarness(kind) { $0.timeouts.requestNanoseconds = 150_000_000 }
        let origin = HTTPOrigin(host: "127.0.0.1", port: nginx.port)
        let failure = try #require(try await harness.send(origin, method: .get, target: "/slow.txt", body: []).failure)
        #expect(failure.kind == .timeout, "\(failure)")
        let after = try #require(try await harness.send(origin, target: "/hook").response)
        #expect(after.statusCode == 204 && !after.reusedConnection, "the timed-out connection was closed")
    }
}
