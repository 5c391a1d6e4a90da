/// Elements addressed by stable 64-bit keys (slot index and generation), in a growing array with a free
/// list: insert, lookup and remove are array accesses, with no hashing. A removed element's key never
/// finds the slot's next occupant (the generation changes on every removal).
///
/// The delivery loop keeps its deliveries here; the key is the request's tag, the timer's id and the ready
/// queue's entry.
struct Slab<Element> {
    private var entries: [Element?] = []
    private var generations: [UInt32] = []
    private var free: [Int] = []
    private(set) var count = 0

    init(reservingCapacity capacity: Int = 0) {
        entries.reserveCapacity(capacity)
        generations.reserveCapacity(capacity)
    }

    /// Stores `element` and returns its key.
    mutating func insert(_ element: consuming Element) -> UInt64 {
        count += 1
        if let index = free.popLast() {
            entries[index] = consume element
            return Self.key(index: index, generation: generations[index])
        }
        entries.append(consume element)
        generations.append(0)
        return Self.key(index: entries.count - 1, generation: 0)
    }

    /// The element of `key`, `nil` once removed. Modified in place (no copy out and back); setting it to
    /// `nil` removes it. Reading copies the element out of the array (for a class, a retain).
    subscript(key: UInt64) -> Element? {
        _read {
            if let index = validIndex(key) { yield entries[index] } else { yield nil }
        }
        _modify {
            guard let index = validIndex(key) else {
                var absent: Element? = nil
                yield &absent
                precondition(absent == nil, "a removed slab key cannot be reinserted by assignment")
                return
            }
            yield &entries[index]
            if case .none = entries[index] { release(index) }
        }
    }

    /// Calls `body` with the element of `key` (read out of the array: keep elements classes, or small, on
    /// hot paths); `nil` when the key is gone.
    func withElement<Result>(_ key: UInt64, _ body: (borrowing Element) throws -> Result) rethrows -> Result? {
        guard let index = validIndex(key) else { return nil }
        return try body(entries[index]!)
    }

    /// Removes the element of `key` (nothing if it is gone already).
    mutating func remove(_ key: UInt64) {
        guard let index = validIndex(key) else { return }
        entries[index] = nil
        release(index)
    }

    private mutating func release(_ index: Int) {
        generations[index] &+= 1
        free.append(index)
        count -= 1
    }

    private func validIndex(_ key: UInt64) -> Int? {
        let index = Int(truncatingIfNeeded: key & 0xFFFF_FFFF)
        // `case .some`, not `!= nil`: a pattern without a binding reads the slot in place.
        guard index < entries.count, generations[index] == UInt32(truncatingIfNeeded: key >> 32),
            case .some = entries[index]
        else { return nil }
        return index
    }

    private static func key(index: Int, generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(index)
    }
}
