// Trigger matching throughput against the naive matcher, side by side in one process (issue 4,
// PERFORMANCE.md "trigger match"): the compiled TriggerIndex and the reference matcher (spec §b applied
// to every trigger for every event) over the same generated events, with 10, 1k, 10k and 100k entries
// of the fixture generator's `--triggers` configuration (selective webhooks and triggers, 0.3 % broad).
// Goals: at 10k triggers ≥ 20× the naive matcher; ≥ 0.5× the index's own throughput at 10 triggers.
// Each round times the index over every event (whole-pass throughput, and each event on its own for
// p50/p99) and the naive matcher over a sample; figures are medians of the rounds.
// Usage: swift run -c release trigger-ratio [--events N] [--rounds N] [--counts 10,1000,...]
import Foundation
import Sluice

var eventCount = 20_000
var rounds = 5
var counts = [10, 1_000, 10_000, 100_000]
var indexOnly = false
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--events": eventCount = Int(arguments.next() ?? "") ?? eventCount
    case "--rounds": rounds = max(1, Int(arguments.next() ?? "") ?? rounds)
    case "--counts": counts = (arguments.next() ?? "").split(separator: ",").compactMap { Int($0) }
    case "--index-only": indexOnly = true  // for profiling: no naive matcher, no per-event timing
    default: fatalError("unknown argument \(argument)")
    }
}

let configuration = FixtureGenerator.Configuration(eventCount: eventCount, seed: 42)
var decoder = EventDecoder()
var events: [Event] = []
var generator = FixtureGenerator(configuration)
while let bytes = generator.next() { events.append(try decoder.decode(bytes)) }

func triggers(_ count: Int) throws -> [TriggerDefinition] {
    var entries = TriggerFixtureGenerator(configuration, count: count)
    var webhooks: [TriggerDefinition] = []
    var explicit: [TriggerDefinition] = []
    for index in 0..<count {
        switch entries.entry(index: index) {
        case .webhook(let json):
            webhooks.append(try WebhookSubscription(json: json, path: "webhooks").trigger(defaultBranch: "main"))
        case .trigger(let json):
            explicit.append(try TriggerDefinition(json: json, path: "triggers"))
        }
    }
    return webhooks + explicit
}

let clock = ContinuousClock()
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

print("events \(eventCount) (seed 42), \(rounds) rounds; medians of rounds")
print("triggers  matches/event  index events/s  p50 ns  p99 ns  naive events/s  × naive  × index@10")
var indexRateAt10: Double?
for count in counts {
    let definitions = try triggers(count)
    let index = TriggerIndex.compile(definitions, symbols: decoder.symbols)
    var matcher = TriggerMatcher(index: index)
    var hits: [TriggerHit] = []
    hits.reserveCapacity(count)
    // Warm every per-name plan, then measure.
    for event in events {
        hits.removeAll(keepingCapacity: true)
        matcher.match(event, into: &hits)
    }
    var passRates: [Double] = []
    var p50s: [Double] = []
    var p99s: [Double] = []
    var naiveRates: [Double] = []
    var ratios: [Double] = []
    var matchedTotal = 0
    var perEvent = [Double](repeating: 0, count: events.count)
    let sample = events.prefix(max(20, min(events.count, 2_000_000 / max(count, 1))))
    for _ in 0..<rounds {
        matchedTotal = 0
        let pass = clock.measure {
            for position in events.indices {
                hits.removeAll(keepingCapacity: true)
                matcher.match(events[position], into: &hits)
                matchedTotal += hits.count
            }
        }
        for position in events.indices {
            let start = clock.now
            hits.removeAll(keepingCapacity: true)
            matcher.match(events[position], into: &hits)
            perEvent[position] = seconds(start.duration(to: clock.now))
        }
        perEvent.sort()
        if indexOnly {
            naiveRates.append(1)
            ratios.append(1)
            passRates.append(Double(events.count) / seconds(pass))
            p50s.append(perEvent[perEvent.count / 2] * 1e9)
            p99s.append(perEvent[perEvent.count * 99 / 100] * 1e9)
            continue
        }
        var naiveMatched = 0
        let naive = clock.measure {
            for event in sample {
                for trigger in definitions where ReferenceMatcher.matches(trigger, event, symbols: decoder.symbols) {
                    naiveMatched += 1
                }
            }
        }
        let passRate = Double(events.count) / seconds(pass)
        let naiveRate = Double(sample.count) / seconds(naive)
        passRates.append(passRate)
        naiveRates.append(naiveRate)
        ratios.append(passRate / naiveRate)
        p50s.append(perEvent[perEvent.count / 2] * 1e9)
        p99s.append(perEvent[perEvent.count * 99 / 100] * 1e9)
    }
    let rate = median(passRates)
    if indexRateAt10 == nil { indexRateAt10 = rate }
    print(
        String(
            format: "%8d  %13.2f  %14.0f  %6.0f  %6.0f  %14.0f  %7.0fx  %8.2fx",
            count,
            Double(matchedTotal) / Double(events.count),
            rate,
            median(p50s),
            median(p99s),
            median(naiveRates),
            median(ratios),
            rate / indexRateAt10!
        )
    )
}
