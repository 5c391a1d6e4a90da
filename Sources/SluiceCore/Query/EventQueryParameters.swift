/// An ``EventQuery`` read from URL query parameters (`GET /api/events?…`, docs/queries.md "REST").
///
/// The names are Infrahub's `InfrahubEvent` argument names (spec §d.1) — `ids`, `event_type`,
/// `event_type_filter.branch_merged.branches`, `event_type_filter.branch_rebased.branches`,
/// `event_type_filter.group_auto_create.idp`, `event_type_filter.group_auto_create.protocol`,
/// `primary_node__ids`, `related_node__ids`, `parent__ids`, `branches`, `account__ids`, `level`,
/// `has_children`, `since`, `until`, `order`, `limit`, `offset` — plus `count` and Sluice's own: `name`
/// (event-name glob), `kind` (primary node kind), `related_labels` (a JSON object of label patterns, as a
/// trigger's `match_related` entry) and `after` (the resume cursor, a log sequence).
///
/// A list is given by repeating its parameter (`branches=main&branches=dev`); an `event_type_filter.*`
/// parameter with an empty value makes that filter present without adding a value. Single-valued
/// parameters may appear once. An unknown parameter, a repeated single value, a number outside its range
/// or a malformed value is an ``EventQueryError`` naming the parameter. Pure value.
public struct EventQueryParameters: Sendable, Equatable {
    public var query = EventQuery()
    /// `count=true`: answer with the number of matches instead of the events.
    public var count = false

    /// Every parameter name this reader knows.
    public static let names: [String] = [
        "ids", "event_type", "event_type_filter.branch_merged.branches", "event_type_filter.branch_rebased.branches",
        "event_type_filter.group_auto_create.idp", "event_type_filter.group_auto_create.protocol",
        "primary_node__ids", "related_node__ids", "parent__ids", "branches", "account__ids", "level",
        "has_children", "since", "until", "order", "limit", "offset", "after", "count", "name", "kind",
        "related_labels",
    ]
    static let singleValued: Set<String> = [
        "level", "has_children", "since", "until", "order", "limit", "offset", "after", "count",
    ]

    /// Reads `items` (name, percent-decoded value) in order; `mayReadAccountEvents` is the caller's
    /// permission. The query is validated (``EventQuery/validate()``).
    public init(
        _ items: [(name: String, value: String)],
        mayReadAccountEvents: Bool
    ) throws(EventQueryError) {
        var seen: Set<String> = []
        for (name, value) in items {
            guard Self.names.contains(name) else {
                throw EventQueryError(
                    field: name,
                    message: "unknown parameter (known: \(Self.names.joined(separator: ", ")))"
                )
            }
            if Self.singleValued.contains(name) {
                guard seen.insert(name).inserted else {
                    throw EventQueryError(field: name, message: "may be given once")
                }
            }
            try read(name, value)
        }
        query.mayReadAccountEvents = mayReadAccountEvents
        try query.validate()
    }

    private mutating func read(_ name: String, _ value: String) throws(EventQueryError) {
        func list(_ current: [String]?) -> [String] { (current ?? []) + (value.isEmpty ? [] : [value]) }
        switch name {
        case "ids":
            guard let id = EventID.parse(value) else {
                throw EventQueryError(field: name, message: "'\(value)' is not a UUID (8-4-4-4-12 hex digits)")
            }
            query.ids.append(id)
        case "event_type": query.eventTypes.append(value)
        case "event_type_filter.branch_merged.branches":
            query.eventTypeFilter.branchMerged = list(query.eventTypeFilter.branchMerged)
        case "event_type_filter.branch_rebased.branches":
            query.eventTypeFilter.branchRebased = list(query.eventTypeFilter.branchRebased)
        case "event_type_filter.group_auto_create.idp":
            let current = query.eventTypeFilter.groupAutoCreate
            query.eventTypeFilter.groupAutoCreate = (list(current?.idp), current?.protocolNames)
        case "event_type_filter.group_auto_create.protocol":
            let current = query.eventTypeFilter.groupAutoCreate
            query.eventTypeFilter.groupAutoCreate = (current?.idp, list(current?.protocolNames))
        case "primary_node__ids": query.primaryNodeIDs.append(value)
        case "related_node__ids": query.relatedNodeIDs.append(value)
        case "parent__ids": query.parentIDs.append(value)
        case "branches": query.branches.append(value)
        case "account__ids": query.accountIDs.append(value)
        case "level": query.level = try Self.integer(name, value, 0...Int(Int32.max))
        case "has_children": query.hasChildren = try Self.boolean(name, value)
        case "since": query.since = try Self.timestamp(name, value)
        case "until": query.until = try Self.timestamp(name, value)
        case "order":
            guard let order = EventQuery.Order(rawValue: value.lowercased()) else {
                throw EventQueryError(field: name, message: "must be asc or desc (or ASC, DESC), not '\(value)'")
            }
            query.order = order
        case "limit": query.limit = try Self.integer(name, value, 0...EventQuery.pagingMax)
        case "offset": query.offset = try Self.integer(name, value, 0...EventQuery.pagingMax)
        case "after":
            guard let sequence = UInt64(value) else {
                throw EventQueryError(
                    field: name,
                    message: "must be a log sequence from 0 to \(UInt64.max), not '\(value)'"
                )
            }
            query.afterSequence = sequence
        case "count": count = try Self.boolean(name, value)
        case "name": query.names.append(Glob(value))
        case "kind": query.nodeKinds.append(value)
        default:  // related_labels
            query.relatedLabels.append(try Self.specification(name, value))
        }
    }

    /// Splits a URL query string (`a=1&b=x%20y`) into percent-decoded name–value pairs (`+` is a space, as
    /// HTML forms and Python's `urlencode` send it). A malformed `%` escape or bytes that are not UTF-8
    /// after decoding are an error naming the parameter.
    public static func decode(queryString: String) throws(EventQueryError) -> [(name: String, value: String)] {
        var items: [(name: String, value: String)] = []
        for part in queryString.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = part.firstIndex(of: UInt8(ascii: "="))
            let rawName = equals.map { part[..<$0] } ?? part[...]
            let rawValue = equals.map { part[part.index(after: $0)...] } ?? part[part.endIndex...]
            let name = try percentDecoded(rawName, parameter: String(decoding: rawName, as: UTF8.self))
            items.append((name, try percentDecoded(rawValue, parameter: name)))
        }
        return items
    }

    static func percentDecoded(_ bytes: Substring.UTF8View, parameter: String) throws(EventQueryError) -> String {
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var position = bytes.startIndex
        while position < bytes.endIndex {
            let byte = bytes[position]
            if byte == UInt8(ascii: "+") {
                decoded.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%") {
                let first = bytes.index(after: position)
                guard first < bytes.endIndex, bytes.index(after: first) < bytes.endIndex,
                    let high = hexValue(bytes[first]), let low = hexValue(bytes[bytes.index(after: first)])
                else {
                    throw EventQueryError(field: parameter, message: "a '%' must be followed by two hex digits")
                }
                decoded.append(high << 4 | low)
                position = bytes.index(position, offsetBy: 2)
            } else {
                decoded.append(byte)
            }
            position = bytes.index(after: position)
        }
        guard let text = String(validating: decoded, as: UTF8.self) else {
            throw EventQueryError(field: parameter, message: "is not UTF-8 after percent-decoding")
        }
        return text
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func integer(_ name: String, _ value: String, _ range: ClosedRange<Int>) throws(EventQueryError) -> Int {
        guard let number = Int(value), range.contains(number) else {
            throw EventQueryError(
                field: name,
                message: "must be an integer from \(range.lowerBound) to \(range.upperBound), not '\(value)'"
            )
        }
        return number
    }

    static func boolean(_ name: String, _ value: String) throws(EventQueryError) -> Bool {
        switch value {
        case "true": return true
        case "false": return false
        default: throw EventQueryError(field: name, message: "must be true or false, not '\(value)'")
        }
    }

    static func timestamp(_ name: String, _ value: String) throws(EventQueryError) -> Timestamp {
        guard let timestamp = Timestamp.parse(value) else {
            throw EventQueryError(field: name, message: "'\(value)' is not an RFC 3339 date-time")
        }
        return timestamp
    }

    /// A `related_labels` value: a JSON object of label patterns (a trigger's `match_related` entry).
    public static func specification(_ name: String, _ value: String) throws(EventQueryError) -> ResourceSpecification {
        let json: JSONValue
        do throws(JSONError) {
            json = try JSONValue.parse(value)
        } catch {
            throw EventQueryError(field: name, message: "not JSON: \(error)")
        }
        do throws(TriggerDefinitionError) {
            return try ResourceSpecification(json: json, path: name)
        } catch {
            throw EventQueryError(field: error.path, message: error.message)
        }
    }

}
