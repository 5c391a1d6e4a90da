/// A filter over events for log scans and queries: every given condition must hold (AND); within one
/// condition any listed value may match (OR). An empty filter matches everything.
///
/// Immutable and `Sendable`. Matching reads the decoded header and the event bytes; it needs the
/// ``SymbolTable`` of the decoder that produced the header.
public struct EventFilter: Sendable {
    /// A related-resource condition: some related resource (with `role`, when given) has label `key`
    /// whose value matches `value`.
    public struct RelatedLabel: Sendable {
        public var role: String?
        public var key: String
        public var value: Glob
        public init(role: String?, key: String, value: Glob) {
            self.role = role
            self.key = key
            self.value = value
        }
    }

    /// Event-name patterns (an exact name is a pattern without wildcards; a prefix is `prefix*`).
    public var eventNames: [Glob] = []
    public var branches: Set<String> = []
    public var nodeKinds: Set<String> = []
    public var accounts: Set<String> = []
    public var relatedLabels: [RelatedLabel] = []
    /// Inclusive lower bound on `occurred`.
    public var fromTimestamp: Timestamp?
    /// Exclusive upper bound on `occurred`.
    public var untilTimestamp: Timestamp?

    public init() {}

    public var isEmpty: Bool {
        eventNames.isEmpty && branches.isEmpty && nodeKinds.isEmpty && accounts.isEmpty && relatedLabels.isEmpty
            && fromTimestamp == nil && untilTimestamp == nil
    }

    /// `true` when a frame whose records span `[minimum, maximum]` can hold a match (early skip).
    public func mayMatch(minimumMicroseconds: Int64, maximumMicroseconds: Int64) -> Bool {
        if let fromTimestamp, maximumMicroseconds < fromTimestamp.microsecondsSinceEpoch { return false }
        if let untilTimestamp, minimumMicroseconds >= untilTimestamp.microsecondsSinceEpoch { return false }
        return true
    }

    public func matches(_ event: Event, symbols: SymbolTable) -> Bool {
        let header = event.header
        if let fromTimestamp, header.occurred < fromTimestamp { return false }
        if let untilTimestamp, header.occurred >= untilTimestamp { return false }
        if !eventNames.isEmpty {
            let name = symbols.string(header.name)
            guard eventNames.contains(where: { $0.matches(name) }) else { return false }
        }
        if !branches.isEmpty && (header.branch == .none || !branches.contains(symbols.string(header.branch))) {
            return false
        }
        if !nodeKinds.isEmpty && (header.nodeKind == .none || !nodeKinds.contains(symbols.string(header.nodeKind))) {
            return false
        }
        if !accounts.isEmpty && (header.account == .none || !accounts.contains(symbols.string(header.account))) {
            return false
        }
        for condition in relatedLabels where !matches(condition, event, symbols) { return false }
        return true
    }

    private func matches(_ condition: RelatedLabel, _ event: Event, _ symbols: SymbolTable) -> Bool {
        guard let key = symbols.lookup(condition.key) else { return false }  // a label never seen can't be present
        let role = condition.role.map { symbols.lookup($0) ?? Symbol(rawValue: .max) }
        for resource in event.header.related where role == nil || resource.role == role {
            if let label = event.header.label(key, of: resource), condition.value.matches(event.value(label)) {
                return true
            }
        }
        return false
    }
}
