public import Synchronization

/// A bounded single-producer / single-consumer queue: action jobs from the matcher to one delivery loop,
/// outcomes from a delivery loop back to the journaler.
///
/// Exactly one thread pushes and exactly one (other) thread pops. Capacity is a power of two fixed at
/// `init`; the ring never allocates afterwards. Indices are monotonically increasing counters (2^63 items
/// at 10^9/s is ~292 years), so "full" is `tail - head == capacity`, without a wasted slot.
///
/// Each side keeps a private copy of the other side's index and reloads it (an acquiring load of a line
/// the other core writes) only when the copy says full or empty, so in steady state a push or a pop
/// touches only its own cache lines and the slot. Batch operations publish once per batch.
///
/// `@unchecked Sendable`: slots are raw memory; the protocol is that slot `i` is written only by the
/// producer while `i ∈ [head, head + capacity)` is not yet published (`i ≥ tail`), and read only by the
/// consumer after the producer's releasing store of `tail > i` and before its own releasing store of
/// `head > i` — each pair an acquire/release edge.
@safe
public final class SPSCRing<Element>: @unchecked Sendable {
    public let capacity: Int
    @usableFromInline let mask: Int
    @usableFromInline let slots: UnsafeMutablePointer<Element>
    /// 0: tail (next slot to push; producer writes); 1: the producer's copy of head;
    /// 2: head (next slot to pop; consumer writes); 3: the consumer's copy of tail.
    /// The copies are atomics only to have their own lines; each is touched by one thread, relaxed.
    @usableFromInline let counters = PaddedCounters(count: 4)

    @inlinable var tail: UnsafePointer<Atomic<Int>> { unsafe counters[0] }
    @inlinable var cachedHead: UnsafePointer<Atomic<Int>> { unsafe counters[1] }
    @inlinable var head: UnsafePointer<Atomic<Int>> { unsafe counters[2] }
    @inlinable var cachedTail: UnsafePointer<Atomic<Int>> { unsafe counters[3] }

    /// A ring of `capacity` slots (a power of two).
    public init(capacity: Int) {
        precondition(capacity > 0 && capacity.nonzeroBitCount == 1, "capacity must be a power of two")
        self.capacity = capacity
        mask = capacity - 1
        unsafe slots = .allocate(capacity: capacity)
    }

    deinit {
        var index = unsafe head.pointee.load(ordering: .relaxed)
        let end = unsafe tail.pointee.load(ordering: .relaxed)
        while index < end {
            unsafe (slots + (index & mask)).deinitialize(count: 1)
            index += 1
        }
        unsafe slots.deallocate()
    }

    /// Items currently in the ring (a snapshot; exact only on a quiet ring).
    public var count: Int {
        unsafe tail.pointee.load(ordering: .acquiring) - head.pointee.load(ordering: .acquiring)
    }

    // MARK: Producer

    /// Free slots as the producer sees them, refreshing its copy of `head` only when `needed` aren't free.
    @inlinable @inline(__always)
    func freeSlots(atTail tail: Int, needed: Int) -> Int {
        var free = unsafe capacity - (tail - cachedHead.pointee.load(ordering: .relaxed))
        if free < needed {
            let head = unsafe self.head.pointee.load(ordering: .acquiring)  // pairs with pop's release
            unsafe cachedHead.pointee.store(head, ordering: .relaxed)
            free = capacity - (tail - head)
        }
        return free
    }

    /// Producer side. Returns `false` when the ring is full: the caller applies backpressure.
    @inlinable @inline(__always)
    public func tryPush(_ element: Element) -> Bool {
        let tail = unsafe self.tail.pointee.load(ordering: .relaxed)  // only we write it
        guard freeSlots(atTail: tail, needed: 1) >= 1 else { return false }
        unsafe (slots + (tail & mask)).initialize(to: element)
        unsafe self.tail.pointee.store(tail + 1, ordering: .releasing)  // publish the slot
        return true
    }

    /// Producer side: pushes a prefix of `elements` (as many as fit) and publishes them at once.
    /// Returns how many were pushed; fewer than `elements.count` means the ring filled up.
    @inlinable @inline(__always)
    public func push(contentsOf elements: some Collection<Element>) -> Int {
        let tail = unsafe self.tail.pointee.load(ordering: .relaxed)
        let pushed = min(elements.count, freeSlots(atTail: tail, needed: elements.count))
        guard pushed > 0 else { return 0 }
        var index = tail
        for element in elements.prefix(pushed) {
            unsafe (slots + (index & mask)).initialize(to: element)
            index += 1
        }
        unsafe self.tail.pointee.store(tail + pushed, ordering: .releasing)
        return pushed
    }

    // MARK: Consumer

    /// Items ready as the consumer sees them, refreshing its copy of `tail` only when fewer than `wanted`.
    @inlinable @inline(__always)
    func readySlots(atHead head: Int, wanted: Int) -> Int {
        var ready = unsafe cachedTail.pointee.load(ordering: .relaxed) - head
        if ready < wanted {
            let tail = unsafe self.tail.pointee.load(ordering: .acquiring)  // pairs with push's release
            unsafe cachedTail.pointee.store(tail, ordering: .relaxed)
            ready = tail - head
        }
        return ready
    }

    /// Consumer side. Returns `nil` when the ring is empty.
    @inlinable @inline(__always)
    public func tryPop() -> Element? {
        let head = unsafe self.head.pointee.load(ordering: .relaxed)
        guard readySlots(atHead: head, wanted: 1) > 0 else { return nil }
        let element = unsafe (slots + (head & mask)).move()
        unsafe self.head.pointee.store(head + 1, ordering: .releasing)  // hand the slot back
        return element
    }

    /// Consumer side: hands up to `maximum` items to `body` in order, then releases their slots at once.
    /// Returns how many were consumed (0 when empty).
    @inlinable @inline(__always)
    public func pop(maximum: Int, _ body: (consuming Element) -> Void) -> Int {
        let head = unsafe self.head.pointee.load(ordering: .relaxed)
        let taken = min(maximum, readySlots(atHead: head, wanted: maximum))
        guard taken > 0 else { return 0 }
        for index in head..<(head + taken) {
            body(unsafe (slots + (index & mask)).move())
        }
        unsafe self.head.pointee.store(head + taken, ordering: .releasing)
        return taken
    }
}
