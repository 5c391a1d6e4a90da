/// An IPv4 or IPv6 address, as the kernel connects to it (the bytes of a `sockaddr_in`/`sockaddr_in6`).
///
/// Text forms: ``init(_:)`` parses what `inet_pton` accepts (dotted quad with exactly four decimal parts;
/// IPv6 with at most one `::` and an optional dotted-quad tail); ``parseInetAton(_:)`` parses the legacy
/// forms `getaddrinfo`/`inet_aton` also accept for IPv4 (`127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`).
/// The SSRF guard never relies on either: it classifies the address the resolver produced, whatever text
/// the URL held. Pure value.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Family: Hashable, Sendable {
        case v4
        case v6
    }

    public let family: Family
    /// IPv6: the first 8 bytes, big-endian. IPv4: 0.
    public let high: UInt64
    /// IPv6: the last 8 bytes, big-endian. IPv4: the address in the low 32 bits.
    public let low: UInt64

    public init(ipv4: UInt32) {
        family = .v4
        high = 0
        low = UInt64(ipv4)
    }

    public init(ipv6High high: UInt64, low: UInt64) {
        family = .v6
        self.high = high
        self.low = low
    }

    /// From network-order bytes: 4 for IPv4, 16 for IPv6; `nil` for any other count.
    public init?<Bytes: Collection<UInt8>>(bytes: Bytes) {
        var value: UInt64 = 0
        var high: UInt64 = 0
        switch bytes.count {
        case 4:
            for byte in bytes { value = value << 8 | UInt64(byte) }
            self.init(ipv4: UInt32(value))
        case 16:
            for (position, byte) in bytes.enumerated() {
                value = value << 8 | UInt64(byte)
                if position == 7 {
                    high = value
                    value = 0
                }
            }
            self.init(ipv6High: high, low: value)
        default:
            return nil
        }
    }

    /// The IPv4 value; `nil` for IPv6.
    public var ipv4Value: UInt32? { family == .v4 ? UInt32(truncatingIfNeeded: low) : nil }

    /// Bit count: 32 or 128.
    public var bitCount: Int { family == .v4 ? 32 : 128 }

    /// Parses `text` as `inet_pton` does (IPv4 first, then IPv6); `nil` when it is neither.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        if let value = Self.parseDottedQuad(bytes[...]) {
            self.init(ipv4: value)
        } else if let (high, low) = Self.parseIPv6(bytes) {
            self.init(ipv6High: high, low: low)
        } else {
            return nil
        }
    }

    /// Parses an IPv4 address as `inet_aton` does: one to four parts, each decimal, octal (leading `0`) or
    /// hexadecimal (`0x`); the last part fills the remaining bytes (`127.1` is 127.0.0.1, `2130706433` is
    /// 127.0.0.1). `nil` when `text` is not such an address.
    public static func parseInetAton(_ text: String) -> IPAddress? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var values: [UInt64] = []
        for part in parts {
            guard let value = parseAtonPart(Substring(part)) else { return nil }
            values.append(value)
        }
        var address: UInt64 = 0
        for (position, value) in values.dropLast().enumerated() {
            guard value <= 0xFF else { return nil }
            address |= value << (24 - 8 * position)
        }
        let lastBits = 32 - 8 * (values.count - 1)
        guard let last = values.last, last < (1 << lastBits) else { return nil }
        return IPAddress(ipv4: UInt32(address | last))
    }

    private static func parseAtonPart(_ part: Substring) -> UInt64? {
        var digits = part
        var radix: UInt64 = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            radix = 16
            digits = digits.dropFirst(2)
        } else if digits.count > 1, digits.hasPrefix("0") {
            radix = 8
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty || radix == 16 else { return nil }
        var value: UInt64 = 0
        for character in digits {
            guard let digit = character.hexDigitValue, UInt64(digit) < radix else { return nil }
            value = value * radix + UInt64(digit)
            guard value <= UInt64(UInt32.max) else { return nil }
        }
        return value
    }

    /// `inet_pton(AF_INET)`: exactly four decimal parts 0...255, no leading zeros.
    static func parseDottedQuad(_ bytes: ArraySlice<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var partCount = 0
        var part: UInt32 = 0
        var digitCount = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digitCount > 0, partCount < 3 else { return nil }
                value = value << 8 | part
                partCount += 1
                part = 0
                digitCount = 0
            } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                guard !(digitCount > 0 && part == 0) else { return nil }  // a leading zero
                part = part * 10 + UInt32(byte - UInt8(ascii: "0"))
                digitCount += 1
                guard part <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digitCount > 0, partCount == 3 else { return nil }
        return value << 8 | part
    }

    /// `inet_pton(AF_INET6)`: up to eight groups of 1–4 hex digits, at most one `::`, an optional dotted-quad
    /// tail in place of the last two groups. No zone (`%eth0`).
    static func parseIPv6(_ bytes: [UInt8]) -> (UInt64, UInt64)? {
        var groups: [UInt16] = []
        var gapIndex: Int? = nil
        var position = 0
        if bytes.starts(with: [UInt8(ascii: ":"), UInt8(ascii: ":")]) {
            gapIndex = 0
            position = 2
            if position == bytes.count { return (0, 0) }
        } else if bytes.first == UInt8(ascii: ":") {
            return nil
        }
        while position < bytes.count {
            var end = position
            while end < bytes.count, bytes[end] != UInt8(ascii: ":") { end += 1 }
            let piece = bytes[position..<end]
            if piece.contains(UInt8(ascii: ".")) {
                guard end == bytes.count, groups.count <= 6, let quad = parseDottedQuad(piece) else { return nil }
                groups.append(UInt16(quad >> 16))
                groups.append(UInt16(quad & 0xFFFF))
                position = end
                break
            }
            guard (1...4).contains(piece.count) else { return nil }
            var group: UInt16 = 0
            for byte in piece {
                guard let digit = Character(UnicodeScalar(byte)).hexDigitValue else { return nil }
                group = group << 4 | UInt16(digit)
            }
            groups.append(group)
            guard groups.count <= 8 else { return nil }
            position = end
            if position == bytes.count { break }
            position += 1  // the ':'
            if position < bytes.count, bytes[position] == UInt8(ascii: ":") {
                guard gapIndex == nil else { return nil }
                gapIndex = groups.count
                position += 1
            } else if position == bytes.count {
                return nil  // a trailing single ':'
            }
        }
        if let gapIndex {
            guard groups.count < 8 else { return nil }
            groups.insert(contentsOf: repeatElement(0, count: 8 - groups.count), at: gapIndex)
        }
        guard groups.count == 8 else { return nil }
        let high = groups[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let low = groups[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return (high, low)
    }

    /// Dotted quad, or RFC 5952 text for IPv6 (lower-case hex, the longest run of two or more zero groups as
    /// `::`, IPv4-mapped addresses as `::ffff:a.b.c.d`).
    public var description: String {
        if let value = ipv4Value { return Self.dottedQuad(value) }
        if high == 0, low >> 32 == 0xFFFF { return "::ffff:" + Self.dottedQuad(UInt32(truncatingIfNeeded: low)) }
        let groups = (0..<8).map { index -> UInt16 in
            let word = index < 4 ? high : low
            return UInt16(truncatingIfNeeded: word >> (48 - 16 * (index % 4)))
        }
        var bestStart = -1
        var bestCount = 1
        var runStart = -1
        for index in 0...8 {
            if index < 8, groups[index] == 0 {
                if runStart < 0 { runStart = index }
            } else if runStart >= 0 {
                if index - runStart > bestCount {
                    bestStart = runStart
                    bestCount = index - runStart
                }
                runStart = -1
            }
        }
        func hex(_ range: Range<Int>) -> String {
            range.map { String(groups[$0], radix: 16) }.joined(separator: ":")
        }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestCount)..<8)
    }

    static func dottedQuad(_ value: UInt32) -> String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }
}

/// A CIDR block (`10.0.0.0/8`, `fc00::/7`): an address and a prefix length, host bits zero.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    /// - Precondition: `prefixLength` is within the family's bit count and the host bits are zero.
    public init(_ address: IPAddress, prefixLength: Int) {
        precondition(prefixLength >= 0, "negative prefix length")
        precondition(prefixLength <= address.bitCount, "prefix longer than the address")
        self.address = address
        self.prefixLength = prefixLength
        precondition(Self.masked(address, prefixLength) == address, "host bits set in \(address)/\(prefixLength)")
    }

    /// Parses `ADDRESS/PREFIX` or a bare address (a /32 or /128).
    /// - Throws: a message naming what is wrong: not an address, a prefix length outside its range, host
    ///   bits set (with the network it probably means).
    public static func parse(_ text: String) throws(IPNetworkParseError) -> IPNetwork {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else {
            throw IPNetworkParseError(
                message: "'\(text)' is not a CIDR block (an IPv4 or IPv6 address, then /PREFIX, e.g. 10.0.0.0/8)"
            )
        }
        var prefixLength = address.bitCount
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = Int(digits), value <= address.bitCount
            else {
                throw IPNetworkParseError(
                    message: "'\(text)': the prefix length must be an integer in 0...\(address.bitCount)"
                )
            }
            prefixLength = value
        }
        let network = masked(address, prefixLength)
        guard network == address else {
            throw IPNetworkParseError(
                message: "'\(text)' has host bits set (the block is \(network)/\(prefixLength))"
            )
        }
        return IPNetwork(address, prefixLength: prefixLength)
    }

    /// Whether `candidate` is in this block (always `false` across families).
    public func contains(_ candidate: IPAddress) -> Bool {
        candidate.family == address.family && Self.masked(candidate, prefixLength) == address
    }

    public var description: String { "\(address)/\(prefixLength)" }

    static func masked(_ address: IPAddress, _ prefixLength: Int) -> IPAddress {
        func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : bits >= 64 ? .max : ~(UInt64.max >> bits) }
        switch address.family {
        case .v4:
            return IPAddress(ipv4: UInt32(truncatingIfNeeded: address.low & (mask(prefixLength + 32))))
        case .v6:
            return IPAddress(ipv6High: address.high & mask(prefixLength), low: address.low & mask(prefixLength - 64))
        }
    }
}

/// A CIDR block that did not parse, and why.
public struct IPNetworkParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String

    public init(message: String) { self.message = message }
    public var description: String { message }
}
