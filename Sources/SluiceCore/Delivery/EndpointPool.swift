/// Bounds and deadlines of one endpoint's connection pool.
///
/// Memory: `queueCountMax * 8` bytes for the queue and one small slot per connection, allocated once.
public struct EndpointPoolPolicy: Hashable, Sendable {
    /// Open connections (connecting, handshaking, ready or busy) at most.
    public var connectionCountMax: Int
    /// Requests in flight at most (≤ connections: HTTP/1.1 without pipelining).
    public var inFlightCountMax: Int
    /// Requests waiting for a connection at most; beyond it `submit` rejects (backpressure).
    public var queueCountMax: Int
    public var usesTLS: Bool
    public var timeouts: ConnectionTimeouts

    public init(
        connectionCountMax: Int = 16,
        inFlightCountMax: Int = 16,
        queueCountMax: Int = 1024,
        usesTLS: Bool = false,
        timeouts: ConnectionTimeouts = ConnectionTimeouts()
    ) {
        self.connectionCountMax = connectionCountMax
        self.inFlightCountMax = inFlightCountMax
        self.queueCountMax = queueCountMax
        self.usesTLS = usesTLS
        self.timeouts = timeouts
    }

    /// - Throws: ``DeliveryConfigurationError`` naming the field.
    public func validate() throws(DeliveryConfigurationError) {
        if connectionCountMax < 1 || connectionCountMax > 4096 {
            throw DeliveryConfigurationError(
                field: "pool.connection_count_max",
                message: "\(connectionCountMax) is not in 1...4096"
            )
        }
        if inFlightCountMax < 1 {
            throw DeliveryConfigurationError(field: "pool.in_flight_count_max", message: "must be at least 1")
        }
        if queueCountMax < 0 {
            throw DeliveryConfigurationError(field: "pool.queue_count_max", message: "must not be negative")
        }
    }
}

/// Names one connection of a pool: a slot index plus a generation that changes when the slot is
/// reused, so completions of an old connection never reach its successor. Drivers pack it into
/// io_uring `user_data` / epoll data.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public var index: Int
    public var generation: UInt32

    public init(index: Int, generation: UInt32) {
        self.index = index
        self.generation = generation
    }

    public var description: String { "connection \(index).\(generation)" }
}

/// Pure keep-alive pool policy for one endpoint (origin): which connection carries which request,
/// when to open and close connections, and when to push back.
///
/// - A submitted request goes to the most recently used idle connection; else it waits in a FIFO
///   queue and a connection is opened if the bounds allow (never more opening connections than
///   waiting requests).
/// - A connection that becomes ready takes the next waiting request.
/// - A request re-queued by its connection (keep-alive race) goes to the front of the queue.
/// - When a connection fails before carrying a request and no other connection is open or
///   opening, every waiting request completes with that failure (the endpoint is unreachable now;
///   each delivery's retry policy takes over). No reconnect is made for them.
/// - `reject` means "not attempted": the queue was full or the pool shut down.
///
/// Actions are appended to a caller-owned array (reused, so steady state does not allocate).
/// Not thread-safe; owned by one delivery loop thread.
public struct EndpointPool: Sendable {
    /// What the driver executes, in the order appended.
    public enum Action: Hashable, Sendable {
        case connect(ConnectionID)
        case startTLS(ConnectionID)
        case send(ConnectionID, requestIndex: Int)
        case close(ConnectionID)
        case armTimer(ConnectionID, deadlineNanoseconds: UInt64)
        case cancelTimer(ConnectionID)
        /// The request's attempt ended (response or failure).
        case complete(requestIndex: Int, outcome: DeliveryAttemptOutcome)
        /// The request was not attempted (queue full, or shutdown); defer it.
        case reject(requestIndex: Int)
    }

    private struct Slot: Sendable {
        var machine: ConnectionStateMachine?
        var generation: UInt32 = 0
    }

    public let policy: EndpointPoolPolicy
    private var slots: [Slot]
    private var queue: RequestQueue
    public private(set) var inFlightCount = 0

    public init(policy: EndpointPoolPolicy) {
        self.policy = policy
        slots = Array(repeating: Slot(), count: policy.connectionCountMax)
        queue = RequestQueue(capacity: policy.queueCountMax)
    }

    public var queuedCount: Int { queue.count }
    public var openConnectionCount: Int { slots.lazy.filter { $0.machine != nil }.count }
    /// The connection's machine, or `nil` if `id` is not a live connection.
    public func connection(_ id: ConnectionID) -> ConnectionStateMachine? {
        guard slots.indices.contains(id.index), slots[id.index].generation == id.generation else { return nil }
        return slots[id.index].machine
    }

    /// Hands the pool a request to send.
    public mutating func submit(requestIndex: Int, nowNanoseconds: UInt64, actions: inout [Action]) {
        if inFlightCount < policy.inFlightCountMax, let index = mostRecentlyUsedReadyIndex() {
            send(requestIndex, onSlot: index, nowNanoseconds: nowNanoseconds, actions: &actions)
            return
        }
        guard queue.pushBack(requestIndex) else {
            actions.append(.reject(requestIndex: requestIndex))
            return
        }
        openConnectionsIfNeeded(nowNanoseconds: nowNanoseconds, actions: &actions)
    }

    /// Feeds a driver event for connection `id`; events for connections that are gone are ignored.
    public mutating func handle(
        _ event: ConnectionStateMachine.Event,
        for id: ConnectionID,
        nowNanoseconds: UInt64,
        actions: inout [Action]
    ) {
        guard slots.indices.contains(id.index), slots[id.index].generation == id.generation,
            var machine = slots[id.index].machine
        else { return }  // a completion for a connection already closed and freed
        let wasBusy = machine.isBusy
        let produced = machine.handle(event)
        if wasBusy && !machine.isBusy { inFlightCount -= 1 }
        assert(inFlightCount >= 0, "in-flight count below zero")
        slots[id.index].machine = machine
        append(produced, for: id, actions: &actions)
        var connectFailed = false
        switch produced.result {
        case .none, .complete: break
        case .requeue(let requestIndex):
            let accepted = queue.pushFront(requestIndex)
            if !accepted { actions.append(.reject(requestIndex: requestIndex)) }
        case .connectFailed(let outcome):
            connectFailed = true
            if !hasOtherLiveConnection(than: id.index) { failQueued(outcome, actions: &actions) }
        }
        if machine.isClosed {
            slots[id.index].machine = nil
            slots[id.index].generation &+= 1
        }
        dispatchQueued(nowNanoseconds: nowNanoseconds, actions: &actions)
        if !connectFailed { openConnectionsIfNeeded(nowNanoseconds: nowNanoseconds, actions: &actions) }
    }

    /// Closes every connection (in-flight requests complete as CONNECTION failures) and rejects
    /// every waiting request.
    public mutating func shutdown(nowNanoseconds: UInt64, actions: inout [Action]) {
        while let requestIndex = queue.popFront() { actions.append(.reject(requestIndex: requestIndex)) }
        for index in slots.indices where slots[index].machine != nil {
            handle(
                .close,
                for: ConnectionID(index: index, generation: slots[index].generation),
                nowNanoseconds: nowNanoseconds,
                actions: &actions
            )
        }
        assert(openConnectionCount == 0, "a connection survived shutdown")
    }

    // MARK: Helpers

    private mutating func send(_ requestIndex: Int, onSlot index: Int, nowNanoseconds: UInt64, actions: inout [Action])
    {
        guard var machine = slots[index].machine else { preconditionFailure("send on an empty slot \(index)") }
        precondition(machine.isReady, "send on a connection that is not ready")
        let produced = machine.handle(.send(requestIndex: requestIndex, nowNanoseconds: nowNanoseconds))
        slots[index].machine = machine
        inFlightCount += 1
        append(produced, for: ConnectionID(index: index, generation: slots[index].generation), actions: &actions)
    }

    /// Sends waiting requests on ready connections while the in-flight bound allows.
    private mutating func dispatchQueued(nowNanoseconds: UInt64, actions: inout [Action]) {
        while queue.count > 0, inFlightCount < policy.inFlightCountMax, let index = mostRecentlyUsedReadyIndex() {
            guard let requestIndex = queue.popFront() else { break }
            send(requestIndex, onSlot: index, nowNanoseconds: nowNanoseconds, actions: &actions)
        }
    }

    private mutating func openConnectionsIfNeeded(nowNanoseconds: UInt64, actions: inout [Action]) {
        var opening = slots.lazy.filter { $0.machine.map { !$0.isReady && !$0.isBusy } ?? false }.count
        while opening < queue.count, inFlightCount + opening < policy.inFlightCountMax,
            let index = slots.firstIndex(where: { $0.machine == nil })
        {
            let (machine, produced) = ConnectionStateMachine.open(
                usesTLS: policy.usesTLS,
                timeouts: policy.timeouts,
                nowNanoseconds: nowNanoseconds
            )
            slots[index].machine = machine
            append(produced, for: ConnectionID(index: index, generation: slots[index].generation), actions: &actions)
            opening += 1
        }
    }

    private func mostRecentlyUsedReadyIndex() -> Int? {
        var best: (index: Int, idleDeadline: UInt64)?
        for index in slots.indices {
            guard case .ready(let idleDeadline)? = slots[index].machine?.state else { continue }
            if let current = best, current.idleDeadline >= idleDeadline { continue }
            best = (index, idleDeadline)
        }
        return best?.index
    }

    private func hasOtherLiveConnection(than index: Int) -> Bool {
        slots.indices.contains { $0 != index && slots[$0].machine.map { !$0.isClosed } == true }
    }

    private mutating func failQueued(_ outcome: DeliveryAttemptOutcome, actions: inout [Action]) {
        while let requestIndex = queue.popFront() {
            actions.append(.complete(requestIndex: requestIndex, outcome: outcome))
        }
    }

    private func append(_ produced: ConnectionStateMachine.Actions, for id: ConnectionID, actions: inout [Action]) {
        switch produced.io {
        case .none: break
        case .connect: actions.append(.connect(id))
        case .startTLS: actions.append(.startTLS(id))
        case .send(let requestIndex): actions.append(.send(id, requestIndex: requestIndex))
        case .close: actions.append(.close(id))
        }
        switch produced.timer {
        case .none: break
        case .arm(let deadline): actions.append(.armTimer(id, deadlineNanoseconds: deadline))
        case .cancel: actions.append(.cancelTimer(id))
        }
        if case .complete(let requestIndex, let outcome) = produced.result {
            actions.append(.complete(requestIndex: requestIndex, outcome: outcome))
        }
    }
}

/// A fixed-capacity FIFO of request indices with push-front for re-queues; allocated once.
struct RequestQueue: Sendable {
    private var storage: [Int]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        precondition(capacity >= 0, "negative queue capacity")
        storage = Array(repeating: 0, count: capacity)
    }

    mutating func pushBack(_ value: Int) -> Bool {
        guard count < storage.count else { return false }
        storage[(head + count) % storage.count] = value
        count += 1
        return true
    }

    mutating func pushFront(_ value: Int) -> Bool {
        guard count < storage.count else { return false }
        head = (head + storage.count - 1) % storage.count
        storage[head] = value
        count += 1
        return true
    }

    mutating func popFront() -> Int? {
        guard count > 0 else { return nil }
        let value = storage[head]
        head = (head + 1) % storage.count
        count -= 1
        return value
    }
}
