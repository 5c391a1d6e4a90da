/// A FIFO of slab keys for the delivery loop: appends at the back, pops from a moving head, and drops the
/// popped prefix once it is the larger part (amortized O(1), no ring arithmetic, capacity kept).
struct KeyQueue {
    private var keys: [UInt64] = []
    private var head = 0

    /// Keys not popped yet.
    var count: Int { keys.count - head }
    var isEmpty: Bool { head == keys.count }

    mutating func append(_ key: UInt64) { keys.append(key) }

    mutating func popFirst() -> UInt64? {
        guard head < keys.count else { return nil }
        let key = keys[head]
        head += 1
        if head == keys.count {
            keys.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024, head * 2 > keys.count {
            keys.removeFirst(head)
            head = 0
        }
        return key
    }
}
