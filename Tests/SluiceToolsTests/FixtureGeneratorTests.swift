import SluiceCore
import SluiceTools
import Testing

/// The fixture generators: deterministic per seed, every event valid, trigger configurations valid JSON.
@Suite struct FixtureGeneratorTests {
    @Test func isDeterministicAndValid() throws {
        let configuration = FixtureGenerator.Configuration(eventCount: 3000, seed: 99, kindCount: 14, branchCount: 5)
        var first = FixtureGenerator(configuration)
        var second = FixtureGenerator(configuration)
        var decoder = EventDecoder()
        var names: Set<String> = []
        var kinds: Set<Symbol> = []
        var branches: Set<Symbol> = []
        var dataSizes: [Int] = []
        var idsWithChildren: Set<EventID> = []
        var seen: Set<EventID> = []
        while let bytes = first.next() {
            #expect(second.next() == bytes)
            let event = try decoder.decode(bytes)
            names.insert(decoder.symbols.string(event.header.name))
            kinds.insert(event.header.nodeKind)
            branches.insert(event.header.branch)
            let dataSize = event.header.payloadDataRange?.count ?? 0
            dataSizes.append(dataSize)
            if decoder.symbols.string(event.header.name).hasPrefix("infrahub.node.") {
                #expect(dataSize >= 300 && dataSize <= 4500, "node events carry ~300 B–4 KiB of data")
            }
            if let parent = event.header.parent {
                #expect(seen.contains(parent), "a child follows its parent")
                #expect(idsWithChildren.contains(parent), "the parent says it has children")
            }
            if event.header.hasChildren { idsWithChildren.insert(event.header.id) }
            seen.insert(event.header.id)
        }
        #expect(second.next() == nil)
        #expect(names.count == 31)
        #expect(kinds.count >= 14)
        #expect(branches.count >= 5)
        dataSizes.sort()
        #expect(dataSizes[dataSizes.count / 2] >= 1000)
        #expect(dataSizes.last! <= 4500)
        #expect(!idsWithChildren.isEmpty)
        var other = FixtureGenerator(.init(eventCount: 1, seed: 100))
        var same = FixtureGenerator(.init(eventCount: 1, seed: 99, kindCount: 14, branchCount: 5))
        #expect(other.next() != same.next())
    }

    @Test func triggerConfigurationIsValidJSON() throws {
        var generator = TriggerFixtureGenerator(.init(eventCount: 10, seed: 3))
        for index in 0..<200 {
            let webhook = generator.webhook(index: index)
            let reparsed = try JSONValue.parse(webhook.encoded())
            #expect(reparsed == webhook)
            #expect(webhook["url"]?.stringValue?.hasPrefix("http://127.0.0.1:") == true)
            #expect(webhook[path: ["trigger", "expect"]]?.arrayValue?.count == 1)
        }
    }
}
