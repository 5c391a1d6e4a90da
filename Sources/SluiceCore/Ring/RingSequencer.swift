public import Synchronization

/// A consumer's position in a ring: every sequence below ``value`` has been processed by it.
///
/// The owner advances it with ``advance(to:)`` (a releasing store) after it is done with the slots;
/// producers and downstream consumers read it with acquiring loads. It sits alone on its cache lines.
@safe
public final class RingCursor: @unchecked Sendable {
    // @unchecked: `PaddedCounters` is raw memory reached only as `Atomic<Int>`.
    @usableFromInline let storage = PaddedCounters(count: 1)

    public init(_ value: Int = 0) { unsafe storage[0].pointee.store(value, ordering: .relaxed) }

    /// The next sequence this consumer will process (an acquiring load).
    @inlinable @inline(__always)
    public var value: Int { unsafe storage[0].pointee.load(ordering: .acquiring) }

    /// Publishes that every sequence below `next` is processed. Never moves backwards.
    @inlinable @inline(__always)
    public func advance(to next: Int) {
        assert(unsafe next >= storage[0].pointee.load(ordering: .relaxed), "a ring cursor never moves backwards")
        unsafe storage[0].pointee.store(next, ordering: .releasing)
    }
}

/// The multi-producer claim/publish protocol of the event ring (LMAX Disruptor's `MultiProducerSequencer`).
///
/// Producers ``tryClaim(_:)`` a contiguous range of sequences (a compare-and-swap on the claim cursor),
/// fill the slots `sequence & (capacity - 1)` of their own storage, then ``publish(_:)`` the range. A
/// claim fails — backpressure, never an overwrite — when it would pass the slowest *gating* cursor (the
/// last consumers of the pipeline) by more than `capacity`. Consumers read what is published through a
/// ``RingBarrier``, which also keeps them behind the cursors they depend on (the matcher never passes the
/// journaler, which advances only once records are durable).
///
/// Publication is per slot: `available[slot]` holds the *round* (`sequence >> log2(capacity)`) last
/// published there, so producers publish out of order without waiting for each other, and a consumer
/// finds the contiguous published prefix by checking rounds.
///
/// `@unchecked Sendable`: the available-round table is raw memory reached only as `Atomic<Int>`.
/// Happens-before edges: a producer's slot writes precede its releasing store of the round, which a
/// consumer reads acquiring before touching the slot; a consumer's releasing cursor store precedes a
/// producer's acquiring load of it before the producer reuses the slot (also through the shared cache
/// of the gating minimum, stored releasing and loaded acquiring).
@safe
public final class RingSequencer: @unchecked Sendable {
    public let capacity: Int
    @usableFromInline let mask: Int
    @usableFromInline let roundShift: Int
    /// 0: claim cursor (next sequence to claim); 1: cached minimum of the gating cursors.
    @usableFromInline let counters = PaddedCounters(count: 2)
    @usableFromInline let available: UnsafeMutablePointer<Atomic<Int>>
    @usableFromInline let gating: [RingCursor]
    /// Woken after every publish.
    public let waitStrategy: any RingWaitStrategy

    /// A sequencer for `capacity` slots (a power of two) that never passes the slowest of `gating`.
    public init(capacity: Int, gating: [RingCursor], waitStrategy: any RingWaitStrategy = SpinWaitStrategy()) {
        precondition(capacity > 0 && capacity.nonzeroBitCount == 1, "capacity must be a power of two")
        precondition(!gating.isEmpty, "a ring needs at least one gating consumer")
        self.capacity = capacity
        mask = capacity - 1
        roundShift = capacity.trailingZeroBitCount
        self.gating = gating
        self.waitStrategy = waitStrategy
        unsafe available = .allocate(capacity: capacity)
        for slot in 0..<capacity { unsafe (available + slot).initialize(to: Atomic(-1)) }
    }

    deinit {
        unsafe available.deinitialize(count: capacity)
        unsafe available.deallocate()
    }

    /// The slot index of `sequence` in the caller's storage.
    @inlinable @inline(__always)
    public func slot(_ sequence: Int) -> Int { sequence & mask }

    /// The next sequence to be claimed: everything below it is claimed (not necessarily published).
    @inlinable public var claimed: Int { unsafe counters[0].pointee.load(ordering: .acquiring) }

    /// The slowest gating cursor.
    @inlinable public var minimumGatingSequence: Int {
        var minimum = Int.max
        for cursor in gating { minimum = min(minimum, cursor.value) }
        return minimum
    }

    /// Claims `count` consecutive sequences (1 ... capacity), or returns `nil` when the ring has fewer
    /// than `count` free slots: the caller reports backpressure or retries later.
    @inlinable @inline(__always)
    public func tryClaim(_ count: Int = 1) -> Range<Int>? {
        precondition(count >= 1 && count <= capacity, "claim between 1 and capacity sequences")
        var current = unsafe counters[0].pointee.load(ordering: .relaxed)
        while true {
            let next = current + count
            guard isFree(wrapPoint: next - capacity) else { return nil }
            let (exchanged, original) = unsafe counters[0].pointee.compareExchange(
                expected: current,
                desired: next,
                ordering: .relaxed
            )
            if exchanged { return current..<next }
            current = original
        }
    }

    /// Whether `count` more sequences could be claimed now. With one claiming thread (or claims serialized
    /// by the caller) a `true` stays true until that thread claims: consumers only free slots. Lets a
    /// producer skip preparing a slot's contents when the ring is full.
    @inlinable
    public func hasCapacity(_ count: Int = 1) -> Bool {
        isFree(wrapPoint: unsafe counters[0].pointee.load(ordering: .relaxed) + count - capacity)
    }

    /// Whether every gating cursor has passed `wrapPoint` (the sequence a claim would overwrite): checked
    /// against the cached minimum first, which is refreshed from the cursors only when it is not enough.
    @inlinable @inline(__always)
    func isFree(wrapPoint: Int) -> Bool {
        if unsafe wrapPoint <= counters[1].pointee.load(ordering: .acquiring) { return true }
        let gate = minimumGatingSequence
        unsafe counters[1].pointee.store(gate, ordering: .releasing)
        return wrapPoint <= gate
    }

    /// Makes the slots of `sequences` (a claimed range, written) visible to consumers, and wakes them.
    @inlinable @inline(__always)
    public func publish(_ sequences: Range<Int>) {
        for sequence in sequences {
            unsafe available[sequence & mask].store(sequence >> roundShift, ordering: .releasing)
        }
        waitStrategy.wakeAll()
    }

    /// Whether `sequence` has been published (in its current round).
    @inlinable @inline(__always)
    public func isPublished(_ sequence: Int) -> Bool {
        unsafe available[sequence & mask].load(ordering: .acquiring) == sequence >> roundShift
    }

    /// The end of the contiguous published run that starts at `next`, looking no further than `limit`.
    @inlinable @inline(__always)
    public func publishedEnd(from next: Int, limit: Int) -> Int {
        var sequence = next
        while sequence < limit, isPublished(sequence) { sequence += 1 }
        return sequence
    }
}

/// What one consumer may process: the published prefix of the ring, kept behind the cursors it depends on.
public struct RingBarrier: Sendable {
    public let sequencer: RingSequencer
    public let dependencies: [RingCursor]

    /// A barrier over `sequencer` that also stays behind every cursor in `dependencies` (empty: only the
    /// producers).
    public init(sequencer: RingSequencer, dependencies: [RingCursor] = []) {
        self.sequencer = sequencer
        self.dependencies = dependencies
    }

    /// The exclusive end of what is ready from `next` on (`next` itself when nothing is), without waiting.
    @inlinable @inline(__always)
    public func available(from next: Int) -> Int {
        var limit = sequencer.claimed
        for cursor in dependencies { limit = min(limit, cursor.value) }
        guard limit > next else { return next }
        return sequencer.publishedEnd(from: next, limit: limit)
    }

    /// Waits, with the sequencer's wait strategy, until something from `next` on is ready, and returns
    /// the exclusive end of the ready run; returns `next` if `isCancelled` turns true first.
    @inlinable @inline(__always)
    public func waitForAvailable(from next: Int, isCancelled: () -> Bool) -> Int {
        var iteration = 0
        while true {
            let end = available(from: next)
            if end > next { return end }
            if isCancelled() { return next }
            sequencer.waitStrategy.wait(iteration: iteration, until: { available(from: next) > next })
            iteration += 1
        }
    }
}

/// Preallocated slots for a ``RingSequencer``: the event ring's storage. Producers write the slots of the
/// sequences they claimed; consumers read the slots their barrier made available.
///
/// `@unchecked Sendable`: slot `s & mask` is written only by the producer that claimed `s`, before it
/// publishes, and read only by consumers after their barrier saw it published and before the gating
/// cursors pass it (see ``RingSequencer``'s happens-before edges).
@safe
public final class RingSlots<Slot>: @unchecked Sendable {
    public let capacity: Int
    @usableFromInline let mask: Int
    @usableFromInline let slots: UnsafeMutablePointer<Slot>

    /// `capacity` slots (a power of two), each made once by `makeSlot` and reused for ever after.
    public init(capacity: Int, makeSlot: (Int) -> Slot) {
        precondition(capacity > 0 && capacity.nonzeroBitCount == 1, "capacity must be a power of two")
        self.capacity = capacity
        mask = capacity - 1
        unsafe slots = .allocate(capacity: capacity)
        for index in 0..<capacity { unsafe (slots + index).initialize(to: makeSlot(index)) }
    }

    deinit {
        unsafe slots.deinitialize(count: capacity)
        unsafe slots.deallocate()
    }

    /// Gives `body` the slot of `sequence` in place (no copy).
    @inlinable @inline(__always)
    public func withSlot<Result>(_ sequence: Int, _ body: (inout Slot) throws -> Result) rethrows -> Result {
        try unsafe body(&slots[sequence & mask])
    }

    /// The slot of `sequence`, copied.
    @inlinable @inline(__always)
    public subscript(sequence: Int) -> Slot {
        get { unsafe slots[sequence & mask] }
        set { unsafe slots[sequence & mask] = newValue }
    }
}
