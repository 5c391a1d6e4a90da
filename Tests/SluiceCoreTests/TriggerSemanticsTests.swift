import SluiceCore
import SluiceTestSupport
import Testing

/// Spec §b, example by example.
@Suite struct TriggerSemanticsTests {
    /// The verified examples of spec §b.3 (`nil` value: the label is absent).
    @Test(arguments: [
        (["main"], "main" as String?, true), (["!main"], "feature", true), (["!main"], "main", false),
        (["!main"], nil, false), (["infrahub.*"], "infrahub.node.created", true), (["Infra*"], "InfraDevice", true),
        (["infra*"], "InfraDevice", false), (["?ain"], "main", true), (["[mn]ain"], "nain", true),
        (["[!m]ain"], "main", false), (["*"], "", true), (["*"], nil, false), (["!merge", "!rebase"], "merge", true),
    ])
    func labelMatchingTable(patterns: [String], value: String?, expected: Bool) {
        let condition = ResourceSpecification.Condition(label: "l", patterns: patterns.map(LabelPattern.init))
        let specification = ResourceSpecification([condition])
        #expect(specification.matches { $0 == "l" ? value : nil } == expected)
    }

    @Test func emptySpecificationAndEmptyListEdges() {
        #expect(ResourceSpecification().matches { _ in nil })
        let emptyList = ResourceSpecification([ResourceSpecification.Condition(label: "l", patterns: [])])
        #expect(!emptyList.matches { _ in "anything" })
        let both = ResourceSpecification([("a", "1"), ("b", "2")])
        #expect(both.matches { ["a": "1", "b": "2"][$0] })
        #expect(!both.matches { ["a": "1", "b": "3"][$0] }, "labels in one spec are AND on the same resource")
    }

    /// Spec §b.2's consequences for `expect`.
    @Test(arguments: [
        (["infrahub.node.created"], "infrahub.node.created", true),
        (["infrahub.node.created"], "infrahub.node.created_x", false),
        (["infrahub.*"], "infrahub.node.created", true), (["infrahub.*"], "infrahub.", false),
        (["infrahub.node.?reated"], "infrahub.node.created", false), (["*created"], "created", false),
        (["*created"], "node.created", true), (["infrahub.*.created"], "infrahub..created", false),
        (["infrahub.*.created"], "infrahub.node.created", true),
        (["!infrahub.node.created"], "infrahub.branch.merged", false),
        ([], "anything.at.all", true), (["github.push"], "github.push.x", false),
    ])
    func eventNameRules(expect: [String], name: String, expected: Bool) {
        #expect(EventNamePatterns(expect: expect).covers(name) == expected, "\(expect) vs \(name)")
    }

    @Test func negationNextToAPositivePatternIsOred() {
        let patterns = EventNamePatterns(expect: ["infrahub.*", "!infrahub.node.created"])
        #expect(patterns.covers("infrahub.node.created"))
        #expect(patterns.expects("infrahub.node.created"))
    }

    /// Spec §b.3 scenario: an event whose related `infrahub.branch` label is `-global-`.
    @Test func branchScopeScenarios() throws {
        var decoder = EventDecoder()
        let event = try WebhookBodyTests.branchCreatedExample()
        _ = try decoder.decode(event.bytes)
        let mainOnly = TriggerDefinition(
            name: "main",
            events: EventNamePatterns(expect: ["infrahub.*"]),
            matchRelated: [
                ResourceSpecification([
                    ("prefect.resource.role", "infrahub.branch"), ("infrahub.resource.label", "main"),
                ])
            ]
        )
        let notMain = TriggerDefinition(
            name: "not-main",
            events: EventNamePatterns(expect: ["infrahub.*"]),
            matchRelated: [
                ResourceSpecification([
                    ("prefect.resource.role", "infrahub.branch"), ("infrahub.resource.label", "!main"),
                ])
            ]
        )
        let reparsed = try decoder.decode(event.bytes)
        #expect(ReferenceMatcher.evaluate(mainOnly, reparsed, symbols: decoder.symbols) == .matchRelated(index: 0))
        #expect(ReferenceMatcher.matches(notMain, reparsed, symbols: decoder.symbols))
    }

    @Test func readsDefinitionsFromJSONWithPreciseErrors() throws {
        let json = try JSONValue.parse(
            #"""
            {"name": "webhook::1", "enabled": true,
             "trigger": {"type": "event", "expect": ["infrahub.node.created"], "after": [],
                         "match": {"infrahub.node.kind": "InfraDevice"},
                         "match_related": {"prefect.resource.role": "infrahub.branch", "infrahub.resource.label": ["main", "!x"]},
                         "posture": "Reactive", "threshold": 1, "within": 0.0, "for_each": []},
             "actions": [{"webhook": "hook-1", "parameters": {"a": 1}}]}
            """#
        )
        let trigger = try TriggerDefinition(json: json, path: "triggers[0]")
        #expect(trigger.events.expect == ["infrahub.node.created"])
        #expect(trigger.matchRelated.count == 1)
        #expect(trigger.matchRelated[0].conditions[1].patterns.map(\.text) == ["main", "!x"])
        #expect(trigger.actions == [TriggerAction(kind: .webhook, reference: "hook-1", parameters: ["a": 1])])
        for (text, path) in [
            (#"{"trigger": {}}"#, "triggers[0].name"),
            (#"{"name": "n", "trigger": {"match": {"k": 1}}}"#, "triggers[0].trigger.match.k"),
            (#"{"name": "n", "trigger": {"posture": "Metric"}}"#, "triggers[0].trigger.posture"),
            (#"{"name": "n", "trigger": {"threshold": 0}}"#, "triggers[0].trigger.threshold"),
            (#"{"name": "n", "actions": [{"email": "x"}]}"#, "triggers[0].actions[0].email"),  // an unknown key
        ] {
            let json = try JSONValue.parse(text)
            do {
                _ = try TriggerDefinition(json: json, path: "triggers[0]")
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.path == path, "\(text)")
            }
        }
    }
}
