import SluiceCore
import Synchronization

/// The pipeline's ``SettledState`` behind a mutex: the matcher reports matched events, the journaler
/// durable outcomes and snapshots, the spill read-back its progress. Every decision is the value's; this
/// class only serializes the calls (one short critical section per event, one per batch of outcomes).
final class SettledTracker: Sendable {
    typealias Journaled = SettledState.Journaled
    typealias Size = SettledState.Size

    private let state: Mutex<SettledState>
    let carryAgeNanoseconds: UInt64

    /// Starts with every delivery below `matchedEnd` settled or carried (see ``carry(_:slot:attempt:)``).
    init(matchedEnd: UInt64, carryAgeNanoseconds: UInt64 = 1_000_000_000) {
        state = Mutex(SettledState(matchedEnd: matchedEnd, carryAgeNanoseconds: carryAgeNanoseconds))
        self.carryAgeNanoseconds = carryAgeNanoseconds
    }

    func slots(for names: [String]) -> [Int] { state.withLock { $0.slots(for: names) } }

    func carry(_ sequence: UInt64, slot: Int, attempt: Int) {
        state.withLock { $0.carry(sequence, slot: slot, attempt: attempt) }
    }

    func matched(_ sequence: UInt64, webhooks: [(webhook: Int, trigger: Int)], slots: [Int], holds: Int = 0) {
        state.withLock { $0.matched(sequence, webhooks: webhooks, slots: slots, holds: holds) }
    }

    /// ``SettledState/reopen(_:slot:)``: a redriven dead letter is pending again.
    func reopen(_ sequence: UInt64, slot: Int) -> Bool { state.withLock { $0.reopen(sequence, slot: slot) } }

    func hold(_ sequence: UInt64) { state.withLock { $0.hold(sequence) } }

    func released(_ sequence: UInt64) { state.withLock { $0.released(sequence) } }

    func spill(slot: Int, from sequence: UInt64) { state.withLock { $0.spill(slot: slot, from: sequence) } }

    func readBack(_ sequence: UInt64, slot: Int) { state.withLock { $0.readBack(sequence, slot: slot) } }

    func spillAdvanced(slot: Int, to sequence: UInt64) { state.withLock { $0.spillAdvanced(slot: slot, to: sequence) } }

    func spillEnded(slot: Int) { state.withLock { $0.spillEnded(slot: slot) } }

    var spillingCount: Int { state.withLock { $0.spillingCount } }

    func journaled(_ outcomes: [Journaled]) {
        guard !outcomes.isEmpty else { return }
        state.withLock { $0.journaled(outcomes) }
    }

    /// ``SettledState/snapshot(nowNanoseconds:)``, its pending pairs sorted after the lock is released.
    func snapshot(nowNanoseconds: UInt64) -> WebhookCheckpoints {
        var snapshot = state.withLock { $0.snapshotUnsorted(nowNanoseconds: nowNanoseconds) }
        SettledState.sortPending(&snapshot)
        return snapshot
    }

    var pendingDeliveries: Int { state.withLock { $0.pendingDeliveries } }

    var size: Size { state.withLock { $0.size } }
}
