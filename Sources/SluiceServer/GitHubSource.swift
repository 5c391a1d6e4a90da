import Sluice

/// One `server.github` entry: a repository or organisation that POSTs to `/github/<name>`, with its
/// webhook secrets (several during a rotation: a delivery signed with any of them verifies).
///
/// Immutable value. The secrets are needed in clear to compute HMACs; they are never logged or shown.
public struct GitHubSource: Sendable, Equatable {
    /// What the receiver does with an event type outside the twelve it normalizes specifically.
    public enum OtherEvents: String, Sendable, CaseIterable {
        /// Emit it generically as `github.<event>[.<action>]`.
        case accept
        /// Answer 202 and count it (`sluice_github_deliveries_total{verdict="ignored"}`), emit nothing.
        case ignore
    }

    /// The twelve event types with a specific mapping (GitHubNormalizer, README "GitHub deliveries").
    public static let gitOpsEvents: Set<String> = [
        "push", "create", "delete", "pull_request", "deployment", "deployment_status", "release", "check_run",
        "check_suite", "workflow_run", "status", "ping",
    ]

    /// The path segment: `/github/<name>`.
    public var name: String
    /// The webhook secrets, in clear.
    public var secrets: [String]
    /// Whether a delivery with only the legacy `X-Hub-Signature` (HMAC-SHA1) is verified by it.
    public var allowsSHA1 = false
    public var otherEvents = OtherEvents.accept

    public init(name: String, secrets: [String]) {
        precondition(!secrets.isEmpty, "a source has at least one secret")
        self.name = name
        self.secrets = secrets
    }

    /// The keys of one `server.github` entry, and of one of its `secrets`.
    static let keys = ["source", "secrets", "allow_sha1", "other_events"]
    static let secretKeys = ["environment", "value"]
    /// The longest secret taken.
    public static let secretByteCountMax = 4_096
}

extension ServerConfiguration {
    /// Reads `server.github`: a list of `{source, secrets: [{environment: VAR} | {value: TEXT}],
    /// allow_sha1, other_events}`.
    static func gitHubSources(
        _ list: JSONValue,
        document: ConfigurationDocument,
        environment: [String: String]?
    ) throws(ConfigurationError) -> [GitHubSource] {
        guard let entries = list.arrayValue else {
            throw document.error(field: "server.github", message: "must be a list")
        }
        var sources: [GitHubSource] = []
        for (position, entry) in entries.enumerated() {
            let path = "server.github[\(position)]"
            let object = try mapping(entry, path: path, keys: GitHubSource.keys, document: document)
            guard let name = object["source"]?.stringValue, !name.isEmpty, name.utf8.count <= 100,
                name.utf8.allSatisfy({ $0.isURLSegmentSafe })
            else {
                throw document.error(
                    field: "\(path).source",
                    message: "must be 1 to 100 characters of A-Z a-z 0-9 - _ . (it is the URL path /github/<source>)"
                )
            }
            if let first = sources.firstIndex(where: { $0.name == name }) {
                throw document.error(field: "\(path).source", message: "'\(name)' is also server.github[\(first)]'s")
            }
            guard let secretList = object["secrets"]?.arrayValue, !secretList.isEmpty else {
                throw document.error(field: "\(path).secrets", message: "must be a non-empty list")
            }
            var secrets: [String] = []
            for (index, secretEntry) in secretList.enumerated() {
                secrets.append(
                    try secret(
                        secretEntry,
                        path: "\(path).secrets[\(index)]",
                        document: document,
                        environment: environment
                    )
                )
            }
            var source = GitHubSource(name: name, secrets: secrets)
            if let value = object["allow_sha1"] {
                guard case .bool(let allows) = value else {
                    throw document.error(
                        field: "\(path).allow_sha1",
                        message: "must be true or false, not \(value.text)"
                    )
                }
                source.allowsSHA1 = allows
            }
            if let value = object["other_events"] {
                guard let text = value.stringValue, let choice = GitHubSource.OtherEvents(rawValue: text) else {
                    throw document.error(
                        field: "\(path).other_events",
                        message: "must be accept or ignore, not \(value.text)"
                    )
                }
                source.otherEvents = choice
            }
            sources.append(source)
        }
        return sources
    }

    private static func secret(
        _ entry: JSONValue,
        path: String,
        document: ConfigurationDocument,
        environment: [String: String]?
    ) throws(ConfigurationError) -> String {
        let object = try mapping(entry, path: path, keys: GitHubSource.secretKeys, document: document)
        let secret: String
        switch (object["environment"], object["value"]) {
        case (.some(let variable), nil):
            guard let name = variable.stringValue, !name.isEmpty else {
                throw document.error(field: "\(path).environment", message: "must name an environment variable")
            }
            guard let environment else { return "placeholder" }  // a check only: the variable is not read
            guard let value = environment[name] else {
                throw document.error(field: "\(path).environment", message: "the variable \(name) is not set")
            }
            secret = value
        case (nil, .some(let value)):
            guard let text = value.stringValue else {
                throw document.error(field: "\(path).value", message: "must be a string")
            }
            secret = text
        default:
            throw document.error(field: path, message: "must have exactly one of environment and value")
        }
        guard (1...GitHubSource.secretByteCountMax).contains(secret.utf8.count) else {
            throw document.error(
                field: path,
                message:
                    "the secret must be from 1 to \(GitHubSource.secretByteCountMax) bytes, not \(secret.utf8.count)"
            )
        }
        return secret
    }

    /// `value` as a mapping whose keys are all in `keys`.
    static func mapping(
        _ value: JSONValue,
        path: String,
        keys: [String],
        document: ConfigurationDocument
    ) throws(ConfigurationError) -> JSONObject {
        guard let object = value.objectValue else { throw document.error(field: path, message: "must be a mapping") }
        if let key = ConfigurationKeys.firstUnknownKey(in: object, known: keys) {
            throw document.error(
                field: "\(path).\(key)",
                message: ConfigurationKeys.unknownKeyMessage(key, known: keys),
                isKey: true
            )
        }
        return object
    }
}

extension UInt8 {
    fileprivate var isURLSegmentSafe: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self)
            || self == UInt8(ascii: "-") || self == UInt8(ascii: "_") || self == UInt8(ascii: ".")
    }
}
