/// A node reference `{id, kind}`.
public struct NodeReference: Sendable, Equatable {
    public var id: String
    public var kind: String
    public init(id: String, kind: String) {
        self.id = id
        self.kind = kind
    }
}

/// One changed attribute of a node mutation (Infrahub `AttributeChangelog`).
public struct AttributeChange: Sendable, Equatable {
    public var name: String
    public var value: JSONValue
    public var valuePrevious: JSONValue
    /// The attribute kind, e.g. `Text`, `Dropdown`, `Password`.
    public var kind: String
    /// `added | removed | updated | unchanged`.
    public var status: String
    public var properties: JSONObject

    public init(
        name: String,
        value: JSONValue,
        valuePrevious: JSONValue = .null,
        kind: String = "Text",
        status: String = "updated",
        properties: JSONObject = JSONObject()
    ) {
        self.name = name
        self.value = value
        self.valuePrevious = valuePrevious
        self.kind = kind
        self.status = status
        self.properties = properties
    }
}

/// One changed peer of a relationship.
public struct RelationshipPeerChange: Sendable, Equatable {
    public var peer: NodeReference
    /// `added | removed`.
    public var status: String
    public init(peer: NodeReference, status: String) {
        self.peer = peer
        self.status = status
    }
}

/// One changed relationship (Infrahub `RelationshipCardinalityOne/ManyChangelog`).
public struct RelationshipChange: Sendable, Equatable {
    public enum Cardinality: Sendable, Equatable {
        /// The new peer and the previous peer (either may be absent).
        case one(peer: NodeReference?, previous: NodeReference?, status: String)
        case many(peers: [RelationshipPeerChange])
    }

    public var name: String
    public var cardinality: Cardinality

    public init(name: String, cardinality: Cardinality) {
        self.name = name
        self.cardinality = cardinality
    }

    /// Peer changes as the related resources list them: for cardinality one an `added` entry for the
    /// new peer and a `removed` entry for the previous one.
    var peerChanges: [RelationshipPeerChange] {
        switch cardinality {
        case .one(let peer, let previous, _):
            var changes: [RelationshipPeerChange] = []
            if let peer { changes.append(RelationshipPeerChange(peer: peer, status: "added")) }
            if let previous { changes.append(RelationshipPeerChange(peer: previous, status: "removed")) }
            return changes
        case .many(let peers):
            return peers
        }
    }
}

/// A node created, updated or deleted (`infrahub.node.*`, spec §a.4).
public struct NodeMutation: Sendable, Equatable {
    public enum Action: String, Sendable { case created, updated, deleted }

    public var kind: String
    public var nodeID: String
    public var action: Action
    /// `live | merge | rebase | recompute`.
    public var origin: String = "live"
    /// `changelog.root_node_id`: the parent's id for components, else the node's own id (`nil`).
    public var rootID: String?
    public var displayLabel: String
    public var attributes: [AttributeChange] = []
    public var relationships: [RelationshipChange] = []
    /// The node's parent, for component nodes.
    public var parent: NodeReference?
    /// Other nodes of the changelog, listed as `infrahub.related.node` resources.
    public var relatedNodes: [NodeReference] = []

    public init(kind: String, nodeID: String, action: Action, displayLabel: String) {
        self.kind = kind
        self.nodeID = nodeID
        self.action = action
        self.displayLabel = displayLabel
    }

    public var eventName: InfrahubEventName {
        switch action {
        case .created: return .nodeCreated
        case .updated: return .nodeUpdated
        case .deleted: return .nodeDeleted
        }
    }

    /// Group kinds whose mutation events carry only the common related resources.
    static let kindsWithoutExtraRelated: Set<String> = [
        "CoreGeneratorGroup", "CoreGeneratorAwareGroup", "CoreGraphQLQueryGroup",
    ]
}

extension JSONValue {
    /// Python's `str(value)` as Infrahub writes attribute values into labels: `None` → `NULL`,
    /// booleans `True`/`False`, strings as they are, containers in Python's repr.
    public func pythonLabelText() -> String {
        switch self {
        case .null: return "NULL"
        case .string(let text): return text
        default: return pythonRepr()
        }
    }

    /// Python's `repr` of the value after `json.loads` (strings single-quoted as Python does).
    public func pythonRepr() -> String {
        switch self {
        case .null: return "None"
        case .bool(let value): return value ? "True" : "False"
        case .number(let text): return text
        case .string(let text):
            let quote = text.contains("'") && !text.contains("\"") ? "\"" : "'"
            var escaped = ""
            for character in text {
                switch character {
                case "\\": escaped += "\\\\"
                case "\n": escaped += "\\n"
                case "\r": escaped += "\\r"
                case "\t": escaped += "\\t"
                case "'" where quote == "'": escaped += "\\'"
                default: escaped.append(character)
                }
            }
            return quote + escaped + quote
        case .array(let elements): return "[" + elements.map { $0.pythonRepr() }.joined(separator: ", ") + "]"
        case .object(let object):
            return "{"
                + object.members.map { JSONValue.string($0.key).pythonRepr() + ": " + $0.value.pythonRepr() }
                .joined(separator: ", ") + "}"
        }
    }
}
