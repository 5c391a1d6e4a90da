extension WebhookDefinition {
    /// Reads one webhook entry at `path` (e.g. `webhooks[3]`); `environment` supplies environment-sourced
    /// header values. Errors name the field, and for headers the webhook and the header.
    public init(json: JSONValue, path: String, environment: [String: String]) throws(TriggerDefinitionError) {
        let subscription = try WebhookSubscription(json: json, path: path)
        guard let url = json["url"]?.stringValue, !url.isEmpty else {
            throw TriggerDefinitionError(path: "\(path).url", message: "required, a non-empty string")
        }
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.utf8.count > 8 else {
            throw TriggerDefinitionError(path: "\(path).url", message: "must be an http:// or https:// URL")
        }
        self.init(subscription: subscription, url: url)
        let reader = Reader(json: json, path: path, webhook: subscription.name)
        description = try reader.optionalString("description")
        if let text = try reader.optionalString("kind") {
            guard let parsed = Kind(rawValue: text) else {
                throw reader.error("kind", "must be standard, custom or transform")
            }
            kind = parsed
        }
        validateCertificates = try reader.optionalBool("validate_certificates") ?? true
        if let text = try reader.optionalString("signature_key_mode") {
            guard let parsed = WebhookSigningKey.Mode(rawValue: text) else {
                throw reader.error("signature_key_mode", "must be infrahub or standard")
            }
            signatureKeyMode = parsed
        }
        keys = try reader.keys(mode: signatureKeyMode)
        headers = try reader.headers(environment: environment)
        transform = try reader.transform()
        if let networks = json["allowed_networks"], networks != .null {
            do throws(AllowedNetworksError) {
                allowedNetworks = try AddressPolicy.allowedNetworks(json: networks)
            } catch {
                throw reader.error(error.field("allowed_networks"), error.message)
            }
        }
        try validate(reader)
    }

    /// The rules between fields.
    private func validate(_ reader: Reader) throws(TriggerDefinitionError) {
        switch kind {
        case .standard:
            guard signs else { throw reader.error("shared_key", "required for a standard webhook") }
        case .custom: break
        case .transform:
            guard transform != nil else { throw reader.error("transform", "required for a transform webhook") }
        }
        if kind != .transform, transform != nil {
            throw reader.error("transform", "only a transform webhook runs a transform")
        }
        if signs {
            for (index, header) in headers.enumerated()
            where Self.signatureHeaderNames.contains(header.name.lowercased()) {
                throw reader.error(
                    "headers[\(index)].key",
                    "\(header.name) is set by signing and cannot be overridden (webhook '\(name)')"
                )
            }
        }
    }
}

/// Field readers for one webhook entry, errors carrying the entry's path.
private struct Reader {
    let json: JSONValue
    let path: String
    let webhook: String

    func error(_ field: String, _ message: String) -> TriggerDefinitionError {
        TriggerDefinitionError(path: "\(path).\(field)", message: message)
    }

    func optionalString(_ key: String) throws(TriggerDefinitionError) -> String? {
        switch json[key] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw error(key, "must be a string")
        }
    }

    func optionalBool(_ key: String) throws(TriggerDefinitionError) -> Bool? {
        switch json[key] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw error(key, "must be true or false")
        }
    }

    func keys(mode: WebhookSigningKey.Mode) throws(TriggerDefinitionError) -> [WebhookSigningKey] {
        var secrets: [(String, String)] = []
        if let single = try optionalString("shared_key"), !single.isEmpty { secrets.append(("shared_key", single)) }
        switch json["shared_keys"] {
        case nil, .null?: break
        case .array(let elements)?:
            for (index, element) in elements.enumerated() {
                guard let text = element.stringValue else {
                    throw error("shared_keys[\(index)]", "must be a string")
                }
                secrets.append(("shared_keys[\(index)]", text))
            }
        default: throw error("shared_keys", "must be a list of strings")
        }
        var keys: [WebhookSigningKey] = []
        for (field, secret) in secrets {
            do {
                keys.append(try WebhookSigningKey(mode: mode, secret: secret))
            } catch {
                throw self.error(field, "\(error.message) (signature_key_mode \(mode.rawValue))")
            }
        }
        return keys
    }

    func headers(environment: [String: String]) throws(TriggerDefinitionError) -> [WebhookDefinition.Header] {
        guard let list = json["headers"], list != .null else { return [] }
        guard let elements = list.arrayValue else { throw error("headers", "must be a list of {key, value}") }
        var headers: [WebhookDefinition.Header] = []
        for (index, element) in elements.enumerated() {
            let field = "headers[\(index)]"
            guard let entry = element.objectValue else {
                throw error(field, "must be {key, value} or {key, environment}")
            }
            try ConfigurationKeys.check(entry, known: ["key", "value", "environment"], path: "\(path).\(field)")
            guard let name = element["key"]?.stringValue, HTTPToken.isValid(name) else {
                throw error("\(field).key", "required, an HTTP header name (letters, digits, !#$%&'*+-.^_`|~)")
            }
            let header: WebhookDefinition.Header
            switch (element["value"], element["environment"]) {
            case (.string(let value)?, nil):
                header = .init(name: name, value: value)
            case (nil, .string(let variable)?):
                guard let value = environment[variable] else {
                    throw error(
                        "\(field).environment",
                        "environment variable \(variable) is not set (webhook '\(webhook)', header '\(name)')"
                    )
                }
                header = .init(name: name, value: value, source: .environment(variable))
            default:
                throw error(field, "needs exactly one of value (a string) or environment (a variable name)")
            }
            guard !WebhookDefinition.transportHeaderNames.contains(name.lowercased()) else {
                throw error(
                    "\(field).key",
                    "\(name) is set by the HTTP layer and cannot be configured (webhook '\(webhook)')"
                )
            }
            guard HTTPToken.isValidValue(header.value) else {
                throw error(field, "the value of header '\(name)' contains a control character (CR, LF, NUL, …)")
            }
            // Last wins for duplicate names (case-insensitive), as Infrahub's header merge.
            headers.removeAll { $0.name.lowercased() == name.lowercased() }
            headers.append(header)
        }
        return headers
    }

    func transform() throws(TriggerDefinitionError) -> WebhookDefinition.Transform? {
        guard let value = json["transform"], value != .null else { return nil }
        guard let object = value.objectValue else { throw error("transform", "must be {command, timeout_seconds}") }
        try ConfigurationKeys.check(object, known: ["command", "timeout_seconds"], path: "\(path).transform")
        guard let elements = value["command"]?.arrayValue, !elements.isEmpty else {
            throw error("transform.command", "required, a non-empty list of strings (argv)")
        }
        var command: [String] = []
        for (index, element) in elements.enumerated() {
            guard let text = element.stringValue, !text.isEmpty else {
                throw error("transform.command[\(index)]", "must be a non-empty string")
            }
            command.append(text)
        }
        var transform = WebhookDefinition.Transform(command: command)
        switch value["timeout_seconds"] {
        case nil, .null?: break
        case .number(let text)?:
            guard let seconds = Double(text), seconds > 0, seconds <= 3600 else {
                throw error("transform.timeout_seconds", "must be a number of seconds in (0, 3600]")
            }
            transform.timeout = .milliseconds(Int64((seconds * 1000).rounded()))
        default: throw error("transform.timeout_seconds", "must be a number")
        }
        return transform
    }
}

/// HTTP field names and values (RFC 9110 §5.1, §5.5).
enum HTTPToken {
    static func isValid(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                    || "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
    }

    /// No control characters but horizontal tab; no leading or trailing whitespace is required here.
    static func isValidValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }
}
