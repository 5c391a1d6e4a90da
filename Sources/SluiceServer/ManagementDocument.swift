import Sluice

/// The configuration the management API serves and changes, as a JSON document
/// (`{"default_branch":…,"webhooks":[…],"triggers":[…]}`, the webhooks-and-triggers part of a configuration
/// file), and the pure edits on it: find, replace, remove an entry; redact secrets for reads; keep stored
/// secrets where a write sends `<redacted>` back.
///
/// Secrets are the webhook fields `shared_key`, each element of `shared_keys`, and the `value` of each entry
/// of `headers` (an `environment` header shows its variable's name, not its value). A value; no I/O.
struct ManagementDocument: Sendable, Equatable {
    /// What reads show in place of a secret, and what a write may send back to keep the stored one.
    static let redacted = "<redacted>"

    var json: JSONValue

    /// The document of a configuration file's tree: its `default_branch`, `webhooks` and `triggers` only.
    init(file: JSONValue) {
        var object = JSONObject()
        for key in ConfigurationRecord.configurationKeys {
            if let value = file[key] { object[key] = value }
        }
        json = .object(object)
    }

    init(json: JSONValue) { self.json = json }

    /// The entries of `list` (`webhooks` or `triggers`); an absent list is empty.
    func entries(_ list: String) -> [JSONValue] { json[list]?.arrayValue ?? [] }

    /// The position of the entry named `name` in `list`.
    func position(of name: String, in list: String) -> Int? {
        entries(list).firstIndex { $0["name"]?.stringValue == name }
    }

    /// The document with `entry` in place of the entry named `name` of `list`, or appended; and its position.
    func replacing(
        _ name: String,
        in list: String,
        with entry: JSONValue
    ) -> (document: ManagementDocument, position: Int) {
        var entries = entries(list)
        let position: Int
        if let existing = self.position(of: name, in: list) {
            entries[existing] = entry
            position = existing
        } else {
            entries.append(entry)
            position = entries.count - 1
        }
        return (with(list, entries), position)
    }

    /// The document without the entry named `name` of `list` (`nil` when there is none).
    func removing(_ name: String, from list: String) -> ManagementDocument? {
        guard let position = position(of: name, in: list) else { return nil }
        var entries = entries(list)
        entries.remove(at: position)
        return with(list, entries)
    }

    private func with(_ list: String, _ entries: [JSONValue]) -> ManagementDocument {
        var object = json.objectValue ?? JSONObject()
        object[list] = .array(entries)
        return ManagementDocument(json: .object(object))
    }

    /// The document as reads show it: every secret replaced by ``redacted``.
    var redactedJSON: JSONValue {
        guard var object = json.objectValue, let webhooks = object["webhooks"]?.arrayValue else { return json }
        object["webhooks"] = .array(webhooks.map(Self.redact(webhook:)))
        return .object(object)
    }

    /// One webhook entry with its secrets replaced by ``redacted``.
    static func redact(webhook entry: JSONValue) -> JSONValue {
        guard var object = entry.objectValue else { return entry }
        if object["shared_key"]?.stringValue != nil { object["shared_key"] = .string(redacted) }
        if let keys = object["shared_keys"]?.arrayValue {
            object["shared_keys"] = .array(keys.map { $0.stringValue != nil ? .string(redacted) : $0 })
        }
        if let headers = object["headers"]?.arrayValue {
            object["headers"] = .array(
                headers.map { header in
                    guard var fields = header.objectValue, fields["value"]?.stringValue != nil else { return header }
                    fields["value"] = .string(redacted)
                    return .object(fields)
                }
            )
        }
        return .object(object)
    }

    /// Every webhook of `document` with each ``redacted`` secret replaced by the stored one of the webhook of
    /// the same name in `self` (`shared_key`; `shared_keys` by position; a header's `value` by its `key`,
    /// case-insensitive). Throws, naming the field (`webhooks[2].shared_key`), when there is nothing stored to
    /// keep.
    func keepingSecrets(in document: JSONValue) throws(ManagementError) -> JSONValue {
        guard var object = document.objectValue, let webhooks = object["webhooks"]?.arrayValue else { return document }
        var kept: [JSONValue] = []
        for (position, entry) in webhooks.enumerated() {
            let name = entry["name"]?.stringValue
            let stored = name.flatMap { self.position(of: $0, in: "webhooks") }.map { entries("webhooks")[$0] }
            kept.append(try Self.keepingSecrets(in: entry, stored: stored, path: "webhooks[\(position)]"))
        }
        object["webhooks"] = .array(kept)
        return .object(object)
    }

    /// ``keepingSecrets(in:)`` for one webhook entry and the stored entry of the same name.
    static func keepingSecrets(
        in entry: JSONValue,
        stored: JSONValue?,
        path: String
    ) throws(ManagementError) -> JSONValue {
        guard var object = entry.objectValue else { return entry }
        func missing(_ field: String) -> ManagementError {
            ManagementError(
                code: .invalid,
                field: "\(path).\(field)",
                message: "is \(redacted), but there is no stored secret to keep (send the secret itself)"
            )
        }
        if object["shared_key"]?.stringValue == redacted {
            guard let key = stored?["shared_key"] else { throw missing("shared_key") }
            object["shared_key"] = key
        }
        if let keys = object["shared_keys"]?.arrayValue {
            let storedKeys = stored?["shared_keys"]?.arrayValue ?? []
            var restored: [JSONValue] = []
            for (index, key) in keys.enumerated() {
                guard key.stringValue == redacted else {
                    restored.append(key)
                    continue
                }
                guard index < storedKeys.count else { throw missing("shared_keys[\(index)]") }
                restored.append(storedKeys[index])
            }
            object["shared_keys"] = .array(restored)
        }
        if let headers = object["headers"]?.arrayValue {
            let storedHeaders = stored?["headers"]?.arrayValue ?? []
            var restored: [JSONValue] = []
            for (index, header) in headers.enumerated() {
                guard var fields = header.objectValue, fields["value"]?.stringValue == redacted else {
                    restored.append(header)
                    continue
                }
                let name = fields["key"]?.stringValue?.lowercased()
                let match = storedHeaders.first { stored in
                    stored["key"]?.stringValue?.lowercased() == name && stored["value"]?.stringValue != nil
                }
                guard let value = match?["value"] else { throw missing("headers[\(index)].value") }
                fields["value"] = value
                restored.append(.object(fields))
            }
            object["headers"] = .array(restored)
        }
        return .object(object)
    }
}
