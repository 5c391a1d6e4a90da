import SluiceCore
import Testing

@Suite struct DNSCacheTests {
    typealias Cache = DNSCache<String>
    static let policy = DNSCachePolicy(
        positiveTTLNanoseconds: 100,
        negativeTTLNanoseconds: 10,
        resolveTimeoutNanoseconds: 50,
        entryCountMax: 2
    )

    /// Entry situations of one host at time 1000, and the events that can reach it.
    enum Situation: CaseIterable, Hashable, Sendable {
        case absent, resolving, resolvingTimedOut, resolvedFresh, resolvedExpired, failedFresh, failedExpired
    }
    enum Event: CaseIterable, Hashable, Sendable { case lookup, store, storeFailure }

    static func cache(_ situation: Situation) -> Cache {
        var cache = Cache(policy: policy)
        switch situation {
        case .absent: break
        case .resolving: _ = cache.lookup("a", nowNanoseconds: 990)
        case .resolvingTimedOut: _ = cache.lookup("a", nowNanoseconds: 950)
        case .resolvedFresh: cache.store("a", addresses: ["127.0.0.1"], nowNanoseconds: 901)
        case .resolvedExpired: cache.store("a", addresses: ["127.0.0.1"], nowNanoseconds: 900)
        case .failedFresh: cache.storeFailure("a", message: "no such host", nowNanoseconds: 991)
        case .failedExpired: cache.storeFailure("a", message: "no such host", nowNanoseconds: 990)
        }
        return cache
    }

    /// Expected (lookup answer or nil, entry afterwards) for every situation × event at t=1000.
    static let table: StateEventTable<Situation, Event, Transition<Cache.Entry?, Cache.Lookup?>> = {
        var table = StateEventTable<Situation, Event, Transition<Cache.Entry?, Cache.Lookup?>>()
        let resolvingNow = Cache.Entry.resolving(startedNanoseconds: 1000)
        let stored = Cache.Entry.resolved(["127.0.0.2"], expiresNanoseconds: 1100)
        let failed = Cache.Entry.failed("timed out", expiresNanoseconds: 1010)
        for situation in Situation.allCases {
            table[situation, .store] = .to(stored, nil)
            table[situation, .storeFailure] = .to(failed, nil)
        }
        table[.absent, .lookup] = .to(resolvingNow, .resolve)
        table[.resolving, .lookup] = .to(.resolving(startedNanoseconds: 990), .wait)
        table[.resolvingTimedOut, .lookup] = .to(resolvingNow, .resolve)
        table[.resolvedFresh, .lookup] = .to(.resolved(["127.0.0.1"], expiresNanoseconds: 1001), .hit(["127.0.0.1"]))
        table[.resolvedExpired, .lookup] = .to(resolvingNow, .resolve)
        table[.failedFresh, .lookup] = .to(.failed("no such host", expiresNanoseconds: 1001), .failed("no such host"))
        table[.failedExpired, .lookup] = .to(resolvingNow, .resolve)
        return table
    }()

    @Test func tableCoversEverySituationAndEvent() { Self.table.expectCovers() }

    @Test(arguments: Situation.allCases)
    func everyPairBehavesAsTheTableSays(situation: Situation) throws {
        for event in Event.allCases {
            guard case .to(let entry, let answer) = try #require(Self.table[situation, event]) else { continue }
            var cache = Self.cache(situation)
            var produced: Cache.Lookup?
            switch event {
            case .lookup: produced = cache.lookup("a", nowNanoseconds: 1000)
            case .store: cache.store("a", addresses: ["127.0.0.2"], nowNanoseconds: 1000)
            case .storeFailure: cache.storeFailure("a", message: "timed out", nowNanoseconds: 1000)
            }
            #expect(produced == answer, "\(situation) × \(event)")
            #expect(cache.entries["a"] == entry, "\(situation) × \(event)")
        }
    }

    @Test func boundedWithEarliestExpiryEvicted() {
        var cache = Cache(policy: Self.policy)
        cache.store("a", addresses: ["1"], nowNanoseconds: 0)
        cache.store("b", addresses: ["2"], nowNanoseconds: 50)
        cache.store("c", addresses: ["3"], nowNanoseconds: 60)
        #expect(cache.entries.count == 2)
        #expect(cache.entries["a"] == nil)
        #expect(cache.lookup("b", nowNanoseconds: 70) == .hit(["2"]))
        cache.removeExpired(nowNanoseconds: 155)
        #expect(cache.entries.keys.sorted() == ["c"])
    }

    @Test func explicitTTLAndEmptyAnswers() {
        var cache = Cache(policy: Self.policy)
        cache.store("a", addresses: ["1"], nowNanoseconds: 0, ttlNanoseconds: 5)
        #expect(cache.lookup("a", nowNanoseconds: 4) == .hit(["1"]))
        #expect(cache.lookup("a", nowNanoseconds: 5) == .resolve)
        cache.store("a", addresses: [], nowNanoseconds: 6)
        #expect(cache.lookup("a", nowNanoseconds: 7) == .failed("a resolved to no addresses"))
    }
}
