import Foundation
import SluiceCore
import SluiceTestSupport
import SluiceTools
import Synchronization
import Testing

/// Random trigger definitions over the vocabulary of the generated events.
struct RandomTriggers {
    var random: SplitMix64

    static let names = InfrahubEventName.allCases.map(\.rawValue)
    static let namePatterns = [
        "infrahub.*", "infrahub.node.*", "*.created", "infrahub.?ode.*", "infrahub.branch.[mc]*",
        "!infrahub.node.created",
        "infrahub.node.created_x", "*", "infrahub.*.updated",
    ]
    static let kinds = [
        "InfraDevice", "InfraInterfaceL3", "IpamPrefix", "LocationSite", "Infra*", "!InfraDevice", "*Prefix",
        "Ipam?refix",
    ]
    static let branches = ["main", "!main", "branch-*", "branch-[12]", "-global-", "!branch-1"]

    mutating func pick(_ values: [String]) -> String { random.pick(values) }

    mutating func patterns(_ values: [String]) -> [String] {
        (0..<(1 + random.next(below: random.chance(80) ? 1 : 3))).map { _ in pick(values) }
    }

    mutating func trigger(_ index: Int) -> TriggerDefinition {
        var expect: [String] = []
        if !random.chance(5) {
            for _ in 0..<(1 + random.next(below: 2)) {
                expect.append(random.chance(60) ? pick(Self.names) : pick(Self.namePatterns))
            }
        }
        let after = random.chance(10) ? [pick(Self.names)] : []
        var match: [ResourceSpecification.Condition] = []
        if random.chance(50) {
            match.append(.init(label: "infrahub.node.kind", patterns: patterns(Self.kinds).map(LabelPattern.init)))
        } else if random.chance(20) {
            // An OR-list of exact kinds: one trigger in several value buckets.
            let literalKinds = Self.kinds.filter { !$0.contains(where: { "*?[!".contains($0) }) }
            match.append(
                .init(
                    label: "infrahub.node.kind",
                    patterns: [pick(literalKinds), pick(literalKinds)].map(LabelPattern.init)
                )
            )
        }
        if random.chance(25) {
            match.append(.init(label: "infrahub.branch.name", patterns: patterns(Self.branches).map(LabelPattern.init)))
        }
        if random.chance(10) {
            match.append(
                .init(
                    label: random.chance(50) ? "infrahub.node.action" : "no.such.label",
                    patterns: patterns(["updated", "created", "*", "!deleted"]).map(LabelPattern.init)
                )
            )
        }
        if random.chance(3) { match.append(.init(label: "infrahub.node.kind", patterns: [])) }
        var related: [ResourceSpecification] = []
        for _ in 0..<random.next(below: 3) {
            switch random.next(below: 4) {
            case 0:
                related.append(
                    ResourceSpecification([
                        .init(label: "prefect.resource.role", patterns: [LabelPattern("infrahub.branch")]),
                        .init(
                            label: "infrahub.resource.label",
                            patterns: patterns(Self.branches).map(LabelPattern.init)
                        ),
                    ])
                )
            case 1:
                related.append(
                    ResourceSpecification([
                        .init(label: "prefect.resource.role", patterns: [LabelPattern("infrahub.related.node")]),
                        .init(label: "infrahub.node.kind", patterns: patterns(Self.kinds).map(LabelPattern.init)),
                    ])
                )
            case 2:
                related.append(ResourceSpecification([("infrahub.event.level", pick(["0", "[12]", "!0"]))]))
            case 3 where random.chance(50):
                // Exact related kinds, several values: related buckets visited through several resources.
                related.append(
                    ResourceSpecification([
                        .init(
                            label: "infrahub.node.kind",
                            patterns: [
                                pick(["InfraDevice", "LocationSite"]), pick(["IpamPrefix", "InfraInterfaceL3"]),
                            ]
                            .map(LabelPattern.init)
                        )
                    ])
                )
            default:
                related.append(ResourceSpecification())
            }
        }
        var trigger = TriggerDefinition(
            name: "t\(index)",
            events: EventNamePatterns(expect: expect, after: after),
            match: ResourceSpecification(match),
            matchRelated: related
        )
        trigger.enabled = !random.chance(5)
        return trigger
    }
}

@Suite struct TriggerIndexTests {
    /// The compiled index against the reference matcher (spec §b, literally): random triggers × generated
    /// events, at least 100,000 cases.
    @Test func compiledIndexAgreesWithTheReferenceMatcher() throws {
        let seed = testSeed()
        var generator = RandomTriggers(random: SplitMix64(seed: seed))
        let triggers = (0..<400).map { generator.trigger($0) }
        var decoder = EventDecoder()
        let index = TriggerIndex.compile(triggers, symbols: decoder.symbols)
        var matcher = TriggerMatcher(index: index)
        var events = FixtureGenerator(.init(eventCount: 300, seed: seed, kindCount: 6, branchCount: 3))
        var cases = 0
        var matchedCount = 0
        var hits: [TriggerHit] = []
        while let bytes = events.next() {
            let event = try decoder.decode(bytes)
            hits.removeAll(keepingCapacity: true)
            matcher.match(event, into: &hits)
            let matches = hits.map(\.trigger).sorted()
            let expected = triggers.indices.filter {
                ReferenceMatcher.matches(triggers[$0], event, symbols: decoder.symbols)
            }
            #expect(matches == expected, "seed \(seed), event \(decoder.symbols.string(event.header.name))")
            cases += triggers.count
            matchedCount += expected.count
        }
        #expect(cases >= 100_000)
        #expect(matchedCount > 1000, "the random triggers match often enough to test something (seed \(seed))")
    }

    /// The realistic generated configuration (selective webhooks and triggers, value buckets on kinds, node
    /// ids and related labels) against the reference matcher: 2,000 entries × 100 events.
    @Test func generatedConfigurationAgreesWithTheReferenceMatcher() throws {
        let seed = testSeed()
        let configuration = FixtureGenerator.Configuration(eventCount: 100, seed: seed)
        var entries = TriggerFixtureGenerator(configuration, count: 2_000)
        var triggers: [TriggerDefinition] = []
        for index in 0..<2_000 {
            switch entries.entry(index: index) {
            case .webhook(let json):
                triggers.append(try WebhookSubscription(json: json, path: "w").trigger(defaultBranch: "main"))
            case .trigger(let json):
                triggers.append(try TriggerDefinition(json: json, path: "t"))
            }
        }
        var decoder = EventDecoder()
        var matcher = TriggerMatcher(index: TriggerIndex.compile(triggers, symbols: decoder.symbols))
        var events = FixtureGenerator(configuration)
        var hits: [TriggerHit] = []
        var cases = 0
        var matched = 0
        while let bytes = events.next() {
            let event = try decoder.decode(bytes)
            hits.removeAll(keepingCapacity: true)
            matcher.match(event, into: &hits)
            let expected = triggers.indices.filter {
                ReferenceMatcher.matches(triggers[$0], event, symbols: decoder.symbols)
            }
            #expect(hits.map(\.trigger).sorted() == expected, "seed \(seed)")
            #expect(hits.allSatisfy { $0.expects }, "seed \(seed): webhook triggers count every event they reach")
            cases += triggers.count
            matched += expected.count
        }
        #expect(cases >= 200_000)
        #expect(matched > 50, "seed \(seed): the selective configuration still matches")
    }

    /// Label values with JSON escapes go through the unescaping paths (value ids, literals, globs).
    @Test func escapedValuesMatchLikeTheReference() throws {
        var decoder = EventDecoder()
        let values = ["a\"b", "back\\slash", "tab\tx", "plain", "é\"", "\"quoted\""]
        var triggers: [TriggerDefinition] = []
        for (position, value) in values.enumerated() {
            for pattern in [value, "!" + value, String(value.prefix(2)) + "*", "*", "other"] {
                triggers.append(
                    TriggerDefinition(
                        name: "t\(position)-\(pattern)",
                        events: EventNamePatterns(expect: ["x.y"]),
                        match: ResourceSpecification([("label", pattern)]),
                        matchRelated: [ResourceSpecification([("prefect.resource.role", "r"), ("label", pattern)])]
                    )
                )
                // The labels the decoder interns (primary node kind, branch label) take the symbol paths.
                triggers.append(
                    TriggerDefinition(
                        name: "k\(position)-\(pattern)",
                        events: EventNamePatterns(expect: ["x.y"]),
                        match: ResourceSpecification([("infrahub.node.kind", pattern)])
                    )
                )
                triggers.append(
                    TriggerDefinition(
                        name: "b\(position)-\(pattern)",
                        events: EventNamePatterns(expect: ["x.y"]),
                        matchRelated: [
                            ResourceSpecification([
                                ("prefect.resource.role", "infrahub.branch"), ("infrahub.resource.label", pattern),
                            ])
                        ]
                    )
                )
            }
        }
        var matcher = TriggerMatcher(index: TriggerIndex.compile(triggers, symbols: decoder.symbols))
        var hits: [TriggerHit] = []
        for (position, value) in values.enumerated() {
            let draft = EventDraft(
                name: "x.y",
                id: EventID.random(high: UInt64(position), low: 1),
                occurred: Timestamp(secondsSinceEpoch: 1),
                resource: ResourceDraft(id: "p", [("label", value), ("infrahub.node.kind", value)]),
                related: [
                    ResourceDraft(id: "q", role: "r", [("label", value)]),
                    ResourceDraft(id: "b0", role: "infrahub.branch"),  // no label: the decoder skips it
                    ResourceDraft(id: "b1", role: "infrahub.branch", [("infrahub.resource.label", value)]),
                    ResourceDraft(id: "b2", role: "infrahub.branch", [("infrahub.resource.label", "other")]),
                ]
            )
            let event = try draft.build(with: &decoder)
            hits.removeAll()
            matcher.match(event, into: &hits)
            let expected = triggers.indices.filter {
                ReferenceMatcher.matches(triggers[$0], event, symbols: decoder.symbols)
            }
            #expect(hits.map(\.trigger).sorted() == expected, "value \(value)")
            #expect(expected.count >= 2, "value \(value): itself and * at least")
        }
    }

    /// Publishers swap indexes while four threads match: every result equals the reference for the index
    /// the matcher used for that event, and every old index is freed once no matcher uses it.
    @Test func swappingTheIndexWhileMatching() throws {
        let seed = testSeed()
        var generator = RandomTriggers(random: SplitMix64(seed: seed))
        let configurations = (0..<4).map { version in (0..<60).map { generator.trigger(version * 100 + $0) } }
        var decoder = EventDecoder()
        var stream = FixtureGenerator(.init(eventCount: 200, seed: seed, kindCount: 6, branchCount: 3))
        var decoded: [Event] = []
        while let bytes = stream.next() { decoded.append(try decoder.decode(bytes)) }
        let events = decoded
        // Compile every version up front (compiling interns into the decoder's table, a single-threaded step)
        // and record what each version must match.
        let indexes = configurations.map { TriggerIndex.compile($0, symbols: decoder.symbols) }
        let expected: [[[Int]]] = configurations.map { triggers in
            events.map { event in
                triggers.indices.filter { ReferenceMatcher.matches(triggers[$0], event, symbols: decoder.symbols) }
            }
        }
        let shared = SharedTriggerIndex(indexes[0], readerCountMax: 4)
        let stop = Atomic<Bool>(false)
        let mismatches = Atomic<Int>(0)
        let matchedEvents = Atomic<Int>(0)
        let adoptions = Atomic<Int>(0)
        let finished = DispatchGroup()
        for reader in 0..<4 {
            finished.enter()
            let thread = Thread {
                defer { finished.leave() }
                guard var matcher = try? TriggerMatcher(following: shared) else {
                    mismatches.add(1_000_000, ordering: .relaxed)
                    return
                }
                var hits: [TriggerHit] = []
                var position = reader
                var lastVersion = -1
                while !stop.load(ordering: .relaxed) {
                    let event = events[position % events.count]
                    hits.removeAll(keepingCapacity: true)
                    matcher.match(event, into: &hits)
                    let version = indexes.firstIndex { $0 === matcher.index }!
                    if version != lastVersion {
                        adoptions.add(1, ordering: .relaxed)
                        lastVersion = version
                    }
                    if hits.map(\.trigger).sorted() != expected[version][position % events.count] {
                        mismatches.add(1, ordering: .relaxed)
                    }
                    matchedEvents.add(1, ordering: .relaxed)
                    position += 1
                }
            }
            thread.start()
        }
        // Publish while the readers match, until they have matched enough events across many versions.
        var rounds = 0
        while rounds < 400 || matchedEvents.load(ordering: .relaxed) < 20_000 || adoptions.load(ordering: .relaxed) < 50
        {
            rounds += 1
            shared.publish(indexes[rounds % indexes.count])
            for _ in 0..<2_000 { _ = matchedEvents.load(ordering: .relaxed) }  // let readers take some events
        }
        while shared.publishedCount % 4 != 0 {  // end on version 0: round r publishes indexes[r % 4]
            shared.publish(indexes[Int(shared.publishedCount + 1) % indexes.count])
        }
        stop.store(true, ordering: .relaxed)
        finished.wait()
        #expect(mismatches.load(ordering: .relaxed) == 0, "seed \(seed)")
        #expect(adoptions.load(ordering: .relaxed) >= 50, "the readers saw the swaps")
        #expect(shared.publishedCount % 4 == 0)
        #expect(shared.index === indexes[0], "the rounds end on version 0")
        // Only `indexes` and `shared` hold the indexes now: the readers and the hazard slots let go.
        weak var dropped: TriggerIndex?
        do {
            let temporary = TriggerIndex.compile(configurations[1], symbols: decoder.symbols)
            dropped = temporary
            shared.publish(temporary)
            shared.publish(indexes[0])
        }
        #expect(dropped == nil, "a replaced index nobody uses is freed")
    }

    @Test func readerSlotsAreBounded() throws {
        let shared = SharedTriggerIndex(TriggerIndex.compile([], symbols: SymbolTable()), readerCountMax: 1)
        let first = try TriggerMatcher(following: shared)
        #expect(throws: SharedTriggerIndex.ReaderLimitError.self) { _ = try TriggerMatcher(following: shared) }
        _ = consume first
        #expect(throws: Never.self) { _ = try TriggerMatcher(following: shared) }
    }

    @Test func statisticsShowBuckets() {
        let symbols = SymbolTable()
        let triggers = [
            TriggerDefinition(
                name: "a",
                events: EventNamePatterns(expect: ["infrahub.node.created"]),
                match: ResourceSpecification([("infrahub.node.kind", "InfraDevice")])
            ),
            TriggerDefinition(name: "b", events: EventNamePatterns(expect: ["infrahub.*"])),
        ]
        let statistics = TriggerIndex.compile(triggers, symbols: symbols).statistics
        #expect(statistics.exactNameCount == 1)
        #expect(statistics.patternTriggerCount == 1)
        #expect(statistics.dimensions == ["infrahub.node.kind"])
        #expect(statistics.indexedTriggerCount == 1)
        #expect(statistics.unindexedTriggerCount == 1)
    }
}
