import Sluice

/// A bearer token of `server.tokens`, kept only as its SHA-256 digest, with what it may do.
///
/// Immutable value. The token itself is never stored or logged: one given in the environment is hashed
/// when the configuration is read, one written in the file is written there as its digest.
public struct BearerToken: Sendable, Equatable {
    /// What a token may do. `admin` may do everything.
    public enum Scope: String, Sendable, CaseIterable {
        /// `POST /api/events`.
        case eventsWrite = "events:write"
        /// Reading events (the query routes, when they land).
        case eventsRead = "events:read"
        /// `GET /metrics`.
        case metricsRead = "metrics:read"
        /// Everything, the management API included.
        case admin
    }

    /// The entry's name (for logs and errors; never the token).
    public var name: String
    /// SHA-256 of the token's UTF-8 bytes.
    public var digest: [UInt8]
    public var scopes: Set<Scope>

    public init(name: String, digest: [UInt8], scopes: Set<Scope>) {
        precondition(digest.count == SHA256Digest.byteCount, "a token digest is a SHA-256 digest")
        self.name = name
        self.digest = digest
        self.scopes = scopes
    }

    /// Whether the token may use a route that needs `scope`.
    public func allows(_ scope: Scope) -> Bool { scopes.contains(scope) || scopes.contains(.admin) }

    /// The shortest token taken from the environment: shorter ones are guessable.
    public static let byteCountMin = 16
    /// The longest token read from a request (a longer `Authorization` value is refused unhashed).
    public static let byteCountMax = 4_096

    /// The keys of one `server.tokens` entry.
    static let keys = ["name", "sha256", "environment", "scopes"]
}

/// The tokens of a server, and the check of a request's `Authorization` header against them.
///
/// Immutable; any thread.
struct TokenCheck: Sendable {
    let tokens: [BearerToken]

    enum Verdict: Equatable {
        /// No tokens are configured: every route is open (allowed on loopback only, or by an explicit flag).
        case open
        case allowed(name: String)
        /// No usable `Authorization: Bearer` header, or a token that matches none: 401.
        case unauthenticated(String)
        /// A known token without the scope: 403.
        case forbidden(name: String)
    }

    /// Checks `authorization` (the header's value, if any) for `scope`. The presented token is hashed once
    /// and compared with every configured digest in constant time, without stopping at a match.
    func check(authorization: String?, scope: BearerToken.Scope) -> Verdict {
        guard !tokens.isEmpty else { return .open }
        guard let authorization else { return .unauthenticated("an Authorization: Bearer token is required") }
        let bytes = Array(authorization.utf8)
        let prefix = Array("bearer ".utf8)
        guard bytes.count > prefix.count, bytes.count <= BearerToken.byteCountMax + prefix.count,
            zip(bytes, prefix).allSatisfy({ ($0 | 0x20) == $1 })
        else { return .unauthenticated("the Authorization header must be 'Bearer TOKEN'") }
        let digest = SHA256Digest.hash(Array(bytes[prefix.count...]))
        var match: BearerToken?
        for token in tokens where SHA256Digest.equalInConstantTime(token.digest, digest) && match == nil {
            match = token
        }
        guard let match else { return .unauthenticated("the token is not valid") }
        return match.allows(scope) ? .allowed(name: match.name) : .forbidden(name: match.name)
    }
}
