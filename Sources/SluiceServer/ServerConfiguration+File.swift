public import Sluice

extension ServerConfiguration {
    /// Reads the `server` section of the configuration at `path` (defaults when there is none).
    /// - Throws: ``SystemCallError`` when the file cannot be read, ``ConfigurationError`` (file, line,
    ///   column, field) for an unknown key, a value of the wrong type or a number out of its range.
    public static func load(path: String, environment: [String: String]) throws -> ServerConfiguration {
        try ServerConfiguration(document: ConfigurationDocument.load(path: path), environment: environment)
    }

    /// Checks the `server` section of the configuration at `path` exactly as ``load(path:environment:)``
    /// does — unknown keys, types, ranges — without reading the environment variables it names (`sluice run`
    /// ignores the section but must not accept a mistake in it that `sluice serve` would refuse).
    /// - Throws: ``SystemCallError``, ``ConfigurationError`` as ``load(path:environment:)``.
    public static func check(path: String) throws {
        _ = try ServerConfiguration(document: ConfigurationDocument.load(path: path), environment: nil)
    }

    /// Reads the `server` section of `document`; tokens named by `environment` keys are read from
    /// `environment` and kept as their SHA-256 digests. With `environment` `nil` the variables are not read
    /// (a check only: their tokens and secrets are placeholders).
    public init(document: ConfigurationDocument, environment: [String: String]? = [:]) throws(ConfigurationError) {
        self.init()
        graphQL = try GraphQLConfiguration(document: document)
        guard let section = document.json["server"] else { return }
        guard let object = section.objectValue else {
            throw document.error(field: "server", message: "must be a mapping")
        }
        if let key = ConfigurationKeys.firstUnknownKey(in: object, known: Self.keys) {
            throw document.error(
                field: "server.\(key)",
                message: ConfigurationKeys.unknownKeyMessage(key, known: Self.keys),
                isKey: true
            )
        }
        if let listen = object["listen"] {
            guard let text = listen.stringValue, let address = ListenAddress(parsing: text) else {
                throw document.error(
                    field: "server.listen",
                    message: "must be \(ListenAddress.syntax), not \(listen.text)"
                )
            }
            self.listen = address
        }
        func integer(_ key: String) throws(ConfigurationError) -> Int? {
            guard let value = object[key] else { return nil }
            let field = "server.\(key)"
            guard let range = Self.integerRanges[field] else {
                preconditionFailure("\(field) has no range in ServerConfiguration.integerRanges")
            }
            guard let number = value.int64Value, range.contains(number) else {
                throw document.error(
                    field: field,
                    message: "must be an integer from \(range.lowerBound) to \(range.upperBound), not \(value.text)"
                )
            }
            return Int(number)  // within the range, which fits in Int
        }
        if let value = try integer("body_bytes_max") { bodyByteCountMax = value }
        if let value = try integer("connections_max") { connectionCountMax = value }
        if let value = try integer("idle_timeout_ms") { idleTimeoutMilliseconds = value }
        if let value = try integer("request_timeout_ms") { requestTimeoutMilliseconds = value }
        if let value = try integer("drain_timeout_ms") { drainTimeoutMilliseconds = value }
        if let value = try integer("idempotency_window_s") { idempotencyWindowSeconds = value }
        if let value = try integer("idempotency_ids_max") { idempotencyIDCountMax = value }
        if let value = try integer("retry_after_s") { retryAfterSeconds = value }
        if let list = object["tokens"] {
            tokens = try Self.tokens(list, document: document, environment: environment)
        }
        if let value = object["log_format"] {
            guard let text = value.stringValue, let format = LogFormat(rawValue: text) else {
                throw document.error(field: "server.log_format", message: "must be text or json, not \(value.text)")
            }
            logFormat = format
        }
        if let value = object["log_level"] {
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard let text = value.stringValue, levels.contains(text) else {
                throw document.error(
                    field: "server.log_level",
                    message: "must be one of \(levels.joined(separator: ", ")), not \(value.text)"
                )
            }
            logLevel = text
        }
        if let list = object["github"] {
            gitHubSources = try Self.gitHubSources(list, document: document, environment: environment)
        }
        if let value = object["tls"] {
            let tls = try Self.mapping(value, path: "server.tls", keys: Self.tlsKeys, document: document)
            func path(_ key: String) throws(ConfigurationError) -> String {
                guard let value = tls[key] else {
                    throw document.error(field: "server.tls", message: "needs \(key) (the path of a PEM file)")
                }
                guard let text = value.stringValue, !text.isEmpty else {
                    throw document.error(
                        field: "server.tls.\(key)",
                        message: "must be the path of a PEM file, not \(value.text)"
                    )
                }
                return text
            }
            self.tls = TLSFiles(certificatePath: try path("certificate"), keyPath: try path("key"))
        }
    }
}

extension ServerConfiguration {
    /// Reads `server.tokens`: each entry a `name`, exactly one of `sha256` (the token's digest, 64 hex
    /// digits) or `environment` (a variable holding the token, at least 16 bytes), and a non-empty list of
    /// `scopes`.
    static func tokens(
        _ list: JSONValue,
        document: ConfigurationDocument,
        environment: [String: String]?
    ) throws(ConfigurationError) -> [BearerToken] {
        guard let entries = list.arrayValue else {
            throw document.error(field: "server.tokens", message: "must be a list")
        }
        var tokens: [BearerToken] = []
        for (position, entry) in entries.enumerated() {
            let path = "server.tokens[\(position)]"
            guard let object = entry.objectValue else {
                throw document.error(field: path, message: "must be a mapping")
            }
            if let key = ConfigurationKeys.firstUnknownKey(in: object, known: BearerToken.keys) {
                throw document.error(
                    field: "\(path).\(key)",
                    message: ConfigurationKeys.unknownKeyMessage(key, known: BearerToken.keys),
                    isKey: true
                )
            }
            guard let name = object["name"]?.stringValue, !name.isEmpty else {
                throw document.error(field: "\(path).name", message: "must be a non-empty string")
            }
            if let first = tokens.firstIndex(where: { $0.name == name }) {
                throw document.error(field: "\(path).name", message: "'\(name)' is also server.tokens[\(first)]'s name")
            }
            let digest = try tokenDigest(object, path: path, document: document, environment: environment)
            guard let scopeList = object["scopes"]?.arrayValue, !scopeList.isEmpty else {
                throw document.error(field: "\(path).scopes", message: "must be a non-empty list of scopes")
            }
            var scopes: Set<BearerToken.Scope> = []
            for (index, scope) in scopeList.enumerated() {
                guard let text = scope.stringValue, let value = BearerToken.Scope(rawValue: text) else {
                    let known = BearerToken.Scope.allCases.map(\.rawValue).joined(separator: ", ")
                    throw document.error(
                        field: "\(path).scopes[\(index)]",
                        message: "must be one of \(known), not \(scope.text)"
                    )
                }
                scopes.insert(value)
            }
            tokens.append(BearerToken(name: name, digest: digest, scopes: scopes))
        }
        return tokens
    }

    private static func tokenDigest(
        _ object: JSONObject,
        path: String,
        document: ConfigurationDocument,
        environment: [String: String]?
    ) throws(ConfigurationError) -> [UInt8] {
        switch (object["sha256"], object["environment"]) {
        case (.some(let value), nil):
            guard let text = value.stringValue, let digest = hexBytes(text), digest.count == SHA256Digest.byteCount
            else {
                throw document.error(
                    field: "\(path).sha256",
                    message:
                        "must be the token's SHA-256 digest as 64 hex digits (e.g. from `printf %s TOKEN | sha256sum`)"
                )
            }
            return digest
        case (nil, .some(let value)):
            guard let variable = value.stringValue, !variable.isEmpty else {
                throw document.error(field: "\(path).environment", message: "must name an environment variable")
            }
            guard let environment else { return SHA256Digest.hash(Array(variable.utf8)) }  // a check only
            guard let token = environment[variable] else {
                throw document.error(field: "\(path).environment", message: "the variable \(variable) is not set")
            }
            guard (BearerToken.byteCountMin...BearerToken.byteCountMax).contains(token.utf8.count) else {
                throw document.error(
                    field: "\(path).environment",
                    message:
                        "the token in \(variable) must be from \(BearerToken.byteCountMin) to \(BearerToken.byteCountMax) bytes, not \(token.utf8.count)"
                )
            }
            return SHA256Digest.hash(Array(token.utf8))
        default:
            throw document.error(field: path, message: "must have exactly one of sha256 and environment")
        }
    }

    /// `nil` unless `text` is an even number of hex digits.
    static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count.isMultiple(of: 2) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
