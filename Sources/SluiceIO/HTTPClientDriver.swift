import SluiceCore
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// A request the driver holds from submission until its result: where it is, and what of its response
/// arrived so far.
struct RequestRecord {
    var request: HTTPClientRequest
    var submittedNanoseconds: UInt64
    var head: HTTPResponseHead?
    var headerFields: [HTTPHeaderField] = []
    var body: [UInt8] = []
    var reusedConnection = false
    var resumedTLSSession = false
}

/// One origin: the pure pool policy (``EndpointPool``) plus what executing it needs.
final class PoolRecord {
    let origin: HTTPOrigin
    var pool: EndpointPool
    let tlsContext: TLSContext?
    var session: TLSSession?
    /// For each pool slot: the I/O connection executing it (index into the driver's slots) and its pool
    /// generation.
    var connectionOfSlot: [(connection: Int, generation: UInt32)?]
    /// For each pool slot: the one timer the pool armed (generation, deadline).
    var timerOfSlot: [(generation: UInt32, deadlineNanoseconds: UInt64)?]
    var armedTimerCount = 0

    init(origin: HTTPOrigin, policy: EndpointPoolPolicy, tlsContext: TLSContext?) {
        self.origin = origin
        pool = EndpointPool(policy: policy)
        self.tlsContext = tlsContext
        connectionOfSlot = Array(repeating: nil, count: policy.connectionCountMax)
        timerOfSlot = Array(repeating: nil, count: policy.connectionCountMax)
    }
}

/// The loop-thread half of ``HTTPClient``: it executes each origin's ``EndpointPool`` actions (connect,
/// TLS, send, close, timers, results) on the backend and feeds the pool the connection events its
/// completions mean. Everything except ``submit(_:)``, ``stop()`` and ``statistics`` runs on the loop
/// thread only.
final class HTTPClientDriver: @unchecked Sendable {
    // @unchecked: the mutable state below is touched only by the loop thread (`runLoop` and what it
    // calls); other threads reach `inbox` (a Mutex), `wakeup` (an eventfd) and `counters` (atomics).
    enum Inbound: Sendable {
        case request(HTTPClientRequest)
        case resolved(host: String, Result<SocketAddress, IOError>)
        case stop
    }

    let configuration: HTTPClientConfiguration
    let onComplete: @Sendable (UInt64, HTTPClientResult) -> Void
    let counters = HTTPClientCounters()
    private let inbox = Mutex<[Inbound]>([])
    private let wakeup: LoopWakeup
    private let resolver: Resolver
    private var backend: (any IOBackend)?
    /// The loop thread's `pthread_self()` (0 until it runs); read by `submit` on any thread.
    private let loopThread = Atomic<UInt>(0)
    private var localQueue: [HTTPClientRequest] = []
    private var drained: [Inbound] = []

    /// Resolved names (pure policy: TTLs, one resolution in flight per host) and who waits for each.
    private var dnsCache: DNSCache<SocketAddress>
    private var waitingForHost: [String: [(index: Int, generation: UInt32, port: UInt16)]] = [:]
    private var pools: [PoolRecord] = []
    private var poolIndexByOrigin: [HTTPOrigin: Int] = [:]
    private var slots = ConnectionSlots<HTTPClientConnection>()
    private var requests: [RequestRecord?] = []
    private var freeRequestIndices: [Int] = []
    /// Pool actions not executed yet (executing one may feed the pool and produce more).
    private var pendingActions: [(pool: Int, action: EndpointPool.Action)] = []
    private var producedActions: [EndpointPool.Action] = []
    private var executing = false
    private var stopping = false
    private static let housekeepingUserData: UInt64 = UInt64(HTTPClientConnection.Operation.housekeeping.rawValue) << 32
    /// Pool timers are checked at this period (deadlines are seconds; tests use ≥ 100 ms).
    private static let tickNanoseconds: UInt64 = 10_000_000

    init(
        configuration: HTTPClientConfiguration,
        onComplete: @escaping @Sendable (UInt64, HTTPClientResult) -> Void
    ) throws(IOError) {
        self.configuration = configuration
        self.onComplete = onComplete
        wakeup = try LoopWakeup()
        resolver = try Resolver(lookUp: configuration.nameLookUp)
        dnsCache = DNSCache(policy: DNSCachePolicy(positiveTTLNanoseconds: configuration.resolverTimeToLiveNanoseconds))
    }

    var statistics: HTTPClientStatistics { counters.snapshot }
    var ioBackend: any IOBackend { backend! }

    func submit(_ request: HTTPClientRequest) {
        let loop = loopThread.load(ordering: .acquiring)
        if loop != 0, pthread_equal(pthread_t(loop), pthread_self()) != 0 {
            localQueue.append(request)
            return
        }
        // Signal only when the inbox goes from empty to not empty: a non-empty inbox has a wake-up pending,
        // and the loop consumes the eventfd before it drains the inbox, so no request is left behind.
        let wasEmpty = inbox.withLock { inbox in
            let empty = inbox.isEmpty
            inbox.append(.request(request))
            return empty
        }
        if wasEmpty { wakeup.signal() }
    }

    func stop() {
        inbox.withLock { $0.append(.stop) }
        wakeup.signal()
    }

    // MARK: The loop

    /// Runs the loop on the calling thread until ``stop()`` (or until `turn` says ``HTTPClientLoopWait/stop``).
    /// With `turn`, the owner's work runs on this thread between I/O turns: `turn` may call ``submit(_:)``
    /// (queued without a lock or a wake-up) and returns how long the loop may then wait for I/O.
    func runLoop(turn: (() -> HTTPClientLoopWait)? = nil) {
        loopThread.store(UInt(pthread_self()), ordering: .releasing)
        let backend: any IOBackend
        do {
            backend = try configuration.backend.makeBackend(onLoopThread: true)
        } catch {
            stopping = true
            failAfterStop(message: "\(error)")
            return
        }
        self.backend = backend
        backend.armWakeup(descriptor: wakeup.descriptor)
        backend.timer(
            deadlineNanoseconds: monotonicNanoseconds() + Self.tickNanoseconds,
            userData: Self.housekeepingUserData
        )
        while !stopping {
            var waitDeadline: UInt64? = nil
            if let turn {
                switch turn() {
                case .poll: waitDeadline = 0
                case .until(let deadline): waitDeadline = deadline
                case .untilWoken: waitDeadline = nil
                case .stop: stopping = true
                }
                flushLocalQueue()
                if stopping { break }
            }
            do {
                try backend.run(waitDeadlineNanoseconds: waitDeadline) { userData, result in
                    handle(userData: userData, result: result)
                }
            } catch {
                stopping = true
                failAfterStop(message: "\(error)")
                break
            }
        }
        shutDownPools()
        failAfterStop(message: "the client stopped")
    }

    private func handle(userData: UInt64, result: Int32) {
        if userData == IOBackendUserData.wakeup {
            drainInbox()
        } else if userData == Self.housekeepingUserData {
            fireTimers(now: monotonicNanoseconds())
            ioBackend.timer(
                deadlineNanoseconds: monotonicNanoseconds() + Self.tickNanoseconds,
                userData: Self.housekeepingUserData
            )
        } else {
            let (index, code, generation) = ConnectionSlots<HTTPClientConnection>.decode(userData)
            let operation = HTTPClientConnection.Operation(rawValue: code)!
            guard let connection = slots.connection(index: index, generation: generation) else {
                preconditionFailure("completion for a freed connection \(index) generation \(generation)")
            }
            connection.completed(operation, result: result, driver: self)
        }
        flushLocalQueue()
    }

    private func flushLocalQueue() {
        while !localQueue.isEmpty {
            let queued = localQueue
            localQueue.removeAll(keepingCapacity: true)
            for request in queued { enqueue(request) }
        }
    }

    /// Wakes the loop from any thread (for an owner whose `turn` has new work).
    func wake() { wakeup.signal() }

    private func drainInbox() {
        inbox.withLock { swap(&$0, &drained) }
        for message in drained {
            switch message {
            case .request(let request):
                enqueue(request)
            case .resolved(let host, let result):
                hostResolved(host, result)
            case .stop:
                stopping = true
            }
        }
        drained.removeAll(keepingCapacity: true)
    }

    // MARK: Requests and pools

    private func enqueue(_ request: HTTPClientRequest) {
        let record = RequestRecord(request: request, submittedNanoseconds: monotonicNanoseconds())
        let requestIndex: Int
        if let free = freeRequestIndices.popLast() {
            requestIndex = free
            requests[free] = record
        } else {
            requestIndex = requests.count
            requests.append(record)
        }
        guard let poolIndex = poolIndex(for: request.origin) else {
            return complete(requestIndex, tlsSetupFailed: true)
        }
        pools[poolIndex].pool.submit(
            requestIndex: requestIndex,
            nowNanoseconds: monotonicNanoseconds(),
            actions: &producedActions
        )
        queueProduced(pool: poolIndex)
    }

    private var tlsSetupErrors: [HTTPOrigin: String] = [:]

    private func poolIndex(for origin: HTTPOrigin) -> Int? {
        if let index = poolIndexByOrigin[origin] { return index }
        var context: TLSContext? = nil
        if let tls = origin.tls {
            do {
                context = try TLSContext(client: tls)
            } catch {
                tlsSetupErrors[origin] = "\(error)"
                return nil
            }
        }
        let policy = EndpointPoolPolicy(
            connectionCountMax: configuration.connectionCountMax,
            inFlightCountMax: min(
                configuration.inFlightCountMax ?? configuration.connectionCountMax,
                configuration.connectionCountMax
            ),
            queueCountMax: configuration.pendingRequestCountMax,
            usesTLS: origin.tls != nil,
            timeouts: configuration.timeouts
        )
        poolIndexByOrigin[origin] = pools.count
        pools.append(PoolRecord(origin: origin, policy: policy, tlsContext: context))
        return pools.count - 1
    }

    /// Feeds a connection event to its pool and executes what follows.
    func feed(_ event: ConnectionStateMachine.Event, pool poolIndex: Int, id: ConnectionID) {
        pools[poolIndex].pool.handle(event, for: id, nowNanoseconds: monotonicNanoseconds(), actions: &producedActions)
        queueProduced(pool: poolIndex)
    }

    private func queueProduced(pool poolIndex: Int) {
        for action in producedActions { pendingActions.append((poolIndex, action)) }
        producedActions.removeAll(keepingCapacity: true)
        guard !executing else { return }  // the outer executeActions loop picks them up
        executing = true
        var position = 0
        while position < pendingActions.count {
            let (poolIndex, action) = pendingActions[position]
            position += 1
            execute(action, pool: poolIndex)
        }
        pendingActions.removeAll(keepingCapacity: true)
        executing = false
    }

    private func execute(_ action: EndpointPool.Action, pool poolIndex: Int) {
        let record = pools[poolIndex]
        switch action {
        case .connect(let id):
            let (index, generation) = slots.reserve()
            let connection = HTTPClientConnection(
                index: index,
                generation: generation,
                pool: record,
                poolIndex: poolIndex,
                id: id,
                bufferByteCount: configuration.bufferByteCount,
                parserLimits: configuration.parserLimits
            )
            slots.set(connection, at: index)
            record.connectionOfSlot[id.index] = (index, id.generation)
            HTTPClientCounters.increment(counters.connectionsOpened)
            startResolution(connection, origin: record.origin)
        case .startTLS(let id):
            connection(of: id, in: record)?.startTLS(driver: self)
        case .send(let id, let requestIndex):
            guard let connection = connection(of: id, in: record) else {
                preconditionFailure("send on \(id) without a connection")
            }
            requests[requestIndex]!.reusedConnection = connection.servedCount > 0
            connection.start(
                requestBytes: requests[requestIndex]!.request.bytes,
                method: requests[requestIndex]!.request.method,
                requestIndex: requestIndex,
                driver: self
            )
        case .close(let id):
            let connection = connection(of: id, in: record)
            record.connectionOfSlot[id.index] = nil
            connection?.close(driver: self)
        case .armTimer(let id, let deadline):
            if record.timerOfSlot[id.index] == nil { record.armedTimerCount += 1 }
            record.timerOfSlot[id.index] = (id.generation, deadline)
        case .cancelTimer(let id):
            if let timer = record.timerOfSlot[id.index], timer.generation == id.generation {
                record.timerOfSlot[id.index] = nil
                record.armedTimerCount -= 1
            }
        case .complete(let requestIndex, let outcome):
            complete(requestIndex, outcome: outcome, origin: record.origin)
        case .reject(let requestIndex):
            let message = stopping ? "the client stopped" : "\(record.pool.queuedCount) requests already waiting"
            fail(
                requestIndex,
                HTTPClientFailure(kind: .overloaded, origin: record.origin.description, message: message)
            )
        }
    }

    private func connection(of id: ConnectionID, in record: PoolRecord) -> HTTPClientConnection? {
        guard let entry = record.connectionOfSlot[id.index], entry.generation == id.generation else { return nil }
        return slots.connections[entry.connection]
    }

    private func startResolution(_ connection: HTTPClientConnection, origin: HTTPOrigin) {
        if let address = SocketAddress(numericHost: origin.host, port: origin.port) {
            return connection.resolved(.success(address), driver: self)
        }
        switch dnsCache.lookup(origin.host, nowNanoseconds: monotonicNanoseconds()) {
        case .hit(let addresses):
            var address = addresses[0]
            address.port = origin.port
            connection.resolved(.success(address), driver: self)
        case .failed(let message):
            connection.resolved(
                .failure(IOError(code: .resolution, operation: "getaddrinfo", subject: message)),
                driver: self
            )
        case .wait:
            waitingForHost[origin.host, default: []].append((connection.index, connection.generation, origin.port))
        case .resolve:
            waitingForHost[origin.host, default: []].append((connection.index, connection.generation, origin.port))
            let host = origin.host
            resolver.resolve(host: host, port: 0) { [inbox = self, wakeup] result in
                inbox.postResolved(host: host, result)
                wakeup.signal()
            }
        }
    }

    private func postResolved(host: String, _ result: Result<SocketAddress, IOError>) {
        inbox.withLock { $0.append(.resolved(host: host, result)) }
    }

    /// A lookup ended: cache it and hand it to the connections still waiting (closed ones are gone).
    private func hostResolved(_ host: String, _ result: Result<SocketAddress, IOError>) {
        let now = monotonicNanoseconds()
        switch result {
        case .success(let address): dnsCache.store(host, addresses: [address], nowNanoseconds: now)
        case .failure(let error): dnsCache.storeFailure(host, message: error.subject, nowNanoseconds: now)
        }
        for waiter in waitingForHost.removeValue(forKey: host) ?? [] {
            guard let connection = slots.connection(index: waiter.index, generation: waiter.generation) else {
                continue
            }
            var portResult = result
            if case .success(var address) = result {
                address.port = waiter.port
                portResult = .success(address)
            }
            connection.resolved(portResult, driver: self)
        }
    }

    /// A connection's socket is closed for good: its slot is free.
    func release(_ connection: HTTPClientConnection) {
        slots.release(connection.index)
    }

    /// Response data of a request in flight, stored before its `responseCompleted` event.
    func recordResponse(
        _ requestIndex: Int,
        head: HTTPResponseHead,
        fields: [HTTPHeaderField],
        body: [UInt8],
        resumedTLSSession: Bool
    ) {
        requests[requestIndex]!.head = head
        requests[requestIndex]!.headerFields = fields
        requests[requestIndex]!.body = body
        requests[requestIndex]!.resumedTLSSession = resumedTLSSession
    }

    private func fireTimers(now: UInt64) {
        for poolIndex in pools.indices where pools[poolIndex].armedTimerCount > 0 {
            let record = pools[poolIndex]
            for slot in record.timerOfSlot.indices {
                guard let timer = record.timerOfSlot[slot], timer.deadlineNanoseconds <= now else { continue }
                record.timerOfSlot[slot] = nil
                record.armedTimerCount -= 1
                feed(
                    .timerFired(nowNanoseconds: now),
                    pool: poolIndex,
                    id: ConnectionID(index: slot, generation: timer.generation)
                )
            }
        }
    }

    // MARK: Results

    private func complete(_ requestIndex: Int, outcome: DeliveryAttemptOutcome, origin: HTTPOrigin) {
        let record = requests[requestIndex]!
        switch outcome {
        case .response:
            let response = HTTPClientResponse(
                head: record.head!,
                headerFields: record.headerFields,
                body: record.body,
                reusedConnection: record.reusedConnection,
                resumedTLSSession: record.resumedTLSSession,
                latencyNanoseconds: monotonicNanoseconds() - record.submittedNanoseconds
            )
            requests[requestIndex] = nil
            freeRequestIndices.append(requestIndex)
            HTTPClientCounters.increment(counters.requestsCompleted)
            if response.reusedConnection { HTTPClientCounters.increment(counters.reusedConnectionRequests) }
            if response.resumedTLSSession { HTTPClientCounters.increment(counters.resumedTLSSessions) }
            onComplete(record.request.tag, .success(response))
        case .configurationFailed(let message), .circuitOpen(let message):  // the client never decides the latter
            fail(
                requestIndex,
                HTTPClientFailure(kind: .protocolViolation, origin: origin.description, message: message)
            )
        case .connectionFailed(let message):
            fail(requestIndex, HTTPClientFailure(kind: .connection, origin: origin.description, message: message))
        case .tlsFailed(let message):
            fail(requestIndex, HTTPClientFailure(kind: .tls, origin: origin.description, message: message))
        case .timedOut(let message):
            fail(requestIndex, HTTPClientFailure(kind: .timeout, origin: origin.description, message: message))
        case .addressRefused(let message):
            fail(requestIndex, HTTPClientFailure(kind: .addressRefused, origin: origin.description, message: message))
        }
    }

    private func complete(_ requestIndex: Int, tlsSetupFailed: Bool) {
        let origin = requests[requestIndex]!.request.origin
        let message = tlsSetupErrors[origin] ?? "TLS setup failed"
        fail(requestIndex, HTTPClientFailure(kind: .tls, origin: origin.description, message: message))
    }

    private func fail(_ requestIndex: Int, _ failure: HTTPClientFailure) {
        let record = requests[requestIndex]!
        requests[requestIndex] = nil
        freeRequestIndices.append(requestIndex)
        HTTPClientCounters.increment(counters.requestsFailed)
        onComplete(record.request.tag, .failure(failure))
    }

    private func shutDownPools() {
        for poolIndex in pools.indices {
            pools[poolIndex].pool.shutdown(nowNanoseconds: monotonicNanoseconds(), actions: &producedActions)
            queueProduced(pool: poolIndex)
        }
        for case let connection? in slots.connections { connection.abandon() }
    }

    /// Requests submitted after the loop ended still get exactly one result.
    private func failAfterStop(message: String) {
        inbox.withLock { swap(&$0, &drained) }
        let late =
            drained.compactMap { message -> HTTPClientRequest? in
                if case .request(let request) = message { return request }
                return nil
            } + localQueue
        drained.removeAll()
        localQueue.removeAll()
        for request in late {
            onComplete(
                request.tag,
                .failure(HTTPClientFailure(kind: .overloaded, origin: request.origin.description, message: message))
            )
            HTTPClientCounters.increment(counters.requestsFailed)
        }
    }
}
