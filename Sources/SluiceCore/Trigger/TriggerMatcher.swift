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
/// covering pattern triggers, grouped into value buckets), per-label value ids, and per-trigger and
/// per-program stamps that make each residual program run at most once per event. After warm-up (every
/// name seen once, the largest event seen once) matching allocates nothing.
public struct TriggerMatcher: ~Copyable {
    public private(set) var index: TriggerIndex
    private let shared: SharedTriggerIndex?
    private let readerSlot: Int
    /// Event-name symbol → plan number + 1 (0: not built yet).
    private var planOfName: [Int32] = []
    private var plans: [NamePlan] = []
    private var stamp: UInt32 = 0
    private var labelStamps: [UInt32] = []
    private var labelValueIDs: [UInt32] = []
    private var triggerStamps: [UInt32] = []
    private var programStamps: [UInt32] = []
    private var programResults: [Bool] = []
    private var scratch: [UInt8] = []

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
        let plan = plans[planNumber(for: event)]
        beginEvent(labelCount: event.header.labels.count)
        unsafe event.bytes.withUnsafeBytes { raw in
            for entry in plan.unindexed where unsafe holds(entry, event.header, raw) {
                hits.append(TriggerHit(rawValue: entry))
            }
            for (position, number) in plan.dimensions.enumerated() {
                let dimension = index.dimensions[Int(number)]
                let bucketKey = UInt64(position + 1) << 32
                if !dimension.related {
                    unsafe visit(plan, bucketKey, dimension.key, 0, deduplicate: false, event.header, raw, &hits)
                } else {
                    for resource in 1..<event.header.resources.count {
                        unsafe visit(
                            plan,
                            bucketKey,
                            dimension.key,
                            resource,
                            deduplicate: true,
                            event.header,
                            raw,
                            &hits
                        )
                    }
                }
            }
        }
    }

    // MARK: - Buckets and programs

    @unsafe
    private mutating func visit(
        _ plan: NamePlan,
        _ bucketKey: UInt64,
        _ key: Symbol,
        _ resource: Int,
        deduplicate: Bool,
        _ header: EventHeader,
        _ raw: UnsafeRawBufferPointer,
        _ hits: inout [TriggerHit]
    ) {
        guard let label = Self.labelPosition(key, header.resources[resource], header) else { return }
        let valueID = unsafe valueID(label, header, raw)
        guard valueID != 0, let range = plan.buckets.find(bucketKey | UInt64(valueID)) else { return }
        for position in range {
            let entry = plan.entries[position]
            if deduplicate {
                let trigger = Int(entry & TriggerHit.triggerMask)
                if triggerStamps[trigger] == stamp { continue }
                triggerStamps[trigger] = stamp
            }
            if unsafe holds(entry, header, raw) { hits.append(TriggerHit(rawValue: entry)) }
        }
    }

    /// The trigger's residual program, evaluated at most once per event and program.
    @unsafe
    private mutating func holds(_ entry: UInt32, _ header: EventHeader, _ raw: UnsafeRawBufferPointer) -> Bool {
        let program = Int(index.programOfTrigger[Int(entry & TriggerHit.triggerMask)])
        if programStamps[program] == stamp { return programResults[program] }
        let result = unsafe evaluate(index.programs[program], header, raw)
        programStamps[program] = stamp
        programResults[program] = result
        return result
    }

    @unsafe
    private mutating func evaluate(
        _ program: TriggerIndex.Program,
        _ header: EventHeader,
        _ raw: UnsafeRawBufferPointer
    ) -> Bool {
        for condition in program.primaryStart..<program.primaryEnd {
            guard unsafe conditionHolds(index.conditions[Int(condition)], 0, header, raw) else { return false }
        }
        for number in program.specificationStart..<program.specificationEnd {
            let specification = index.specifications[Int(number)]
            var satisfied = false
            for resource in 1..<max(1, header.resources.count) where !satisfied {
                satisfied = true
                for condition in specification.conditionStart..<specification.conditionEnd {
                    guard unsafe conditionHolds(index.conditions[Int(condition)], resource, header, raw) else {
                        satisfied = false
                        break
                    }
                }
            }
            guard satisfied else { return false }
        }
        return true
    }

    /// Prefect's `matches` over a list (OR): the label must be present; each pattern may be negated.
    @unsafe
    private mutating func conditionHolds(
        _ condition: TriggerIndex.Condition,
        _ resource: Int,
        _ header: EventHeader,
        _ raw: UnsafeRawBufferPointer
    ) -> Bool {
        guard let label = Self.labelPosition(condition.key, header.resources[resource], header) else { return false }
        for number in condition.patternStart..<condition.patternEnd {
            let pattern = index.patterns[Int(number)]
            let matched: Bool
            if pattern.glob < 0 {
                matched = unsafe valueID(label, header, raw) == pattern.valueID
            } else {
                matched = unsafe globMatches(index.globs[Int(pattern.glob)], header.labels[label], raw)
            }
            if matched != pattern.negated { return true }
        }
        return false
    }

    private static func labelPosition(_ key: Symbol, _ resource: ResourceRecord, _ header: EventHeader) -> Int? {
        for position in resource.labelRange where header.labels[position].key == key { return position }
        return nil
    }

    /// The literal value id of label `position` (0: equal to no literal), computed once per event.
    @unsafe
    private mutating func valueID(_ position: Int, _ header: EventHeader, _ raw: UnsafeRawBufferPointer) -> UInt32 {
        if labelStamps[position] == stamp { return labelValueIDs[position] }
        let label = header.labels[position]
        let valueID: UInt32
        if !label.valueHasEscapes {
            valueID = unsafe index.literals.lookup(UnsafeRawBufferPointer(rebasing: raw[label.valueRange]))
        } else {
            scratch.removeAll(keepingCapacity: true)
            unsafe JSONString.appendUnescaped(UnsafeRawBufferPointer(rebasing: raw[label.valueRange]), to: &scratch)
            valueID = unsafe scratch.withUnsafeBytes { unescaped in unsafe index.literals.lookup(unescaped) }
        }
        labelStamps[position] = stamp
        labelValueIDs[position] = valueID
        return valueID
    }

    @unsafe
    private mutating func globMatches(_ glob: Glob, _ label: LabelRecord, _ raw: UnsafeRawBufferPointer) -> Bool {
        if !label.valueHasEscapes {
            return unsafe glob.matches(utf8: UnsafeRawBufferPointer(rebasing: raw[label.valueRange]))
        }
        scratch.removeAll(keepingCapacity: true)
        unsafe JSONString.appendUnescaped(UnsafeRawBufferPointer(rebasing: raw[label.valueRange]), to: &scratch)
        return unsafe scratch.withUnsafeBytes { unescaped in unsafe glob.matches(utf8: unescaped) }
    }

    // MARK: - Per-event and per-index state

    private mutating func beginEvent(labelCount: Int) {
        stamp &+= 1
        if stamp == 0 {  // wrapped: clear every stamp so none equals a future one by accident
            for position in labelStamps.indices { labelStamps[position] = 0 }
            for position in triggerStamps.indices { triggerStamps[position] = 0 }
            for position in programStamps.indices { programStamps[position] = 0 }
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
        triggerStamps = Array(repeating: 0, count: index.triggers.count)
        programStamps = Array(repeating: 0, count: index.programs.count)
        programResults = Array(repeating: false, count: index.programs.count)
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
        plans.append(NamePlan(index: index, name: event.header.name, text: event.string(event.header.nameReference)))
        planOfName[name] = Int32(plans.count)
        return plans.count - 1
    }
}

/// Everything one event name can reach, grouped for matching (built once per name and index).
struct NamePlan {
    /// Hits (trigger number and flags) checked for every event of the name.
    var unindexed: [UInt32] = []
    /// Dimension numbers (into ``TriggerIndex/dimensions``) with at least one bucket here.
    var dimensions: [Int32] = []
    /// `(position in dimensions + 1) << 32 | value id` → range of `entries`.
    var buckets = BucketTable()
    var entries: [UInt32] = []

    init(index: TriggerIndex, name: Symbol, text: String) {
        var candidates = index.exactNames[name] ?? []
        for trigger in index.patternTriggers where index.triggers[Int(trigger)].events.covers(text) {
            candidates.append(trigger)
        }
        var grouped: [UInt64: [UInt32]] = [:]
        var dimensionPositions: [Int32: Int] = [:]
        for trigger in candidates {
            let events = index.triggers[Int(trigger)].events
            let hit = TriggerHit(
                trigger: Int(trigger),
                expects: events.expects(text),
                startsAfter: events.startsAfter(text)
            )
            let key = index.keys[Int(trigger)]
            guard key.dimension >= 0 else {
                unindexed.append(hit.rawValue)
                continue
            }
            let position: Int
            if let existing = dimensionPositions[key.dimension] {
                position = existing
            } else {
                position = dimensions.count
                dimensions.append(key.dimension)
                dimensionPositions[key.dimension] = position
            }
            for value in index.keyValues[Int(key.valueStart)..<Int(key.valueEnd)] {
                grouped[UInt64(position + 1) << 32 | UInt64(value), default: []].append(hit.rawValue)
            }
        }
        var ranges: [(UInt64, Range<Int>)] = []
        for (key, hits) in grouped.sorted(by: { $0.key < $1.key }) {
            // Equal programs next to each other: the per-event program cache then hits in a row.
            let sorted = hits.sorted {
                index.programOfTrigger[Int($0 & TriggerHit.triggerMask)]
                    < index.programOfTrigger[Int($1 & TriggerHit.triggerMask)]
            }
            ranges.append((key, entries.count..<(entries.count + sorted.count)))
            entries.append(contentsOf: sorted)
        }
        buckets = BucketTable(ranges)
    }
}

/// A frozen open-addressing table from nonzero 64-bit keys to ranges (linear probing, ≤ 50 % full).
struct BucketTable {
    private var keys: [UInt64] = [0]
    private var starts: [UInt32] = [0]
    private var ends: [UInt32] = [0]
    private var mask = 0

    init() {}

    init(_ pairs: [(UInt64, Range<Int>)]) {
        var capacity = 2
        while capacity < pairs.count * 2 { capacity *= 2 }
        keys = Array(repeating: 0, count: capacity)
        starts = Array(repeating: 0, count: capacity)
        ends = Array(repeating: 0, count: capacity)
        mask = capacity - 1
        for (key, range) in pairs {
            precondition(key != 0, "bucket keys are nonzero")
            var slot = Self.slot(key, mask)
            while keys[slot] != 0 { slot = (slot + 1) & mask }
            keys[slot] = key
            starts[slot] = UInt32(range.lowerBound)
            ends[slot] = UInt32(range.upperBound)
        }
    }

    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    func find(_ key: UInt64) -> Range<Int>? {
        var slot = Self.slot(key, mask)
        while true {
            let stored = keys[slot]
            if stored == key { return Int(starts[slot])..<Int(ends[slot]) }
            if stored == 0 { return nil }
            slot = (slot + 1) & mask
        }
    }
}
