public import Sluice

extension ServerConfiguration {
    /// Reads the `server` section of the configuration at `path` (defaults when there is none).
    /// - Throws: ``SystemCallError`` when the file cannot be read, ``ConfigurationError`` (file, line,
    ///   column, field) for an unknown key, a value of the wrong type or a number out of its range.
    public static func load(path: String) throws -> ServerConfiguration {
        try ServerConfiguration(document: ConfigurationDocument.load(path: path))
    }

    /// Reads the `server` section of `document`.
    public init(document: ConfigurationDocument) throws(ConfigurationError) {
        self.init()
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
                    message: "must be \(ListenAddress.syntax), not \(listen.shown)"
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
                    message: "must be an integer from \(range.lowerBound) to \(range.upperBound), not \(value.shown)"
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
    }
}

extension JSONValue {
    /// The value as an error message shows it: numbers and strings as written (strings quoted, cut at 40
    /// characters), lists and mappings by kind.
    var shown: String {
        switch self {
        case .null: "null"
        case .bool(let value): String(value)
        case .number(let text): text.count > 40 ? String(text.prefix(40)) + "…" : text
        case .string(let text): "'" + (text.count > 40 ? String(text.prefix(40)) + "…" : text) + "'"
        case .array: "a list"
        case .object: "a mapping"
        }
    }
}
