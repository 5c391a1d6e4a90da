/// A query over stored events: every filter of Infrahub's `InfrahubEvent` field (spec §d.1) with
/// Infrahub's semantics, plus Sluice's own (event-name globs, node kinds), the order, paging and a
/// resumable sequence cursor.
///
/// Every given condition must hold (AND); within one list any value may match (OR). An empty list or a
/// `nil` means "no condition". A pure value: ``matches(_:symbols:)`` decides one decoded event; the
/// engine (`EventQueryEngine` in SluiceStorage) streams the log through it.
///
/// Infrahub's rules kept here (spec §d.1, `InfrahubEventFilter.from_filters`):
/// - Without `event_type` (``eventTypes``, after ``eventTypeFilter`` added its names), only events whose
///   name starts with `infrahub.` match, and — unless ``mayReadAccountEvents`` — none starting with
///   `infrahub.account.`; asking for an `infrahub.account.*` type without it is an error (``validate()``).
/// - ``eventTypeFilter`` adds `infrahub.branch.merged` / `.rebased` / the three `infrahub.group.auto_*`
///   names unless `infrahub.branch.created` is in ``eventTypes`` (Infrahub checks that name for all
///   three, sic), and its lists filter the **primary** resource's `infrahub.branch.name`,
///   `infrahub.security.idp` and `infrahub.security.protocol` labels.
/// - ``primaryNodeIDs``: the primary resource's `infrahub.node.id`; a value ending in `*` is a prefix
///   (Prefect's LIKE match of resource labels).
/// - ``relatedNodeIDs``: a related resource with role `infrahub.related.node`, `infrahub.group.member`
///   or `infrahub.group.ancestor` whose `prefect.resource.id` is listed.
/// - ``parentIDs``: a related `infrahub.child_event` resource whose `infrahub.event_parent.id` is listed.
/// - ``branches``: a related `infrahub.branch` resource whose `infrahub.resource.label` is listed.
/// - ``accountIDs``: a related `infrahub.account` resource whose `infrahub.resource.id` is listed.
/// - ``level`` / ``hasChildren``: the related `infrahub.event` resource's `infrahub.event.level` equals
///   the decimal text / `infrahub.event.has_children` equals `true` or `false`.
/// - ``since`` / ``until``: `occurred` within the closed range (Prefect's `occurred.since/until`).
///   Infrahub's defaults (today − 180 days, now) belong to its GraphQL layer; here `nil` is unbounded.
///
/// Sluice's own: ``names`` (globs), ``nodeKinds`` and ``relatedLabels`` — label patterns over the related
/// resources with Prefect's `match_related` semantics (``ResourceSpecification``): each specification
/// needs some related resource that satisfies all its labels; the role is the label
/// `prefect.resource.role`, so a specification is role-aware by naming it.
public struct EventQuery: Sendable, Equatable {
    /// Result order by log sequence (the order events were appended).
    public enum Order: String, Sendable, Equatable {
        case ascending = "asc"
        case descending = "desc"
    }

    /// `EventTypeFilter` of spec §d.1. `nil` members are absent from the request.
    public struct EventTypeFilter: Sendable, Equatable {
        /// `branch_merged.branches`.
        public var branchMerged: [String]?
        /// `branch_rebased.branches`.
        public var branchRebased: [String]?
        /// `group_auto_create.idp` and `.protocol` (each optional inside a present `group_auto_create`).
        public var groupAutoCreate: (idp: [String]?, protocolNames: [String]?)?

        public init() {}

        public var isEmpty: Bool { branchMerged == nil && branchRebased == nil && groupAutoCreate == nil }

        public static func == (left: Self, right: Self) -> Bool {
            left.branchMerged == right.branchMerged && left.branchRebased == right.branchRebased
                && left.groupAutoCreate?.idp == right.groupAutoCreate?.idp
                && left.groupAutoCreate?.protocolNames == right.groupAutoCreate?.protocolNames
                && (left.groupAutoCreate == nil) == (right.groupAutoCreate == nil)
        }
    }

    public var ids: [EventID] = []
    /// `event_type`: exact event names.
    public var eventTypes: [String] = []
    public var eventTypeFilter = EventTypeFilter()
    public var primaryNodeIDs: [String] = []
    public var relatedNodeIDs: [String] = []
    public var parentIDs: [String] = []
    public var branches: [String] = []
    public var accountIDs: [String] = []
    public var level: Int?
    public var hasChildren: Bool?
    /// Inclusive lower bound on `occurred`.
    public var since: Timestamp?
    /// Inclusive upper bound on `occurred`.
    public var until: Timestamp?
    /// Sluice: event-name patterns (``Glob``, fnmatch); any may match.
    public var names: [Glob] = []
    /// Sluice: the primary resource's `infrahub.node.kind`.
    public var nodeKinds: [String] = []
    /// Sluice: related-resource label patterns (Prefect's `match_related`): every specification needs some
    /// related resource satisfying all of its labels (fnmatch globs, `!` negates, a missing label never
    /// matches; `prefect.resource.role` is the role). An empty specification matches every event.
    public var relatedLabels: [ResourceSpecification] = []
    /// Infrahub's `MANAGE_ACCOUNTS` permission: without it `infrahub.account.*` events are hidden.
    public var mayReadAccountEvents = true
    /// Infrahub's default is `DESC` (newest first).
    public var order: Order = .descending
    /// Most results to return; `nil` is no limit (Infrahub's 50 cap belongs to its GraphQL layer).
    public var limit: Int?
    /// Matching events to skip before the first result.
    public var offset = 0
    /// Resume cursor: only events after this sequence in ``order`` (ASC: greater, DESC: smaller).
    public var afterSequence: UInt64?

    public init() {}

    public static let infrahubPrefix = "infrahub."
    public static let accountPrefix = "infrahub.account."
    /// Largest accepted ``limit`` and ``offset``.
    public static let pagingMax = Int(Int32.max)

    /// Checks the query's numbers and permissions; the error names the field and its range.
    public func validate() throws(EventQueryError) {
        if let limit, !(0...Self.pagingMax).contains(limit) {
            throw EventQueryError(field: "limit", message: "must be from 0 to \(Self.pagingMax), not \(limit)")
        }
        if !(0...Self.pagingMax).contains(offset) {
            throw EventQueryError(field: "offset", message: "must be from 0 to \(Self.pagingMax), not \(offset)")
        }
        if let level, !(0...Int(Int32.max)).contains(level) {
            throw EventQueryError(field: "level", message: "must be from 0 to \(Int32.max), not \(level)")
        }
        if let since, let until, since > until {
            throw EventQueryError(field: "since", message: "\(since) is after until (\(until))")
        }
        if !mayReadAccountEvents, let name = eventTypes.first(where: { $0.hasPrefix(Self.accountPrefix) }) {
            throw EventQueryError(
                field: "event_type",
                message: "\(name): reading account events needs the MANAGE_ACCOUNTS permission"
            )
        }
    }

    /// The exact event names a matching event must have (``eventTypes`` plus what ``eventTypeFilter``
    /// adds), or `nil` when any name may match (subject to the `infrahub.` prefix rule).
    public var effectiveEventTypes: [String]? {
        var names = eventTypes
        let adds = !eventTypes.contains("infrahub.branch.created")
        if eventTypeFilter.branchMerged != nil && adds { names.append("infrahub.branch.merged") }
        if eventTypeFilter.branchRebased != nil && adds { names.append("infrahub.branch.rebased") }
        if eventTypeFilter.groupAutoCreate != nil && adds {
            names += [
                "infrahub.group.auto_created", "infrahub.group.auto_create_rejected",
                "infrahub.group.auto_create_capped",
            ]
        }
        return names.isEmpty ? nil : names
    }

    /// The primary-resource label conditions ``eventTypeFilter`` sets: label key and accepted values.
    /// For the same key, `branch_rebased` replaces `branch_merged` (Infrahub assigns one label dict).
    public var primaryLabelConditions: [(key: String, values: [String])] {
        var conditions: [(key: String, values: [String])] = []
        let branches =
            eventTypeFilter.branchRebased.flatMap { $0.isEmpty ? nil : $0 }
            ?? eventTypeFilter.branchMerged.flatMap { $0.isEmpty ? nil : $0 }
        if let branches { conditions.append(("infrahub.branch.name", branches)) }
        if let idp = eventTypeFilter.groupAutoCreate?.idp, !idp.isEmpty {
            conditions.append(("infrahub.security.idp", idp))
        }
        if let protocolNames = eventTypeFilter.groupAutoCreate?.protocolNames, !protocolNames.isEmpty {
            conditions.append(("infrahub.security.protocol", protocolNames))
        }
        return conditions
    }

    /// `true` when an event appended at `sequence` is on the far side of the cursor.
    public func isAfterCursor(_ sequence: UInt64) -> Bool {
        guard let afterSequence else { return true }
        return order == .ascending ? sequence > afterSequence : sequence < afterSequence
    }

    /// `true` when an event occurring in `[minimum, maximum]` (microseconds) may be in the time window.
    public func mayMatch(minimumMicroseconds: Int64, maximumMicroseconds: Int64) -> Bool {
        if let since, maximumMicroseconds < since.microsecondsSinceEpoch { return false }
        if let until, minimumMicroseconds > until.microsecondsSinceEpoch { return false }
        return true
    }

    /// Whether `event` (decoded with `symbols`) matches every condition. Ignores the cursor and paging.
    public func matches(_ event: Event, symbols: SymbolTable) -> Bool {
        let header = event.header
        if let since, header.occurred < since { return false }
        if let until, header.occurred > until { return false }
        if !ids.isEmpty && !ids.contains(header.id) { return false }
        guard matchesName(symbols.string(header.name)) else { return false }
        if !nodeKinds.isEmpty && (header.nodeKind.isNone || !nodeKinds.contains(symbols.string(header.nodeKind))) {
            return false
        }
        guard !header.resources.isEmpty else { return false }
        if !primaryNodeIDs.isEmpty {
            guard let value = event.labelValue(.infrahubNodeID, of: header.primary),
                primaryNodeIDs.contains(where: { Self.likeMatches($0, value) })
            else { return false }
        }
        for (key, values) in primaryLabelConditions {
            guard let symbol = symbols.lookup(key), let value = event.labelValue(symbol, of: header.primary),
                values.contains(value)
            else { return false }
        }
        if !relatedNodeIDs.isEmpty
            && !Self.related(
                event,
                roles: [.roleRelatedNode, .roleGroupMember, .roleGroupAncestor],
                key: .prefectResourceID,
                in: relatedNodeIDs
            )
        {
            return false
        }
        if !parentIDs.isEmpty
            && !Self.related(event, roles: [.roleChildEvent], key: .infrahubEventParentID, in: parentIDs)
        {
            return false
        }
        if !branches.isEmpty && !Self.related(event, roles: [.roleBranch], key: .infrahubResourceLabel, in: branches) {
            return false
        }
        if !accountIDs.isEmpty && !Self.related(event, roles: [.roleAccount], key: .infrahubResourceID, in: accountIDs)
        {
            return false
        }
        if let level, !Self.related(event, roles: [.roleEvent], key: .infrahubEventLevel, in: [String(level)]) {
            return false
        }
        for specification in relatedLabels where !specification.matchesEveryResource {
            let satisfied = header.related.contains { resource in
                specification.matches { label in
                    guard let symbol = symbols.lookup(label) else { return nil }
                    return event.labelValue(symbol, of: resource)
                }
            }
            guard satisfied else { return false }
        }
        if let hasChildren,
            !Self.related(
                event,
                roles: [.roleEvent],
                key: .infrahubEventHasChildren,
                in: [hasChildren ? "true" : "false"]
            )
        {
            return false
        }
        return true
    }

    /// The name conditions: effective `event_type`, else the `infrahub.` prefix rule; and the globs.
    public func matchesName(_ name: String) -> Bool {
        if let types = effectiveEventTypes {
            guard types.contains(name) else { return false }
        } else {
            guard name.hasPrefix(Self.infrahubPrefix) else { return false }
        }
        if !mayReadAccountEvents && name.hasPrefix(Self.accountPrefix) { return false }
        if !names.isEmpty && !names.contains(where: { $0.matches(name) }) { return false }
        return true
    }

    /// Prefect's label match: a pattern ending in `*` is a prefix, anything else is exact.
    static func likeMatches(_ pattern: String, _ value: String) -> Bool {
        pattern.hasSuffix("*") ? value.hasPrefix(pattern.dropLast()) : pattern == value
    }

    /// Some related resource with one of `roles` has label `key` with a value in `values`.
    static func related(_ event: Event, roles: [Symbol], key: Symbol, in values: [String]) -> Bool {
        for resource in event.header.related where roles.contains(resource.role) {
            if let value = event.labelValue(key, of: resource), values.contains(value) { return true }
        }
        return false
    }
}

/// A query that cannot run: the field (Infrahub's argument name) and why.
public struct EventQueryError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}
