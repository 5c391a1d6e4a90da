/// The SSRF guard's decision: may a delivery connect to this (resolved) address?
///
/// Refused unless an allow-list names them: loopback, private (RFC 1918), link-local (with the cloud metadata
/// addresses 169.254.169.254 and fd00:ec2::254), carrier-grade NAT (100.64.0.0/10), unique-local
/// (fc00::/7), site-local, multicast, unspecified, broadcast and the other reserved ranges of
/// ``refusedRanges``. An IPv6 address that carries an IPv4 address — IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4
/// (`2002:AABB:CCDD::`) — is judged by the IPv4 address too, since that is where the packets can end up.
/// (Teredo, `2001::/32`, hides its IPv4 server behind a relay and is not unwrapped.)
///
/// The driver asks ``classify(_:)`` with the address it is about to `connect` to, after resolution, at
/// every connect: how the URL spelled the host (`2130706433`, `0x7f000001`, `127.1`, `[::ffff:127.0.0.1]`)
/// and what DNS answered last time (rebinding) do not matter. Pure value.
public struct AddressPolicy: Hashable, Sendable {
    /// Blocks allowed even though a refused range contains them (`pipeline.allowed_networks` plus the
    /// webhook's own `allowed_networks`).
    public var allowedNetworks: [IPNetwork]

    public init(allowedNetworks: [IPNetwork] = []) {
        self.allowedNetworks = allowedNetworks
    }

    /// This policy with `networks` allowed too.
    public func allowing(_ networks: [IPNetwork]) -> AddressPolicy {
        var result = self
        for network in networks where !result.allowedNetworks.contains(network) {
            result.allowedNetworks.append(network)
        }
        return result
    }

    /// One refused range and what it is (for the refusal message).
    public struct Range: Hashable, Sendable, CustomStringConvertible {
        public let network: IPNetwork
        public let name: String
        public var description: String { "\(network) (\(name))" }
    }

    /// Refused ranges, the more specific first (the first that contains an address names it).
    public static let refusedRanges: [Range] = [
        ("169.254.169.254/32", "cloud metadata service, link-local"),
        ("0.0.0.0/8", "this network / unspecified, RFC 1122"),
        ("10.0.0.0/8", "private network, RFC 1918"),
        ("100.64.0.0/10", "carrier-grade NAT shared space, RFC 6598"),
        ("127.0.0.0/8", "loopback, RFC 1122"),
        ("169.254.0.0/16", "link-local, RFC 3927"),
        ("172.16.0.0/12", "private network, RFC 1918"),
        ("192.0.0.0/24", "IETF protocol assignments, RFC 6890"),
        ("192.168.0.0/16", "private network, RFC 1918"),
        ("198.18.0.0/15", "benchmarking network, RFC 2544"),
        ("224.0.0.0/4", "multicast, RFC 5771"),
        ("255.255.255.255/32", "limited broadcast, RFC 919"),
        ("240.0.0.0/4", "reserved, RFC 1112"),
        ("::/128", "unspecified, RFC 4291"),
        ("::1/128", "loopback, RFC 4291"),
        ("fd00:ec2::254/128", "cloud metadata service (AWS IPv6), unique-local"),
        ("fc00::/7", "unique-local, RFC 4193"),
        ("fe80::/10", "link-local, RFC 4291"),
        ("fec0::/10", "site-local (deprecated), RFC 3879"),
        ("ff00::/8", "multicast, RFC 4291"),
        ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation, RFC 8215"),
        ("100::/64", "discard-only, RFC 6666"),
    ].map { text, name in
        // The table is constant and parsed once; a typo is a programmer error caught by the tests.
        guard let network = try? IPNetwork.parse(text) else { preconditionFailure("bad refused range \(text)") }
        return Range(network: network, name: name)
    }

    /// Where an IPv6 address carries an IPv4 address, and how that form is called.
    static let embeddings: [(network: IPNetwork, name: String, bitOffset: Int)] = [
        ("::ffff:0:0/96", "IPv4-mapped IPv6", 0),
        ("::ffff:0:0:0/96", "IPv4-translated IPv6", 0),
        ("64:ff9b::/96", "NAT64, RFC 6052", 0),
        ("::/96", "IPv4-compatible IPv6", 0),
        ("2002::/16", "6to4, RFC 3056", 80),
    ].map { text, name, offset in
        guard let network = try? IPNetwork.parse(text) else { preconditionFailure("bad embedding \(text)") }
        return (network, name, offset)
    }

    /// The IPv4 address inside an IPv6 address of one of the ``embeddings`` forms, with the form's name.
    public static func embeddedIPv4(_ address: IPAddress) -> EmbeddedIPv4? {
        guard address.family == .v6 else { return nil }
        for embedding in embeddings where embedding.network.contains(address) {
            // Bits [offset, offset + 32) counted from the end of the 128-bit address.
            let value: UInt32
            if embedding.bitOffset == 0 {
                value = UInt32(truncatingIfNeeded: address.low)
            } else {
                value = UInt32(truncatingIfNeeded: address.high >> (embedding.bitOffset - 64))
            }
            return EmbeddedIPv4(address: IPAddress(ipv4: value), form: embedding.name)
        }
        return nil
    }

    /// `.allowed`, or `.refused` with the range that refuses it.
    public func classify(_ address: IPAddress) -> AddressDecision {
        let embedded = Self.embeddedIPv4(address)
        for network in allowedNetworks {
            if network.contains(address) { return .allowed }
            if let embedded, network.contains(embedded.address) { return .allowed }
        }
        for range in Self.refusedRanges where range.network.contains(address) {
            return .refused(AddressRefusal(address: address, range: range, embedded: nil))
        }
        if let embedded {
            for range in Self.refusedRanges where range.network.contains(embedded.address) {
                return .refused(AddressRefusal(address: address, range: range, embedded: embedded))
            }
        }
        return .allowed
    }
}

/// What ``AddressPolicy/classify(_:)`` decided.
public enum AddressDecision: Hashable, Sendable {
    case allowed
    case refused(AddressRefusal)
}

/// A refused address: which address, the range it fell in, and the IPv4 address it carries when that is
/// what was refused.
public struct AddressRefusal: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let range: AddressPolicy.Range
    public let embedded: EmbeddedIPv4?

    /// E.g. `refused to connect to 10.0.0.5: in 10.0.0.0/8 (private network, RFC 1918); allow it with
    /// allowed_networks`.
    public var description: String {
        var text = "refused to connect to \(address)"
        if let embedded { text += " (\(embedded.form) of \(embedded.address))" }
        text += ": in \(range.network) (\(range.name)); allow it with allowed_networks"
        return text
    }
}

/// An IPv4 address carried inside an IPv6 address, and the name of that form (`IPv4-mapped IPv6`, …).
public struct EmbeddedIPv4: Hashable, Sendable {
    public let address: IPAddress
    public let form: String
}

extension AddressPolicy {
    /// Reads an `allowed_networks` value: a list of CIDR strings (`["10.20.0.0/16", "fd12::/16"]`).
    /// - Throws: ``AllowedNetworksError`` with the position of the bad element (or none when the value is
    ///   not a list) and what is wrong with it.
    public static func allowedNetworks(json: JSONValue) throws(AllowedNetworksError) -> [IPNetwork] {
        guard let elements = json.arrayValue else {
            throw AllowedNetworksError(index: nil, message: "must be a list of CIDR blocks, e.g. [\"10.0.0.0/8\"]")
        }
        var networks: [IPNetwork] = []
        for (index, element) in elements.enumerated() {
            guard let text = element.stringValue else {
                throw AllowedNetworksError(index: index, message: "must be a CIDR block string, e.g. \"10.0.0.0/8\"")
            }
            do {
                networks.append(try IPNetwork.parse(text))
            } catch {
                throw AllowedNetworksError(index: index, message: error.message)
            }
        }
        return networks
    }
}

/// A bad `allowed_networks` value: the element at `index` (or the whole value) and why.
public struct AllowedNetworksError: Error, Hashable, Sendable {
    public var index: Int?
    public var message: String

    public init(index: Int?, message: String) {
        self.index = index
        self.message = message
    }

    /// `field` followed by `[index]` when an element is at fault.
    public func field(_ field: String) -> String { index.map { "\(field)[\($0)]" } ?? field }
}
