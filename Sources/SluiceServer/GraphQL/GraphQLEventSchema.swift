import GraphQL
import OrderedCollections
import Sluice
import Synchronization

/// What a GraphQL operation runs with: the log, the caller's permission, the caps, and (for
/// subscriptions) where the `subscribe` resolver leaves the stream it asked for.
final class GraphQLRequestContext: Sendable {
    let directory: String
    /// Infrahub's `MANAGE_ACCOUNTS`: the `admin` scope (or an open server).
    let mayReadAccountEvents: Bool
    let configuration: GraphQLConfiguration
    /// `/graphql/{branch}`: the branch named queries run on (`nil`: the default branch).
    let branch: String?
    let requested = Mutex<GraphQLStreamRequest?>(nil)

    init(directory: String, mayReadAccountEvents: Bool, configuration: GraphQLConfiguration, branch: String?) {
        self.directory = directory
        self.mayReadAccountEvents = mayReadAccountEvents
        self.configuration = configuration
        self.branch = branch
    }
}

/// The stream a subscription operation asked for (its `subscribe` resolver's arguments, checked).
enum GraphQLStreamRequest: Sendable {
    /// `events(filter:, after:)`: Sluice's live stream.
    case events(EventQuery, after: UInt64?)
    /// `query(name:, params:, interval:)`: Infrahub's stored query re-run every `intervalSeconds`.
    case named(name: String, text: String, params: [String: Map], intervalSeconds: Int)
}

/// Infrahub's GraphQL schema for events (spec §d.1, §d.2), and Sluice's live `events` subscription.
///
/// Built once; immutable.
enum GraphQLEventSchema {
    /// Infrahub's page size when `limit` is not given.
    static let defaultLimit = 10
    /// Infrahub's `since` default: the start of today (UTC) minus this many days.
    static let sinceDefaultDays: Int64 = 180
    /// Infrahub's `interval` default (also for 0 or null), seconds.
    static let intervalDefaultSeconds = 10
    static let intervalMaxSeconds = 86_400

    /// Fields the account and group auto-create types take from `payload.data` (spec §a.5).
    static let dataFields: [String: [(name: String, type: any GraphQLOutputType)]] = {
        let string = GraphQLString
        let accountBase: [(name: String, type: any GraphQLOutputType)] = [("kind", string), ("account_name", string)]
        let groupBase: [(name: String, type: any GraphQLOutputType)] = [
            ("idp", string), ("triggering_user_id", string), ("triggering_user_name", string), ("protocol", string),
        ]
        return [
            "AccountLoggedInEventType": accountBase + [
                ("account_type", string), ("auth_method", string), ("session_id", string),
                ("groups", genericScalar), ("roles", genericScalar), ("identity_source", string),
                ("client_ip", string), ("user_agent", string), ("timestamp", string),
            ],
            "AccountLoggedOutEventType": accountBase + [
                ("session_id", string), ("logout_type", string), ("client_ip", string), ("user_agent", string),
                ("timestamp", string),
            ],
            "GroupAutoCreatedEventType": groupBase + [
                ("group_id", string), ("group_name", string), ("source_pattern", string), ("origin_value", string),
            ],
            "GroupAutoCreateRejectedEventType": groupBase + [("rejected_claim_value", string)],
            "GroupAutoCreateCappedEventType": groupBase + [
                ("cap_value", GraphQLInt), ("dropped_claims", genericScalar), ("dropped_count", GraphQLInt),
            ],
        ]
    }()

    /// graphene's `DateTime`: ISO 8601 text out; RFC 3339 text in.
    static let dateTime: GraphQLScalarType = try! GraphQLScalarType(
        name: "DateTime",
        serialize: { value in
            guard let text = value as? String else { throw GraphQLError(message: "DateTime cannot represent \(value)") }
            return .string(text)
        },
        parseValue: { value in
            guard case .string(let text) = value, Timestamp.parse(text) != nil else {
                throw GraphQLError(message: "DateTime cannot represent \(value): not an ISO 8601 date-time")
            }
            return value
        },
        parseLiteral: { literal in
            guard let string = literal as? StringValue, Timestamp.parse(string.value) != nil else {
                throw GraphQLError(message: "DateTime cannot represent a non ISO 8601 date-time")
            }
            return .string(string.value)
        }
    )

    /// graphene's `GenericScalar`: any JSON value.
    static let genericScalar: GraphQLScalarType = try! GraphQLScalarType(
        name: "GenericScalar",
        serialize: { value in
            if let map = value as? Map { return map }
            return try GraphQL.map(from: value)
        },
        parseValue: { $0 },
        parseLiteral: { literal in literalMap(literal) }
    )

    static func literalMap(_ literal: any Value) -> Map {
        switch literal {
        case let value as StringValue: return .string(value.value)
        case let value as IntValue: return Int(value.value).map { .number(Number($0)) } ?? .string(value.value)
        case let value as FloatValue: return Double(value.value).map { .number(Number($0)) } ?? .string(value.value)
        case let value as BooleanValue: return .bool(value.value)
        case let value as EnumValue: return .string(value.value)
        case let value as ListValue: return .array(value.values.map(literalMap))
        case let value as ObjectValue:
            var dictionary = OrderedDictionary<String, Map>()
            for field in value.fields { dictionary[field.name.value] = literalMap(field.value) }
            return .dictionary(dictionary)
        default: return .null
        }
    }

    static let eventSortOrder = try! GraphQLEnumType(
        name: "EventSortOrder",
        values: ["ASC": GraphQLEnumValue(value: .string("ASC")), "DESC": GraphQLEnumValue(value: .string("DESC"))]
    )

    static let diffAction = try! GraphQLEnumType(
        name: "DiffAction",
        values: [
            "ADDED": GraphQLEnumValue(value: .string("ADDED")),
            "REMOVED": GraphQLEnumValue(value: .string("REMOVED")),
            "UPDATED": GraphQLEnumValue(value: .string("UPDATED")),
            "UNCHANGED": GraphQLEnumValue(value: .string("UNCHANGED")),
        ]
    )

    static let relatedNode = try! GraphQLObjectType(
        name: "RelatedNode",
        fields: [
            "id": GraphQLField(type: GraphQLNonNull(GraphQLString)),
            "kind": GraphQLField(type: GraphQLNonNull(GraphQLString)),
        ]
    )

    static let interfaceFields: GraphQLFieldMap = [
        "id": GraphQLField(type: GraphQLNonNull(GraphQLString), description: "The event id"),
        "event": GraphQLField(type: GraphQLNonNull(GraphQLString), description: "The event name"),
        "branch": GraphQLField(type: GraphQLString),
        "account_id": GraphQLField(type: GraphQLString),
        "occurred_at": GraphQLField(type: GraphQLNonNull(dateTime)),
        "level": GraphQLField(type: GraphQLNonNull(GraphQLInt)),
        "primary_node": GraphQLField(type: relatedNode),
        "related_nodes": GraphQLField(type: GraphQLNonNull(GraphQLList(GraphQLNonNull(relatedNode)))),
        "has_children": GraphQLField(type: GraphQLNonNull(GraphQLBoolean)),
        "parent_id": GraphQLField(type: GraphQLString),
    ]

    static let eventNodeInterface = try! GraphQLInterfaceType(
        name: "EventNodeInterface",
        fields: interfaceFields,
        resolveType: { value, _ in
            (value as? [String: any Sendable])?["__typename"] as? String ?? "StandardEvent"
        }
    )

    static let mutatedAttribute = try! GraphQLObjectType(
        name: "InfrahubMutatedAttribute",
        fields: [
            "name": GraphQLField(type: GraphQLNonNull(GraphQLString)),
            "action": GraphQLField(type: GraphQLNonNull(diffAction)),
            "value": GraphQLField(type: GraphQLString),
            "kind": GraphQLField(type: GraphQLNonNull(GraphQLString)),
            "value_previous": GraphQLField(type: GraphQLString),
        ]
    )

    static let mutatedRelationship = try! GraphQLObjectType(
        name: "InfrahubMutatedRelationship",
        fields: [
            "name": GraphQLField(type: GraphQLNonNull(GraphQLString)),
            "action": GraphQLField(type: GraphQLNonNull(diffAction)),
            "peer": GraphQLField(type: GraphQLNonNull(relatedNode)),
        ]
    )

    /// The concrete types, each with its extra fields (spec §d.1 table).
    static let concreteTypes: [GraphQLObjectType] = {
        let payload = GraphQLField(type: GraphQLNonNull(genericScalar))
        let string = GraphQLField(type: GraphQLString)
        let requiredString = GraphQLField(type: GraphQLNonNull(GraphQLString))
        let nodes = GraphQLField(type: GraphQLNonNull(GraphQLList(GraphQLNonNull(relatedNode))))
        var extras: [(String, GraphQLFieldMap)] = [
            (
                "NodeMutatedEvent",
                [
                    "payload": payload,
                    "attributes": GraphQLField(type: GraphQLNonNull(GraphQLList(GraphQLNonNull(mutatedAttribute)))),
                    "relationships": GraphQLField(
                        type: GraphQLNonNull(GraphQLList(GraphQLNonNull(mutatedRelationship)))
                    ),
                ]
            ),
            ("BranchCreatedEvent", ["created_branch": requiredString, "payload": payload]),
            ("BranchMergedEvent", ["source_branch": requiredString]),
            ("BranchRebasedEvent", ["rebased_branch": requiredString, "payload": payload]),
            (
                "BranchDeletedEvent",
                ["deleted_branch": requiredString, "proposed_change_id": string, "payload": payload]
            ),
            (
                "ArtifactEvent",
                [
                    "checksum": string, "checksum_previous": string, "storage_id": string,
                    "storage_id_previous": string, "artifact_definition_id": string,
                ]
            ),
            ("GroupEvent", ["members": nodes, "ancestors": nodes]),
            (
                "ProposedChangeReviewEvent",
                [
                    "reviewer_account_id": string, "reviewer_account_name": string, "reviewer_decision": string,
                    "payload": payload,
                ]
            ),
            (
                "ProposedChangeReviewRevokedEvent",
                [
                    "reviewer_account_id": string, "reviewer_account_name": string,
                    "reviewer_former_decision": string, "payload": payload,
                ]
            ),
            ("ProposedChangeApprovalsRevokedEvent", ["payload": payload]),
            (
                "ProposedChangeReviewRequestedEvent",
                ["requested_by_account_id": string, "requested_by_account_name": string, "payload": payload]
            ),
            (
                "ProposedChangeMergedEvent",
                ["merged_by_account_id": string, "merged_by_account_name": string, "payload": payload]
            ),
            ("ProposedChangeThreadEvent", ["payload": payload]),
            ("StandardEvent", ["payload": payload]),
        ]
        for name in [
            "AccountLoggedInEventType", "AccountLoggedOutEventType", "GroupAutoCreatedEventType",
            "GroupAutoCreateRejectedEventType", "GroupAutoCreateCappedEventType",
        ] {
            var fields: GraphQLFieldMap = ["payload": payload]
            for (field, type) in dataFields[name] ?? [] { fields[field] = GraphQLField(type: type) }
            extras.append((name, fields))
        }
        return extras.map { entry in
            var fields = interfaceFields
            for (key, field) in entry.1 { fields[key] = field }
            return try! GraphQLObjectType(name: entry.0, fields: fields, interfaces: [eventNodeInterface])
        }
    }()

    static let eventTypeFilter: GraphQLInputObjectType = {
        let branches = InputObjectField(type: GraphQLNonNull(GraphQLList(GraphQLNonNull(GraphQLString))))
        let strings = InputObjectField(type: GraphQLList(GraphQLNonNull(GraphQLString)))
        let branchFilter = { (name: String) in
            try! GraphQLInputObjectType(name: name, fields: ["branches": branches])
        }
        return try! GraphQLInputObjectType(
            name: "EventTypeFilter",
            fields: [
                "branch_merged": InputObjectField(type: branchFilter("BranchMergedFilter")),
                "branch_rebased": InputObjectField(type: branchFilter("BranchRebasedFilter")),
                "group_auto_create": InputObjectField(
                    type: try! GraphQLInputObjectType(
                        name: "GroupAutoCreateFilter",
                        fields: ["idp": strings, "protocol": strings]
                    )
                ),
            ]
        )
    }()

    static let stringList = GraphQLList(GraphQLNonNull(GraphQLString))

    /// The filters shared by `InfrahubEvent` and the `events` subscription's `filter`.
    static let filterArguments: [(String, any GraphQLInputType)] = [
        ("level", GraphQLInt),
        ("has_children", GraphQLBoolean),
        ("event_type", stringList),
        ("event_type_filter", eventTypeFilter),
        ("primary_node__ids", stringList),
        ("related_node__ids", stringList),
        ("parent__ids", stringList),
        ("branches", stringList),
        ("account__ids", stringList),
        ("ids", stringList),
    ]

    static let events = try! GraphQLObjectType(
        name: "Events",
        fields: [
            "count": GraphQLField(type: GraphQLNonNull(GraphQLInt)),
            "edges": GraphQLField(
                type: GraphQLNonNull(
                    GraphQLList(
                        GraphQLNonNull(
                            try! GraphQLObjectType(
                                name: "EventNodes",
                                fields: ["node": GraphQLField(type: eventNodeInterface)]
                            )
                        )
                    )
                )
            ),
        ]
    )

    static let query: GraphQLObjectType = {
        var arguments: GraphQLArgumentConfigMap = [
            "limit": GraphQLArgument(type: GraphQLInt, defaultValue: .number(Number(defaultLimit))),
            "offset": GraphQLArgument(type: GraphQLInt),
        ]
        for (name, type) in filterArguments { arguments[name] = GraphQLArgument(type: type) }
        arguments["since"] = GraphQLArgument(type: dateTime)
        arguments["until"] = GraphQLArgument(type: dateTime)
        arguments["order"] = GraphQLArgument(type: eventSortOrder, defaultValue: .string("DESC"))
        return try! GraphQLObjectType(
            name: "Query",
            fields: [
                "InfrahubEvent": GraphQLField(
                    type: events,
                    description: "Infrahub's event query (spec §d.1), answered from the log",
                    args: arguments,
                    resolve: { _, arguments, context, _ in
                        try await resolveInfrahubEvent(arguments, context as! GraphQLRequestContext)
                    }
                )
            ]
        )
    }()

    static let streamFilter: GraphQLInputObjectType = {
        var fields: InputObjectFieldMap = [:]
        for (name, type) in filterArguments { fields[name] = InputObjectField(type: type) }
        fields["names"] = InputObjectField(type: stringList, description: "Sluice: event-name globs (fnmatch)")
        fields["node_kinds"] = InputObjectField(type: stringList, description: "Sluice: primary node kinds")
        return try! GraphQLInputObjectType(name: "EventStreamFilter", fields: fields)
    }()

    static let subscription = try! GraphQLObjectType(
        name: "Subscription",
        fields: [
            "events": GraphQLField(
                type: GraphQLNonNull(
                    try! GraphQLObjectType(
                        name: "EventStreamItem",
                        fields: [
                            "cursor": GraphQLField(
                                type: GraphQLNonNull(GraphQLString),
                                description: "The event's log sequence: pass it as `after` to resume"
                            ),
                            "node": GraphQLField(type: GraphQLNonNull(eventNodeInterface)),
                        ]
                    )
                ),
                description: "Sluice: every matching event once it is durable, in log order",
                args: ["filter": GraphQLArgument(type: streamFilter), "after": GraphQLArgument(type: GraphQLString)],
                resolve: { source, _, _, _ in source },
                subscribe: { _, arguments, context, _ in
                    let context = context as! GraphQLRequestContext
                    let (query, after) = try streamQuery(arguments, context)
                    context.requested.withLock { $0 = .events(query, after: after) }
                    return AsyncStream<Int> { $0.finish() }
                }
            ),
            "query": GraphQLField(
                type: genericScalar,
                description: "Infrahub: a stored query (`queries:`) run every `interval` seconds (default 10)",
                args: [
                    "name": GraphQLArgument(type: GraphQLString),
                    "params": GraphQLArgument(type: genericScalar),
                    "interval": GraphQLArgument(type: GraphQLInt),
                ],
                resolve: { source, _, _, _ in source },
                subscribe: { _, arguments, context, _ in
                    let context = context as! GraphQLRequestContext
                    let request = try namedQuery(arguments, context)
                    context.requested.withLock { $0 = request }
                    return AsyncStream<Int> { $0.finish() }
                }
            ),
        ]
    )

    static let schema = try! GraphQLSchema(query: query, subscription: subscription, types: concreteTypes)

    // MARK: - Resolvers

    /// Reads the filters shared by `InfrahubEvent` and `events(filter:)` into `query`.
    static func applyFilters(_ arguments: Map, to query: inout EventQuery) throws {
        func strings(_ name: String) -> [String] { arguments[name].array?.compactMap(\.string) ?? [] }
        query.eventTypes = strings("event_type")
        query.primaryNodeIDs = strings("primary_node__ids")
        query.relatedNodeIDs = strings("related_node__ids")
        query.parentIDs = strings("parent__ids")
        query.branches = strings("branches")
        query.accountIDs = strings("account__ids")
        query.ids = try strings("ids").map { text in
            guard let id = EventID.parse(text) else {
                throw GraphQLError(message: "ids: '\(text)' is not an event id (a UUID)")
            }
            return id
        }
        if case .number(let level) = arguments["level"] { query.level = level.intValue }
        if case .bool(let flag) = arguments["has_children"] { query.hasChildren = flag }
        let filter = arguments["event_type_filter"]
        if case .dictionary = filter {
            func branches(_ key: String) -> [String]? {
                guard case .dictionary = filter[key] else { return nil }
                return filter[key]["branches"].array?.compactMap(\.string) ?? []
            }
            query.eventTypeFilter.branchMerged = branches("branch_merged")
            query.eventTypeFilter.branchRebased = branches("branch_rebased")
            if case .dictionary = filter["group_auto_create"] {
                let group = filter["group_auto_create"]
                query.eventTypeFilter.groupAutoCreate = (
                    group["idp"].array?.compactMap(\.string), group["protocol"].array?.compactMap(\.string)
                )
            }
        }
    }

    /// `InfrahubEvent`: Infrahub's arguments and defaults, the page cap, the count.
    static func resolveInfrahubEvent(
        _ arguments: Map,
        _ context: GraphQLRequestContext
    ) async throws
        -> [String: any Sendable]
    {
        var query = EventQuery()
        query.mayReadAccountEvents = context.mayReadAccountEvents
        try applyFilters(arguments, to: &query)
        let limitMax = context.configuration.limitMax
        let limit = arguments["limit"].int ?? defaultLimit
        if limit > limitMax { throw GraphQLError(message: "The parameter 'limit' can't be above \(limitMax)") }
        query.limit = limit
        query.offset = arguments["offset"].int ?? 0
        query.order = arguments["order"].string == "ASC" ? .ascending : .descending
        let now = Timestamp.now()
        let day: Int64 = 86_400_000_000
        let today = now.microsecondsSinceEpoch - ((now.microsecondsSinceEpoch % day) + day) % day
        query.since =
            arguments["since"].string.flatMap { Timestamp.parse($0) }
            ?? Timestamp(microsecondsSinceEpoch: today - sinceDefaultDays * day)
        query.until = arguments["until"].string.flatMap { Timestamp.parse($0) } ?? now
        do throws(EventQueryError) {
            try query.validate()
        } catch {
            throw GraphQLError(message: error.description)
        }
        let directory = context.directory
        let checked = query
        let (count, stored) = try await SluiceServer.blocking { () throws -> (Int, [QueriedEvent]) in
            let count = try EventQueryEngine.count(directory: directory, query: checked).matchedCount
            var stored: [QueriedEvent] = []
            try EventQueryEngine.run(directory: directory, query: checked) { event in
                stored.append(event)
                return true
            }
            return (count, stored)
        }
        var builder = GraphQLEventNodeBuilder()
        var edges: [any Sendable] = []
        for event in stored {
            if let node = builder.node(event.bytes) { edges.append(["node": node] as [String: any Sendable]) }
        }
        return ["count": count, "edges": edges]
    }

    /// `events(filter:, after:)`: the stream's query and resume cursor.
    static func streamQuery(_ arguments: Map, _ context: GraphQLRequestContext) throws -> (EventQuery, UInt64?) {
        var query = EventQuery()
        query.mayReadAccountEvents = context.mayReadAccountEvents
        query.order = .ascending
        let filter = arguments["filter"]
        if case .dictionary = filter {
            try applyFilters(filter, to: &query)
            query.names = (filter["names"].array?.compactMap(\.string) ?? []).map { Glob($0) }
            query.nodeKinds = filter["node_kinds"].array?.compactMap(\.string) ?? []
        }
        do throws(EventQueryError) {
            try query.validate()
        } catch {
            throw GraphQLError(message: "filter.\(error.description)")
        }
        var after: UInt64?
        if let text = arguments["after"].string {
            guard let sequence = UInt64(text) else {
                throw GraphQLError(
                    message: "after: '\(text)' is not a cursor (a log sequence from 0 to \(UInt64.max))"
                )
            }
            after = sequence
        }
        return (query, after)
    }

    /// `query(name:, params:, interval:)`: Infrahub's semantics (interval 0 or null ⇒ 10 s).
    static func namedQuery(_ arguments: Map, _ context: GraphQLRequestContext) throws -> GraphQLStreamRequest {
        let name = arguments["name"].string ?? ""
        guard let text = context.configuration.queries[name] else {
            throw GraphQLError(message: "Unable to find the CoreGraphQLQuery \(name)")
        }
        var interval = intervalDefaultSeconds
        if case .number(let number) = arguments["interval"], number.intValue != 0 {
            guard (1...intervalMaxSeconds).contains(number.intValue) else {
                throw GraphQLError(
                    message: "interval: must be from 0 to \(intervalMaxSeconds) seconds, not \(number.intValue)"
                )
            }
            interval = number.intValue
        }
        var params: [String: Map] = [:]
        if case .dictionary(let dictionary) = arguments["params"] {
            for (key, value) in dictionary { params[key] = value }
        } else if arguments["params"] != .null && arguments["params"] != .undefined {
            throw GraphQLError(message: "params: must be an object of the stored query's variables")
        }
        return .named(name: name, text: text, params: params, intervalSeconds: interval)
    }
}
