import Synchronization

/// Which events still have deliveries to finish, in log order. Everything below ``settled`` has every
/// delivery recorded as final (delivered or dead-lettered) in the durable log: that is the pipeline's
/// checkpoint, from which a restart re-matches.
///
/// The matcher reports each event in log order with its number of deliveries; the journaler reports each
/// final outcome once it is durable. A mutex (two short critical sections per delivery) guards it; it is
/// not on the per-event match path beyond one call per event.
final class SettledTracker: Sendable {
    private struct State {
        /// Events with pending deliveries (or not yet passed), sorted by sequence; `head` is the first live one.
        var sequences: [UInt64] = []
        var pending: [Int] = []
        var head = 0
        /// One past the last event reported by the matcher.
        var matchedEnd: UInt64 = 0
        var pendingDeliveries = 0
    }

    private let state: Mutex<State>

    /// Starts with everything below `settled` settled.
    init(settled: UInt64) {
        var initial = State()
        initial.matchedEnd = settled
        state = Mutex(initial)
    }

    /// The matcher matched the event at log `sequence` to `deliveries` webhooks (call in log order).
    func matched(_ sequence: UInt64, deliveries: Int) {
        state.withLock { state in
            precondition(sequence >= state.matchedEnd, "events are reported in log order")
            state.matchedEnd = sequence + 1
            guard deliveries > 0 else { return }
            state.sequences.append(sequence)
            state.pending.append(deliveries)
            state.pendingDeliveries += deliveries
        }
    }

    /// One delivery of the event at `sequence` is final and durable.
    func finished(_ sequence: UInt64) {
        state.withLock { state in
            var low = state.head
            var high = state.sequences.count
            while low < high {
                let middle = (low + high) / 2
                if state.sequences[middle] < sequence { low = middle + 1 } else { high = middle }
            }
            guard low < state.sequences.count, state.sequences[low] == sequence, state.pending[low] > 0 else {
                preconditionFailure("a delivery of event \(sequence) finished twice or was never matched")
            }
            state.pending[low] -= 1
            state.pendingDeliveries -= 1
            while state.head < state.pending.count, state.pending[state.head] == 0 { state.head += 1 }
            if state.head > 1024, state.head * 2 > state.sequences.count {
                state.sequences.removeFirst(state.head)
                state.pending.removeFirst(state.head)
                state.head = 0
            }
        }
    }

    /// Every event below this log sequence is settled.
    var settled: UInt64 {
        state.withLock { state in
            state.head < state.sequences.count ? state.sequences[state.head] : state.matchedEnd
        }
    }

    /// Deliveries matched and not yet final.
    var pendingDeliveries: Int { state.withLock { $0.pendingDeliveries } }
}
