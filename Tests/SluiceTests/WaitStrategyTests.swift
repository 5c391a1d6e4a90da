import Foundation
import Sluice
import Testing

/// The configurable wait strategies (spin, yield, park) carry every item from a producer to a consumer,
/// including a producer that pauses long enough for the consumer to park; a parked consumer is woken by
/// each publish (never waits for the park timeout to see an item) and stops when cancelled.
@Suite(.serialized) struct WaitStrategyTests {
    @Test(arguments: RingWaitStrategyKind.allCases)
    func everyStrategyDeliversEveryItem(_ kind: RingWaitStrategyKind) {
        let consumer = RingCursor()
        let sequencer = RingSequencer(capacity: 64, gating: [consumer], waitStrategy: kind.make())
        let slots = RingSlots<Int>(capacity: 64) { _ in 0 }
        let itemCount = 20_000
        let group = DispatchGroup()
        group.enter()
        Thread {
            let barrier = RingBarrier(sequencer: sequencer)
            var next = 0
            var sum = 0
            while next < itemCount {
                let end = barrier.waitForAvailable(from: next) { false }
                for sequence in next..<end { sum += slots[sequence] }
                next = end
                consumer.advance(to: next)
            }
            precondition(sum == itemCount * (itemCount - 1) / 2, "\(kind): every item exactly once")
            group.leave()
        }
        .start()
        for value in 0..<itemCount {
            var claim = sequencer.tryClaim()
            while claim == nil {
                sched_yield()
                claim = sequencer.tryClaim()
            }
            slots[claim!.lowerBound] = value
            sequencer.publish(claim!)
            if value % 5_000 == 0 { usleep(20_000) }  // long enough to spin out, yield out and park
        }
        group.wait()
        #expect(consumer.value == itemCount)
    }

    @Test func parkedConsumerWakesOnPublishNotOnTimeout() {
        // A 10 s park timeout: if a publish did not wake the consumer, the test would take 10 s per item.
        let strategy = ParkWaitStrategy(spinIterations: 0, yieldIterations: 0, parkTimeoutNanoseconds: 10_000_000_000)
        let consumer = RingCursor()
        let sequencer = RingSequencer(capacity: 8, gating: [consumer], waitStrategy: strategy)
        let group = DispatchGroup()
        group.enter()
        Thread {
            let barrier = RingBarrier(sequencer: sequencer)
            var next = 0
            while next < 5 {
                next = barrier.waitForAvailable(from: next) { false }
                consumer.advance(to: next)
            }
            group.leave()
        }
        .start()
        let started = ContinuousClock.now
        for _ in 0..<5 {
            usleep(50_000)  // the consumer is parked by now
            let claim = sequencer.tryClaim()!
            sequencer.publish(claim)
        }
        let finished = group.wait(timeout: .now() + 60)
        #expect(finished == .success)
        #expect(ContinuousClock.now - started < .seconds(8), "woken by each publish, not by the 10 s timeout")
    }

    @Test func cancelledWaitReturnsWithoutItems() {
        let consumer = RingCursor()
        let sequencer = RingSequencer(
            capacity: 8,
            gating: [consumer],
            waitStrategy: ParkWaitStrategy(parkTimeoutNanoseconds: 1_000_000)
        )
        var checks = 0
        let end = RingBarrier(sequencer: sequencer).waitForAvailable(from: 0) {
            checks += 1
            return checks > 200
        }
        #expect(end == 0)
    }
}
