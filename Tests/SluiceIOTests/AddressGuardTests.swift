import SluiceCore
import SluiceTestSupport
import Synchronization
import Testing

@testable import SluiceIO
@testable import SluiceTools

/// The SSRF guard in the HTTP client: checked on the resolved address right before every connect.
///
/// No test here sends traffic anywhere but loopback: internal addresses come from a stub resolver and are
/// refused before any socket exists, and ``HTTPClientConfiguration/beforeConnect`` (which sees every connect)
/// vetoes anything that is not loopback, so even a broken guard could not reach another host.
@Suite(.timeLimit(.minutes(1))) struct AddressGuardTests {
    /// Every address a client tried to connect to (after the guard).
    final class ConnectLog: Sendable {
        let addresses = Mutex<[String]>([])
        var all: [String] { addresses.withLock { $0 } }

        /// Records the address; lets only loopback through.
        func gate(_ address: SocketAddress) -> Bool {
            addresses.withLock { $0.append(address.description) }
            guard let ip = address.ipAddress else { return false }
            return loopbackNetworks.contains { $0.contains(ip) }
        }
    }

    /// A resolver that answers from `answers` (host → addresses in order: one per resolution, the last
    /// repeated), never the network.
    final class StubResolver: Sendable {
        let answers: [String: [String]]
        let calls = Mutex<[String: Int]>([:])

        init(_ answers: [String: [String]]) { self.answers = answers }

        func lookUp(_ host: String, _ port: UInt16) -> Result<SocketAddress, IOError> {
            let call = calls.withLock { calls in
                defer { calls[host, default: 0] += 1 }
                return calls[host, default: 0]
            }
            guard let list = answers[host], let text = list.isEmpty ? nil : list[min(call, list.count - 1)],
                let address = SocketAddress(numericHost: text, port: port)
            else {
                return .failure(IOError(code: .resolution, operation: "stub", subject: "\(host): no answer"))
            }
            return .success(address)
        }
    }

    static func harness(
        _ kind: IOBackendKind,
        resolver: StubResolver? = nil,
        connects: ConnectLog,
        policy: AddressPolicy = AddressPolicy(),
        resolverTimeToLiveNanoseconds: UInt64 = 60_000_000_000
    ) throws -> ClientHarness {
        try ClientHarness(kind) { configuration in
            configuration.addressPolicy = policy
            if let resolver { configuration.nameLookUp = { host, port in resolver.lookUp(host, port) } }
            configuration.beforeConnect = { address in connects.gate(address) }
            configuration.resolverTimeToLiveNanoseconds = resolverTimeToLiveNanoseconds
        }
    }

    /// Names that resolve to internal addresses are refused before any connect, with the address and range.
    @Test(arguments: Backends.all) func refusesInternalAnswersBeforeConnecting(kind: IOBackendKind) async throws {
        let cases: [(host: String, answer: String, range: String)] = [
            ("private.example", "10.0.0.5", "10.0.0.0/8"),
            ("metadata.example", "169.254.169.254", "169.254.169.254/32"),
            ("mapped.example", "::ffff:127.0.0.1", "127.0.0.0/8"),
            ("aws6.example", "fd00:ec2::254", "fd00:ec2::254/128"),
            ("cgnat.example", "100.64.1.2", "100.64.0.0/10"),
            ("linklocal6.example", "fe80::1", "fe80::/10"),
        ]
        let resolver = StubResolver(Dictionary(uniqueKeysWithValues: cases.map { ($0.host, [$0.answer]) }))
        let connects = ConnectLog()
        let harness = try Self.harness(kind, resolver: resolver, connects: connects)
        for (host, answer, range) in cases {
            let failure = try #require(try await harness.send(HTTPOrigin(host: host, port: 80)).failure, "\(host)")
            #expect(failure.kind == .addressRefused, "\(host): \(failure)")
            #expect(failure.message.contains(try #require(IPAddress(answer)).description), "\(failure.message)")
            #expect(failure.message.contains(range), "\(failure.message)")
            #expect(DeliveryAttemptOutcome(.failure(failure)) == .addressRefused(failure.message))
        }
        #expect(connects.all.isEmpty, "nothing was connected: \(connects.all)")
        #expect(harness.client.statistics.connectsStarted == 0)
        #expect(harness.client.statistics.addressesRefused == cases.count)
    }

    /// Every spelling of loopback in a URL — through the real `getaddrinfo`, or numeric — ends at 127.0.0.1
    /// or ::1 and is refused by the default policy: the guard reads the address, not the text.
    @Test(arguments: Backends.all) func everySpellingOfLoopbackIsRefused(kind: IOBackendKind) async throws {
        let connects = ConnectLog()
        let harness = try Self.harness(kind, connects: connects)
        for host in [
            "2130706433", "0x7f000001", "127.1", "0177.0.0.1", "127.0.0.1", "::ffff:127.0.0.1", "::1", "localhost",
        ] {
            let result = try await harness.send(HTTPOrigin(host: host, port: 9))
            #expect(result.failure?.kind == .addressRefused, "\(host): \(result)")
        }
        #expect(connects.all.isEmpty, "\(connects.all)")
        #expect(harness.client.statistics.connectsStarted == 0)
    }

    /// With loopback on the allow-list, the same spellings reach a real loopback server.
    @Test(arguments: Backends.all) func allowListedAddressesConnect(kind: IOBackendKind) async throws {
        let sink = try Sink(
            configuration: SinkConfiguration(
                backend: IOBackendSelection(kind: kind, reason: "test"),
                address: SocketAddress(numericHost: "127.0.0.1", port: 0)!
            )
        )
        defer { try? sink.shutdown() }
        let connects = ConnectLog()
        let harness = try Self.harness(
            kind,
            connects: connects,
            policy: AddressPolicy(allowedNetworks: [try IPNetwork.parse("127.0.0.1/32")])
        )
        for host in ["2130706433", "127.1", "127.0.0.1"] {
            let result = try await harness.send(HTTPOrigin(host: host, port: sink.address.port))
            #expect(result.response?.statusCode == 204, "\(host): \(result)")
        }
        #expect(connects.all.count == 3)
    }

    /// DNS rebinding: the first resolution answers an allowed address (a loopback server standing in for a
    /// public one), the next answers a private one; the second connect is refused. A response with
    /// `Connection: close` makes the second request open a new connection, and a TTL of 0 makes it resolve
    /// again.
    @Test(arguments: Backends.all) func dnsRebindingIsRefusedAtTheNextConnect(kind: IOBackendKind) async throws {
        let sink = try Sink(
            configuration: SinkConfiguration(
                backend: IOBackendSelection(kind: kind, reason: "test"),
                address: SocketAddress(numericHost: "127.0.0.1", port: 0)!
            )
        )
        defer { try? sink.shutdown() }
        let resolver = StubResolver(["rebind.example": ["127.0.0.1", "10.0.0.5"]])
        let connects = ConnectLog()
        let harness = try Self.harness(
            kind,
            resolver: resolver,
            connects: connects,
            policy: AddressPolicy(allowedNetworks: [try IPNetwork.parse("127.0.0.1/32")]),
            resolverTimeToLiveNanoseconds: 0
        )
        let origin = HTTPOrigin(host: "rebind.example", port: sink.address.port)
        let first = try await harness.send(origin, keepAlive: false)
        #expect(first.response?.statusCode == 204, "\(first)")
        let second = try await harness.send(origin)
        #expect(second.failure?.kind == .addressRefused, "\(second)")
        #expect(second.failure?.message.contains("10.0.0.5") == true)
        #expect(resolver.calls.withLock { $0["rebind.example"] } == 2, "resolved at each connect")
        #expect(connects.all == ["127.0.0.1:\(sink.address.port)"], "only the first (allowed) answer was connected")
    }
}
