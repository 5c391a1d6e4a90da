import SluiceCore
import SluiceTestSupport
import SluiceTools
import Testing

/// Spec §c.2: webhooks compile to Prefect triggers, with Infrahub's consequences.
@Suite struct WebhookTriggerTests {
    static func matches(_ subscription: WebhookSubscription, _ draft: EventDraft) throws -> Bool {
        var decoder = EventDecoder()
        let event = try draft.build(with: &decoder)
        return ReferenceMatcher.matches(subscription.trigger(defaultBranch: "main"), event, symbols: decoder.symbols)
    }

    static func branchCreated() -> EventDraft {
        let meta = InfrahubEventMeta(
            id: EventID(high: 1, low: 1),
            occurred: Timestamp(secondsSinceEpoch: 0),
            branchName: "-global-"
        )
        return InfrahubEvents.branch(.branchCreated, branchName: "b", branchID: "i", meta: meta)
    }

    static func nodeUpdated(kind: String, branch: String) -> EventDraft {
        let meta = InfrahubEventMeta(
            id: EventID(high: 2, low: 2),
            occurred: Timestamp(secondsSinceEpoch: 0),
            branchName: branch,
            branchID: "x"
        )
        return InfrahubEvents.nodeMutated(
            NodeMutation(kind: kind, nodeID: "n", action: .updated, displayLabel: "d"),
            meta: meta
        )
    }

    @Test func globalBranchEventsAndBranchScopes() throws {
        var subscription = WebhookSubscription(name: "w")
        #expect(try !Self.matches(subscription, Self.branchCreated()), "default_branch never fires for -global- events")
        subscription.branchScope = .otherBranches
        #expect(try Self.matches(subscription, Self.branchCreated()))
        subscription.branchScope = .allBranches
        #expect(try Self.matches(subscription, Self.branchCreated()))
        subscription.branchScope = .defaultBranch
        #expect(try Self.matches(subscription, Self.nodeUpdated(kind: "InfraDevice", branch: "main")))
        #expect(try !Self.matches(subscription, Self.nodeUpdated(kind: "InfraDevice", branch: "feature")))
        subscription.branchScope = .otherBranches
        #expect(try Self.matches(subscription, Self.nodeUpdated(kind: "InfraDevice", branch: "feature")))
    }

    @Test func nodeKindIsAPatternAndOnlyForNodeKindEvents() throws {
        var subscription = WebhookSubscription(name: "w")
        subscription.branchScope = .allBranches
        subscription.nodeKind = "Infra*"
        #expect(try Self.matches(subscription, Self.nodeUpdated(kind: "InfraInterfaceL3", branch: "b")))
        #expect(try !Self.matches(subscription, Self.nodeUpdated(kind: "IpamPrefix", branch: "b")))
        #expect(
            try !Self.matches(subscription, Self.branchCreated()),
            "all + node_kind: events without a kind never fire"
        )
        subscription.eventType = "infrahub.branch.created"
        #expect(
            subscription.trigger(defaultBranch: "main").match.matchesEveryResource,
            "node_kind ignored for non-node-kind events"
        )
        #expect(try Self.matches(subscription, Self.branchCreated()))
        subscription.eventType = "infrahub.node.updated"
        subscription.nodeKind = "!InfraDevice"
        #expect(try Self.matches(subscription, Self.nodeUpdated(kind: "IpamPrefix", branch: "b")))
        #expect(try !Self.matches(subscription, Self.nodeUpdated(kind: "InfraDevice", branch: "b")))
        subscription.nodeKind = ""
        #expect(subscription.trigger(defaultBranch: "main").match.matchesEveryResource, "an empty node_kind is unset")
    }

    /// The generator's configurations carry the trigger each webhook compiles to.
    @Test func generatedConfigurationsAgreeWithTheCompiler() throws {
        var generator = TriggerFixtureGenerator(.init(eventCount: 1, seed: 9))
        for index in 0..<300 {
            let webhook = generator.webhook(index: index)
            let compiled = try WebhookSubscription(json: webhook, path: "webhooks[\(index)]").trigger(
                defaultBranch: "main"
            )
            // The informational `trigger` of the entry, read as a trigger of its own.
            let written = try TriggerDefinition(
                json: ["name": webhook["name"] ?? "", "trigger": webhook["trigger"] ?? .null],
                path: "webhooks[\(index)]"
            )
            #expect(written.events == compiled.events, "webhook \(index)")
            #expect(written.match == compiled.match, "webhook \(index)")
            #expect(written.matchRelated == compiled.matchRelated, "webhook \(index)")
        }
    }

    @Test func rejectsUnknownEventTypesAndScopes() {
        for (text, path) in [
            (#"{"name": "w", "event_type": "infrahub.artifact.deleted"}"#, "w.event_type"),
            (#"{"name": "w", "branch_scope": "some"}"#, "w.branch_scope"),
            (#"{"name": "w", "node_kind": 3}"#, "w.node_kind"),
        ] {
            do {
                _ = try WebhookSubscription(json: try JSONValue.parse(text), path: "w")
                Issue.record("accepted \(text)")
            } catch let error as TriggerDefinitionError {
                #expect(error.path == path)
            } catch {
                Issue.record("\(error)")
            }
        }
    }
}
