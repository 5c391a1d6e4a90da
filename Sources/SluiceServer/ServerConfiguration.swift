/// The `server:` section of the configuration file: how `sluice serve` listens and the bounds of its HTTP
/// surfaces (docs/server.md lists every key with its default and range).
///
/// ```yaml
/// server:
///   listen: 127.0.0.1:8686
///   body_bytes_max: 16777216
///   connections_max: 1024
///   idle_timeout_ms: 60000
///   request_timeout_ms: 30000
///   drain_timeout_ms: 30000
///   idempotency_window_s: 86400
///   idempotency_ids_max: 1000000
///   retry_after_s: 1
///   tokens:
///     - {name: producer, environment: SLUICE_PRODUCER_TOKEN, scopes: [events:write]}
///     - {name: ops, sha256: 9f86d081884c7d65…, scopes: [admin]}
/// ```
///
/// With `tls: {certificate: PEM, key: PEM}` it serves HTTPS (HTTP/1.1 over TLS) instead of HTTP. Immutable value.
public struct ServerConfiguration: Sendable, Equatable {
    /// The address and port to listen on (`--listen` overrides it).
    public var listen = ListenAddress.standard
    /// The largest request body taken on the ingest route; a larger one is answered 413 without being read
    /// to its end.
    public var bodyByteCountMax = 16 << 20
    /// Connections served at once; a client that connects beyond them is answered 503 with `Retry-After`
    /// and closed (``ConnectionLimit``).
    public var connectionCountMax = 1_024
    /// A connection with no request in progress and nothing read or written for this long is closed.
    public var idleTimeoutMilliseconds = 60_000
    /// The longest a client may take to send a request body; a slower one is answered 408.
    public var requestTimeoutMilliseconds = 30_000
    /// On SIGTERM/SIGINT: how long the pipeline waits for deliveries in flight before it stops anyway
    /// (they are re-sent at the next start).
    public var drainTimeoutMilliseconds = 30_000
    /// How long an event id is remembered: an event with an id seen this recently is answered `duplicate`
    /// and not emitted again. 0 turns idempotency off.
    public var idempotencyWindowSeconds = 86_400
    /// The most ids remembered (about 64 bytes each); past it the oldest are forgotten first.
    public var idempotencyIDCountMax = 1_000_000
    /// The `Retry-After` of a 429 (full ring) or 503 (stopping) reply, in seconds.
    public var retryAfterSeconds = 1
    /// Bearer tokens (as digests) and their scopes. None: every route is open, which `sluice serve` allows
    /// on a loopback address only, unless `--allow-unauthenticated` says otherwise.
    public var tokens: [BearerToken] = []
    /// How the daemon writes its log lines to standard error: `text` (one human line each) or `json` (one
    /// JSON object per line, ``JSONLogHandler``).
    public var logFormat = LogFormat.text
    /// The lowest level logged.
    public var logLevel = "notice"

    public enum LogFormat: String, Sendable, CaseIterable {
        case text, json
    }

    /// The GitHub sources `POST /github/<source>` takes deliveries for.
    public var gitHubSources: [GitHubSource] = []
    /// `server.tls`: serve HTTPS with these PEM files; `nil` serves plain HTTP.
    public var tls: TLSFiles?

    /// The PEM files of `server.tls` (paths as written: relative ones from the working directory, like
    /// `pipeline.ca_file`).
    public struct TLSFiles: Sendable, Equatable {
        /// The certificate chain: the server's certificate first, then its intermediates.
        public var certificatePath: String
        /// The certificate's private key (unencrypted PEM).
        public var keyPath: String

        public init(certificatePath: String, keyPath: String) {
            self.certificatePath = certificatePath
            self.keyPath = keyPath
        }
    }

    /// The keys of `server.tls`.
    public static let tlsKeys = ["certificate", "key"]

    /// The top-level `graphql:` and `queries:` sections (`/graphql`, docs/queries.md).
    public var graphQL = GraphQLConfiguration()

    public init() {}

    /// The keys of the `server` section.
    public static let keys = [
        "listen", "body_bytes_max", "connections_max", "idle_timeout_ms", "request_timeout_ms", "drain_timeout_ms",
        "idempotency_window_s", "idempotency_ids_max", "retry_after_s", "tokens", "github", "log_format", "log_level",
        "tls",
    ]

    /// The range of every integer key, by its field.
    public static let integerRanges: [String: ClosedRange<Int64>] = [
        "server.body_bytes_max": 1_024...(1 << 30),
        "server.connections_max": 1...100_000,
        "server.idle_timeout_ms": 100...86_400_000,
        "server.request_timeout_ms": 100...3_600_000,
        "server.drain_timeout_ms": 0...3_600_000,
        "server.idempotency_window_s": 0...2_592_000,
        "server.idempotency_ids_max": 1...100_000_000,
        "server.retry_after_s": 1...3_600,
    ]
}
