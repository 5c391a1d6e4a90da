import Benchmark
import SluiceTools

// Trigger matching on the data plane (issue 4): the compiled TriggerIndex over the generated stream with
// the generator's realistic configurations. The data-plane goal is `mallocCountTotal == 0` per iteration
// (every per-name plan is built during warmup); throughput is read locally, and the ratios against the
// naive matcher come from `swift run -c release trigger-ratio` (anchor: aws/event-ruler ~220k events/s).

/// The events, a matcher over one configuration, and a reused hit buffer. A class so the `~Copyable`
/// matcher can live across iterations.
final class TriggerMatchState {
    let events: [Event]
    var matcher: TriggerMatcher
    var hits: [TriggerHit] = []

    init(triggerCount: Int) {
        let configuration = FixtureGenerator.Configuration(eventCount: 2_000, seed: 42)
        var decoder = EventDecoder()
        var generator = FixtureGenerator(configuration)
        var events: [Event] = []
        while let bytes = generator.next() {
            guard let event = try? decoder.decode(bytes) else { fatalError("a generated event did not decode") }
            events.append(event)
        }
        var entries = TriggerFixtureGenerator(configuration, count: triggerCount)
        var triggers: [TriggerDefinition] = []
        for index in 0..<triggerCount {
            switch entries.entry(index: index) {
            case .webhook(let json):
                guard let webhook = try? WebhookSubscription(json: json, path: "webhooks") else { fatalError() }
                triggers.append(webhook.trigger(defaultBranch: "main"))
            case .trigger(let json):
                guard let trigger = try? TriggerDefinition(json: json, path: "triggers") else { fatalError() }
                triggers.append(trigger)
            }
        }
        self.events = events
        matcher = TriggerMatcher(index: TriggerIndex.compile(triggers, symbols: decoder.symbols))
        hits.reserveCapacity(triggerCount)
        pass()  // builds every per-name plan and sizes every buffer
    }

    /// One pass over the events; returns the hits.
    @discardableResult
    func pass() -> Int {
        var total = 0
        for position in events.indices {
            hits.removeAll(keepingCapacity: true)
            matcher.match(events[position], into: &hits)
            total += hits.count
        }
        return total
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 2,
        scalingFactor: .one,
        maxDuration: .seconds(2),
        maxIterations: 200
    )

    /// One iteration: `TriggerMatcher.match` over all 2,000 generated events (seed 42), with 10, 10k and
    /// 100k entries of the generated configuration. Goal: `mallocCountTotal` 0 per iteration.
    for (name, count) in [("10Triggers", 10), ("10kTriggers", 10_000), ("100kTriggers", 100_000)] {
        Benchmark("TriggerIndex.match.\(name)") { benchmark, state in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(state.pass())
            }
            benchmark.stopMeasurement()
        } setup: {
            TriggerMatchState(triggerCount: count)
        }
    }
}
