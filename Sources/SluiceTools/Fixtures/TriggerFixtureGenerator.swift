/// Writes a realistic configuration of `count` webhooks and triggers for the events a ``FixtureGenerator``
/// with the same configuration produces.
///
/// Realistic means selective, as in a large Infrahub installation: most entries watch specific node kinds
/// (drawn from a kind set that grows with `count`: the stream's kinds plus `GeneratedKindN`, about one kind
/// per 8 entries), specific branches (the stream's plus `feature-N`, one per 20 entries), specific node ids
/// or related labels; a small fixed share (0.3 %) is broad (`all` events, or every node kind). So the
/// number of entries an event matches stays roughly flat as `count` grows, and most entries cannot match
/// a given event. Shares, per 1,000 entries:
///
/// | share | entry |
/// |---|---|
/// | 3 | broad webhook: `all`, or a node mutation without node kind; any branch scope |
/// | 557 | webhook on `infrahub.node.created/updated/deleted` for one node kind, any branch scope |
/// | 100 | webhook on `all` for one node kind |
/// | 140 | trigger on a node mutation of one kind and one node id (never in the stream: cannot match) |
/// | 100 | trigger on a non-node Infrahub event for one branch (`match_related` on the branch label) |
/// | 100 | trigger on group membership events for members of one node kind (`match_related`) |
///
/// Each webhook follows Infrahub's `CoreStandardWebhook` shape (spec §c.1): `name`, `url` (loopback only),
/// `event_type`, `branch_scope`, `node_kind`, `shared_key`, `active`, plus the Prefect trigger it compiles
/// to (spec §c.2) under `trigger`. Each trigger is a ``TriggerDefinition`` in JSON with no action (matched only).
/// Deterministic for a seed and count.
public struct TriggerFixtureGenerator {
    /// One configuration entry.
    public enum Entry: Sendable, Equatable {
        case webhook(JSONValue)
        case trigger(JSONValue)

        public var json: JSONValue {
            switch self {
            case .webhook(let json), .trigger(let json): json
            }
        }
    }

    public let kinds: [String]
    public let branchNames: [String]
    private var random: SplitMix64

    /// - Parameter count: the configuration's size, which sets how many kinds and branches entries draw from.
    public init(_ configuration: FixtureGenerator.Configuration, count: Int = 1_000) {
        let generator = FixtureGenerator(configuration)
        let streamKinds = generator.kinds
        let streamBranches = generator.branches.map(\.name)
        self.kinds = streamKinds + (0..<max(0, count / 8 - streamKinds.count)).map { "GeneratedKind\($0)" }
        self.branchNames = streamBranches + (0..<max(0, count / 20 - streamBranches.count)).map { "feature-\($0)" }
        self.random = SplitMix64(seed: configuration.seed ^ 0x5EED_7E1C_0DE5_1ACE)
    }

    static let nodeMutations = ["infrahub.node.created", "infrahub.node.updated", "infrahub.node.deleted"]
    static let groupEvents = ["infrahub.group.member_added", "infrahub.group.member_removed"]

    /// The entry with 0-based `index`; call with increasing indices.
    public mutating func entry(index: Int, port: Int = 9000) -> Entry {
        let roll = random.next(below: 1000)
        switch roll {
        case 0..<3:
            let eventType = random.chance(50) ? "all" : random.pick(Self.nodeMutations)
            return .webhook(webhook(index, port, eventType: eventType, nodeKind: nil))
        case 3..<560:
            return .webhook(
                webhook(index, port, eventType: random.pick(Self.nodeMutations), nodeKind: random.pick(kinds))
            )
        case 560..<660:
            return .webhook(webhook(index, port, eventType: "all", nodeKind: random.pick(kinds)))
        case 660..<800:
            let match: JSONValue = [
                "infrahub.node.kind": .string(random.pick(kinds)),
                "infrahub.node.id": .string(random.nextEventID().description),
            ]
            return .trigger(trigger(index, expect: random.pick(Self.nodeMutations), match: match, related: [:]))
        case 800..<900:
            let names = InfrahubEventName.allCases.filter { !$0.isNodeKindEvent }.map(\.rawValue)
            let related: JSONValue = [
                "prefect.resource.role": "infrahub.branch",
                "infrahub.resource.label": .string(random.pick(branchNames)),
            ]
            return .trigger(trigger(index, expect: random.pick(names), match: [:], related: related))
        default:
            let related: JSONValue = [
                "prefect.resource.role": "infrahub.group.member", "infrahub.node.kind": .string(random.pick(kinds)),
            ]
            return .trigger(trigger(index, expect: random.pick(Self.groupEvents), match: [:], related: related))
        }
    }

    /// A selective webhook (the webhook rows of the table above, in their proportions).
    public mutating func webhook(index: Int, port: Int = 9000) -> JSONValue {
        while true {
            if case .webhook(let json) = entry(index: index, port: port) { return json }
        }
    }

    private static func padded(_ index: Int) -> String {
        let number = String(index + 1)
        return String(repeating: "0", count: max(0, 6 - number.count)) + number
    }

    private mutating func webhook(_ index: Int, _ port: Int, eventType: String, nodeKind: String?) -> JSONValue {
        let padded = Self.padded(index)
        let scope = random.pick(["all_branches", "default_branch", "default_branch", "other_branches"])
        var match = JSONObject()
        if let nodeKind { match["infrahub.node.kind"] = .string(nodeKind) }
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
            "event_type": .string(eventType), "branch_scope": .string(scope),
            "node_kind": nodeKind.map(JSONValue.string) ?? .null,
            "shared_key": .string("secret-\(padded)"), "active": true, "trigger": trigger,
        ]
    }

    private func trigger(_ index: Int, expect: String, match: JSONValue, related: JSONValue) -> JSONValue {
        [
            "name": .string("trigger-\(Self.padded(index))"),
            "trigger": [
                "type": "event", "posture": "Reactive", "threshold": 1, "within": 0, "expect": [.string(expect)],
                "match": match, "match_related": related,
            ],
            // No action: matched, nothing run (a workflow action would need a configured workflow).
            "actions": [],
        ]
    }
}
