/// Where `sluice serve` listens: a numeric IPv4 or IPv6 address (or `localhost`) and a TCP port.
///
/// Written `HOST:PORT`, IPv6 in brackets (`[::1]:8686`); port 0 asks the system for a free port (the
/// server prints the one it got). Immutable value.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        precondition((0...65_535).contains(port), "port out of range")
        self.host = host
        self.port = port
    }

    /// The default: loopback only, port 8686.
    public static let standard = ListenAddress(host: "127.0.0.1", port: 8686)

    /// What ``init(parsing:)`` takes, for error messages.
    public static let syntax = "HOST:PORT with a numeric IPv4 address, [IPv6] or localhost, and a port from 0 to 65535"

    /// Parses `HOST:PORT`; `nil` when the text is not of that shape or the port is out of 0…65535.
    public init?(parsing text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
            guard host.contains(":"), host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard host == "localhost" || Self.isIPv4(host) else { return nil }
        }
        // At most 5 digits before converting: a long digit string never overflows.
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCII), let port = Int(portText),
            (0...65_535).contains(port)
        else { return nil }
        self.init(host: String(host), port: port)
    }

    /// Whether only this machine can reach the address (127.0.0.0/8, `::1`, `localhost`).
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.") || host == "0:0:0:0:0:0:0:1"
    }

    /// `HOST:PORT`, IPv6 in brackets.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    private static func isIPv4(_ text: Substring) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { part in
            part.count >= 1 && part.count <= 3 && part.allSatisfy { $0.isASCII && $0.isNumber }
                && Int(part).map { $0 <= 255 } == true
        }
    }
}
