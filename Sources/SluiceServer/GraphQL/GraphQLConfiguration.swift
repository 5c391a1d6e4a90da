import GraphQL
public import Sluice

/// The `graphql:` and `queries:` sections of the configuration file (docs/queries.md "GraphQL").
///
/// ```yaml
/// graphql:
///   limit_max: 50              # InfrahubEvent's page cap (Infrahub: 50)
///   subscription_buffer: 4096  # events waiting for one subscriber before it is cut off (close 4408)
///   subscriptions_max: 256     # live `events` subscriptions at once (each reads the log on a thread)
/// queries:                     # stored queries for the subscription field query(name:, params:, interval:)
///   recent_branches: |
///     query($limit: Int) { InfrahubEvent(event_type: ["infrahub.branch.created"], limit: $limit) { count } }
/// ```
///
/// Immutable value.
public struct GraphQLConfiguration: Sendable, Equatable {
    /// The largest `limit` `InfrahubEvent` takes; above it the query is refused with Infrahub's message.
    public var limitMax = 50
    /// Matching events one subscriber may leave unread before it is cut off.
    public var subscriptionBufferLimit = 4_096
    /// Live `events` subscriptions at once, over every connection.
    public var subscriptionCountMax = 256
    /// Stored queries by name (each text parsed when the configuration is read).
    public var queries: [String: String] = [:]

    public init() {}

    public static let keys = ["limit_max", "subscription_buffer", "subscriptions_max"]

    public static let integerRanges: [String: ClosedRange<Int64>] = [
        "graphql.limit_max": 1...1_000_000,
        "graphql.subscription_buffer": 1...Int64(Pipeline.subscriptionBufferLimitMax),
        "graphql.subscriptions_max": 1...10_000,
    ]

    /// Reads the `graphql` and `queries` sections of `document` (defaults when absent).
    public init(document: ConfigurationDocument) throws(ConfigurationError) {
        self.init()
        if let section = document.json["graphql"] {
            guard let object = section.objectValue else {
                throw document.error(field: "graphql", message: "must be a mapping")
            }
            if let key = ConfigurationKeys.firstUnknownKey(in: object, known: Self.keys) {
                throw document.error(
                    field: "graphql.\(key)",
                    message: ConfigurationKeys.unknownKeyMessage(key, known: Self.keys),
                    isKey: true
                )
            }
            func integer(_ key: String) throws(ConfigurationError) -> Int? {
                guard let value = object[key] else { return nil }
                let field = "graphql.\(key)"
                let range = Self.integerRanges[field]!  // every key of `keys` has a range
                guard let number = value.int64Value, range.contains(number) else {
                    throw document.error(
                        field: field,
                        message: "must be an integer from \(range.lowerBound) to \(range.upperBound), not \(value.text)"
                    )
                }
                return Int(number)
            }
            if let value = try integer("limit_max") { limitMax = value }
            if let value = try integer("subscription_buffer") { subscriptionBufferLimit = value }
            if let value = try integer("subscriptions_max") { subscriptionCountMax = value }
        }
        if let section = document.json["queries"] {
            guard let object = section.objectValue else {
                throw document.error(field: "queries", message: "must be a mapping of query names to GraphQL text")
            }
            for member in object.members {
                let field = "queries.\(member.key)"
                guard !member.key.isEmpty, let text = member.value.stringValue else {
                    throw document.error(field: field, message: "must be the text of a GraphQL query")
                }
                do {
                    let parsed = try parse(source: Source(body: text, name: field))
                    let operations = parsed.definitions.compactMap { $0 as? OperationDefinition }
                    guard operations.count == 1, operations[0].operation == .query else {
                        throw document.error(field: field, message: "must hold exactly one query operation")
                    }
                    let errors = validate(schema: GraphQLEventSchema.schema, ast: parsed)
                    if let first = errors.first {
                        throw document.error(field: field, message: "invalid against the schema: \(first.message)")
                    }
                } catch let error as ConfigurationError {
                    throw error
                } catch {
                    throw document.error(field: field, message: "not a GraphQL document: \(error)")
                }
                queries[member.key] = text
            }
        }
    }
}
