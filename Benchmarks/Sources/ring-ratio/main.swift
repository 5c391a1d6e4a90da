// ring-ratio: Sluice's rings against ck_ring (`--help` says what it measures).
import BenchmarkCommandLine
import CKRingBaseline
import Foundation
import Sluice

var commandLine = BenchmarkCommandLine(
    name: "ring-ratio",
    summary: """
        Sluice's rings against Concurrency Kit's ck_ring (Debian libck-dev) in the same run (issue 7,
        PERFORMANCE.md "ring 1P1C": goal >= 0.7x). Items are 8-byte integers, as in ck's pointer rings, and
        both sides use the same back-off on a full or empty ring (64 spins, then sched_yield).
        1P1C: SPSCRing<UInt64> per item (tryPush / tryPop) and in batches of 64, against ck_ring spsc.
        2P1C: RingSequencer + RingSlots (claim one, write, publish; the consumer takes each published run and
              advances its cursor once per run, as a Disruptor consumer does), against ck_ring mpsc.
        """
)
let rounds = commandLine.integer("--rounds", default: 5, range: 1...1_000, "alternating rounds")
let items = commandLine.integer("--items", default: 20_000_000, range: 1...1_000_000_000, "items per ring per round")
commandLine.finish()
let capacity = 1024

@inline(__always) func backOff(_ failures: inout Int) {
    failures += 1
    if failures >= 64 {
        failures = 0
        sched_yield()
    }
}

/// Runs `consumer` and the `producers` on threads of their own; returns seconds from start to the last join.
func timeThreads(producers: [@Sendable () -> Void], consumer: @escaping @Sendable () -> Void) -> Double {
    let group = DispatchGroup()
    let started = ContinuousClock.now
    for body in [consumer] + producers {
        group.enter()
        Thread {
            body()
            group.leave()
        }
        .start()
    }
    group.wait()
    let elapsed = ContinuousClock.now - started
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

func spscPerItem(_ items: Int) -> Double {
    let ring = SPSCRing<UInt64>(capacity: capacity)
    return timeThreads(
        producers: [
            {
                var failures = 0
                for value in 1...UInt64(items) {
                    while !ring.tryPush(value) { backOff(&failures) }
                }
            }
        ],
        consumer: {
            var failures = 0
            var expected: UInt64 = 1
            while expected <= UInt64(items) {
                if let value = ring.tryPop() {
                    precondition(value == expected, "out of order")
                    expected += 1
                } else {
                    backOff(&failures)
                }
            }
        }
    )
}

func spscBatched(_ items: Int) -> Double {
    let ring = SPSCRing<UInt64>(capacity: capacity)
    return timeThreads(
        producers: [
            {
                var failures = 0
                var next: UInt64 = 1
                while next <= UInt64(items) {
                    let end = min(UInt64(items) + 1, next + 64)
                    let pushed = ring.push(contentsOf: next..<end)
                    if pushed == 0 { backOff(&failures) }
                    next += UInt64(pushed)
                }
            }
        ],
        consumer: {
            var failures = 0
            var expected: UInt64 = 1
            while expected <= UInt64(items) {
                let taken = ring.pop(maximum: 64) { value in
                    precondition(value == expected, "out of order")
                    expected += 1
                }
                if taken == 0 { backOff(&failures) }
            }
        }
    )
}

func sequencer(producers producerCount: Int, itemsPerProducer: Int) -> Double {
    let cursor = RingCursor()
    let sequencer = RingSequencer(capacity: capacity, gating: [cursor])
    let slots = RingSlots<UInt64>(capacity: capacity) { _ in 0 }
    let producer: @Sendable () -> Void = {
        var failures = 0
        for value in 1...UInt64(itemsPerProducer) {
            var claim = sequencer.tryClaim()
            while claim == nil {
                backOff(&failures)
                claim = sequencer.tryClaim()
            }
            slots[claim!.lowerBound] = value
            sequencer.publish(claim!)
        }
    }
    return timeThreads(
        producers: Array(repeating: producer, count: producerCount),
        consumer: {
            let barrier = RingBarrier(sequencer: sequencer)
            let total = producerCount * itemsPerProducer
            var failures = 0
            var next = 0
            var sum: UInt64 = 0
            while next < total {
                let end = barrier.available(from: next)
                if end == next {
                    backOff(&failures)
                    continue
                }
                for sequence in next..<end { sum &+= slots[sequence] }
                next = end
                cursor.advance(to: next)
            }
            let perProducer = UInt64(itemsPerProducer) * UInt64(itemsPerProducer + 1) / 2
            precondition(sum == UInt64(producerCount) * perProducer, "lost or duplicated items")
        }
    )
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func rate(_ count: Int, _ seconds: Double) -> String {
    String(format: "%6.1f M items/s", Double(count) / seconds / 1e6)
}

print("items \(items) (1P1C), \(items / 2) per producer (2P1C), capacity \(capacity), \(rounds) alternating rounds")
var results: [String: [Double]] = [:]
for round in 0..<rounds {
    var cases: [(String, () -> Double)] = [
        ("ck spsc", { ck_ring_baseline_spsc(UInt64(items), UInt32(capacity)) }),
        ("SPSCRing per item", { spscPerItem(items) }),
        ("SPSCRing batch 64", { spscBatched(items) }),
        ("ck mpsc 1P", { ck_ring_baseline_mpsc(UInt64(items), 1, UInt32(capacity)) }),
        ("RingSequencer 1P", { sequencer(producers: 1, itemsPerProducer: items) }),
        ("ck mpsc 2P", { ck_ring_baseline_mpsc(UInt64(items / 2), 2, UInt32(capacity)) }),
        ("RingSequencer 2P", { sequencer(producers: 2, itemsPerProducer: items / 2) }),
    ]
    if round % 2 == 1 { cases.reverse() }
    for (name, body) in cases {
        let seconds = body()
        precondition(seconds > 0, "\(name): the baseline saw lost or reordered items")
        results[name, default: []].append(seconds)
    }
}
func line(_ name: String, anchor: String, _ results: [String: [Double]]) {
    let ours = median(results[name]!)
    let theirs = median(results[anchor]!)
    let ratios = zip(results[name]!, results[anchor]!).map { $1 / $0 }
    func padded(_ text: String) -> String { text.padding(toLength: 18, withPad: " ", startingAt: 0) }
    print(
        "  \(padded(name)) \(rate(items, ours))   vs \(padded(anchor)) \(rate(items, theirs))   "
            + String(format: "ratio median %.2fx (min %.2fx, max %.2fx)", median(ratios), ratios.min()!, ratios.max()!)
    )
}
print("1 producer, 1 consumer:")
line("SPSCRing per item", anchor: "ck spsc", results)
line("SPSCRing batch 64", anchor: "ck spsc", results)
line("RingSequencer 1P", anchor: "ck mpsc 1P", results)
print("2 producers, 1 consumer:")
line("RingSequencer 2P", anchor: "ck mpsc 2P", results)
