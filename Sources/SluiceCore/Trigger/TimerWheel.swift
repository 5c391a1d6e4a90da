/// A hashed timing wheel driven by a passed-in clock: timers are scheduled at absolute times and come due
/// when ``advance(to:into:)`` moves past them. Pure (no clock of its own, no I/O).
///
/// ```
///  slot = max(deadline tick, last tick) mod slotCount      tick = microseconds / tickMicroseconds
///  advance(to: now): visit the slots of ticks lastTick...nowTick (all slots once if that spans a whole
///  turn), hand out every entry whose deadline ≤ now, keep later ones (a later turn of the wheel)
/// ```
/// Due timers come out ordered by deadline, then by scheduling order, so outcomes are deterministic.
/// Cancellation is the owner's: it tags payloads (e.g. with a generation) and ignores stale ones.
///
/// - Complexity: `schedule` O(1); `advance` O(visited slots + entries in them).
///
/// Not thread-safe; owned by the thread that owns the state machine.
public struct TimerWheel<Payload> {
    struct Entry {
        let deadline: Timestamp
        let sequence: UInt64
        let payload: Payload
    }

    public let tickMicroseconds: Int64
    private var slots: [[Entry]]
    private var lastTick: Int64
    private var sequence: UInt64 = 0
    /// Timers scheduled and not yet due.
    public private(set) var count = 0

    /// - Parameters:
    ///   - start: the clock's time now.
    ///   - tickMicroseconds: slot width (1 s by default; deadlines stay exact, ticks only bound the scan).
    ///   - slotCount: a power of two; one turn of the wheel is `slotCount × tick`.
    public init(start: Timestamp, tickMicroseconds: Int64 = 1_000_000, slotCount: Int = 512) {
        precondition(tickMicroseconds > 0, "tickMicroseconds must be positive")
        precondition(slotCount > 0 && slotCount & (slotCount - 1) == 0, "slotCount must be a power of two")
        self.tickMicroseconds = tickMicroseconds
        slots = Array(repeating: [], count: slotCount)
        lastTick = Self.tick(start, tickMicroseconds)
    }

    private static func tick(_ time: Timestamp, _ width: Int64) -> Int64 {
        let microseconds = time.microsecondsSinceEpoch
        return microseconds >= 0 ? microseconds / width : (microseconds - width + 1) / width
    }

    /// Schedules `payload` at `deadline` (a deadline already past comes due at the next advance).
    public mutating func schedule(at deadline: Timestamp, _ payload: Payload) {
        let tick = max(Self.tick(deadline, tickMicroseconds), lastTick)
        slots[Int(truncatingIfNeeded: tick) & (slots.count - 1)].append(
            Entry(deadline: deadline, sequence: sequence, payload: payload)
        )
        sequence += 1
        count += 1
    }

    /// Every timer not yet due, in no particular order (to carry timers over to another wheel).
    public var pending: [(deadline: Timestamp, payload: Payload)] {
        slots.flatMap { $0.map { ($0.deadline, $0.payload) } }
    }

    /// Moves the wheel to `now` and appends every timer whose deadline is ≤ `now` to `due`, ordered.
    public mutating func advance(to now: Timestamp, into due: inout [(deadline: Timestamp, payload: Payload)]) {
        let nowTick = Self.tick(now, tickMicroseconds)
        guard nowTick >= lastTick else { return }  // the clock went back: nothing can be due that was not
        let visits = min(nowTick - lastTick + 1, Int64(slots.count))
        var collected: [Entry] = []
        for step in 0..<visits {
            let slot = Int(truncatingIfNeeded: lastTick + step) & (slots.count - 1)
            guard !slots[slot].isEmpty else { continue }
            var kept: [Entry] = []
            for entry in slots[slot] {
                if entry.deadline <= now { collected.append(entry) } else { kept.append(entry) }
            }
            slots[slot] = kept
        }
        lastTick = nowTick
        count -= collected.count
        collected.sort { ($0.deadline, $0.sequence) < ($1.deadline, $1.sequence) }
        for entry in collected { due.append((entry.deadline, entry.payload)) }
    }
}
