import GraphQL
import OrderedCollections
import Sluice

/// Builds the value GraphQL resolves an `EventNodeInterface` from: a dictionary of the interface's fields
/// (``Event/appendGraphQLNode(to:)``, spec §a.6) plus the extra fields of the event's concrete type (spec
/// §d.1 table), read from the event's related resources and `payload.data`.
///
/// Not thread-safe (one per request or subscription: it holds a decoder).
struct GraphQLEventNodeBuilder {
    private var decoder = EventDecoder()
    private var header = EventHeader()

    /// The node of the stored event `bytes`, or `nil` when they no longer decode (such events match
    /// nothing, as in queries).
    mutating func node(_ bytes: [UInt8]) -> [String: any Sendable]? {
        do throws(EventDecodingError) {
            try decoder.decodeHeader(bytes, into: &header)
        } catch {
            return nil
        }
        let event = Event(header: header, bytes: bytes)
        var json: [UInt8] = []
        event.appendGraphQLNode(to: &json)
        guard case .object(let base)? = try? JSONValue.parse(json),
            case .object(let stored)? = try? JSONValue.parse(bytes)
        else { return nil }
        var node: [String: any Sendable] = [:]
        for member in base.members {
            if member.key == "payload" {
                node[member.key] = Self.map(member.value)
            } else {
                node[member.key] = Self.sendable(member.value)
            }
        }
        let typeName = node["__typename"] as? String ?? "StandardEvent"
        let data = stored["payload"]?.objectValue?["data"]?.objectValue ?? JSONObject()
        let related = stored["related"]?.arrayValue?.compactMap(\.objectValue) ?? []
        let resource = stored["resource"]?.objectValue ?? JSONObject()
        for (key, value) in Self.extraFields(typeName, data: data, related: related, resource: resource) {
            node[key] = value
        }
        return node
    }

    /// The fields a concrete type adds to the interface's.
    static func extraFields(
        _ typeName: String,
        data: JSONObject,
        related: [JSONObject],
        resource: JSONObject
    ) -> [String: any Sendable] {
        var fields: [String: any Sendable] = [:]
        func copy(_ names: [String]) {
            for name in names { if let value = data[name], !value.isNull { fields[name] = Self.sendable(value) } }
        }
        let branchName = resource["infrahub.branch.name"]?.stringValue ?? data["branch_name"]?.stringValue
        switch typeName {
        case "NodeMutatedEvent":
            fields["attributes"] = related.filter {
                $0["prefect.resource.role"]?.stringValue == "infrahub.node.attribute_update"
            }
            .map { labels -> [String: any Sendable] in
                var attribute: [String: any Sendable] = [:]
                attribute["name"] = labels["infrahub.attribute.name"]?.stringValue ?? ""
                attribute["action"] = diffAction(labels["infrahub.attribute.action"]?.stringValue)
                attribute["kind"] = labels["infrahub.attribute.kind"]?.stringValue ?? ""
                attribute["value"] = nullable(labels["infrahub.attribute.value"]?.stringValue)
                attribute["value_previous"] = nullable(labels["infrahub.attribute.value_previous"]?.stringValue)
                return attribute
            }
            fields["relationships"] = related.filter {
                $0["prefect.resource.role"]?.stringValue == "infrahub.node.relationship_update"
            }
            .map { labels -> [String: any Sendable] in
                [
                    "name": labels["infrahub.relationship.name"]?.stringValue ?? "",
                    "action": diffAction(labels["infrahub.relationship.peer_status"]?.stringValue),
                    "peer": [
                        "id": labels["infrahub.relationship.peer_id"]?.stringValue ?? "",
                        "kind": labels["infrahub.relationship.peer_kind"]?.stringValue ?? "",
                    ] as [String: any Sendable],
                ]
            }
        case "BranchCreatedEvent": fields["created_branch"] = branchName ?? ""
        case "BranchMergedEvent": fields["source_branch"] = branchName ?? ""
        case "BranchRebasedEvent": fields["rebased_branch"] = branchName ?? ""
        case "BranchDeletedEvent":
            fields["deleted_branch"] = branchName ?? ""
            copy(["proposed_change_id"])
        case "ArtifactEvent":
            copy(["checksum", "checksum_previous", "storage_id", "storage_id_previous", "artifact_definition_id"])
        case "GroupEvent":
            fields["members"] = nodes(data["members"])
            fields["ancestors"] = nodes(data["ancestors"])
        case "ProposedChangeReviewEvent":
            copy(["reviewer_account_id", "reviewer_account_name", "reviewer_decision"])
        case "ProposedChangeReviewRevokedEvent":
            copy(["reviewer_account_id", "reviewer_account_name", "reviewer_former_decision"])
        case "ProposedChangeReviewRequestedEvent":
            copy(["requested_by_account_id", "requested_by_account_name"])
        case "ProposedChangeMergedEvent":
            copy(["merged_by_account_id", "merged_by_account_name"])
        case "AccountLoggedInEventType", "AccountLoggedOutEventType", "GroupAutoCreatedEventType",
            "GroupAutoCreateRejectedEventType", "GroupAutoCreateCappedEventType":
            copy(GraphQLEventSchema.dataFields[typeName]?.map { $0.name } ?? [])
            for name in ["groups", "roles", "dropped_claims"] where fields[name] != nil {
                fields[name] = data[name].map { Self.map($0) }
            }
        default: break
        }
        return fields
    }

    /// `{id, kind}` objects of a `payload.data` list.
    static func nodes(_ value: JSONValue?) -> [any Sendable] {
        (value?.arrayValue ?? []).compactMap { entry -> (any Sendable)? in
            guard let id = entry["id"]?.stringValue, let kind = entry["kind"]?.stringValue else { return nil }
            return ["id": id, "kind": kind] as [String: any Sendable]
        }
    }

    /// `DiffAction` by member name (`added` → `ADDED`); unknown text is `UNCHANGED`.
    static func diffAction(_ text: String?) -> String {
        switch text {
        case "added": "ADDED"
        case "removed": "REMOVED"
        case "updated": "UPDATED"
        default: "UNCHANGED"
        }
    }

    /// Infrahub renders `None` as the label text `"NULL"`; GraphQL gives it back as null.
    static func nullable(_ text: String?) -> String? { text == "NULL" ? nil : text }

    /// A JSON value as the plain values the default resolver hands out.
    static func sendable(_ value: JSONValue) -> (any Sendable)? {
        switch value {
        case .null: return nil
        case .bool(let flag): return flag
        case .number(let text): return Int(text) ?? Double(text)
        case .string(let text): return text
        case .array(let values): return values.map { Self.sendable($0) as any Sendable }
        case .object(let object):
            var dictionary: [String: any Sendable] = [:]
            for member in object.members { dictionary[member.key] = Self.sendable(member.value) }
            return dictionary
        }
    }

    /// A JSON value as a GraphQL `Map` (the `GenericScalar` fields), member order kept.
    static func map(_ value: JSONValue) -> Map {
        switch value {
        case .null: return .null
        case .bool(let flag): return .bool(flag)
        case .number(let text):
            if let integer = Int(text) { return .number(Number(integer)) }
            return .number(Number(Double(text) ?? 0))
        case .string(let text): return .string(text)
        case .array(let values): return .array(values.map { Self.map($0) })
        case .object(let object):
            var dictionary = OrderedDictionary<String, Map>()
            for member in object.members { dictionary[member.key] = Self.map(member.value) }
            return .dictionary(dictionary)
        }
    }

    /// A GraphQL `Map` as JSON (variables of a stored query).
    static func json(_ map: Map) -> JSONValue {
        switch map {
        case .undefined, .null: return .null
        case .bool(let flag): return .bool(flag)
        case .number(let number): return .number(number.description)
        case .string(let text): return .string(text)
        case .array(let values): return .array(values.map { Self.json($0) })
        case .dictionary(let dictionary):
            return .object(JSONObject(dictionary.map { JSONObject.Member($0.key, Self.json($0.value)) }))
        }
    }
}
