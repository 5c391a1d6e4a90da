/// An `http://` or `https://` URL split the way a request needs it: scheme, host, port and the
/// request target (path and query, `/` when empty). User information and fragments are refused.
public struct HTTPURL: Sendable, Hashable, CustomStringConvertible {
    public var isTLS: Bool
    /// A host name, an IPv4 address, or an IPv6 address without its brackets.
    public var host: String
    public var port: UInt16
    /// Path and query, starting with `/`.
    public var target: String

    /// Parses `text`; the error message says what is wrong.
    public init(_ text: String) throws(HTTPURLError) {
        let bytes = Array(text.utf8)
        let rest: ArraySlice<UInt8>
        if bytes.starts(with: Array("http://".utf8)) {
            isTLS = false
            rest = bytes[7...]
        } else if bytes.starts(with: Array("https://".utf8)) {
            isTLS = true
            rest = bytes[8...]
        } else {
            throw HTTPURLError(url: text, message: "must start with http:// or https://")
        }
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? rest.endIndex
        let authority = rest[rest.startIndex..<authorityEnd]
        guard !authority.isEmpty else { throw HTTPURLError(url: text, message: "has no host") }
        guard !authority.contains(UInt8(ascii: "@")) else {
            throw HTTPURLError(url: text, message: "user information in URLs is not supported")
        }
        guard !bytes.contains(UInt8(ascii: "#")) else {
            throw HTTPURLError(url: text, message: "a fragment (#…) is never sent; remove it")
        }
        guard !bytes.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw HTTPURLError(url: text, message: "contains spaces or control characters")
        }
        var hostBytes = authority
        var portBytes: ArraySlice<UInt8> = []
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else {
                throw HTTPURLError(url: text, message: "an IPv6 host needs its closing ]")
            }
            hostBytes = authority[(authority.startIndex + 1)..<close]
            let after = authority[(close + 1)...]
            if !after.isEmpty {
                guard after.first == UInt8(ascii: ":") else {
                    throw HTTPURLError(url: text, message: "unexpected characters after the IPv6 host")
                }
                portBytes = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            hostBytes = authority[authority.startIndex..<colon]
            portBytes = authority[(colon + 1)...]
        }
        guard !hostBytes.isEmpty else { throw HTTPURLError(url: text, message: "has no host") }
        host = String(decoding: hostBytes, as: UTF8.self)
        if portBytes.isEmpty {
            port = isTLS ? 443 : 80
        } else {
            guard portBytes.count <= 5, portBytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let value = UInt16(String(decoding: portBytes, as: UTF8.self)), value > 0
            else {
                throw HTTPURLError(url: text, message: "the port must be a number from 1 to 65535")
            }
            port = value
        }
        let path = rest[authorityEnd...]
        target =
            path.isEmpty ? "/" : (path.first == UInt8(ascii: "?") ? "/" : "") + String(decoding: path, as: UTF8.self)
    }

    /// `host` or `host:port` as the `Host` header carries it (default ports omitted, IPv6 bracketed).
    public var authority: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (isTLS ? 443 : 80) ? name : "\(name):\(port)"
    }

    public var description: String { "\(isTLS ? "https" : "http")://\(authority)\(target)" }
}

/// A URL that cannot be sent to, and why. The description shows the URL redacted
/// (``HTTPURL/redacted(_:)``): configuration errors are printed and logged, and URLs carry secrets.
public struct HTTPURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var url: String
    public var message: String
    public var description: String { "URL '\(HTTPURL.redacted(url))' \(message)" }
}
