public import SluiceCore
import Synchronization

extension Pipeline {
    /// What ``emit(batch:admit:)`` did with one event of the batch.
    public enum BatchEventResult: Sendable, Equatable {
        /// In the ring at `position` (acknowledged once ``acknowledgedCount`` passes it).
        case accepted(position: Int, id: EventID)
        /// Not a valid event; not taken.
        case invalid(EventDecodingError)
        /// Valid, but `admit` refused its id (e.g. a duplicate); not taken.
        case refused(id: EventID)
    }

    /// What ``emit(batch:admit:)`` did with the batch.
    public enum BatchEmitResult: Sendable, Equatable {
        /// One result per event, in order; the accepted ones hold consecutive ring positions.
        case emitted([BatchEventResult])
        /// The ring has no room for all the valid events: none was taken.
        case backpressure
        /// More valid events than the ring holds at all (`ringCapacity`): none was taken; split the batch.
        case exceedsRing(capacity: Int)
        /// The pipeline is not running; nothing was taken.
        case stopped
    }

    /// Hands a batch of events to the pipeline all or nothing: every valid event that `admit` accepts is
    /// taken, in order and at consecutive ring positions, or — when the ring has no room for all of them —
    /// none is (``BatchEmitResult/backpressure``). Never blocks (`admit` is called under the ingest lock, so
    /// it must be quick and must not call back into the pipeline).
    ///
    /// `admit` sees each valid event's id in batch order and may refuse it (a duplicate); it is called only
    /// for events that decoded, and its verdicts hold only if the result is ``BatchEmitResult/emitted(_:)``.
    /// Any thread.
    public func emit(batch events: [[UInt8]], admit: (EventID) -> Bool = { _ in true }) -> BatchEmitResult {
        core.emit(batch: events, admit: admit)
    }

    /// The log sequence of the event at ring `position` once it is acknowledged (``acknowledgedCount`` >
    /// `position`), or `nil` when it is not acknowledged yet or its slot was already reused (the ring
    /// wrapped: read it soon after the acknowledgement).
    public func logSequence(ofAcknowledged position: Int) -> UInt64? {
        core.logSequence(ofAcknowledged: position)
    }
}

extension PipelineCore {
    func emit(batch events: [[UInt8]], admit: (EventID) -> Bool) -> Pipeline.BatchEmitResult {
        let sequencer = self.sequencer
        let slots = self.slots
        let counters = self.counters
        return ingest.withLock { state in
            guard state.running else { return .stopped }
            var results: [Pipeline.BatchEventResult] = []
            results.reserveCapacity(events.count)
            var headers: [(index: Int, header: EventHeader)] = []
            var invalidCount = 0
            for (index, bytes) in events.enumerated() {
                var header = EventHeader()
                do throws(EventDecodingError) {
                    try state.decoder.decodeHeader(bytes, into: &header)
                } catch {
                    invalidCount += 1
                    results.append(.invalid(error))
                    continue
                }
                if admit(header.id) {
                    results.append(.accepted(position: -1, id: header.id))  // the position is set below
                    headers.append((index, header))
                } else {
                    results.append(.refused(id: header.id))
                }
            }
            if invalidCount > 0 { PipelineCounters.add(counters.invalid, invalidCount) }
            guard !headers.isEmpty else { return .emitted(results) }
            guard headers.count <= sequencer.capacity else { return .exceedsRing(capacity: sequencer.capacity) }
            // Claims are serialized by the ingest lock: the room seen here is the room claimed.
            guard let claim = sequencer.tryClaim(headers.count) else {
                PipelineCounters.add(counters.backpressured, headers.count)
                return .backpressure
            }
            precondition(claim.count == headers.count, "a claim covers the whole batch")
            let now = monotonicNanoseconds()
            for (offset, entry) in headers.enumerated() {
                let position = claim.lowerBound + offset
                slots.withSlot(position) { slot in
                    slot.header = entry.header
                    slot.bytes = events[entry.index]
                    slot.emittedNanoseconds = now
                }
                results[entry.index] = .accepted(position: position, id: entry.header.id)
            }
            sequencer.publish(claim)
            PipelineCounters.add(counters.accepted, headers.count)
            return .emitted(results)
        }
    }

    func logSequence(ofAcknowledged position: Int) -> UInt64? {
        guard position >= 0, position < journalCursor.value else { return nil }
        // Only the field, in place: copying the slot would retain its bytes and header arrays, which a producer
        // reusing the slot may be releasing at the same time.
        let sequence = slots.withSlot(position) { $0.logSequence }
        // The slot is reused only once position + capacity is claimed; checked after the read (the fence keeps
        // the read before the check), so the value read belongs to `position`.
        atomicMemoryFence(ordering: .acquiring)
        guard sequencer.claimed <= position + sequencer.capacity else { return nil }
        return sequence
    }
}
