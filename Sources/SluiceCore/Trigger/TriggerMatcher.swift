/// One trigger an event reaches (spec §b.2 rules 1–3 and §b.3), with the two per-name facts stateful
/// evaluation needs: whether the name counts (`expects`, rule 4) and whether it opens a bucket (`after`).
///
/// Packed in 32 bits: `startsAfter:1 | expects:1 | trigger:30`.
public struct TriggerHit: Sendable, Hashable {
    public let rawValue: UInt32

    static let triggerMask: UInt32 = 0x3FFF_FFFF
    static let expectsBit: UInt32 = 1 << 30
    static let startsAfterBit: UInt32 = 1 << 31

    init(rawValue: UInt32) { self.rawValue = rawValue }

    public init(trigger: Int, expects: Bool, startsAfter: Bool) {
        precondition(trigger >= 0 && trigger <= Int(Self.triggerMask), "trigger number out of range")
        rawValue = UInt32(trigger) | (expects ? Self.expectsBit : 0) | (startsAfter ? Self.startsAfterBit : 0)
    }

    /// The index into ``TriggerIndex/triggers``.
    public var trigger: Int { Int(rawValue & Self.triggerMask) }
    /// The event counts toward the trigger (§b.2 rule 4): a stateless trigger fires when this is set.
    public var expects: Bool { rawValue & Self.expectsBit != 0 }
    /// The event's name matches an `after` pattern (it opens a bucket, §b.4).
    public var startsAfter: Bool { rawValue & Self.startsAfterBit != 0 }
}

/// Matches events against a ``TriggerIndex``, or against whatever index a ``SharedTriggerIndex`` holds.
///
/// Owned by one thread (`~Copyable`: its caches and its hazard slot are not shared). Per event it reads the
/// event's header and bytes only, never the symbol table, so it may run beside the decoding thread.
///
/// State, all reused: the plan of each event name seen (built on first sight: the name's exact-name and
/// covering pattern triggers, grouped into value buckets, each bucket a list of runs of triggers sharing
/// one residual program), per-label value ids, and stamps that make each residual program run at most once
/// per event and each related bucket be visited once. A run whose program holds is appended in one copy.
/// After warm-up (every name seen once, the largest event seen once) matching allocates nothing.
public struct TriggerMatcher: ~Copyable {
    public private(set) var index: TriggerIndex
    private let shared: SharedTriggerIndex?
    private let readerSlot: Int
    /// Event-name symbol → plan number + 1 (0: not built yet).
    private var planOfName: [Int32] = []
    /// Plans by number, boxed: reading one per event is one retain, not one per array inside.
    private var plans: [PlanBox] = []

    /// A built plan's arrays as `let`s of a final class: the match path reads elements in place, never
    /// copying the plan (a struct copy would retain each of its arrays on every event).
    private final class PlanBox {
        let hits: [TriggerHit]
        let runs: [NamePlan.Run]
        let unindexed: [NamePlan.Run]
        let dimensions: [NamePlan.Dimension]
        let buckets: BucketTable
        let bucketBase: Int

        init(_ plan: NamePlan) {
            hits = plan.hits
            runs = plan.runs
            unindexed = plan.unindexed
            dimensions = plan.dimensions
            buckets = plan.buckets
            bucketBase = plan.bucketBase
        }
    }
    private var stamp: UInt32 = 0
    private var labelStamps: [UInt32] = []
    private var labelValueIDs: [UInt32] = []
    /// A decoder symbol (node kind, branch) → literal value id + 1 (0: not looked up yet).
    private var valueIDOfSymbol: [UInt32] = []
    private var triggerStamps: [UInt32] = []
    /// Per-event memos of programs, primary conditions and specifications: `stamp << 1 | result`, so one
    /// read says whether this event computed it and what it was, and one write records both.
    private var programMemos: [UInt64] = []
    private var conditionMemos: [UInt64] = []
    private var specificationMemos: [UInt64] = []
    /// Per bucket of every plan (plans number their buckets from `bucketBase`).
    private var bucketStamps: [UInt32] = []
    /// Unescaped values (rare: only labels with JSON escapes), reused. A class so that reading a value is
    /// not a mutation of the matcher (closures over `self` stay legal).
    private let scratch = ScratchBuffer()

    private final class ScratchBuffer {
        var bytes: [UInt8] = []
    }

    /// A matcher over one fixed index.
    public init(index: TriggerIndex) {
        self.index = index
        shared = nil
        readerSlot = -1
        resetCaches()
    }

    /// A matcher that follows `shared`: each ``match(_:into:)`` first checks (one atomic load) whether a new
    /// index was published and adopts it.
    /// - Throws: when `shared` already has `readerCountMax` matchers.
    public init(following shared: SharedTriggerIndex) throws(SharedTriggerIndex.ReaderLimitError) {
        guard let slot = shared.claimReaderSlot() else {
            throw SharedTriggerIndex.ReaderLimitError(readerCountMax: shared.readerCountMax)
        }
        self.shared = shared
        readerSlot = slot
        index = shared.acquire(readerSlot: slot)
        resetCaches()
    }

    deinit {
        if let shared { shared.releaseReaderSlot(readerSlot) }
    }

    /// Appends every enabled trigger `event` reaches to `hits` (in plan order: unindexed triggers, then
    /// value buckets). A trigger fires for a stateless rule when ``TriggerHit/expects`` is set.
    public mutating func match(_ event: Event, into hits: inout [TriggerHit]) {
        if let shared, shared.currentIdentity != UInt(bitPattern: ObjectIdentifier(index)) {
            index = shared.acquire(readerSlot: readerSlot)
            resetCaches()
        }
        let number = planNumber(for: event)  // may append to `plans`: read the plan afterwards
        let plan = plans[number]
        beginEvent(labelCount: event.header.labels.count)
        // The bytes' address without a closure: a closure here captured (copied) the whole event, retaining
        // its three arrays on every call. The pointer is used only during this call, while `event` — borrowed,
        // immutable — keeps its byte array alive and unmoved.
        let raw = unsafe event.bytes.withUnsafeBytes { unsafe $0 }
        for position in plan.unindexed.indices {
            unsafe collect(plan.unindexed[position], plan, event.header, raw, &hits)
        }
        // Roles present among the related resources (bit `role & 63`): a related dimension whose role is
        // absent is skipped without a scan.
        var roles: UInt64 = 0
        for resource in 1..<max(1, event.header.resources.count) {
            roles |= 1 << UInt64(event.header.resources[resource].role.rawValue & 63)
        }
        for position in plan.dimensions.indices {
            let dimension = plan.dimensions[position]
            if !dimension.related {
                // The decoder interned the primary node kind: its value id is then an array read.
                let kind = dimension.key == .infrahubNodeKind ? event.header.nodeKind : .none
                _ = unsafe visit(plan, position, dimension, 0, event.header, raw, &hits, decoderSymbol: kind)
            } else if dimension.role.isNone || roles & (1 << UInt64(dimension.role.rawValue & 63)) != 0 {
                // The decoder interned the label of the first branch resource that has one (`header.branch`).
                var branch =
                    dimension.role == .roleBranch && dimension.key == .infrahubResourceLabel
                    ? event.header.branch : .none
                for resource in 1..<event.header.resources.count
                where dimension.role.isNone || event.header.resources[resource].role == dimension.role {
                    let found = unsafe visit(
                        plan,
                        position,
                        dimension,
                        resource,
                        event.header,
                        raw,
                        &hits,
                        decoderSymbol: branch
                    )
                    if found { branch = .none }
                }
            }
        }
        withExtendedLifetime(event) {}
    }

    // MARK: - Buckets, runs and programs

    @unsafe
    private mutating func visit(
        _ plan: PlanBox,
        _ position: Int,
        _ dimension: NamePlan.Dimension,
        _ resource: Int,
        _ header: EventHeader,
        _ raw: UnsafeRawBufferPointer,
        _ hits: inout [TriggerHit],
        decoderSymbol: Symbol = .none
    ) -> Bool {
        guard let label = Self.labelPosition(dimension.key, header.resources[resource], header) else { return false }
        let length = min(Int(header.labels[label].valueByteCount), 63)
        guard dimension.lengthMask & (1 << UInt64(length)) != 0 || header.labels[label].valueHasEscapes else {
            return true
        }
        let valueID: UInt32
        if !decoderSymbol.isNone {
            valueID = unsafe symbolValueID(decoderSymbol, label, header, raw)
        } else {
            valueID = unsafe self.valueID(label, header, raw)
        }
        guard valueID != 0, let bucket = plan.buckets.find(UInt64(position + 1) << 32 | UInt64(valueID)) else {
            return true
        }
        if dimension.related {
            let number = plan.bucketBase + bucket.number
            if bucketStamps[number] == stamp { return true }
            bucketStamps[number] = stamp
        }
        for position in bucket.runs { unsafe collect(plan.runs[position], plan, header, raw, &hits) }
        return true
    }

    /// Appends the run's hits when its program holds; a deduplicating run checks each trigger's stamp.
    @unsafe
    private mutating func collect(
        _ run: NamePlan.Run,
        _ plan: PlanBox,
        _ header: EventHeader,
        _ raw: UnsafeRawBufferPointer,
        _ hits: inout [TriggerHit]
    ) {
        guard unsafe holds(Int(run.program), header, raw) else { return }
        let range = Int(run.start)..<Int(run.end)
        guard run.deduplicate else {
            // One copy of the run, from the plan's storage (a slice would retain it per run).
            unsafe plan.hits.withUnsafeBufferPointer { stored in
                unsafe hits.append(contentsOf: UnsafeBufferPointer(rebasing: stored[range]))
            }
            return
        }
        for position in range {
            let hit = plan.hits[position]
            if triggerStamps[hit.trigger] == stamp { continue }
            triggerStamps[hit.trigger] = stamp
            hits.append(hit)
        }
    }

    /// The residual program, evaluated at most once per event.
    @unsafe
    private mutating func holds(_ program: Int, _ header: EventHeader, _ raw: UnsafeRawBufferPointer) -> Bool {
        let memo = programMemos[program]
        if memo >> 1 == UInt64(stamp) { return memo & 1 != 0 }
        let result = unsafe evaluate(index.programs[program], header, raw)
        programMemos[program] = UInt64(stamp) << 1 | (result ? 1 : 0)
        return result
    }

    @unsafe
    private mutating func evaluate(
        _ program: TriggerIndex.Program,
        _ header: EventHeader,
        _ raw: UnsafeRawBufferPointer
    ) -> Bool {
        for reference in program.primaryStart..<program.primaryEnd {
            guard unsafe primaryHolds(Int(index.references[Int(reference)]), header, raw) else { return false }
        }
        for reference in program.specificationStart..<program.specificationEnd {
            guard unsafe specificationHolds(Int(index.references[Int(reference)]), header, raw) else { return false }
        }
        return true
    }

    /// A condition on the primary resource, evaluated at most once per event.
    @unsafe
    private mutating func primaryHolds(_ number: Int, _ header: EventHeader, _ raw: UnsafeRawBufferPointer) -> Bool {
        let memo = conditionMemos[number]
        if memo >> 1 == UInt64(stamp) { return memo & 1 != 0 }
        let result = unsafe conditionHolds(index.conditions[number], 0, header, raw)
        conditionMemos[number] = UInt64(stamp) << 1 | (result ? 1 : 0)
        return result
    }

    /// Some related resource satisfies every condition of the specification; at most once per event.
    @unsafe
    private mutating func specificationHolds(
        _ number: Int,
        _ header: EventHeader,
        _ raw: UnsafeRawBufferPointer
    ) -> Bool {
        let memo = specificationMemos[number]
        if memo >> 1 == UInt64(stamp) { return memo & 1 != 0 }
        let specification = index.specifications[number]
        var satisfied = false
        for resource in 1..<max(1, header.resources.count)
        where !satisfied && (specification.role.isNone || header.resources[resource].role == specification.role) {
            satisfied = true
            for reference in specification.conditionStart..<specification.conditionEnd {
                let condition = index.conditions[Int(index.references[Int(reference)])]
                guard unsafe conditionHolds(condition, resource, header, raw) else {
                    satisfied = false
                    break
                }
            }
        }
        specificationMemos[number] = UInt64(stamp) << 1 | (satisfied ? 1 : 0)
        return satisfied
    }

    /// Prefect's `matches` over a list (OR): the label must be present; each pattern may be negated.
    @unsafe
    private mutating func conditionHolds(
        _ condition: TriggerIndex.Condition,
        _ resource: Int,
        _ header: EventHeader,
        _ raw: UnsafeRawBufferPointer
    ) -> Bool {
        guard let position = Self.labelPosition(condition.key, header.resources[resource], header) else {
            return false
        }
        let label = header.labels[position]
        for number in condition.patternStart..<condition.patternEnd {
            let pattern = index.patterns[Int(number)]
            let matched: Bool
            if pattern.glob >= 0 {
                matched = unsafe withValue(label, raw) { value in
                    unsafe index.globs[Int(pattern.glob)].matches(utf8: value)
                }
            } else if !label.valueHasEscapes && label.valueByteCount != pattern.literalCount {
                matched = false  // the common mismatch, decided by length alone
            } else {
                matched = unsafe withValue(label, raw) { value in unsafe literalEquals(pattern, value) }
            }
            if matched != pattern.negated { return true }
        }
        return false
    }

    @unsafe
    private func literalEquals(_ pattern: TriggerIndex.Pattern, _ value: UnsafeRawBufferPointer) -> Bool {
        guard value.count == Int(pattern.literalCount) else { return false }
        if unsafe value.isEmpty { return true }
        return unsafe index.literalBytes.withUnsafeBytes { literals in
            unsafe memoryEqual(literals.baseAddress! + Int(pattern.literalStart), value.baseAddress!, value.count)
        }
    }

    private static func labelPosition(_ key: Symbol, _ resource: ResourceRecord, _ header: EventHeader) -> Int? {
        for position in resource.labelRange where header.labels[position].key == key { return position }
        return nil
    }

    /// The literal value id of label `position` (0: equal to no literal), computed once per event.
    @unsafe
    private mutating func valueID(_ position: Int, _ header: EventHeader, _ raw: UnsafeRawBufferPointer) -> UInt32 {
        if labelStamps[position] == stamp { return labelValueIDs[position] }
        let valueID = unsafe withValue(header.labels[position], raw) { value in unsafe index.literals.lookup(value) }
        labelStamps[position] = stamp
        labelValueIDs[position] = valueID
        return valueID
    }

    /// The value id of a label the decoder interned (the primary node kind, the branch label), through its
    /// symbol: hashed once per symbol and index, then an array read.
    @unsafe
    private mutating func symbolValueID(
        _ symbol: Symbol,
        _ label: Int,
        _ header: EventHeader,
        _ raw: UnsafeRawBufferPointer
    ) -> UInt32 {
        let slot = Int(symbol.rawValue)
        if slot < valueIDOfSymbol.count, valueIDOfSymbol[slot] != 0 { return valueIDOfSymbol[slot] - 1 }
        let valueID = unsafe self.valueID(label, header, raw)
        if slot >= valueIDOfSymbol.count {
            valueIDOfSymbol.append(
                contentsOf: repeatElement(0, count: max(slot + 1, valueIDOfSymbol.count * 2) - valueIDOfSymbol.count)
            )
        }
        valueIDOfSymbol[slot] = valueID + 1
        return valueID
    }

    /// Calls `body` with the label's unescaped UTF-8: in place, or unescaped into the reused scratch buffer.
    @unsafe
    private func withValue<Result>(
        _ label: LabelRecord,
        _ raw: UnsafeRawBufferPointer,
        _ body: (UnsafeRawBufferPointer) -> Result
    ) -> Result {
        let value = unsafe UnsafeRawBufferPointer(rebasing: raw[label.valueRange])
        if !label.valueHasEscapes { return unsafe body(value) }
        scratch.bytes.removeAll(keepingCapacity: true)
        unsafe JSONString.appendUnescaped(value, to: &scratch.bytes)
        return unsafe scratch.bytes.withUnsafeBytes { unescaped in unsafe body(unescaped) }
    }

    // MARK: - Per-event and per-index state

    private mutating func beginEvent(labelCount: Int) {
        stamp &+= 1
        if stamp == 0 {  // wrapped: clear every stamp so none equals a future one by accident
            for position in labelStamps.indices { labelStamps[position] = 0 }
            for position in triggerStamps.indices { triggerStamps[position] = 0 }
            for position in programMemos.indices { programMemos[position] = 0 }
            for position in conditionMemos.indices { conditionMemos[position] = 0 }
            for position in specificationMemos.indices { specificationMemos[position] = 0 }
            for position in bucketStamps.indices { bucketStamps[position] = 0 }
            stamp = 1
        }
        if labelStamps.count < labelCount {
            let growth = labelCount - labelStamps.count
            labelStamps.append(contentsOf: repeatElement(0, count: growth))
            labelValueIDs.append(contentsOf: repeatElement(0, count: growth))
        }
    }

    private mutating func resetCaches() {
        planOfName.removeAll(keepingCapacity: true)
        plans.removeAll(keepingCapacity: true)
        bucketStamps.removeAll(keepingCapacity: true)
        valueIDOfSymbol.removeAll(keepingCapacity: true)
        triggerStamps = Array(repeating: 0, count: index.triggers.count)
        programMemos = Array(repeating: 0, count: index.programs.count)
        conditionMemos = Array(repeating: 0, count: index.conditions.count)
        specificationMemos = Array(repeating: 0, count: index.specifications.count)
        for position in labelStamps.indices { labelStamps[position] = 0 }
        stamp = 0
    }

    private mutating func planNumber(for event: Event) -> Int {
        let name = Int(event.header.name.rawValue)
        if name < planOfName.count, planOfName[name] > 0 { return Int(planOfName[name]) - 1 }
        if name >= planOfName.count {
            planOfName.append(
                contentsOf: repeatElement(0, count: max(name + 1, planOfName.count * 2) - planOfName.count)
            )
        }
        let plan = NamePlan(
            index: index,
            name: event.header.name,
            text: event.string(event.header.nameReference),
            bucketBase: bucketStamps.count
        )
        bucketStamps.append(contentsOf: repeatElement(0, count: plan.bucketCount))
        plans.append(PlanBox(plan))
        planOfName[name] = Int32(plans.count)
        return plans.count - 1
    }
}

/// Everything one event name can reach, grouped for matching (built once per name and index).
struct NamePlan {
    /// Triggers sharing one residual program, stored contiguously in `hits`.
    struct Run {
        let program: UInt32
        let start: UInt32
        let end: UInt32
        /// A related-resource bucket's trigger that sits in several buckets (an OR-list of values).
        let deduplicate: Bool
    }

    /// A dimension with buckets in this plan, and which value lengths its literals have (bit `min(n, 63)`).
    struct Dimension {
        let key: Symbol
        let related: Bool
        /// Only related resources with this role (`.none`: every related resource).
        let role: Symbol
        var lengthMask: UInt64
    }

    var hits: [TriggerHit] = []
    var runs: [Run] = []
    /// Runs checked for every event of the name.
    var unindexed: [Run] = []
    var dimensions: [Dimension] = []
    /// `(position in dimensions + 1) << 32 | value id` → bucket number and range of `runs`.
    var buckets = BucketTable()
    var bucketCount = 0
    let bucketBase: Int

    init(index: TriggerIndex, name: Symbol, text: String, bucketBase: Int) {
        self.bucketBase = bucketBase
        var candidates = index.exactNames[name] ?? []
        for trigger in index.patternTriggers where index.triggers[Int(trigger)].events.covers(text) {
            candidates.append(trigger)
        }
        var unindexedHits: [(UInt32, Bool, TriggerHit)] = []
        var grouped: [UInt64: [(UInt32, Bool, TriggerHit)]] = [:]
        var dimensionPositions: [Int32: Int] = [:]
        for trigger in candidates {
            let events = index.triggers[Int(trigger)].events
            let hit = TriggerHit(
                trigger: Int(trigger),
                expects: events.expects(text),
                startsAfter: events.startsAfter(text)
            )
            let program = index.programOfTrigger[Int(trigger)]
            let key = index.keys[Int(trigger)]
            guard key.dimension >= 0 else {
                unindexedHits.append((program, false, hit))
                continue
            }
            let dimension = index.dimensions[Int(key.dimension)]
            let position: Int
            if let existing = dimensionPositions[key.dimension] {
                position = existing
            } else {
                position = dimensions.count
                dimensions.append(
                    Dimension(key: dimension.key, related: dimension.related, role: dimension.role, lengthMask: 0)
                )
                dimensionPositions[key.dimension] = position
            }
            let deduplicate = dimension.related && key.valueEnd - key.valueStart > 1
            for value in key.valueStart..<key.valueEnd {
                dimensions[position].lengthMask |= 1 << UInt64(index.keyValueLengths[Int(value)])
                let bucketKey = UInt64(position + 1) << 32 | UInt64(index.keyValues[Int(value)])
                grouped[bucketKey, default: []].append((program, deduplicate, hit))
            }
        }
        unindexed = appendRuns(unindexedHits)
        var entries: [(UInt64, BucketTable.Bucket)] = []
        for (key, members) in grouped.sorted(by: { $0.key < $1.key }) {
            let start = runs.count
            runs.append(contentsOf: appendRuns(members))
            entries.append((key, BucketTable.Bucket(number: entries.count, runs: start..<runs.count)))
        }
        bucketCount = entries.count
        buckets = BucketTable(entries)
    }

    /// Sorts members by (deduplicate, program, trigger), stores their hits, and returns one run per program.
    private mutating func appendRuns(_ members: [(UInt32, Bool, TriggerHit)]) -> [Run] {
        let sorted = members.sorted { ($0.1 ? 1 : 0, $0.0, $0.2.trigger) < ($1.1 ? 1 : 0, $1.0, $1.2.trigger) }
        var result: [Run] = []
        var position = 0
        while position < sorted.count {
            let (program, deduplicate, _) = sorted[position]
            let start = hits.count
            while position < sorted.count && sorted[position].0 == program && sorted[position].1 == deduplicate {
                hits.append(sorted[position].2)
                position += 1
            }
            result.append(
                Run(program: program, start: UInt32(start), end: UInt32(hits.count), deduplicate: deduplicate)
            )
        }
        return result
    }
}

/// A frozen open-addressing table from nonzero 64-bit keys to buckets (linear probing, ≤ 50 % full).
struct BucketTable {
    struct Bucket {
        let number: Int
        let runs: Range<Int>
    }

    private var keys: [UInt64] = [0]
    private var buckets: [Bucket] = [Bucket(number: 0, runs: 0..<0)]
    private var mask = 0

    init() {}

    init(_ pairs: [(UInt64, Bucket)]) {
        var capacity = 2
        while capacity < pairs.count * 2 { capacity *= 2 }
        keys = Array(repeating: 0, count: capacity)
        buckets = Array(repeating: Bucket(number: 0, runs: 0..<0), count: capacity)
        mask = capacity - 1
        for (key, bucket) in pairs {
            precondition(key != 0, "bucket keys are nonzero")
            var slot = Self.slot(key, mask)
            while keys[slot] != 0 { slot = (slot + 1) & mask }
            keys[slot] = key
            buckets[slot] = bucket
        }
    }

    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    func find(_ key: UInt64) -> Bucket? {
        var slot = Self.slot(key, mask)
        while true {
            let stored = keys[slot]
            if stored == key { return buckets[slot] }
            if stored == 0 { return nil }
            slot = (slot + 1) & mask
        }
    }
}
