/// A trigger configuration: webhooks (compiled to triggers as spec §c.2) and explicit triggers.
///
/// JSON shape: `{"default_branch": "main", "webhooks": [{…}], "triggers": [{…}]}`; every key optional
/// (`default_branch` defaults to `main`). Webhooks are read by ``WebhookSubscription/init(json:path:)``,
/// triggers by ``TriggerDefinition/init(json:path:)``; errors name the entry, e.g. `webhooks[12].branch_scope`.
public struct TriggerConfiguration: Sendable {
    public var defaultBranch = "main"
    public var webhooks: [WebhookSubscription] = []
    public var triggers: [TriggerDefinition] = []
    /// The `workflows:` section (and `workflows_depth_max`) the triggers' workflow actions run.
    public var workflows = WorkflowConfiguration()

    public init() {}

    /// The keys a configuration file may have at its top level (`log` and `pipeline` are read by
    /// `PipelineConfiguration`, `server`, `graphql` and `queries` by `sluice serve`; `workflows` and `workflows_depth_max` by the workflow dispatcher); any other key is an error.
    public static let fileKeys = [
        "default_branch", "webhooks", "triggers", "log", "pipeline", "server", "graphql", "queries", "workflows",
        "workflows_depth_max",
    ]

    public init(json: JSONValue) throws(TriggerDefinitionError) {
        guard let object = json.objectValue else {
            throw TriggerDefinitionError(path: "", message: "the configuration must be an object")
        }
        try ConfigurationKeys.check(object, known: Self.fileKeys, path: "")
        if let branch = json["default_branch"] {
            guard let text = branch.stringValue, !text.isEmpty else {
                throw TriggerDefinitionError(path: "default_branch", message: "must be a non-empty string")
            }
            defaultBranch = text
        }
        for (key, target) in [("webhooks", 0), ("triggers", 1)] {
            guard let list = json[key] else { continue }
            guard let elements = list.arrayValue else {
                throw TriggerDefinitionError(path: key, message: "must be a list")
            }
            for (position, element) in elements.enumerated() {
                if target == 0 {
                    webhooks.append(try WebhookSubscription(json: element, path: "\(key)[\(position)]"))
                } else {
                    triggers.append(try TriggerDefinition(json: element, path: "\(key)[\(position)]"))
                }
            }
        }
        workflows = try WorkflowConfiguration(json: json)
        // Load-time check: every workflow action names a workflow and its templates compile.
        _ = try workflows.compileActions(of: triggers, paths: triggers.indices.map { "triggers[\($0)]" })
    }

    /// Every trigger: the webhooks' compiled triggers first, then the explicit ones.
    public var allTriggers: [TriggerDefinition] {
        webhooks.map { $0.trigger(defaultBranch: defaultBranch) } + triggers
    }
}
