/// Writes a configuration of webhooks (and the Prefect triggers they compile to) that match the
/// events a ``FixtureGenerator`` with the same configuration produces.
///
/// Each webhook follows Infrahub's `CoreStandardWebhook` shape (spec §c.1): `name`, `url` (loopback
/// only), `event_type` (an event name or `all`), `branch_scope` (`all_branches`, `default_branch`,
/// `other_branches`), `node_kind` (only for node-kind events), `shared_key`, `active`. Its `trigger`
/// is the Prefect automation trigger Infrahub derives from it (spec §c.2): `expect`, `match`,
/// `match_related`. Deterministic for a seed.
public struct TriggerFixtureGenerator {
    public let kinds: [String]
    public let branchNames: [String]
    private var random: SplitMix64

    public init(_ configuration: FixtureGenerator.Configuration) {
        let generator = FixtureGenerator(configuration)
        self.kinds = generator.kinds
        self.branchNames = generator.branches.map(\.name)
        self.random = SplitMix64(seed: configuration.seed ^ 0x5EED_7E1C_0DE5_1ACE)
    }

    /// The webhook with 0-based `index`; call with increasing indices.
    public mutating func webhook(index: Int, port: Int = 9000) -> JSONValue {
        let number = String(index + 1)
        let padded = String(repeating: "0", count: max(0, 6 - number.count)) + number
        let eventType: String
        switch random.next(below: 10) {
        case 0..<6:
            eventType = random.pick(["infrahub.node.created", "infrahub.node.updated", "infrahub.node.deleted"])
        case 6: eventType = "all"
        default: eventType = random.pick(InfrahubEventName.allCases).rawValue
        }
        let nodeKindApplies = eventType == "all" || (InfrahubEventName(rawValue: eventType)?.isNodeKindEvent ?? false)
        let nodeKind: JSONValue = nodeKindApplies && random.chance(70) ? .string(random.pick(kinds)) : .null
        let scope = random.pick(["all_branches", "default_branch", "default_branch", "other_branches"])
        var match = JSONObject()
        if let kind = nodeKind.stringValue { match["infrahub.node.kind"] = .string(kind) }
        var matchRelated = JSONObject()
        switch scope {
        case "default_branch":
            matchRelated = ["prefect.resource.role": "infrahub.branch", "infrahub.resource.label": "main"]
        case "other_branches":
            matchRelated = ["prefect.resource.role": "infrahub.branch", "infrahub.resource.label": "!main"]
        default:
            break
        }
        let trigger: JSONValue = [
            "type": "event", "posture": "Reactive", "threshold": 1, "within": 0,
            "expect": [.string(eventType == "all" ? "infrahub.*" : eventType)],
            "match": .object(match), "match_related": .object(matchRelated),
        ]
        return [
            "name": .string("webhook-\(padded)"),
            "url": .string("http://127.0.0.1:\(port)/hooks/\(padded)"),
            "event_type": .string(eventType), "branch_scope": .string(scope), "node_kind": nodeKind,
            "shared_key": .string("secret-\(padded)"), "active": true, "trigger": trigger,
        ]
    }
}
