/// A Bloom filter over byte strings: "certainly absent" or "maybe present".
///
/// Sized from the exact number of distinct keys it will hold (segment summaries are built once a
/// segment is complete): ``bitsPerKey`` bits per key and ``hashCount`` probes give about 1 % false
/// positives (m/n = −ln p / ln²2 ≈ 9.59 for p = 0.01, k = m/n · ln 2 ≈ 7). Probes use double hashing
/// (Kirsch–Mitzenmacher) over one 64-bit FNV-1a hash with a SplitMix64 finalizer, so the bit positions
/// are the same in every process (they are stored in files; FORMAT.md "Segment summaries").
public struct BloomFilter: Sendable, Equatable {
    public static let bitsPerKey = 9.6
    public static let hashCount = 7
    /// Bits are stored in 64-bit words; the smallest filter is one word.
    public private(set) var words: [UInt64]
    public let hashCount: Int

    public var bitCount: Int { words.count * 64 }

    /// An empty filter sized for `keyCount` distinct keys.
    public init(keyCount: Int) {
        let bits = Double(max(keyCount, 1)) * Self.bitsPerKey
        words = Array(repeating: 0, count: max(1, Int((bits / 64).rounded(.up))))
        hashCount = Self.hashCount
    }

    /// A filter read back from storage. - Precondition: `words` is not empty, `hashCount` in 1...32.
    public init(words: [UInt64], hashCount: Int) {
        precondition(!words.isEmpty && (1...32).contains(hashCount))
        self.words = words
        self.hashCount = hashCount
    }

    public mutating func insert(_ key: some Sequence<UInt8>) {
        let (first, second) = Self.hashes(key)
        let bitCount = UInt64(self.bitCount)
        for probe in 0..<UInt64(hashCount) {
            let bit = (first &+ probe &* second) % bitCount
            words[Int(bit / 64)] |= 1 << (bit % 64)
        }
    }

    public mutating func insert(_ key: String) { insert(key.utf8) }

    /// `false` only when `key` was certainly never inserted.
    public func mayContain(_ key: some Sequence<UInt8>) -> Bool {
        let (first, second) = Self.hashes(key)
        let bitCount = UInt64(self.bitCount)
        for probe in 0..<UInt64(hashCount) {
            let bit = (first &+ probe &* second) % bitCount
            if words[Int(bit / 64)] & (1 << (bit % 64)) == 0 { return false }
        }
        return true
    }

    public func mayContain(_ key: String) -> Bool { mayContain(key.utf8) }

    /// A key's two hashes, computed once and probed against many filters (they do not depend on a
    /// filter's size): a query probes thousands of frame filters with the same few keys.
    public struct Probe: Sendable, Equatable {
        let first: UInt64
        let second: UInt64
    }

    public static func probe(_ key: some Sequence<UInt8>) -> Probe {
        let (first, second) = hashes(key)
        return Probe(first: first, second: second)
    }

    /// ``mayContain(_:)-(some Sequence<UInt8>)`` with the key's hashes computed beforehand.
    public func mayContain(_ probe: Probe) -> Bool {
        let bitCount = UInt64(self.bitCount)
        for index in 0..<UInt64(hashCount) {
            let bit = (probe.first &+ index &* probe.second) % bitCount
            if words[Int(bit / 64)] & (1 << (bit % 64)) == 0 { return false }
        }
        return true
    }

    /// Two 32-bit halves of one 64-bit hash; the second is odd so probes cycle through distinct bits.
    static func hashes(_ key: some Sequence<UInt8>) -> (UInt64, UInt64) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        hash = (hash ^ (hash >> 30)) &* 0xBF58_476D_1CE4_E5B9
        hash = (hash ^ (hash >> 27)) &* 0x94D0_49BB_1331_11EB
        hash ^= hash >> 31
        return (hash & 0xFFFF_FFFF, (hash >> 32) | 1)
    }
}

/// The event fields a segment summary keeps a ``BloomFilter`` of, in file order (FORMAT.md).
public enum SummaryField: UInt8, Sendable, CaseIterable {
    /// The event id, canonical lowercase text.
    case id = 0
    /// The primary resource's `infrahub.node.id`.
    case primaryNodeID = 1
    /// `prefect.resource.id` of related `infrahub.related.node` / `infrahub.group.member` / `.ancestor`.
    case relatedNodeID = 2
    /// `infrahub.event_parent.id` of related `infrahub.child_event`.
    case parentID = 3
    /// `infrahub.resource.label` of related `infrahub.branch`.
    case branch = 4
    /// `infrahub.resource.id` of related `infrahub.account`.
    case account = 5
    /// The event name.
    case name = 6
    /// The primary resource's `infrahub.node.kind`.
    case nodeKind = 7

    /// Calls `body` with every key of `event` for every field (the same labels ``EventQuery`` matches).
    public static func forEachKey(of event: Event, symbols: SymbolTable, _ body: (SummaryField, String) -> Void) {
        let header = event.header
        body(.id, header.id.description)
        body(.name, symbols.string(header.name))
        if !header.nodeKind.isNone { body(.nodeKind, symbols.string(header.nodeKind)) }
        guard !header.resources.isEmpty else { return }
        if let value = event.labelValue(.infrahubNodeID, of: header.primary) { body(.primaryNodeID, value) }
        for resource in header.related {
            let field: SummaryField
            let key: Symbol
            switch resource.role {
            case .roleRelatedNode, .roleGroupMember, .roleGroupAncestor:
                (field, key) = (.relatedNodeID, .prefectResourceID)
            case .roleChildEvent: (field, key) = (.parentID, .infrahubEventParentID)
            case .roleBranch: (field, key) = (.branch, .infrahubResourceLabel)
            case .roleAccount: (field, key) = (.account, .infrahubResourceID)
            default: continue
            }
            if let value = event.labelValue(key, of: resource) { body(field, value) }
        }
    }
}

extension EventQuery {
    /// What a segment must (maybe) contain for this query to match an event in it: groups of exact keys,
    /// each group on one field; a segment whose filter lacks every key of some group cannot match.
    /// Conditions that are not exact (prefix node ids, wildcard globs, level, has_children) add no group.
    public var summaryProbes: [(field: SummaryField, keys: [String])] {
        var probes: [(field: SummaryField, keys: [String])] = []
        if !ids.isEmpty { probes.append((.id, ids.map(\.description))) }
        if let types = effectiveEventTypes { probes.append((.name, types)) }
        if !names.isEmpty && names.allSatisfy(\.isLiteral) { probes.append((.name, names.map(\.pattern))) }
        if !nodeKinds.isEmpty { probes.append((.nodeKind, nodeKinds)) }
        if !primaryNodeIDs.isEmpty && !primaryNodeIDs.contains(where: { $0.hasSuffix("*") }) {
            probes.append((.primaryNodeID, primaryNodeIDs))
        }
        if !relatedNodeIDs.isEmpty { probes.append((.relatedNodeID, relatedNodeIDs)) }
        if !parentIDs.isEmpty { probes.append((.parentID, parentIDs)) }
        if !branches.isEmpty { probes.append((.branch, branches)) }
        if !accountIDs.isEmpty { probes.append((.account, accountIDs)) }
        for specification in relatedLabels {
            if let probe = Self.summaryProbe(specification) { probes.append(probe) }
        }
        return probes
    }

    /// The exact keys a related-label specification pins, when it names only literal roles that one
    /// ``SummaryField`` indexes and literal values of that field's label (e.g. role `infrahub.branch` and
    /// `infrahub.resource.label: main`); `nil` otherwise (globs, negations, other labels).
    static func summaryProbe(_ specification: ResourceSpecification) -> (field: SummaryField, keys: [String])? {
        func literals(_ label: String) -> [String]? {
            guard let condition = specification.conditions.first(where: { $0.label == label }),
                !condition.patterns.isEmpty,
                condition.patterns.allSatisfy({ !$0.isNegated && $0.glob.isLiteral })
            else { return nil }
            return condition.patterns.map(\.glob.pattern)
        }
        guard let roles = literals("prefect.resource.role") else { return nil }
        let fields: [(roles: Set<String>, field: SummaryField, label: String)] = [
            (
                ["infrahub.related.node", "infrahub.group.member", "infrahub.group.ancestor"], .relatedNodeID,
                "prefect.resource.id"
            ),
            (["infrahub.child_event"], .parentID, "infrahub.event_parent.id"),
            (["infrahub.branch"], .branch, "infrahub.resource.label"),
            (["infrahub.account"], .account, "infrahub.resource.id"),
        ]
        guard let entry = fields.first(where: { $0.roles.isSuperset(of: roles) }),
            let keys = literals(entry.label)
        else { return nil }
        return (entry.field, keys)
    }
}
