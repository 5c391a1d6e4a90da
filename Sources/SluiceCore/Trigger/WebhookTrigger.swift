/// The part of an Infrahub webhook (spec §c.1) that decides which events it receives.
public struct WebhookSubscription: Sendable, Equatable {
    public enum BranchScope: String, Sendable, CaseIterable {
        case allBranches = "all_branches"
        case defaultBranch = "default_branch"
        case otherBranches = "other_branches"
    }

    public var name: String
    /// An Infrahub event name, or `all` (the default).
    public var eventType: String = "all"
    /// Default `default_branch`, as in Infrahub.
    public var branchScope: BranchScope = .defaultBranch
    /// A label pattern for the primary node kind (`Infra*`, `!CoreArtifact`); empty or `nil` means unset.
    public var nodeKind: String?
    public var active: Bool = true

    public init(name: String) { self.name = name }

    /// The trigger Infrahub registers for this webhook (spec §c.2, `WebhookTriggerDefinitionBuilder.build`):
    /// `expect` the event type (`infrahub.*` for `all`); the branch scope as `match_related` on the
    /// `infrahub.branch` related resource against `defaultBranch` (`!default` for other branches); the node
    /// kind as `match` only for node-kind events and `all`; Reactive, threshold 1, within 0; one webhook action.
    public func trigger(defaultBranch: String) -> TriggerDefinition {
        let expect = eventType == "all" ? "infrahub.*" : eventType
        var matchRelated: [ResourceSpecification] = []
        switch branchScope {
        case .defaultBranch:
            matchRelated = [
                ResourceSpecification([
                    ("prefect.resource.role", "infrahub.branch"), ("infrahub.resource.label", defaultBranch),
                ])
            ]
        case .otherBranches:
            matchRelated = [
                ResourceSpecification([
                    ("prefect.resource.role", "infrahub.branch"), ("infrahub.resource.label", "!" + defaultBranch),
                ])
            ]
        case .allBranches:
            break
        }
        var match = ResourceSpecification()
        let nodeKindApplies = eventType == "all" || (InfrahubEventName(rawValue: eventType)?.isNodeKindEvent ?? false)
        if let nodeKind, !nodeKind.isEmpty, nodeKindApplies {
            match = ResourceSpecification([("infrahub.node.kind", nodeKind)])
        }
        var trigger = TriggerDefinition(
            name: "webhook::" + name,
            events: EventNamePatterns(expect: [expect]),
            match: match,
            matchRelated: matchRelated,
            actions: [TriggerAction(kind: .webhook, reference: name)]
        )
        trigger.enabled = active
        return trigger
    }

    /// Reads the subscription fields of a webhook from JSON (`name`, `event_type`, `branch_scope`,
    /// `node_kind`, `active`), as `sluice fixtures generate --triggers` writes them.
    /// Every key of a webhook entry (``WebhookDefinition`` reads the rest). `trigger` is informational: the
    /// trigger Infrahub registers for the webhook, as `sluice fixtures generate --triggers` writes it; the
    /// webhook's trigger is always compiled from its subscription fields.
    public static let jsonKeys = [
        "name", "url", "description", "event_type", "branch_scope", "node_kind", "active", "kind",
        "validate_certificates", "shared_key", "shared_keys", "signature_key_mode", "headers", "transform", "trigger",
        "allowed_networks",
    ]

    public init(json: JSONValue, path: String) throws(TriggerDefinitionError) {
        guard let object = json.objectValue else {
            throw TriggerDefinitionError(path: path, message: "must be a mapping (a webhook entry)")
        }
        try ConfigurationKeys.check(object, known: Self.jsonKeys, path: path)
        guard let name = json["name"]?.stringValue, !name.isEmpty else {
            throw TriggerDefinitionError(path: "\(path).name", message: "required, a non-empty string")
        }
        self.init(name: name)
        if let eventType = json["event_type"] {
            guard let text = eventType.stringValue, text == "all" || InfrahubEventName(rawValue: text) != nil else {
                throw TriggerDefinitionError(
                    path: "\(path).event_type",
                    message: "must be \"all\" or one of Infrahub's 31 event names"
                )
            }
            self.eventType = text
        }
        if let scope = json["branch_scope"] {
            guard let text = scope.stringValue, let parsed = BranchScope(rawValue: text) else {
                throw TriggerDefinitionError(
                    path: "\(path).branch_scope",
                    message: "must be all_branches, default_branch or other_branches"
                )
            }
            branchScope = parsed
        }
        switch json["node_kind"] {
        case nil, .null?: nodeKind = nil
        case .string(let kind)?: nodeKind = kind
        default: throw TriggerDefinitionError(path: "\(path).node_kind", message: "must be a string or null")
        }
        if let active = json["active"] {
            guard let value = active.boolValue else {
                throw TriggerDefinitionError(path: "\(path).active", message: "must be true or false")
            }
            self.active = value
        }
    }
}
