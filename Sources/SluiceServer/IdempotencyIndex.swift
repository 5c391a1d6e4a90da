import Sluice

/// The event ids seen within the idempotency window, in bounded memory: an event whose id is here is
/// answered `duplicate` and not emitted again.
///
/// A pure value: the caller passes the time (wall-clock microseconds). Entries leave when they are older
/// than the window or, past ``countMax`` ids, oldest first (an id evicted early is no longer recognized;
/// `server.idempotency_ids_max` sizes it). Memory: about 64 bytes per id (the set entry and the queue
/// entry). Not thread-safe; the ingest route keeps it under a lock.
struct IdempotencyIndex {
    let windowMicroseconds: Int64
    let countMax: Int
    private var ids: Set<EventID> = []
    /// Insertion order, for expiry and eviction: (id, when it was seen). `head` is the oldest live entry.
    private var order: [(id: EventID, seenMicroseconds: Int64)] = []
    private var head = 0
    /// The ring position of each id accepted and perhaps not yet durable: a duplicate of it must not be
    /// answered before the original is durable (the original may still be lost with a failing log).
    private var pendingPositions: [EventID: Int] = [:]
    /// The same entries in the order they were noted (positions ascend: the ingest route notes them under
    /// its lock in ring order), so the durable ones leave from the front. `pendingHead` is the first live one.
    private var pendingOrder: [(id: EventID, position: Int)] = []
    private var pendingHead = 0

    init(windowMicroseconds: Int64, countMax: Int) {
        precondition(windowMicroseconds >= 0, "the window is never negative")
        precondition(countMax >= 1, "the index holds at least one id")
        self.windowMicroseconds = windowMicroseconds
        self.countMax = countMax
    }

    var count: Int { ids.count }

    /// Whether `id` was seen within the window before `nowMicroseconds`.
    func contains(_ id: EventID) -> Bool { ids.contains(id) }

    /// Records `id` as seen at `seenMicroseconds` (an id already present keeps its first time).
    mutating func insert(_ id: EventID, seenMicroseconds: Int64) {
        guard windowMicroseconds > 0, ids.insert(id).inserted else { return }
        order.append((id, seenMicroseconds))
        while ids.count > countMax { evictOldest() }
        assert(ids.count <= countMax)
    }

    /// Records that `id` was accepted at ring `position` (not yet known durable).
    mutating func notePending(_ id: EventID, position: Int) {
        pendingPositions[id] = position
        pendingOrder.append((id, position))
    }

    /// The ring position of `id` when it was accepted and may not be durable yet (`nil`: durable, or not
    /// from this process).
    func pendingPosition(of id: EventID) -> Int? { pendingPositions[id] }

    /// Forgets the positions below `acknowledged` (durable): amortized O(1) per noted id, however many are
    /// pending (a scan of the whole table per request was quadratic under load).
    mutating func forgetDurable(acknowledged: Int) {
        while pendingHead < pendingOrder.count, pendingOrder[pendingHead].position < acknowledged {
            let entry = pendingOrder[pendingHead]
            if pendingPositions[entry.id] == entry.position { pendingPositions[entry.id] = nil }
            pendingHead += 1
        }
        // Compacted when half is dead, as `order` is.
        if pendingHead > 1_024, pendingHead * 2 > pendingOrder.count {
            pendingOrder.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    /// Ids whose position is kept (accepted, not yet known durable).
    var pendingCount: Int { pendingPositions.count }

    /// Forgets the ids seen before `nowMicroseconds - window`.
    mutating func expire(nowMicroseconds: Int64) {
        let oldest = nowMicroseconds - windowMicroseconds  // both within ±2^62: no overflow
        while head < order.count, order[head].seenMicroseconds < oldest { evictOldest() }
    }

    private mutating func evictOldest() {
        precondition(head < order.count, "an id is in the set only while it is in the queue")
        ids.remove(order[head].id)
        head += 1
        // Compacted when half is dead: amortized O(1), and the array never holds more than 2 × countMax.
        if head > 1_024, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
