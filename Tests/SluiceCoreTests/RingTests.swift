import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

/// A value whose live instances are counted, to check that rings neither leak nor double-free elements.
private final class Token: @unchecked Sendable {
    nonisolated(unsafe) static var live = 0
    let value: Int
    init(_ value: Int) {
        self.value = value
        Token.live += 1
    }
    deinit { Token.live -= 1 }
}

@Suite(.serialized) struct RingTests {
    // MARK: SPSC, model-based (one thread, random operations against an array)

    @Test func spscRingAgreesWithAQueueModel() {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        for round in 0..<200 {
            let capacity = 1 << random.next(below: 7)
            do {
                let ring = SPSCRing<Token>(capacity: capacity)
                var model: [Int] = []
                var next = 0
                for step in 0..<300 {
                    let context = "seed \(seed), round \(round), step \(step), capacity \(capacity)"
                    switch random.next(below: 4) {
                    case 0:
                        let pushed = ring.tryPush(Token(next))
                        #expect(pushed == (model.count < capacity), "\(context): tryPush")
                        if pushed {
                            model.append(next)
                            next += 1
                        }
                    case 1:
                        let batch = (0..<random.next(below: capacity * 2 + 1)).map { Token(next + $0) }
                        let pushed = ring.push(contentsOf: batch)
                        #expect(pushed == min(batch.count, capacity - model.count), "\(context): push(contentsOf:)")
                        model.append(contentsOf: (next..<(next + pushed)))
                        next += pushed
                    case 2:
                        let popped = ring.tryPop()
                        #expect(popped?.value == model.first, "\(context): tryPop")
                        if !model.isEmpty { model.removeFirst() }
                    default:
                        let maximum = random.next(below: capacity + 2)
                        var seen: [Int] = []
                        let taken = ring.pop(maximum: maximum) { seen.append($0.value) }
                        let expected = Array(model.prefix(maximum))
                        #expect(taken == expected.count && seen == expected, "\(context): pop(maximum:)")
                        model.removeFirst(expected.count)
                    }
                    #expect(ring.count == model.count, "\(context): count")
                }
            }
            #expect(Token.live == 0, "seed \(seed), round \(round): every element released exactly once")
        }
    }

    // MARK: Sequencer, model-based (simulated producers and consumers on one thread)

    @Test func sequencerAndBarriersAgreeWithAModel() {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        for round in 0..<200 {
            let capacity = 1 << random.next(below: 6)
            let journaler = RingCursor()
            let matcher = RingCursor()
            let sequencer = RingSequencer(capacity: capacity, gating: [matcher])
            let slots = RingSlots<Int>(capacity: capacity) { _ in -1 }
            let journalBarrier = RingBarrier(sequencer: sequencer)
            let matchBarrier = RingBarrier(sequencer: sequencer, dependencies: [journaler])
            var claimedEnd = 0
            var published = Set<Int>()
            var pending: [[Range<Int>]] = [[], [], []]  // per simulated producer, claimed and not published
            func modelAvailable(from next: Int, limit: Int) -> Int {
                var end = next
                while end < limit, published.contains(end) { end += 1 }
                return end
            }
            for step in 0..<400 {
                let context = "seed \(seed), round \(round), step \(step), capacity \(capacity)"
                let producer = random.next(below: 3)
                switch random.next(below: 4) {
                case 0:
                    let count = 1 + random.next(below: capacity)
                    let fits = claimedEnd + count - capacity <= matcher.value
                    let claim = sequencer.tryClaim(count)
                    #expect((claim != nil) == fits, "\(context): tryClaim(\(count)) succeeds exactly when it fits")
                    if let claim {
                        #expect(claim == claimedEnd..<(claimedEnd + count), "\(context): claims are contiguous")
                        claimedEnd = claim.upperBound
                        for sequence in claim { slots[sequence] = sequence }
                        pending[producer].append(claim)
                    }
                case 1:
                    guard !pending[producer].isEmpty else { continue }
                    let range = pending[producer].remove(at: random.next(below: pending[producer].count))
                    sequencer.publish(range)
                    published.formUnion(range)
                case 2:
                    let next = journaler.value
                    let end = journalBarrier.available(from: next)
                    #expect(end == modelAvailable(from: next, limit: claimedEnd), "\(context): journal barrier")
                    for sequence in next..<end { #expect(slots[sequence] == sequence, "\(context): slot intact") }
                    journaler.advance(to: next + random.next(below: end - next + 1))
                default:
                    let next = matcher.value
                    let end = matchBarrier.available(from: next)
                    #expect(
                        end == modelAvailable(from: next, limit: min(claimedEnd, journaler.value)),
                        "\(context): match barrier stays behind the journaler"
                    )
                    for sequence in next..<end { #expect(slots[sequence] == sequence, "\(context): slot intact") }
                    matcher.advance(to: next + random.next(below: end - next + 1))
                }
            }
        }
    }

    @Test func fullRingIsBackpressureNotOverwrite() {
        let consumer = RingCursor()
        let sequencer = RingSequencer(capacity: 8, gating: [consumer])
        let first = sequencer.tryClaim(8)
        #expect(first == 0..<8)
        #expect(sequencer.tryClaim(1) == nil)
        sequencer.publish(0..<8)
        #expect(sequencer.tryClaim(1) == nil, "published but unconsumed slots are still taken")
        consumer.advance(to: 3)
        #expect(sequencer.tryClaim(4) == nil)
        #expect(sequencer.tryClaim(3) == 8..<11)
    }

    // MARK: Real threads (also run under ThreadSanitizer by scripts/test)

    @Test(.timeLimit(.minutes(2))) func spscRingCarriesEveryItemInOrderAcrossThreads() {
        let ring = SPSCRing<Int>(capacity: 256)
        let itemCount = 500_000
        let finished = DispatchGroup()
        onThread(finished) {
            var expected = 0
            var batch = 0
            while expected < itemCount {
                batch += 1
                var taken = 0
                if batch % 2 == 0 {
                    taken = ring.pop(maximum: 64) { value in
                        precondition(value == expected, "item \(expected) arrived as \(value)")
                        expected += 1
                    }
                } else if let value = ring.tryPop() {
                    precondition(value == expected, "item \(expected) arrived as \(value)")
                    expected += 1
                    taken = 1
                }
                if taken == 0 { sched_yield() }
            }
        }
        var next = 0
        var chunk: [Int] = []
        while next < itemCount {
            chunk.removeAll(keepingCapacity: true)
            for value in next..<min(itemCount, next + 1 + next % 37) { chunk.append(value) }
            var offset = 0
            while offset < chunk.count {
                let pushed = ring.push(contentsOf: chunk[offset...])
                if pushed == 0 { sched_yield() }
                offset += pushed
            }
            next += chunk.count
        }
        finished.wait()
        #expect(ring.count == 0)
    }

    @Test(.timeLimit(.minutes(2))) func twoProducersThroughJournalerAndMatcherExactlyOnceInOrder() {
        let capacity = 128
        let perProducer = 50_000
        let journaler = RingCursor()
        let matcher = RingCursor()
        // Four threads on two cores: consumers yield while they wait, or spinning starves the producers.
        let sequencer = RingSequencer(capacity: capacity, gating: [matcher], waitStrategy: YieldingWait())
        let slots = RingSlots<Int>(capacity: capacity) { _ in -1 }
        let finished = DispatchGroup()
        func run(_ body: @escaping @Sendable () -> Void) { onThread(finished, body) }
        for producer in 0..<2 {
            run {
                var index = 0
                var batch = 1
                while index < perProducer {
                    let count = min(batch, perProducer - index)
                    guard let claim = sequencer.tryClaim(count) else {
                        sched_yield()
                        continue
                    }
                    for sequence in claim {
                        slots[sequence] = producer << 32 | index
                        index += 1
                    }
                    sequencer.publish(claim)
                    batch = batch % 8 + 1
                }
            }
        }
        let total = 2 * perProducer
        let journalCount = JournalCounts()
        run {
            let barrier = RingBarrier(sequencer: sequencer)
            var next = 0
            var lastIndex = [-1, -1]
            while next < total {
                let end = barrier.waitForAvailable(from: next) { false }
                for sequence in next..<end {
                    let value = slots[sequence]
                    let producer = value >> 32
                    let index = value & 0xFFFF_FFFF
                    precondition(index == lastIndex[producer] + 1, "producer \(producer): \(index) out of order")
                    lastIndex[producer] = index
                }
                next = end
                journaler.advance(to: next)
            }
            journalCount.set(next)
        }
        run {
            let barrier = RingBarrier(sequencer: sequencer, dependencies: [journaler])
            var next = 0
            var sum = 0
            while next < total {
                let end = barrier.waitForAvailable(from: next) { false }
                precondition(end <= journaler.value, "the matcher passed the journaler")
                for sequence in next..<end { sum &+= slots[sequence] & 0xFFFF_FFFF }
                next = end
                matcher.advance(to: next)
            }
            precondition(sum == 2 * (perProducer * (perProducer - 1) / 2), "every item matched exactly once")
        }
        finished.wait()
        #expect(journalCount.get() == total)
        #expect(matcher.value == total)
        #expect(sequencer.claimed == total)
    }
}

/// Yields the processor between empty checks (the `Sluice` module's strategies are tested in SluiceTests).
private final class YieldingWait: RingWaitStrategy {
    func wait(iteration: Int, until isReady: () -> Bool) { sched_yield() }
    func wakeAll() {}
}

/// Runs `body` on a new thread inside `group`.
private func onThread(_ group: DispatchGroup, _ body: @escaping @Sendable () -> Void) {
    group.enter()
    Thread {
        body()
        group.leave()
    }
    .start()
}

/// A result handed from a thread to the test (a lock, not on any measured path).
private final class JournalCounts: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func set(_ newValue: Int) { lock.withLock { value = newValue } }
    func get() -> Int { lock.withLock { value } }
}
