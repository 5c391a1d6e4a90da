import SluiceCore
import Testing

/// `CoreNodeTriggerRule` / `CoreGroupTriggerRule` → `action_trigger_rule::<name>` (spec §c.10).
@Suite struct InfrahubTriggerRuleTests {
    static func compile(_ json: String) throws -> TriggerDefinition {
        try InfrahubTriggerRule.compile(try JSONValue.parse(json), defaultBranch: "main", path: "rules[0]")
    }

    /// Whether the event (primary labels, related resources as role + labels) reaches the trigger.
    static func reaches(
        _ trigger: TriggerDefinition,
        _ name: String,
        _ labels: [(String, String)],
        related: [(String, [(String, String)])] = []
    ) throws -> Bool {
        var decoder = EventDecoder()
        let draft = EventDraft(
            name: name,
            id: EventID.random(high: 1, low: 2),
            occurred: Timestamp(secondsSinceEpoch: 1_750_000_000),
            resource: ResourceDraft(id: "infrahub.node.n1", labels),
            related: related.enumerated().map { ResourceDraft(id: "r\($0.offset)", role: $0.element.0, $0.element.1) }
        )
        let event = try draft.build(with: &decoder)
        return ReferenceMatcher.evaluate(trigger, event, symbols: decoder.symbols) == .matches
    }

    static let device = [
        ("infrahub.node.kind", "InfraDevice"), ("infrahub.node.id", "n1"), ("infrahub.branch.name", "main"),
    ]

    @Test func nodeRuleWithAttributeAndRelationshipMatches() throws {
        let trigger = try Self.compile(
            #"""
            {"kind": "CoreNodeTriggerRule", "name": "edge-up", "branch_scope": "default_branch",
             "node_kind": "InfraDevice", "mutation_action": "updated",
             "matches": [
               {"kind": "CoreNodeTriggerAttributeMatch", "attribute_name": "status", "value": "active",
                "value_previous": null, "value_match": "value"},
               {"kind": "CoreNodeTriggerRelationshipMatch", "relationship_name": "site", "peer": "s1",
                "modification_type": "added"}],
             "action": {"kind": "CoreGeneratorAction", "generator": "gd1"}}
            """#
        )
        #expect(trigger.name == "action_trigger_rule::edge-up")
        #expect(trigger.events.expect == ["infrahub.node.updated"])
        #expect(
            trigger.match
                == ResourceSpecification([("infrahub.node.kind", "InfraDevice"), ("infrahub.branch.name", "main")])
        )
        #expect(trigger.matchRelated.count == 2)
        #expect(trigger.actions.first?.kind == .workflow)
        #expect(trigger.actions.first?.reference == "action-run-generator")
        let attribute: (String, [(String, String)]) = (
            "infrahub.node.attribute_update",
            [
                ("infrahub.field.name", "status"), ("infrahub.attribute.action", "updated"),
                ("infrahub.attribute.value", "active"),
            ]
        )
        let relationship: (String, [(String, String)]) = (
            "infrahub.node.relationship_update",
            [
                ("infrahub.field.name", "site"), ("infrahub.relationship.peer_id", "s1"),
                ("infrahub.relationship.peer_status", "added"),
            ]
        )
        #expect(try Self.reaches(trigger, "infrahub.node.updated", Self.device, related: [attribute, relationship]))
        #expect(
            !(try Self.reaches(trigger, "infrahub.node.updated", Self.device, related: [attribute])),
            "ALL must hold"
        )
        #expect(!(try Self.reaches(trigger, "infrahub.node.created", Self.device, related: [attribute, relationship])))
        let feature = [("infrahub.node.kind", "InfraDevice"), ("infrahub.branch.name", "feature")]
        #expect(!(try Self.reaches(trigger, "infrahub.node.updated", feature, related: [attribute, relationship])))
        // The branch is the primary resource's label here (unlike webhooks): a related branch does not count.
        let noBranch = [("infrahub.node.kind", "InfraDevice")]
        let branch: (String, [(String, String)]) = ("infrahub.branch", [("infrahub.resource.label", "main")])
        #expect(
            !(try Self.reaches(trigger, "infrahub.node.updated", noBranch, related: [attribute, relationship, branch]))
        )
        // The parameters render as Infrahub's do.
        let templates = try ParameterTemplates(try #require(trigger.actions.first?.parameters), path: "parameters")
        let rendered = try templates.render([
            "event": [
                "resource": ["infrahub.node.id": "n1", "infrahub.branch.name": "main"],
                "payload": ["context": ["branch": ["name": "main"]]],
            ]
        ])
        #expect(
            JSONValue.object(rendered)
                == [
                    "branch_name": "main", "generator_definition_id": "gd1", "node_ids": ["n1"],
                    "context": ["branch": ["name": "main"]],
                ]
        )
    }

    /// A rule asking for a null value matches `""`, but events carry `"NULL"`: it never matches one (quirk).
    @Test func theNullQuirk() throws {
        let trigger = try Self.compile(
            #"""
            {"kind": "CoreNodeTriggerRule", "name": "cleared", "branch_scope": "all_branches",
             "node_kind": "InfraDevice", "mutation_action": "updated",
             "matches": [{"kind": "CoreNodeTriggerAttributeMatch", "attribute_name": "description", "value": null,
                          "value_previous": null, "value_match": "value"}],
             "action": {"kind": "CoreGroupAction", "member_action": "remove_member", "group": "g1"}}
            """#
        )
        #expect(trigger.actions.first?.reference == "action-remove-node-from-group")
        let cleared: (String, [(String, String)]) = (
            "infrahub.node.attribute_update",
            [
                ("infrahub.field.name", "description"), ("infrahub.attribute.action", "removed"),
                ("infrahub.attribute.value", "NULL"),
            ]
        )
        #expect(!(try Self.reaches(trigger, "infrahub.node.updated", Self.device, related: [cleared])))
        let empty: (String, [(String, String)]) = (
            "infrahub.node.attribute_update",
            [
                ("infrahub.field.name", "description"), ("infrahub.attribute.action", "updated"),
                ("infrahub.attribute.value", ""),
            ]
        )
        #expect(try Self.reaches(trigger, "infrahub.node.updated", Self.device, related: [empty]))
    }

    @Test func relationshipUpdatedMatchesAnyStatusAndOtherBranchesNegates() throws {
        let trigger = try Self.compile(
            #"""
            {"kind": "CoreNodeTriggerRule", "name": "peers", "branch_scope": "other_branches",
             "node_kind": "InfraDevice", "mutation_action": "updated",
             "matches": [{"kind": "CoreNodeTriggerRelationshipMatch", "relationship_name": "tags", "peer": null,
                          "modification_type": "updated"}],
             "action": {"kind": "CoreGroupAction", "member_action": "add_member", "group": "g1"}}
            """#
        )
        #expect(trigger.actions.first?.reference == "action-add-node-to-group")
        let removed: (String, [(String, String)]) = (
            "infrahub.node.relationship_update",
            [("infrahub.field.name", "tags"), ("infrahub.relationship.peer_status", "removed")]
        )
        let feature = [("infrahub.node.kind", "InfraDevice"), ("infrahub.branch.name", "feature")]
        #expect(try Self.reaches(trigger, "infrahub.node.updated", feature, related: [removed]))
        #expect(!(try Self.reaches(trigger, "infrahub.node.updated", Self.device, related: [removed])), "!main")
    }

    @Test func groupRuleRunsTheGroupGenerator() throws {
        let trigger = try Self.compile(
            #"""
            {"kind": "CoreGroupTriggerRule", "name": "members", "branch_scope": "all_branches",
             "group": "g1", "group_kind": "CoreStandardGroup", "member_update": "added", "active": false,
             "action": {"kind": "CoreGeneratorAction", "generator": "gd2"}}
            """#
        )
        #expect(trigger.name == "action_trigger_rule::members")
        #expect(trigger.events.expect == ["infrahub.group.member_added"])
        #expect(!trigger.enabled, "an inactive rule never fires")
        #expect(trigger.actions.first?.reference == "action-run-generator-group-event")
        let templates = try ParameterTemplates(try #require(trigger.actions.first?.parameters), path: "parameters")
        let rendered = try templates.render([
            "event": [
                "resource": ["infrahub.branch.name": "b"],
                "payload": ["data": ["members": [["id": "m1", "kind": "InfraDevice"]]], "context": [:]],
            ]
        ])
        #expect(rendered["members"] == [["id": "m1", "kind": "InfraDevice"]], "a list, kept by the json kind")
    }

    @Test func badRulesNameTheField() throws {
        #expect(
            throws: TriggerDefinitionError(
                path: "rules[0].mutation_action",
                message: "must be one of created, updated, deleted"
            )
        ) {
            try Self.compile(
                #"{"kind": "CoreNodeTriggerRule", "name": "x", "branch_scope": "all_branches", "node_kind": "K", "mutation_action": "moved", "action": {"kind": "CoreGeneratorAction", "generator": "g"}}"#
            )
        }
        #expect(throws: TriggerDefinitionError.self) {
            try Self.compile(
                #"{"kind": "CoreGroupTriggerRule", "name": "x", "branch_scope": "all_branches", "group": "g", "group_kind": "K", "member_update": "added", "action": {"kind": "CoreGroupAction", "member_action": "add_member", "group": "g"}}"#
            )
        }
        #expect(throws: TriggerDefinitionError.self) {
            try Self.compile(#"{"kind": "CoreNodeTriggerRule", "bogus": 1}"#)
        }
    }
}
