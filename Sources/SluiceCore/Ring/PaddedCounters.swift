public import Synchronization

/// A fixed number of `Atomic<Int>` counters, each alone on its own 128-byte block so that threads that
/// write different counters never share a cache line (or the adjacent line the prefetcher pairs with it).
///
/// Swift has no `alignas`, so the counters live in one raw block aligned to 128 bytes and are bound as
/// `Atomic<Int>` at offsets 0, 128, 256, …, the way swift-system binds the kernel's ring indices.
///
/// `@unchecked Sendable`: the block is raw memory owned by this object; it is only ever reached as
/// `Atomic<Int>`, and the memory orderings are chosen by the callers.
@safe
@usableFromInline
final class PaddedCounters: @unchecked Sendable {
    /// Bytes between two counters: two 64-byte lines.
    @usableFromInline static let stride = 128

    @usableFromInline let count: Int
    @usableFromInline let base: UnsafeMutableRawPointer

    /// `count` counters, each starting at `initialValue`.
    @usableFromInline init(count: Int, initialValue: Int = 0) {
        precondition(count > 0, "at least one counter")
        self.count = count
        unsafe base = .allocate(byteCount: count * Self.stride, alignment: Self.stride)
        for index in 0..<count {
            unsafe (base + index * Self.stride).initializeMemory(as: Atomic<Int>.self, to: Atomic(initialValue))
        }
    }

    deinit {
        for index in 0..<count {
            unsafe (base + index * Self.stride).assumingMemoryBound(to: Atomic<Int>.self).deinitialize(count: 1)
        }
        unsafe base.deallocate()
    }

    /// The counter at `index` (0 ..< ``count``).
    @inlinable @inline(__always)
    subscript(index: Int) -> UnsafePointer<Atomic<Int>> {
        assert(index >= 0 && index < count)
        return unsafe UnsafePointer((base + index * Self.stride).assumingMemoryBound(to: Atomic<Int>.self))
    }
}
