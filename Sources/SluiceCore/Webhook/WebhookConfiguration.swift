/// The webhooks of a configuration, as full definitions (URL, kind, keys, headers, transform).
///
/// Reads the same JSON as ``TriggerConfiguration`` (`{"default_branch", "webhooks": [...], "triggers": [...]}`)
/// and ignores `triggers`; ``TriggerConfiguration`` reads the subscription fields of the same entries, so both
/// views of one file compile to the same triggers. Errors name the entry, e.g. `webhooks[2].headers[0].environment`.
public struct WebhookConfiguration: Sendable, Equatable {
    public var defaultBranch = "main"
    public var webhooks: [WebhookDefinition] = []

    public init() {}

    public init(json: JSONValue, environment: [String: String]) throws(TriggerDefinitionError) {
        let triggers = try TriggerConfiguration(json: json)
        defaultBranch = triggers.defaultBranch
        guard let list = json["webhooks"], let elements = list.arrayValue else { return }
        var names: Set<String> = []
        for (position, element) in elements.enumerated() {
            let definition = try WebhookDefinition(
                json: element,
                path: "webhooks[\(position)]",
                environment: environment
            )
            guard names.insert(definition.name).inserted else {
                throw TriggerDefinitionError(
                    path: "webhooks[\(position)].name",
                    message: "duplicate webhook name '\(definition.name)' (names are unique, as in Infrahub)"
                )
            }
            webhooks.append(definition)
        }
    }

    /// The webhooks' triggers (spec §c.2), in order.
    public var triggers: [TriggerDefinition] { webhooks.map { $0.trigger(defaultBranch: defaultBranch) } }

    /// The definition named `name`, the reference of a webhook trigger's action.
    public func webhook(named name: String) -> WebhookDefinition? { webhooks.first { $0.name == name } }
}
