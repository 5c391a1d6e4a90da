/// Connection objects by index, with a generation per slot so a completion can be matched to the
/// connection that queued it (a reused slot gets the next generation).
///
/// `userData` of a connection's operations:
///
///     bits 0..31   slot index
///     bits 32..39  operation code (the connection type's `Operation.rawValue`)
///     bits 40..61  generation (22 bits, wrapping)
///
/// Not thread-safe; owned by one loop thread.
struct ConnectionSlots<Connection: AnyObject> {
    private(set) var connections: [Connection?] = []
    private var freeIndices: [Int] = []
    private var generations: [UInt32] = []

    /// A free slot index and its new generation; fill it with ``set(_:at:)``.
    mutating func reserve() -> (index: Int, generation: UInt32) {
        let index: Int
        if let free = freeIndices.popLast() {
            index = free
        } else {
            index = connections.count
            connections.append(nil)
            generations.append(0)
        }
        generations[index] = (generations[index] &+ 1) & 0x3F_FFFF
        return (index, generations[index])
    }

    mutating func set(_ connection: Connection, at index: Int) {
        precondition(connections[index] == nil, "slot \(index) is taken")
        connections[index] = connection
    }

    mutating func release(_ index: Int) {
        precondition(connections[index] != nil, "slot \(index) is already free")
        connections[index] = nil
        freeIndices.append(index)
    }

    /// The connection a completion belongs to, or `nil` when its slot was freed or reused since.
    func connection(index: Int, generation: UInt32) -> Connection? {
        guard index < connections.count, generations[index] == generation else { return nil }
        return connections[index]
    }

    mutating func removeAll() {
        connections.removeAll()
        freeIndices.removeAll()
        generations.removeAll()
    }

    static func userData(index: Int, operation: UInt8, generation: UInt32) -> UInt64 {
        assert(index <= 0xFFFF_FFFF && generation <= 0x3F_FFFF)
        return UInt64(index) | UInt64(operation) << 32 | UInt64(generation) << 40
    }

    static func decode(_ userData: UInt64) -> (index: Int, operation: UInt8, generation: UInt32) {
        (
            Int(truncatingIfNeeded: userData & 0xFFFF_FFFF),
            UInt8(truncatingIfNeeded: userData >> 32),
            UInt32(truncatingIfNeeded: userData >> 40)
        )
    }
}

/// A connection's fixed buffers, allocated once when it opens: what the socket receives, what is being
/// sent, and (with TLS) decrypted plaintext. Not thread-safe; owned by one connection.
@safe final class ConnectionBuffers {
    let receive: UnsafeMutableRawBufferPointer
    let send: UnsafeMutableRawBufferPointer
    let plaintext: UnsafeMutableRawBufferPointer

    init(byteCount: Int, usesTLS: Bool) {
        unsafe receive = .allocate(byteCount: byteCount, alignment: 64)
        unsafe send = .allocate(byteCount: byteCount, alignment: 64)
        unsafe plaintext = .allocate(byteCount: usesTLS ? byteCount : 1, alignment: 64)
    }

    deinit {
        unsafe receive.deallocate()
        unsafe send.deallocate()
        unsafe plaintext.deallocate()
    }
}
