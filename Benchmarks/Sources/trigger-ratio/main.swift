// Trigger matching throughput against the naive matcher, side by side in one process (issue 4,
// PERFORMANCE.md "trigger match"): the compiled TriggerIndex and the reference matcher (spec §b applied
// to every trigger for every event) over the same generated events, with 10, 1k, 10k and 100k webhook
// triggers from the fixture generator's `--triggers` configuration.
// Goals: at 10k triggers ≥ 20× the naive matcher; ≥ 0.5× the index's own throughput at 10 triggers.
// Usage: swift run -c release trigger-ratio [--events N]
import Foundation
import Sluice

var eventCount = 20_000
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--events": eventCount = Int(arguments.next() ?? "") ?? eventCount
    default: fatalError("unknown argument \(argument)")
    }
}

let configuration = FixtureGenerator.Configuration(eventCount: eventCount, seed: 42)
var decoder = EventDecoder()
var events: [Event] = []
var generator = FixtureGenerator(configuration)
while let bytes = generator.next() { events.append(try decoder.decode(bytes)) }

func triggers(_ count: Int) throws -> [TriggerDefinition] {
    var webhooks = TriggerFixtureGenerator(configuration)
    return try (0..<count).map { index in
        try TriggerDefinition(json: webhooks.webhook(index: index), path: "webhooks[\(index)]")
    }
}

let clock = ContinuousClock()
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

print("events \(eventCount) (seed 42)")
var indexRateAt10 = 0.0
for count in [10, 1_000, 10_000, 100_000] {
    let definitions = try triggers(count)
    let index = TriggerIndex.compile(definitions, symbols: decoder.symbols)
    let matcher = TriggerMatcher(index: index, symbols: decoder.symbols)
    var matches: [Int] = []
    matches.reserveCapacity(count)
    var matchedTotal = 0
    var perEvent: [Double] = []
    perEvent.reserveCapacity(events.count)
    // Warm the per-name cache, then measure.
    for event in events.prefix(2000) {
        matches.removeAll(keepingCapacity: true)
        matcher.match(event, into: &matches)
    }
    let indexTime = clock.measure {
        for event in events {
            let start = clock.now
            matches.removeAll(keepingCapacity: true)
            matcher.match(event, into: &matches)
            matchedTotal += matches.count
            perEvent.append(seconds(start.duration(to: clock.now)))
        }
    }
    let indexRate = Double(events.count) / seconds(indexTime)
    if count == 10 { indexRateAt10 = indexRate }
    perEvent.sort()
    // The naive matcher on a sample small enough to finish: its cost is linear in events.
    let sample = events.prefix(max(20, min(events.count, 2_000_000 / count)))
    var naiveMatched = 0
    let naiveTime = clock.measure {
        for event in sample {
            for trigger in definitions where ReferenceMatcher.matches(trigger, event, symbols: decoder.symbols) {
                naiveMatched += 1
            }
        }
    }
    let naiveRate = Double(sample.count) / seconds(naiveTime)
    print(
        String(
            format:
                "%6d triggers: index %8.0f events/s (p50 %.2f µs, p99 %.2f µs, %.1f matches/event)  naive %8.0f events/s  → %.0fx naive, %.2fx of the index at 10",
            count,
            indexRate,
            perEvent[perEvent.count / 2] * 1e6,
            perEvent[perEvent.count * 99 / 100] * 1e6,
            Double(matchedTotal) / Double(events.count),
            naiveRate,
            indexRate / naiveRate,
            indexRate / indexRateAt10
        )
    )
}
