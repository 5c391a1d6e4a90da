/// Strings every table interns first, in this order, so their ``Symbol`` values are constants the
/// decoder and matchers compare against without a lookup.
extension Symbol {
    public static let prefectResourceID = Symbol(rawValue: 1)
    public static let prefectResourceRole = Symbol(rawValue: 2)
    public static let infrahubNodeKind = Symbol(rawValue: 3)
    public static let infrahubNodeID = Symbol(rawValue: 4)
    public static let infrahubResourceID = Symbol(rawValue: 5)
    public static let infrahubResourceLabel = Symbol(rawValue: 6)
    public static let infrahubEventLevel = Symbol(rawValue: 7)
    public static let infrahubEventHasChildren = Symbol(rawValue: 8)
    public static let infrahubEventParentID = Symbol(rawValue: 9)
    public static let infrahubAncestorEventName = Symbol(rawValue: 10)
    public static let infrahubBranchName = Symbol(rawValue: 11)
    // Roles.
    public static let roleVersion = Symbol(rawValue: 12)
    public static let roleEvent = Symbol(rawValue: 13)
    public static let roleAccount = Symbol(rawValue: 14)
    public static let roleBranch = Symbol(rawValue: 15)
    public static let roleChildEvent = Symbol(rawValue: 16)
    public static let roleAncestorEvent = Symbol(rawValue: 17)
    public static let roleRelatedNode = Symbol(rawValue: 18)
    public static let roleGroupMember = Symbol(rawValue: 19)
    public static let roleGroupAncestor = Symbol(rawValue: 20)
    /// The context branch name of events that are not on a branch (`branch.created`, `.merged`, `.deleted`).
    public static let globalBranch = Symbol(rawValue: 21)

    /// The texts, in symbol order (index 0 is symbol 1).
    /// How many well-known symbols every table starts with.
    public static var wellKnownCount: Int { wellKnownTexts.count }

    static let wellKnownTexts: [String] = [
        "prefect.resource.id", "prefect.resource.role", "infrahub.node.kind", "infrahub.node.id",
        "infrahub.resource.id", "infrahub.resource.label", "infrahub.event.level", "infrahub.event.has_children",
        "infrahub.event_parent.id", "infrahub.ancestor_event.name", "infrahub.branch.name",
        "infrahub.version", "infrahub.event", "infrahub.account", "infrahub.branch", "infrahub.child_event",
        "infrahub.ancestor_event", "infrahub.related.node", "infrahub.group.member", "infrahub.group.ancestor",
        "-global-",
    ]
}
