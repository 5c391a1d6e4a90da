/// Infrahub's user trigger rules (`CoreNodeTriggerRule`, `CoreGroupTriggerRule`) compiled into the
/// `action_trigger_rule::<name>` triggers Infrahub registers for them (spec §c.10, Infrahub
/// `actions/models.py` `ActionTriggerRuleTriggerDefinition`). Pure: the rule node's JSON in, a
/// ``TriggerDefinition`` out. docs/triggers.md "Infrahub trigger rules" shows the JSON.
public enum InfrahubTriggerRule {
    /// The automation name prefix (`TriggerType.ACTION_TRIGGER_RULE` + `::`).
    public static let namePrefix = "action_trigger_rule::"

    /// Compiles one rule node. `defaultBranch` is Infrahub's default branch (branch scopes match it).
    ///
    /// `CoreNodeTriggerRule`: `expect infrahub.node.<mutation_action>`, `match` the node kind and (scope) the
    /// **primary** resource's `infrahub.branch.name`; each match adds one `match_related` spec (all must
    /// hold). `CoreGroupTriggerRule`: `expect infrahub.group.member_added|member_removed`, `match` the group's
    /// kind and id (and scope). The action runs Infrahub's workflow with its parameters as Infrahub writes them.
    public static func compile(
        _ rule: JSONValue,
        defaultBranch: String,
        path: String
    ) throws(TriggerDefinitionError) -> TriggerDefinition {
        guard let object = rule.objectValue else {
            throw TriggerDefinitionError(path: path, message: "must be an object")
        }
        let kind = try string(object, "kind", path)
        switch kind {
        case "CoreNodeTriggerRule": return try nodeRule(object, defaultBranch: defaultBranch, path: path)
        case "CoreGroupTriggerRule": return try groupRule(object, defaultBranch: defaultBranch, path: path)
        default:
            throw TriggerDefinitionError(
                path: "\(path).kind",
                message: "must be CoreNodeTriggerRule or CoreGroupTriggerRule"
            )
        }
    }

    static let nodeRuleKeys = [
        "kind", "name", "active", "branch_scope", "node_kind", "mutation_action", "matches", "action",
    ]
    static let groupRuleKeys = [
        "kind", "name", "active", "branch_scope", "group", "group_kind", "member_update", "action",
    ]

    private static func nodeRule(
        _ object: JSONObject,
        defaultBranch: String,
        path: String
    ) throws(TriggerDefinitionError) -> TriggerDefinition {
        try ConfigurationKeys.check(object, known: nodeRuleKeys, path: path)
        let name = try string(object, "name", path)
        let mutation = try choice(object, "mutation_action", ["created", "updated", "deleted"], path)
        var match: JSONObject = ["infrahub.node.kind": .string(try string(object, "node_kind", path))]
        if let branch = try branchPattern(object, defaultBranch: defaultBranch, path: path) {
            match["infrahub.branch.name"] = .string(branch)
        }
        var related: [JSONValue] = []
        for (position, entry) in (try list(object, "matches", path)).enumerated() {
            related.append(try relatedSpecification(entry, path: "\(path).matches[\(position)]"))
        }
        let action = try nodeAction(object["action"], path: "\(path).action")
        return try definition(
            name: name,
            expect: "infrahub.node.\(mutation)",
            match: match,
            related: related,
            action: action,
            active: try active(object, path),
            path: path
        )
    }

    private static func groupRule(
        _ object: JSONObject,
        defaultBranch: String,
        path: String
    ) throws(TriggerDefinitionError) -> TriggerDefinition {
        try ConfigurationKeys.check(object, known: groupRuleKeys, path: path)
        let name = try string(object, "name", path)
        let update = try choice(object, "member_update", ["added", "removed"], path)
        var match: JSONObject = [
            "infrahub.node.kind": .string(try string(object, "group_kind", path)),
            "infrahub.node.id": .string(try string(object, "group", path)),
        ]
        if let branch = try branchPattern(object, defaultBranch: defaultBranch, path: path) {
            match["infrahub.branch.name"] = .string(branch)
        }
        let actionPath = "\(path).action"
        guard let action = object["action"]?.objectValue, action["kind"]?.stringValue == "CoreGeneratorAction" else {
            throw TriggerDefinitionError(
                path: actionPath,
                message: "a CoreGroupTriggerRule runs a CoreGeneratorAction (Infrahub builds no other action for it)"
            )
        }
        try ConfigurationKeys.check(action, known: ["kind", "generator"], path: actionPath)
        let workflow: JSONValue = [
            "workflow": "action-run-generator-group-event",
            "parameters": [
                "branch_name": jinja("{{ event.resource['infrahub.branch.name'] }}"),
                "generator_definition_id": .string(try string(action, "generator", actionPath)),
                "members": json("{{ event.payload['data']['members'] | tojson }}"),
                "context": json("{{ event.payload['context'] | tojson }}"),
            ],
        ]
        return try definition(
            name: name,
            expect: "infrahub.group.member_\(update)",
            match: match,
            related: [],
            action: workflow,
            active: try active(object, path),
            path: path
        )
    }

    /// One `match_related` spec from a `CoreNodeTriggerAttributeMatch` or `CoreNodeTriggerRelationshipMatch`.
    private static func relatedSpecification(
        _ entry: JSONValue,
        path: String
    ) throws(TriggerDefinitionError) -> JSONValue {
        guard let object = entry.objectValue else {
            throw TriggerDefinitionError(path: path, message: "must be an object")
        }
        switch try string(object, "kind", path) {
        case "CoreNodeTriggerAttributeMatch":
            try ConfigurationKeys.check(
                object,
                known: ["kind", "attribute_name", "value", "value_previous", "value_match"],
                path: path
            )
            var specification: JSONObject = [
                "prefect.resource.role": "infrahub.node.attribute_update",
                "infrahub.field.name": .string(try string(object, "attribute_name", path)),
                "infrahub.attribute.action": ["added", "updated", "removed"],
            ]
            // Infrahub matches a null value as "" (`value or ""`); events carry "NULL" (docs: the NULL quirk).
            let value = try optionalString(object, "value", path) ?? ""
            let previous = try optionalString(object, "value_previous", path) ?? ""
            switch try choice(object, "value_match", ["value", "value_previous", "value_full", "any"], path) {
            case "value":
                specification["infrahub.attribute.value"] = .string(value)
            case "value_previous":
                specification["infrahub.attribute.value_previous"] = .string(previous)
            case "value_full":
                specification["infrahub.attribute.value"] = .string(value)
                specification["infrahub.attribute.value_previous"] = .string(previous)
            default:
                break
            }
            return .object(specification)
        case "CoreNodeTriggerRelationshipMatch":
            try ConfigurationKeys.check(
                object,
                known: ["kind", "relationship_name", "peer", "modification_type"],
                path: path
            )
            var specification: JSONObject = [
                "prefect.resource.role": "infrahub.node.relationship_update",
                "infrahub.field.name": .string(try string(object, "relationship_name", path)),
            ]
            if let peer = try optionalString(object, "peer", path) {
                specification["infrahub.relationship.peer_id"] = .string(peer)
            }
            let modification = try choice(object, "modification_type", ["added", "removed", "updated"], path)
            if modification != "updated" {
                specification["infrahub.relationship.peer_status"] = .string(modification)
            }
            return .object(specification)
        default:
            throw TriggerDefinitionError(
                path: "\(path).kind",
                message: "must be CoreNodeTriggerAttributeMatch or CoreNodeTriggerRelationshipMatch"
            )
        }
    }

    /// The workflow action of a node rule: run a generator on the node, or add it to / remove it from a group.
    private static func nodeAction(_ value: JSONValue?, path: String) throws(TriggerDefinitionError) -> JSONValue {
        guard let action = value?.objectValue else {
            throw TriggerDefinitionError(path: path, message: "required, a CoreGeneratorAction or CoreGroupAction")
        }
        let context = json("{{ event.payload['context'] | tojson }}")
        switch try string(action, "kind", path) {
        case "CoreGeneratorAction":
            try ConfigurationKeys.check(action, known: ["kind", "generator"], path: path)
            return [
                "workflow": "action-run-generator",
                "parameters": [
                    "branch_name": jinja("{{ event.resource['infrahub.branch.name'] }}"),
                    "generator_definition_id": .string(try string(action, "generator", path)),
                    "node_ids": ["{{ event.resource['infrahub.node.id'] }}"],
                    "context": context,
                ],
            ]
        case "CoreGroupAction":
            try ConfigurationKeys.check(action, known: ["kind", "member_action", "group"], path: path)
            let add = try choice(action, "member_action", ["add_member", "remove_member"], path) == "add_member"
            return [
                "workflow": .string(add ? "action-add-node-to-group" : "action-remove-node-from-group"),
                "parameters": [
                    "branch_name": jinja("{{ event.resource['infrahub.branch.name'] }}"),
                    "group_id": .string(try string(action, "group", path)),
                    "node_id": jinja("{{ event.resource['infrahub.node.id'] }}"),
                    "context": context,
                ],
            ]
        default:
            throw TriggerDefinitionError(
                path: "\(path).kind",
                message: "must be CoreGeneratorAction or CoreGroupAction"
            )
        }
    }

    private static func definition(
        name: String,
        expect: String,
        match: JSONObject,
        related: [JSONValue],
        action: JSONValue,
        active: Bool,
        path: String
    ) throws(TriggerDefinitionError) -> TriggerDefinition {
        // Infrahub emits one spec as a mapping, several as a list, none as {} (spec §b.1); all read the same.
        let trigger: JSONValue = [
            "name": .string(namePrefix + name),
            "enabled": .bool(active),
            "trigger": [
                "type": "event", "expect": [.string(expect)], "after": [], "match": .object(match),
                "match_related": related.count == 1 ? related[0] : .array(related), "posture": "Reactive",
                "threshold": 1, "within": 0, "for_each": [],
            ],
            "actions": [action],
        ]
        return try TriggerDefinition(json: trigger, path: path)
    }

    private static func jinja(_ template: String) -> JSONValue {
        ["__prefect_kind": "jinja", "template": .string(template)]
    }

    private static func json(_ template: String) -> JSONValue {
        ["__prefect_kind": "json", "value": jinja(template)]
    }

    private static func branchPattern(
        _ object: JSONObject,
        defaultBranch: String,
        path: String
    ) throws(TriggerDefinitionError) -> String? {
        switch try choice(object, "branch_scope", ["default_branch", "other_branches", "all_branches"], path) {
        case "default_branch": return defaultBranch
        case "other_branches": return "!" + defaultBranch
        default: return nil
        }
    }

    private static func active(_ object: JSONObject, _ path: String) throws(TriggerDefinitionError) -> Bool {
        guard let value = object["active"] else { return true }
        guard let flag = value.boolValue else {
            throw TriggerDefinitionError(path: "\(path).active", message: "must be true or false")
        }
        return flag
    }

    private static func string(
        _ object: JSONObject,
        _ key: String,
        _ path: String
    ) throws(TriggerDefinitionError) -> String {
        guard let text = object[key]?.stringValue, !text.isEmpty else {
            throw TriggerDefinitionError(path: "\(path).\(key)", message: "required, a non-empty string")
        }
        return text
    }

    private static func optionalString(
        _ object: JSONObject,
        _ key: String,
        _ path: String
    ) throws(TriggerDefinitionError) -> String? {
        switch object[key] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw TriggerDefinitionError(path: "\(path).\(key)", message: "must be a string or null")
        }
    }

    private static func choice(
        _ object: JSONObject,
        _ key: String,
        _ choices: [String],
        _ path: String
    ) throws(TriggerDefinitionError) -> String {
        guard let text = object[key]?.stringValue, choices.contains(text) else {
            throw TriggerDefinitionError(
                path: "\(path).\(key)",
                message: "must be one of \(choices.joined(separator: ", "))"
            )
        }
        return text
    }

    private static func list(
        _ object: JSONObject,
        _ key: String,
        _ path: String
    ) throws(TriggerDefinitionError) -> [JSONValue] {
        guard let value = object[key] else { return [] }
        guard let elements = value.arrayValue else {
            throw TriggerDefinitionError(path: "\(path).\(key)", message: "must be a list")
        }
        return elements
    }
}
