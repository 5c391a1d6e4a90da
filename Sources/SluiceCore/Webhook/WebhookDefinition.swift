/// A configured webhook (spec §c.1): what it receives (its ``WebhookSubscription``, compiled to a trigger as
/// §c.2), where it goes, what it sends and how it signs.
///
/// Read from the same JSON entries as the trigger configuration's `webhooks` list, with these fields on top
/// of the subscription's (`name`, `event_type`, `branch_scope`, `node_kind`, `active`):
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `url` | string | required | `http://` or `https://` target |
/// | `description` | string | none | |
/// | `kind` | `standard` \| `custom` \| `transform` | `standard` | standard body always signed; standard body signed if keyed; a transform's output |
/// | `validate_certificates` | bool | `true` | TLS certificate and host verification (Infrahub's default is off) |
/// | `shared_key` | string | none (required for `standard`) | the signing key |
/// | `shared_keys` | list of strings | none | several active keys (rotation): one signature each |
/// | `signature_key_mode` | `infrahub` \| `standard` | `infrahub` | raw UTF-8 key, or `whsec_` + base64 |
/// | `headers` | list of `{key, value}` or `{key, environment}` | `[]` | custom headers |
/// | `transform` | `{command: [argv…], timeout_seconds}` | required for `transform` | the transform command |
///
/// Environment-sourced header values are resolved at load from the `environment` passed in (Core reads no
/// environment itself); a missing variable is a configuration error naming the webhook and the header.
public struct WebhookDefinition: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// The standard body (§c.4), always signed: a key is required (Infrahub's `CoreStandardWebhook`).
        case standard
        /// The standard body; signed only when a key is set (`CoreCustomWebhook` without a transformation).
        case custom
        /// A transform command's output as the body; signed only when a key is set (`CoreCustomWebhook`
        /// with a transformation).
        case transform
    }

    /// A custom header (Infrahub `CoreStaticKeyValue` / `CoreEnvKeyValue`), its value resolved at load.
    public struct Header: Sendable, Equatable {
        public enum Source: Sendable, Equatable {
            case value
            /// The value came from this environment variable (redacted in logs, spec §c.6).
            case environment(String)
        }
        public var name: String
        public var value: String
        public var source: Source

        public init(name: String, value: String, source: Source = .value) {
            self.name = name
            self.value = value
            self.source = source
        }
    }

    /// A transform command: run once per delivery with the standard body on stdin; stdout is the new body.
    public struct Transform: Sendable, Equatable {
        /// `argv`, the first element looked up in `PATH`.
        public var command: [String]
        public var timeout: Duration

        public init(command: [String], timeout: Duration = .seconds(10)) {
            self.command = command
            self.timeout = timeout
        }
    }

    public var subscription: WebhookSubscription
    public var url: String
    public var description: String?
    public var kind: Kind = .standard
    public var validateCertificates = true
    public var signatureKeyMode: WebhookSigningKey.Mode = .infrahub
    /// The active keys, in configuration order; empty means unsigned.
    public var keys: [WebhookSigningKey] = []
    /// Custom headers, duplicates (case-insensitive) resolved last-wins as Infrahub does.
    public var headers: [Header] = []
    public var transform: Transform?
    /// `allowed_networks`: networks this webhook may connect to beyond the pipeline's (SSRF guard,
    /// ``AddressPolicy``).
    public var allowedNetworks: [IPNetwork] = []

    public var name: String { subscription.name }
    /// Whether requests carry `webhook-id`, `webhook-timestamp` and `webhook-signature`.
    public var signs: Bool { !keys.isEmpty }

    public init(subscription: WebhookSubscription, url: String) {
        self.subscription = subscription
        self.url = url
    }

    /// The trigger this webhook compiles to (spec §c.2, through ``WebhookSubscription/trigger(defaultBranch:)``).
    public func trigger(defaultBranch: String) -> TriggerDefinition {
        subscription.trigger(defaultBranch: defaultBranch)
    }

    /// Header names the HTTP layer writes from the request itself (framing and routing); configuring them
    /// is a load error, as the request encoder refuses them.
    public static let transportHeaderNames: Set<String> = ["host", "content-length", "transfer-encoding", "connection"]

    /// Header names Sluice sets itself after the custom headers; a custom header cannot replace them.
    public static let signatureHeaderNames = ["webhook-id", "webhook-timestamp", "webhook-signature"]
}
