/// Triggers compiled for matching: immutable, shared by any number of ``TriggerMatcher``s on any threads.
///
/// Layout (ARCHITECTURE.md §4):
/// ```
///  event name ──► exact-name table (Symbol → triggers whose expect ∪ after are all exact names)
///             └─► pattern triggers (globs / empty expect), resolved once per interned name by each matcher
///  per name, each trigger sits in ONE place:
///    a bucket keyed by (dimension, literal value id)   dimension = (primary | related [role], label key)
///    or the name's "unindexed" list                    (no exact positive label condition at all)
///  every trigger: a residual program = primary condition numbers + specification numbers; programs,
///  conditions and specifications are interned, so a matcher evaluates each at most once per event
///  (literal patterns compare bytes, globs run on the value's UTF-8)
/// ```
/// A trigger's bucket is one of its exact, positive label conditions (`infrahub.node.kind = InfraDevice`,
/// `infrahub.node.id = …`, a related `infrahub.resource.label = branch-7`): among the selective ones (at
/// most `selectivePeerCountMax` triggers share the value) the most used dimension, else the one with the
/// fewest peers. A matcher looks up the event's value of each dimension once (in the index's own frozen
/// ``LiteralTable``, hashing the bytes in place; never a string) and visits only the triggers whose value
/// equals it: matching cost does not grow with triggers whose name or values cannot match. Roles are never
/// bucket keys (nearly every event carries each role); a specification's exact role instead restricts
/// which related resources are read.
///
/// Built once per configuration (``compile(_:symbols:)``) and replaced as a whole on change through a
/// ``SharedTriggerIndex``: matching never takes a lock. Thread-safe: every stored property is immutable.
public final class TriggerIndex: Sendable {
    public let triggers: [TriggerDefinition]
    /// Exact event name → enabled triggers whose event names are all exact and include it.
    let exactNames: [Symbol: [UInt32]]
    /// Enabled triggers whose event rules need a glob check per name.
    let patternTriggers: [UInt32]
    let literals: LiteralTable
    let dimensions: [Dimension]
    /// Per trigger: its bucket dimension (`-1`: unindexed) and bucket values.
    let keys: [TriggerKey]
    let keyValues: [UInt32]
    /// The byte length of each `keyValues` entry, capped at 63 (a matcher skips values of other lengths).
    let keyValueLengths: [UInt8]
    /// The UTF-8 of every literal pattern, back to back (residual checks compare bytes, no hashing).
    let literalBytes: [UInt8]
    /// Per trigger: its residual program (an index into `programs`).
    let programOfTrigger: [UInt32]
    let programs: [Program]
    let specifications: [Specification]
    /// Distinct conditions (a program's or a specification's list holds their numbers).
    let conditions: [Condition]
    /// Number lists: a program's primary condition numbers and specification numbers, a specification's
    /// condition numbers.
    let references: [Int32]
    let patterns: [Pattern]
    let globs: [Glob]

    /// Where a bucket's value is read: a label of the primary resource, or of the related resources —
    /// only those with `role` when the trigger's specification requires one exact role (the decoder
    /// interned each resource's role, so skipping the others is an integer compare per resource).
    struct Dimension: Hashable, Sendable {
        let key: Symbol
        let related: Bool
        let role: Symbol
    }

    struct TriggerKey: Sendable {
        let dimension: Int32
        let valueStart: Int32
        let valueEnd: Int32
    }

    /// One candidate pattern: a literal (bytes in `literalBytes`) or a glob (index into `globs`), maybe negated.
    struct Pattern: Hashable, Sendable {
        let literalStart: UInt32
        let literalCount: UInt32
        let glob: Int32
        let negated: Bool
    }

    /// `key` must be present and match one of `patterns` (OR).
    struct Condition: Hashable, Sendable {
        let key: Symbol
        let patternStart: Int32
        let patternEnd: Int32
    }

    /// All conditions on one related resource (AND): `references[conditionStart..<conditionEnd]`.
    struct Specification: Hashable, Sendable {
        let conditionStart: Int32
        let conditionEnd: Int32
        /// The decoder's symbol of the one exact role the specification requires (`.none`: no such role):
        /// only related resources with that role can satisfy it.
        let role: Symbol
    }

    /// `match` on the primary resource, then each non-empty `match_related` specification: ranges of
    /// `references` holding condition numbers, then specification numbers.
    struct Program: Hashable, Sendable {
        let primaryStart: Int32
        let primaryEnd: Int32
        let specificationStart: Int32
        let specificationEnd: Int32
    }

    fileprivate init(_ builder: consuming Builder) {
        triggers = builder.triggers
        exactNames = builder.exactNames
        patternTriggers = builder.patternTriggers
        literals = builder.literals
        dimensions = builder.dimensions
        keys = builder.keys
        keyValues = builder.keyValues
        keyValueLengths = builder.keyValueLengths
        literalBytes = builder.literalBytes
        programOfTrigger = builder.programOfTrigger
        programs = builder.programs
        specifications = builder.specifications
        conditions = builder.conditions
        references = builder.references
        patterns = builder.patterns
        globs = builder.globs
    }

    /// Compiles `triggers` (disabled ones are left out of every bucket), interning their event names and
    /// label keys into `symbols`, the decoder's table.
    /// - Precondition: nothing else uses `symbols` during the call (the table is single-threaded: compile on
    ///   the decoding thread, or before decoding starts), and it has room (a full table is a configuration
    ///   larger than its limit).
    /// - Complexity: O(total conditions) plus hashing every literal once.
    public static func compile(_ triggers: [TriggerDefinition], symbols: SymbolTable) -> TriggerIndex {
        var builder = Builder(triggers: triggers, symbols: symbols)
        builder.build()
        return TriggerIndex(builder)
    }

    /// How the triggers were compiled (for `sluice triggers compile`).
    public struct Statistics: Sendable, Equatable {
        /// Distinct exact event names with triggers.
        public var exactNameCount: Int
        /// Triggers whose event rules need a glob check (resolved once per event name).
        public var patternTriggerCount: Int
        /// Label dimensions buckets are keyed by, e.g. `infrahub.node.kind`, `related infrahub.resource.label`.
        public var dimensions: [String]
        /// Enabled triggers in a value bucket, and enabled triggers checked for every event of their names.
        public var indexedTriggerCount: Int
        public var unindexedTriggerCount: Int
        /// Distinct residual programs (triggers with equal conditions share one, evaluated once per event).
        public var programCount: Int
        /// Distinct literal values interned.
        public var literalCount: Int
    }

    public var statistics: Statistics {
        var indexed = 0
        var unindexed = 0
        for (position, trigger) in triggers.enumerated() where trigger.enabled {
            if keys[position].dimension >= 0 { indexed += 1 } else { unindexed += 1 }
        }
        return Statistics(
            exactNameCount: exactNames.count,
            patternTriggerCount: patternTriggers.count,
            dimensions: dimensions.map { dimension in
                let key = literals.labelKeys[dimension.key, default: "?"]
                guard dimension.related else { return key }
                return dimension.role.isNone
                    ? "related \(key)" : "related \(literals.roleNames[dimension.role, default: "?"]) \(key)"
            },
            indexedTriggerCount: indexed,
            unindexedTriggerCount: unindexed,
            programCount: programs.count,
            literalCount: literals.count
        )
    }
}

/// The literal label values of an index's triggers, interned to value ids (`0`: a value no literal equals).
///
/// A private ``SymbolTable`` filled during compilation and never written after: matchers on any thread
/// only call ``lookup(_:)``, which reads the frozen arrays. That read-only use after a single-threaded
/// build is why the `@unchecked Sendable` is sound.
struct LiteralTable: @unchecked Sendable {
    private let table = SymbolTable()
    /// Label key and role texts by symbol (for statistics only).
    var labelKeys: [Symbol: String] = [:]
    var roleNames: [Symbol: String] = [:]

    var count: Int { table.count - Symbol.wellKnownCount }

    /// Interns a literal during compilation.
    func intern(_ text: String) -> UInt32 {
        guard let symbol = table.intern(text) else { preconditionFailure("literal table full while compiling") }
        return symbol.rawValue
    }

    /// The value id of `bytes`, or 0 when no trigger has that literal.
    func lookup(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        unsafe table.lookup(bytes)?.rawValue ?? 0
    }
}

/// Compilation state: programs are interned by their conditions, buckets chosen by value counts.
private struct Builder: ~Copyable {
    let triggers: [TriggerDefinition]
    let symbols: SymbolTable
    var exactNames: [Symbol: [UInt32]] = [:]
    var patternTriggers: [UInt32] = []
    var literals = LiteralTable()
    var dimensions: [TriggerIndex.Dimension] = []
    var dimensionNumbers: [TriggerIndex.Dimension: Int32] = [:]
    var keys: [TriggerIndex.TriggerKey] = []
    var keyValues: [UInt32] = []
    var keyValueLengths: [UInt8] = []
    var literalBytes: [UInt8] = []
    var literalStarts: [String: UInt32] = [:]
    var programOfTrigger: [UInt32] = []
    var programs: [TriggerIndex.Program] = []
    var programNumbers: [[TriggerIndex.Condition]: UInt32] = [:]
    var specifications: [TriggerIndex.Specification] = []
    var specificationNumbers: [[TriggerIndex.Condition]: Int32] = [:]
    var conditions: [TriggerIndex.Condition] = []
    var conditionNumbers: [TriggerIndex.Condition: Int32] = [:]
    var references: [Int32] = []
    var patterns: [TriggerIndex.Pattern] = []
    var globs: [Glob] = []
    var globNumbers: [String: Int32] = [:]
    var patternLists: [[TriggerIndex.Pattern]: Int32] = [:]

    init(triggers: [TriggerDefinition], symbols: SymbolTable) {
        self.triggers = triggers
        self.symbols = symbols
    }

    /// A candidate bucket of a trigger: every pattern of one condition is an exact positive literal.
    struct Candidate {
        let label: String
        let related: Bool
        /// The one exact role the related specification requires, if any.
        var role: String? = nil
        let values: [String]

        func dimension(symbols: SymbolTable) -> TriggerIndex.Dimension {
            guard let key = symbols.intern(label), let role = symbols.intern(role ?? "") else {
                preconditionFailure("symbol table full while compiling")
            }
            return TriggerIndex.Dimension(key: key, related: related, role: self.role == nil ? .none : role)
        }
    }

    mutating func build() {
        let candidates = triggers.map(Self.candidates)
        // How many triggers share each (dimension, value): a trigger goes where it has the fewest peers.
        var shares: [TriggerIndex.Dimension: [String: Int]] = [:]
        var popularity: [TriggerIndex.Dimension: Int] = [:]
        for (position, trigger) in triggers.enumerated() where trigger.enabled {
            for dimension in Set(candidates[position].map { $0.dimension(symbols: symbols) }) {
                popularity[dimension, default: 0] += 1
            }
            for candidate in candidates[position] {
                for value in candidate.values {
                    shares[candidate.dimension(symbols: symbols), default: [:]][value, default: 0] += 1
                }
            }
        }
        for (position, trigger) in triggers.enumerated() {
            programOfTrigger.append(program(for: trigger))
            let best = candidates[position].min { left, right in
                cost(left, shares, popularity) < cost(right, shares, popularity)
            }
            addKey(best, enabled: trigger.enabled)
            guard trigger.enabled else { continue }
            addEventNames(trigger, UInt32(position))
        }
    }

    /// A bucket with at most this many peers is selective enough; among those, the most used dimension
    /// wins, because every dimension a plan has costs each event a label lookup and a hash, while a few
    /// extra bucket members cost only their (memoized) residual checks.
    static let selectivePeerCountMax = 32

    /// Orders candidates: selective buckets in popular dimensions first, then by peers, primary before related.
    private func cost(
        _ candidate: Candidate,
        _ shares: [TriggerIndex.Dimension: [String: Int]],
        _ popularity: [TriggerIndex.Dimension: Int]
    ) -> (Int, Int, Int) {
        let dimension = candidate.dimension(symbols: symbols)
        let peers = candidate.values.reduce(0) { $0 + (shares[dimension]?[$1] ?? 0) }
        let related = dimension.related ? 1 : 0
        if peers <= Self.selectivePeerCountMax { return (0, -(popularity[dimension] ?? 0), related) }
        return (1, peers, related)
    }

    private mutating func addKey(_ candidate: Candidate?, enabled: Bool) {
        guard let candidate, enabled else {
            keys.append(TriggerIndex.TriggerKey(dimension: -1, valueStart: 0, valueEnd: 0))
            return
        }
        let dimension = candidate.dimension(symbols: symbols)
        if let role = candidate.role { literals.roleNames[dimension.role] = role }
        literals.labelKeys[dimension.key] = candidate.label
        let number: Int32
        if let existing = dimensionNumbers[dimension] {
            number = existing
        } else {
            number = Int32(dimensions.count)
            dimensions.append(dimension)
            dimensionNumbers[dimension] = number
        }
        let start = Int32(keyValues.count)
        for value in Set(candidate.values).sorted() {
            keyValues.append(literals.intern(value))
            keyValueLengths.append(UInt8(min(value.utf8.count, 63)))
        }
        keys.append(TriggerIndex.TriggerKey(dimension: number, valueStart: start, valueEnd: Int32(keyValues.count)))
    }

    private mutating func addEventNames(_ trigger: TriggerDefinition, _ number: UInt32) {
        let names = trigger.events.expect + trigger.events.after
        let allExact =
            !trigger.events.expect.isEmpty && names.allSatisfy { !$0.contains(where: { "*?[".contains($0) }) }
        guard allExact else {
            patternTriggers.append(number)
            return
        }
        for name in Set(names).sorted() {
            guard let symbol = symbols.intern(name) else { preconditionFailure("symbol table full while compiling") }
            exactNames[symbol, default: []].append(number)
        }
    }

    /// Exact positive literal conditions of a trigger, on its primary resource and its related specifications.
    private static func candidates(_ trigger: TriggerDefinition) -> [Candidate] {
        func literals(_ condition: ResourceSpecification.Condition) -> [String]? {
            guard !condition.patterns.isEmpty,
                condition.patterns.allSatisfy({ !$0.isNegated && $0.glob.isLiteral })
            else { return nil }
            return condition.patterns.map(\.glob.pattern)
        }
        var result: [Candidate] = []
        for condition in trigger.match.conditions {
            if let values = literals(condition) {
                result.append(Candidate(label: condition.label, related: false, values: values))
            }
        }
        for specification in trigger.matchRelated {
            // A role names a kind of resource that most events carry (every event has its branch, account,
            // version…): a bucket on it would be visited for nearly every related resource, so it is
            // checked as part of the residual program instead.
            let roles = specification.conditions.first { $0.label == "prefect.resource.role" }.flatMap(literals)
            let role = roles?.count == 1 ? roles?.first : nil
            for condition in specification.conditions where condition.label != "prefect.resource.role" {
                if let values = literals(condition) {
                    result.append(Candidate(label: condition.label, related: true, role: role, values: values))
                }
            }
        }
        return result
    }

    /// Interns the trigger's residual program: equal conditions give the same program number.
    private mutating func program(for trigger: TriggerDefinition) -> UInt32 {
        let primary = trigger.match.conditions.map { compile($0) }
        let related = trigger.matchRelated.filter { !$0.matchesEveryResource }.map { $0.conditions.map { compile($0) } }
        // The key: primary conditions, a separator, then each specification's conditions and a separator.
        let separator = TriggerIndex.Condition(key: .none, patternStart: -1, patternEnd: -1)
        let signature = primary + [separator] + related.flatMap { $0 + [separator] }
        if let existing = programNumbers[signature] { return existing }
        // Conditions and specifications are interned too: a matcher remembers each one's result per event,
        // so the many programs that share `kind = X` or the branch-scope specification test it once.
        let primaryStart = Int32(references.count)
        references.append(contentsOf: primary.map { conditionNumber($0) })
        let primaryEnd = Int32(references.count)
        let specificationNumbers = related.map { specificationNumber($0) }
        let specificationStart = Int32(references.count)
        references.append(contentsOf: specificationNumbers)
        programs.append(
            TriggerIndex.Program(
                primaryStart: primaryStart,
                primaryEnd: primaryEnd,
                specificationStart: specificationStart,
                specificationEnd: Int32(references.count)
            )
        )
        let number = UInt32(programs.count - 1)
        programNumbers[signature] = number
        return number
    }

    private mutating func conditionNumber(_ condition: TriggerIndex.Condition) -> Int32 {
        if let number = conditionNumbers[condition] { return number }
        conditions.append(condition)
        conditionNumbers[condition] = Int32(conditions.count - 1)
        return Int32(conditions.count - 1)
    }

    private mutating func specificationNumber(_ specification: [TriggerIndex.Condition]) -> Int32 {
        if let number = specificationNumbers[specification] { return number }
        let start = Int32(references.count)
        references.append(contentsOf: specification.map { conditionNumber($0) })
        specifications.append(
            TriggerIndex.Specification(
                conditionStart: start,
                conditionEnd: Int32(references.count),
                role: requiredRole(specification)
            )
        )
        specificationNumbers[specification] = Int32(specifications.count - 1)
        return Int32(specifications.count - 1)
    }

    /// The exact role a specification requires: a `prefect.resource.role` condition with one positive literal.
    private func requiredRole(_ specification: [TriggerIndex.Condition]) -> Symbol {
        for condition in specification where condition.key == .prefectResourceRole {
            guard condition.patternEnd - condition.patternStart == 1 else { continue }
            let pattern = patterns[Int(condition.patternStart)]
            guard pattern.glob < 0, !pattern.negated else { continue }
            let start = Int(pattern.literalStart)
            let text = String(decoding: literalBytes[start..<(start + Int(pattern.literalCount))], as: UTF8.self)
            guard let role = symbols.intern(text) else { preconditionFailure("symbol table full while compiling") }
            return role
        }
        return .none
    }

    private mutating func compile(_ condition: ResourceSpecification.Condition) -> TriggerIndex.Condition {
        guard let key = symbols.intern(condition.label) else {
            preconditionFailure("symbol table full while compiling")
        }
        literals.labelKeys[key] = condition.label
        let compiled = condition.patterns.map { pattern in
            if pattern.glob.isLiteral {
                let text = pattern.glob.pattern
                return TriggerIndex.Pattern(
                    literalStart: literalStart(text),
                    literalCount: UInt32(text.utf8.count),
                    glob: -1,
                    negated: pattern.isNegated
                )
            }
            return TriggerIndex.Pattern(
                literalStart: 0,
                literalCount: 0,
                glob: glob(pattern.glob),
                negated: pattern.isNegated
            )
        }
        // Patterns are stored once per distinct list, so equal conditions compare equal.
        if let start = firstRange(of: compiled) {
            return TriggerIndex.Condition(key: key, patternStart: start, patternEnd: start + Int32(compiled.count))
        }
        let start = Int32(patterns.count)
        patterns.append(contentsOf: compiled)
        return TriggerIndex.Condition(key: key, patternStart: start, patternEnd: Int32(patterns.count))
    }

    private mutating func firstRange(of compiled: [TriggerIndex.Pattern]) -> Int32? {
        if let start = patternLists[compiled] { return start }
        patternLists[compiled] = Int32(patterns.count)
        return nil
    }

    private mutating func literalStart(_ text: String) -> UInt32 {
        if let start = literalStarts[text] { return start }
        let start = UInt32(literalBytes.count)
        literalBytes.append(contentsOf: text.utf8)
        literalStarts[text] = start
        return start
    }

    private mutating func glob(_ glob: Glob) -> Int32 {
        if let existing = globNumbers[glob.pattern] { return existing }
        globs.append(glob)
        globNumbers[glob.pattern] = Int32(globs.count - 1)
        return Int32(globs.count - 1)
    }
}
