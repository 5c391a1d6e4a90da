import Glibc
import SluiceCore
import Testing

/// The SSRF guard's decision (``AddressPolicy``), CIDR parsing and the address parsers, as pure values: no
/// address here is ever connected.
@Suite struct AddressPolicyTests {
    /// Addresses the default policy refuses, with the range that names the refusal.
    static let refused: [(address: String, range: String)] = [
        ("127.0.0.1", "127.0.0.0/8"),
        ("127.255.255.254", "127.0.0.0/8"),
        ("10.0.0.5", "10.0.0.0/8"),
        ("172.16.0.1", "172.16.0.0/12"),
        ("172.31.255.255", "172.16.0.0/12"),
        ("192.168.1.1", "192.168.0.0/16"),
        ("169.254.169.254", "169.254.169.254/32"),
        ("169.254.1.1", "169.254.0.0/16"),
        ("100.64.0.1", "100.64.0.0/10"),
        ("100.127.255.255", "100.64.0.0/10"),
        ("0.0.0.0", "0.0.0.0/8"),
        ("255.255.255.255", "255.255.255.255/32"),
        ("224.0.0.1", "224.0.0.0/4"),
        ("239.255.255.250", "224.0.0.0/4"),
        ("240.0.0.1", "240.0.0.0/4"),
        ("192.0.0.170", "192.0.0.0/24"),
        ("198.18.0.1", "198.18.0.0/15"),
        ("::1", "::1/128"),
        ("::", "::/128"),
        ("fe80::1", "fe80::/10"),
        ("fc00::1", "fc00::/7"),
        ("fd12:3456::1", "fc00::/7"),
        ("fd00:ec2::254", "fd00:ec2::254/128"),
        ("fec0::1", "fec0::/10"),
        ("ff02::1", "ff00::/8"),
        ("64:ff9b:1::a", "64:ff9b:1::/48"),
        // IPv4 inside IPv6: judged by the IPv4 address.
        ("::ffff:127.0.0.1", "127.0.0.0/8"),
        ("::ffff:7f00:1", "127.0.0.0/8"),
        ("::ffff:10.0.0.1", "10.0.0.0/8"),
        ("::ffff:169.254.169.254", "169.254.169.254/32"),
        ("::127.0.0.1", "127.0.0.0/8"),
        ("::ffff:0:7f00:1", "127.0.0.0/8"),
        ("64:ff9b::a00:5", "10.0.0.0/8"),
        ("64:ff9b::169.254.169.254", "169.254.169.254/32"),
        ("2002:7f00:1::", "127.0.0.0/8"),
        ("2002:c0a8:101::1", "192.168.0.0/16"),
    ]

    /// Addresses the default policy allows (public, or just outside a refused range).
    static let allowed = [
        "93.184.216.34", "8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1",
        "169.253.255.255", "169.255.0.1", "192.167.255.255", "192.169.0.1", "223.255.255.255", "11.0.0.1",
        "2606:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808",
        "fbff:ffff::1", "fe00::1",
    ]

    @Test(arguments: refused) func refusesInternalRanges(address: String, range: String) throws {
        let parsed = try #require(IPAddress(address), "\(address) parses")
        guard case .refused(let refusal) = AddressPolicy().classify(parsed) else {
            Issue.record("\(address) was allowed")
            return
        }
        #expect(refusal.range.network.description == range, "\(address): \(refusal)")
        #expect(refusal.description.contains(range))
        #expect(refusal.description.contains(parsed.description))
    }

    @Test(arguments: allowed) func allowsPublicAddresses(address: String) throws {
        let parsed = try #require(IPAddress(address), "\(address) parses")
        #expect(AddressPolicy().classify(parsed) == .allowed, "\(address)")
    }

    /// Every spelling of 127.0.0.1 that `getaddrinfo` (`inet_aton`) accepts is the same address, and refused;
    /// `inet_pton` semantics (``IPAddress/init(_:)``) reject the legacy ones, as the kernel's parser does.
    @Test(arguments: [
        "2130706433", "0x7f000001", "0X7F000001", "127.1", "127.0.1", "0177.0.0.1", "0x7f.1", "127.0.0.1",
    ])
    func everySpellingOfLoopbackIsRefused(spelling: String) throws {
        let parsed = try #require(IPAddress.parseInetAton(spelling), "\(spelling)")
        #expect(parsed == IPAddress(ipv4: 0x7F00_0001))
        #expect(AddressPolicy().classify(parsed) != .allowed)
        var system = in_addr()
        #expect(inet_aton(spelling, &system) == 1, "glibc agrees that \(spelling) is an address")
        #expect(UInt32(bigEndian: system.s_addr) == 0x7F00_0001)
        if spelling != "127.0.0.1" { #expect(IPAddress(spelling) == nil, "inet_pton rejects \(spelling)") }
    }

    /// ``IPAddress/init(_:)`` agrees with glibc's `inet_pton` on good and bad text.
    @Test(arguments: [
        "0.0.0.0", "255.255.255.255", "1.2.3.4", "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", "",
        "::", "::1", "1::", "1::2", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1::2::3", ":1", "1:", "::ffff:1.2.3.4",
        "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "fe80::1%eth0", "12345::", "g::", "FFFF::",
        "::ffff:01.2.3.4", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
    ])
    func parsesLikeInetPton(text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        let expected: [UInt8]?
        if inet_pton(AF_INET, text, &v4) == 1 {
            expected = withUnsafeBytes(of: v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            expected = withUnsafeBytes(of: v6) { Array($0) }
        } else {
            expected = nil
        }
        let ours = IPAddress(text)
        #expect((ours == nil) == (expected == nil), "'\(text)': ours \(String(describing: ours))")
        if let ours, let expected { #expect(ours == IPAddress(bytes: expected), "'\(text)'") }
    }

    @Test(arguments: [
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"), ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("::", "::"),
        ("::1", "::1"), ("1:0:0:1:0:0:0:1", "1:0:0:1::1"), ("1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"),
        ("fd00:ec2::254", "fd00:ec2::254"), ("10.0.0.5", "10.0.0.5"),
    ])
    func writesCanonicalText(text: String, expected: String) throws {
        #expect(try #require(IPAddress(text)).description == expected)
    }

    /// The allow-list lets the named networks through (and their IPv4-in-IPv6 forms), nothing more.
    @Test func allowListAddsExactlyItsNetworks() throws {
        let policy = AddressPolicy(allowedNetworks: [try IPNetwork.parse("127.0.0.0/8"), try IPNetwork.parse("::1")])
        #expect(policy.classify(try #require(IPAddress("127.0.0.1"))) == .allowed)
        #expect(policy.classify(try #require(IPAddress("127.3.4.5"))) == .allowed)
        #expect(policy.classify(try #require(IPAddress("::ffff:127.0.0.1"))) == .allowed)
        #expect(policy.classify(try #require(IPAddress("::1"))) == .allowed)
        #expect(policy.classify(try #require(IPAddress("10.0.0.1"))) != .allowed)
        #expect(policy.classify(try #require(IPAddress("169.254.169.254"))) != .allowed)
        let metadataOnly = AddressPolicy().allowing([try IPNetwork.parse("169.254.169.254/32")])
        #expect(metadataOnly.classify(try #require(IPAddress("169.254.169.254"))) == .allowed)
        #expect(metadataOnly.classify(try #require(IPAddress("169.254.169.253"))) != .allowed)
    }

    @Test func refusalMessageNamesAddressRangeAndForm() throws {
        let refusal = try #require(
            {
                if case .refused(let refusal) = AddressPolicy().classify(IPAddress("::ffff:169.254.169.254")!) {
                    return refusal
                }
                return nil
            }()
        )
        #expect(
            refusal.description
                == "refused to connect to ::ffff:169.254.169.254 (IPv4-mapped IPv6 of 169.254.169.254): in "
                + "169.254.169.254/32 (cloud metadata service, link-local); allow it with allowed_networks"
        )
    }

    @Test(arguments: [
        ("10.0.0.1/8", "'10.0.0.1/8' has host bits set (the block is 10.0.0.0/8)"),
        ("10.0.0.0/33", "'10.0.0.0/33': the prefix length must be an integer in 0...32"),
        ("::/129", "'::/129': the prefix length must be an integer in 0...128"),
        ("10.0.0.0/", "'10.0.0.0/': the prefix length must be an integer in 0...32"),
        ("10.0.0.0/-1", "'10.0.0.0/-1': the prefix length must be an integer in 0...32"),
        (
            "10.0.0.0/99999999999999999999",
            "'10.0.0.0/99999999999999999999': the prefix length must be an integer in 0...32"
        ),
        ("localhost/8", "'localhost/8' is not a CIDR block (an IPv4 or IPv6 address, then /PREFIX, e.g. 10.0.0.0/8)"),
        ("127.1/8", "'127.1/8' is not a CIDR block (an IPv4 or IPv6 address, then /PREFIX, e.g. 10.0.0.0/8)"),
    ])
    func badCIDRBlocksSayWhy(text: String, message: String) {
        #expect(throws: IPNetworkParseError(message: message)) { try IPNetwork.parse(text) }
    }

    @Test func cidrBlocksParse() throws {
        #expect(try IPNetwork.parse("10.0.0.0/8").contains(IPAddress("10.255.0.1")!))
        #expect(try !IPNetwork.parse("10.0.0.0/8").contains(IPAddress("11.0.0.1")!))
        #expect(try IPNetwork.parse("0.0.0.0/0").contains(IPAddress("8.8.8.8")!))
        #expect(try !IPNetwork.parse("0.0.0.0/0").contains(IPAddress("::1")!), "families never mix")
        #expect(try IPNetwork.parse("::/0").contains(IPAddress("2001:db8::1")!))
        #expect(try IPNetwork.parse("fc00::/7").contains(IPAddress("fdff::1")!))
        #expect(try IPNetwork.parse("192.168.1.7").prefixLength == 32)
        #expect(try IPNetwork.parse("::1").description == "::1/128")
        #expect(AddressPolicy.refusedRanges.count == 22)
    }

    @Test func allowedNetworksErrorsNameTheElement() {
        #expect(
            throws: AllowedNetworksError(index: 1, message: "'10.0.0.1/8' has host bits set (the block is 10.0.0.0/8)")
        ) {
            try AddressPolicy.allowedNetworks(json: ["127.0.0.0/8", "10.0.0.1/8"])
        }
        #expect(throws: AllowedNetworksError(index: 0, message: "must be a CIDR block string, e.g. \"10.0.0.0/8\"")) {
            try AddressPolicy.allowedNetworks(json: [8])
        }
        #expect(
            throws: AllowedNetworksError(index: nil, message: "must be a list of CIDR blocks, e.g. [\"10.0.0.0/8\"]")
        ) {
            try AddressPolicy.allowedNetworks(json: "10.0.0.0/8")
        }
        #expect(
            AllowedNetworksError(index: 1, message: "").field("pipeline.allowed_networks")
                == "pipeline.allowed_networks[1]"
        )
    }

    /// The failure class of a refusal: its own, counted as a failed attempt (retries, dead letters), and not
    /// against the endpoint's health.
    @Test func refusalIsAFailureClassOfItsOwn() {
        let result = DeliveryAttemptOutcome.addressRefused("refused to connect to 10.0.0.5").classify(attempt: 2)
        guard case .failure(let failure) = result else {
            Issue.record("a refusal is a failure")
            return
        }
        #expect(failure.failureClass == .addressRefused)
        #expect(failure.failureClass.rawValue == "ADDRESS_REFUSED")
        #expect(failure.attempt == 2)
        #expect(!failure.countsAgainstEndpoint)
        #expect(failure.description.contains("allowed_networks"))
    }
}
