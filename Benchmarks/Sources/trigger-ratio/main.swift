// trigger-ratio: the compiled trigger index against the naive matcher (`--help` says what it measures).
import BenchmarkCommandLine
import Foundation
import SluiceTools

var commandLine = BenchmarkCommandLine(
    name: "trigger-ratio",
    summary: """
        Trigger matching throughput against the naive matcher, side by side in one process (issue 4,
        PERFORMANCE.md "trigger match"): the compiled TriggerIndex and the reference matcher (spec b applied to
        every trigger for every event) over the same generated events (seed 42), with configurations of the
        fixture generator's `--triggers` (selective webhooks and triggers, 0.3 % broad) of each count. Goals:
        at 10k triggers >= 20x the naive matcher; >= 0.5x the index's own throughput at 10 triggers. Each round
        times the index over every event (whole-pass throughput, and each event on its own for p50/p99) and the
        naive matcher over a sample; figures are medians of the rounds.
        """
)
// 2,000 events (~10 MB) stay in cache, as an event does between its decode and its match in the
// pipeline; `--events 20000` (~100 MB) measures mostly memory misses instead.
let eventCount = commandLine.integer("--events", default: 2_000, range: 1...10_000_000, "generated events")
let rounds = commandLine.integer("--rounds", default: 5, range: 1...1_000, "rounds")
let counts = commandLine.integers(
    "--counts",
    default: [10, 1_000, 10_000, 100_000],
    range: 1...10_000_000,
    "configuration sizes (triggers)"
)
let indexOnly = commandLine.flag("--index-only", "no naive matcher and no per-event timing (for profiling)")
commandLine.finish()

let configuration = FixtureGenerator.Configuration(eventCount: eventCount, seed: 42)
var decoder = EventDecoder()
var decoded: [Event] = []
var generator = FixtureGenerator(configuration)
while let bytes = generator.next() { decoded.append(try decoder.decode(bytes)) }
// A `let`, so passing `events[position]` borrows the element instead of copying it (and retaining its arrays).
let events = decoded

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
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

// What timing one event costs by itself (two clock reads), measured here and subtracted from p50/p99.
var clockPairs = [Double](repeating: 0, count: 100_000)
for position in clockPairs.indices {
    let start = clock.now
    clockPairs[position] = seconds(start.duration(to: clock.now))
}
let timerOverhead = median(clockPairs)

print("events \(eventCount) (seed 42), \(rounds) rounds; medians of rounds")
print(String(format: "per-event timing overhead %.0f ns (subtracted from p50/p99)", timerOverhead * 1e9))
print(
    "each round: the naive matcher at N, then the index at N and at 10 (the flatness anchor), order flipping per round"
)
print("triggers  matches/event  index events/s  p50 ns  p99 ns  naive events/s  × naive  × index@10")

/// One pass of `matcher` over every event: seconds, and hits in total.
@MainActor func pass(_ matcher: inout TriggerMatcher, _ hits: inout [TriggerHit]) -> (Double, Int) {
    var matched = 0
    let duration = clock.measure {
        for position in events.indices {
            hits.removeAll(keepingCapacity: true)
            matcher.match(events[position], into: &hits)
            matched += hits.count
        }
    }
    return (seconds(duration), matched)
}

@MainActor func warmedMatcher(_ definitions: [TriggerDefinition], _ hits: inout [TriggerHit]) -> TriggerMatcher {
    var matcher = TriggerMatcher(index: TriggerIndex.compile(definitions, symbols: decoder.symbols))
    _ = pass(&matcher, &hits)  // builds every per-name plan
    return matcher
}

var anchorHits: [TriggerHit] = []
var anchor = warmedMatcher(try triggers(10), &anchorHits)
for count in counts {
    let definitions = try triggers(count)
    var hits: [TriggerHit] = []
    hits.reserveCapacity(count)
    var matcher = warmedMatcher(definitions, &hits)
    var passRates: [Double] = []
    var flatness: [Double] = []
    var p50s: [Double] = []
    var p99s: [Double] = []
    var naiveRates: [Double] = []
    var ratios: [Double] = []
    var matchedTotal = 0
    var perEvent = [Double](repeating: 0, count: events.count)
    let sample = events.prefix(max(20, min(events.count, 2_000_000 / max(count, 1))))
    for round in 0..<rounds {
        // The naive matcher first (it allocates and evicts caches), then one unmeasured pass of each index,
        // then the measured passes; the order of the two indexes flips every round.
        var naiveSeconds = 0.0
        if !indexOnly {
            var naiveMatched = 0
            naiveSeconds = seconds(
                clock.measure {
                    for event in sample {
                        for trigger in definitions
                        where ReferenceMatcher.matches(trigger, event, symbols: decoder.symbols) {
                            naiveMatched += 1
                        }
                    }
                }
            )
        }
        _ = pass(&matcher, &hits)
        _ = pass(&anchor, &anchorHits)
        var anchorSeconds = 0.0
        if round % 2 == 1 { anchorSeconds = pass(&anchor, &anchorHits).0 }
        let (indexSeconds, matched) = pass(&matcher, &hits)
        matchedTotal = matched
        if round % 2 == 0 { anchorSeconds = pass(&anchor, &anchorHits).0 }
        for position in events.indices {
            let start = clock.now
            hits.removeAll(keepingCapacity: true)
            matcher.match(events[position], into: &hits)
            perEvent[position] = seconds(start.duration(to: clock.now))
        }
        perEvent.sort()
        p50s.append((perEvent[perEvent.count / 2] - timerOverhead) * 1e9)
        p99s.append((perEvent[perEvent.count * 99 / 100] - timerOverhead) * 1e9)
        let passRate = Double(events.count) / indexSeconds
        passRates.append(passRate)
        flatness.append(anchorSeconds / indexSeconds)
        if !indexOnly {
            let naiveRate = Double(sample.count) / naiveSeconds
            naiveRates.append(naiveRate)
            ratios.append(passRate / naiveRate)
        }
    }
    print(
        String(
            format: "%8d  %13.2f  %14.0f  %6.0f  %6.0f  %14.0f  %7.0fx  %8.2fx",
            count,
            Double(matchedTotal) / Double(events.count),
            median(passRates),
            median(p50s),
            median(p99s),
            naiveRates.isEmpty ? 0.0 : median(naiveRates),
            ratios.isEmpty ? 0.0 : median(ratios),
            median(flatness)
        )
    )
}
