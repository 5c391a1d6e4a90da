import SluiceCore
import SluiceTestSupport
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
