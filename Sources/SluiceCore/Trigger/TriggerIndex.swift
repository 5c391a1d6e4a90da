/// Triggers compiled for matching: immutable, shared by any number of ``TriggerMatcher``s.
///
/// Layout (ARCHITECTURE.md §4):
/// - Triggers whose `expect ∪ after` are all exact names sit in a table keyed by the interned event name;
///   the others (globs, or empty `expect`) are resolved per event name once, by each matcher, and cached.
/// - Within a name, triggers whose `match` requires one exact `infrahub.node.kind` sit in a table keyed
///   by the interned kind; the rest are "any kind".
/// - What remains of each trigger (`match`, `match_related`) is compiled over interned label keys:
///   exact patterns compare bytes, globs run on the value's text.
/// Matching cost therefore does not grow with triggers whose name or kind cannot match.
///
/// Built once per configuration (``compile(_:symbols:)``) and replaced as a whole on change: matching
/// never takes a lock. The symbol table it was compiled with must be the decoder's.
public final class TriggerIndex: Sendable {
    public let triggers: [TriggerDefinition]
    let compiled: [CompiledTrigger]
    /// Exact event name → triggers (index into `triggers`), by kind.
    let exactNames: [Symbol: KindBuckets]
    /// Triggers whose event rules need a glob check per name.
    let patternTriggers: [Int]

    struct KindBuckets: Sendable {
        var byKind: [Symbol: [Int]] = [:]
        var anyKind: [Int] = []
    }

    struct CompiledPattern: Sendable {
        let negated: Bool
        /// UTF-8 of an exact pattern; `nil` for a glob.
        let literal: [UInt8]?
        let glob: Glob
    }

    struct CompiledCondition: Sendable {
        let key: Symbol
        let patterns: [CompiledPattern]
    }

    struct CompiledTrigger: Sendable {
        let primary: [CompiledCondition]
        /// One list of conditions per non-empty `match_related` specification.
        let related: [[CompiledCondition]]
        /// The exact `infrahub.node.kind` the primary resource must have, if the trigger says so.
        let requiredKind: Symbol?
    }

    private init(
        triggers: [TriggerDefinition],
        compiled: [CompiledTrigger],
        exactNames: [Symbol: KindBuckets],
        patternTriggers: [Int]
    ) {
        self.triggers = triggers
        self.compiled = compiled
        self.exactNames = exactNames
        self.patternTriggers = patternTriggers
    }

    /// Compiles `triggers` (disabled ones are left out of every bucket), interning their names and labels.
    /// - Precondition: `symbols` has room for them (a full table is a configuration larger than its limit).
    public static func compile(_ triggers: [TriggerDefinition], symbols: SymbolTable) -> TriggerIndex {
        var compiled: [CompiledTrigger] = []
        var exactNames: [Symbol: KindBuckets] = [:]
        var patternTriggers: [Int] = []
        func intern(_ text: String) -> Symbol {
            guard let symbol = symbols.intern(text) else {
                preconditionFailure("symbol table full while compiling triggers")
            }
            return symbol
        }
        func compile(_ specification: ResourceSpecification) -> [CompiledCondition] {
            specification.conditions.map { condition in
                CompiledCondition(
                    key: intern(condition.label),
                    patterns: condition.patterns.map { pattern in
                        CompiledPattern(
                            negated: pattern.isNegated,
                            literal: pattern.glob.isLiteral ? Array(pattern.glob.pattern.utf8) : nil,
                            glob: pattern.glob
                        )
                    }
                )
            }
        }
        for (index, trigger) in triggers.enumerated() {
            let kindCondition = trigger.match.conditions.first { $0.label == "infrahub.node.kind" }
            var requiredKind: Symbol?
            if let kindCondition, kindCondition.patterns.count == 1, !kindCondition.patterns[0].isNegated,
                kindCondition.patterns[0].glob.isLiteral
            {
                requiredKind = intern(kindCondition.patterns[0].glob.pattern)
            }
            compiled.append(
                CompiledTrigger(
                    primary: compile(trigger.match),
                    related: trigger.matchRelated.filter { !$0.matchesEveryResource }.map(compile),
                    requiredKind: requiredKind
                )
            )
            guard trigger.enabled else { continue }
            let names = trigger.events.expect + trigger.events.after
            let allExact =
                !trigger.events.expect.isEmpty && names.allSatisfy { !$0.contains(where: { "*?[".contains($0) }) }
            if allExact {
                for name in Set(names) {
                    let symbol = intern(name)
                    if let requiredKind {
                        exactNames[symbol, default: KindBuckets()].byKind[requiredKind, default: []].append(index)
                    } else {
                        exactNames[symbol, default: KindBuckets()].anyKind.append(index)
                    }
                }
            } else {
                patternTriggers.append(index)
            }
        }
        return TriggerIndex(
            triggers: triggers,
            compiled: compiled,
            exactNames: exactNames,
            patternTriggers: patternTriggers
        )
    }

    /// How the triggers were bucketed (for `sluice triggers compile`).
    public var statistics: (exactNameCount: Int, kindBucketCount: Int, patternTriggerCount: Int) {
        (exactNames.count, exactNames.values.reduce(0) { $0 + $1.byKind.count }, patternTriggers.count)
    }
}

/// Matches events against a ``TriggerIndex``. Holds the per-name cache of pattern triggers, so it is
/// owned by one thread; create one per matching thread over the same index.
public final class TriggerMatcher {
    public let index: TriggerIndex
    public let symbols: SymbolTable
    /// Event name → pattern triggers that cover it (filled on first sight of each name).
    private var patternCache: [Symbol: TriggerIndex.KindBuckets] = [:]
    private var scratch: [UInt8] = []

    public init(index: TriggerIndex, symbols: SymbolTable) {
        self.index = index
        self.symbols = symbols
    }

    /// Appends to `matches` the indices (into ``TriggerIndex/triggers``) of every enabled trigger that
    /// `event` reaches, in increasing order.
    public func match(_ event: Event, into matches: inout [Int]) {
        let start = matches.count
        let header = event.header
        if let buckets = index.exactNames[header.name] { collect(buckets, event, &matches) }
        if !index.patternTriggers.isEmpty { collect(patternBuckets(header.name), event, &matches) }
        if matches.count - start > 1 { matches[start...].sort() }
    }

    private func collect(_ buckets: TriggerIndex.KindBuckets, _ event: Event, _ matches: inout [Int]) {
        if event.header.nodeKind != .none, let byKind = buckets.byKind[event.header.nodeKind] {
            for trigger in byKind where residualMatches(trigger, event) { matches.append(trigger) }
        }
        for trigger in buckets.anyKind where residualMatches(trigger, event) { matches.append(trigger) }
    }

    private func patternBuckets(_ name: Symbol) -> TriggerIndex.KindBuckets {
        if let cached = patternCache[name] { return cached }
        let text = symbols.string(name)
        var buckets = TriggerIndex.KindBuckets()
        for trigger in index.patternTriggers where index.triggers[trigger].events.covers(text) {
            if let kind = index.compiled[trigger].requiredKind {
                buckets.byKind[kind, default: []].append(trigger)
            } else {
                buckets.anyKind.append(trigger)
            }
        }
        patternCache[name] = buckets
        return buckets
    }

    private func residualMatches(_ trigger: Int, _ event: Event) -> Bool {
        let compiled = index.compiled[trigger]
        let header = event.header
        for condition in compiled.primary where !conditionHolds(condition, header.primary, event) { return false }
        for specification in compiled.related {
            let satisfied = header.related.contains { resource in
                specification.allSatisfy { conditionHolds($0, resource, event) }
            }
            if !satisfied { return false }
        }
        return true
    }

    private func conditionHolds(
        _ condition: TriggerIndex.CompiledCondition,
        _ resource: ResourceRecord,
        _ event: Event
    )
        -> Bool
    {
        guard let label = event.header.label(condition.key, of: resource) else { return false }  // absent: never
        for pattern in condition.patterns {
            let matched: Bool
            if let literal = pattern.literal, !label.valueHasEscapes {
                matched = event.bytes[label.valueRange].elementsEqual(literal)
            } else {
                matched = pattern.glob.matches(event.value(label))
            }
            if matched != pattern.negated { return true }
        }
        return false
    }
}
