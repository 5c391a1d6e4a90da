/// An event's lineage entry: `{id, name}` (Infrahub `ParentEvent`).
public struct InfrahubParentEvent: Sendable, Equatable {
    public var id: EventID
    public var name: String
    public init(id: EventID, name: String) {
        self.id = id
        self.name = name
    }
}

/// The metadata every Infrahub event carries (`EventMeta` + `EventContext`, spec §a.1–a.3).
public struct InfrahubEventMeta: Sendable, Equatable {
    public var id: EventID
    public var occurred: Timestamp
    /// `context.branch.name`; `-global-` for branch.created/merged/deleted.
    public var branchName: String
    /// `context.branch.id`; may be absent.
    public var branchID: String?
    /// `context.account_id`.
    public var accountID: String?
    /// The Infrahub version reported in the `infrahub.version` related resource.
    public var version: String = "1.11.9"
    /// 0 for a root event, parent's level + 1 for a child.
    public var level: Int = 0
    public var hasChildren: Bool = false
    /// The direct parent event.
    public var parent: InfrahubParentEvent?
    /// Ancestors, nearest first (`[parent] + parent.ancestors`).
    public var ancestors: [InfrahubParentEvent] = []
    /// `context.priority`: `high`, `medium`, `low` or absent.
    public var priority: String?
    /// `context.parent_event` as serialized (Infrahub sets it to the event's own `{id, name}` when the
    /// meta was built from a request context; see spec §a.2 quirk).
    public var contextParentEvent: InfrahubParentEvent?

    public init(id: EventID, occurred: Timestamp, branchName: String, branchID: String? = nil, accountID: String? = nil)
    {
        self.id = id
        self.occurred = occurred
        self.branchName = branchName
        self.branchID = branchID
        self.accountID = accountID
    }

    /// The meta of a child event of `parent` (Infrahub `EventMeta.from_parent`): level + 1, the parent
    /// and its ancestors as lineage. The caller marks the parent's `hasChildren`.
    public func child(id: EventID, occurred: Timestamp, parentName: String) -> InfrahubEventMeta {
        var meta = self
        meta.id = id
        meta.occurred = occurred
        meta.level = level + 1
        meta.hasChildren = false
        meta.parent = InfrahubParentEvent(id: self.id, name: parentName)
        meta.ancestors = [InfrahubParentEvent(id: self.id, name: parentName)] + ancestors
        meta.contextParentEvent = nil
        return meta
    }

    /// The related resources common to every event, in Infrahub's order (spec §a.3):
    /// `infrahub.version`, `infrahub.event`, `infrahub.account` (when an account is set),
    /// `infrahub.branch`, `infrahub.child_event` (when there is a parent), one `infrahub.ancestor_event`
    /// per ancestor.
    public func commonRelated() -> [ResourceDraft] {
        var related: [ResourceDraft] = [
            ResourceDraft(id: version, role: "infrahub.version"),
            ResourceDraft(
                id: id.description,
                role: "infrahub.event",
                [
                    ("infrahub.event.has_children", hasChildren ? "true" : "false"),
                    ("infrahub.event.level", String(level)),
                ]
            ),
        ]
        if let accountID {
            related.append(
                ResourceDraft(
                    id: "infrahub.account.\(accountID)",
                    role: "infrahub.account",
                    [("infrahub.resource.id", accountID)]
                )
            )
        }
        let branchIdentifier = branchID ?? ""
        related.append(
            ResourceDraft(
                id: "infrahub.branch.\(branchIdentifier)",
                role: "infrahub.branch",
                [
                    ("infrahub.resource.id", branchIdentifier),
                    ("infrahub.resource.label", branchName),
                ]
            )
        )
        if let parent {
            related.append(
                ResourceDraft(
                    id: id.description,
                    role: "infrahub.child_event",
                    [("infrahub.event_parent.id", parent.id.description)]
                )
            )
        }
        for ancestor in ancestors {
            related.append(
                ResourceDraft(
                    id: ancestor.id.description,
                    role: "infrahub.ancestor_event",
                    [("infrahub.ancestor_event.name", ancestor.name)]
                )
            )
        }
        return related
    }

    /// `payload.context` (spec §a.2), keys in model order: `branch {name, id}`, `account_id`, `priority`,
    /// `parent_event`.
    public func context() -> JSONValue {
        let parentEvent: JSONValue =
            contextParentEvent.map {
                ["id": .string($0.id.description), "name": .string($0.name)]
            } ?? .null
        return [
            "branch": ["name": .string(branchName), "id": branchID.map(JSONValue.string) ?? .null],
            "account_id": accountID.map(JSONValue.string) ?? .null,
            "priority": priority.map(JSONValue.string) ?? .null,
            "parent_event": parentEvent,
        ]
    }
}
