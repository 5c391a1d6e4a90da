import Synchronization

/// The current ``TriggerIndex``, replaced atomically when the configuration changes while matchers keep
/// matching (read-copy-update, ARCHITECTURE.md §4). No lock on the match path.
///
/// Design:
/// - `current` is an `Atomic<UInt>` holding the bit pattern of an `Unmanaged<TriggerIndex>` that owns
///   one strong reference.
/// - Each ``TriggerMatcher`` holds its own strong reference to the index it uses and, per event, only
///   compares `current` with that index's address (one relaxed load: no refcount traffic, no lock).
/// - When they differ, the matcher takes the new index with a hazard pointer: it writes the bits it read
///   into its own hazard slot, re-reads `current`, and only if unchanged retains the index and clears the
///   slot. A publisher swaps `current` (sequentially consistent) and, before dropping the old index's
///   strong reference, waits until no hazard slot holds the old bits. In the single total order of the
///   sequentially consistent operations, a reader whose re-read saw the old bits stored its hazard
///   before the swap, so the publisher sees the hazard and waits until the reader's retain is done;
///   a reader whose re-read came after the swap retries. An index is therefore never freed while a
///   reader is between reading its address and retaining it; afterwards ordinary reference counting
///   keeps it alive for as long as any matcher still uses it.
/// - The reader's window is a few instructions, so the publisher spins; publishers are serialized by a
///   `Mutex` (the control plane, never the match path).
/// - An old index may thus be released by the last matcher that used it, on that matcher's thread.
///
/// Bounded: at most ``readerCountMax`` matchers follow one shared index (one hazard slot each).
public final class SharedTriggerIndex: Sendable {
    public struct ReaderLimitError: Error, Sendable, Equatable, CustomStringConvertible {
        public var readerCountMax: Int
        public var description: String { "all \(readerCountMax) reader slots of the shared trigger index are in use" }
    }

    private final class HazardSlot: Sendable {
        let claimed = Atomic<Bool>(false)
        let bits = Atomic<UInt>(0)
    }

    private let current: Atomic<UInt>
    private let hazards: [HazardSlot]
    private let publishers = Mutex<UInt64>(0)
    public let readerCountMax: Int

    /// - Parameter readerCountMax: how many matchers may follow this index at once (64 bytes each).
    public init(_ index: TriggerIndex, readerCountMax: Int = 64) {
        precondition(readerCountMax >= 1, "readerCountMax must be at least 1")
        self.readerCountMax = readerCountMax
        current = Atomic(Self.retainedBits(index))
        hazards = (0..<readerCountMax).map { _ in HazardSlot() }
    }

    deinit {
        unsafe Self.unmanaged(current.load(ordering: .acquiring)).release()
    }

    /// The index now published (for the control plane: statistics, explanations). Takes the publishers'
    /// lock, so it never races a release.
    public var index: TriggerIndex {
        publishers.withLock { _ in unsafe Self.unmanaged(current.load(ordering: .acquiring)).takeUnretainedValue() }
    }

    /// How many indexes were published after the first.
    public var publishedCount: UInt64 { publishers.withLock { $0 } }

    /// Replaces the index. Matchers adopt it at their next event; the old one is freed when the last
    /// matcher using it moves on.
    public func publish(_ index: TriggerIndex) {
        publishers.withLock { count in
            let old = current.exchange(Self.retainedBits(index), ordering: .sequentiallyConsistent)
            for slot in hazards {
                while slot.bits.load(ordering: .sequentiallyConsistent) == old {}  // a reader mid-acquire
            }
            unsafe Self.unmanaged(old).release()
            count += 1
        }
    }

    /// The address of the published index (what a matcher compares with its own).
    var currentIdentity: UInt { current.load(ordering: .relaxed) }

    /// The published index, retained, through the hazard slot `readerSlot`.
    func acquire(readerSlot: Int) -> TriggerIndex {
        let slot = hazards[readerSlot]
        while true {
            let bits = current.load(ordering: .acquiring)
            slot.bits.store(bits, ordering: .sequentiallyConsistent)
            guard current.load(ordering: .sequentiallyConsistent) == bits else { continue }
            // Retain explicitly before clearing the hazard (an opaque call the optimizer keeps in place).
            let unmanaged = unsafe Self.unmanaged(bits).retain()
            slot.bits.store(0, ordering: .releasing)
            return unsafe unmanaged.takeRetainedValue()
        }
    }

    func claimReaderSlot() -> Int? {
        for (position, slot) in hazards.enumerated() {
            if slot.claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
            {
                return position
            }
        }
        return nil
    }

    func releaseReaderSlot(_ position: Int) {
        hazards[position].claimed.store(false, ordering: .releasing)
    }

    private static func retainedBits(_ index: TriggerIndex) -> UInt {
        UInt(bitPattern: unsafe Unmanaged.passRetained(index).toOpaque())
    }

    @unsafe
    private static func unmanaged(_ bits: UInt) -> Unmanaged<TriggerIndex> {
        // The bits always come from `retainedBits`, so they are a valid, nonzero object address.
        unsafe Unmanaged.fromOpaque(UnsafeRawPointer(bitPattern: bits)!)
    }
}
