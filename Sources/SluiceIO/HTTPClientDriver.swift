import SluiceCore
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// A request waiting in a pool or running on a connection.
struct PendingRequest {
    var request: HTTPClientRequest
    var submittedNanoseconds: UInt64
    var deadlineNanoseconds: UInt64
    /// Already re-sent once after a kept-alive connection turned out closed.
    var retriedOnStaleConnection = false
}

/// The keep-alive pool of one origin.
final class HTTPPool {
    let origin: HTTPOrigin
    let tlsContext: TLSContext?
    var session: TLSSession?
    var waiting: [PendingRequest] = []
    var waitingHead = 0
    /// Established connections with nothing in flight.
    var idle: [Int] = []
    /// All connections of the pool (opening, idle, active, closing).
    var connectionCount = 0
    /// Connections not yet established (resolving, connecting, handshaking).
    var openingCount = 0
    var establishedCount: Int { connectionCount - openingCount }

    init(origin: HTTPOrigin, tlsContext: TLSContext?) {
        self.origin = origin
        self.tlsContext = tlsContext
    }

    var waitingCount: Int { waiting.count - waitingHead }

    func popWaiting() -> PendingRequest? {
        guard waitingHead < waiting.count else { return nil }
        let pending = waiting[waitingHead]
        waitingHead += 1
        if waitingHead == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingHead = 0
        }
        return pending
    }
}

/// The loop-thread half of ``HTTPClient``: connections, pools and completions. Everything except
/// ``submit(_:)``, ``stop()`` and ``statistics`` runs on the loop thread only.
final class HTTPClientDriver: @unchecked Sendable {
    // @unchecked: the mutable state below is touched only by the loop thread (`runLoop` and what it
    // calls); other threads reach `inbox` (a Mutex), `wakeup` (an eventfd) and `counters` (atomics).
    enum Inbound: Sendable {
        case request(HTTPClientRequest)
        case resolved(connectionIndex: Int, generation: UInt32, Result<SocketAddress, IOError>)
        case stop
    }

    let configuration: HTTPClientConfiguration
    let onComplete: @Sendable (UInt64, HTTPClientResult) -> Void
    let counters = HTTPClientCounters()
    private let inbox = Mutex<[Inbound]>([])
    private let wakeup: LoopWakeup
    private let resolver: Resolver
    private var backend: (any IOBackend)?
    private var loopThread: pthread_t?
    private var localQueue: [HTTPClientRequest] = []
    private var drained: [Inbound] = []

    var pools: [HTTPPool] = []
    private var poolIndexByOrigin: [HTTPOrigin: Int] = [:]
    private var slots = ConnectionSlots<HTTPClientConnection>()
    private var stopping = false
    private static let housekeepingUserData: UInt64 = UInt64(HTTPClientConnection.Operation.housekeeping.rawValue) << 32

    init(
        configuration: HTTPClientConfiguration,
        onComplete: @escaping @Sendable (UInt64, HTTPClientResult) -> Void
    ) throws(IOError) {
        self.configuration = configuration
        self.onComplete = onComplete
        wakeup = try LoopWakeup()
        resolver = try Resolver(timeToLiveNanoseconds: configuration.resolverTimeToLiveNanoseconds)
    }

    var statistics: HTTPClientStatistics { counters.snapshot }

    func submit(_ request: HTTPClientRequest) {
        if let loopThread, pthread_equal(loopThread, pthread_self()) != 0 {
            localQueue.append(request)
            return
        }
        inbox.withLock { $0.append(.request(request)) }
        wakeup.signal()
    }

    func stop() {
        inbox.withLock { $0.append(.stop) }
        wakeup.signal()
    }

    // MARK: The loop

    func runLoop() {
        loopThread = pthread_self()
        let backend: any IOBackend
        do {
            backend = try configuration.backend.makeBackend(onLoopThread: true)
        } catch {
            failEverythingAndDrain(message: "\(error)")
            return
        }
        self.backend = backend
        backend.armWakeup(descriptor: wakeup.descriptor)
        backend.timer(deadlineNanoseconds: monotonicNanoseconds() + 50_000_000, userData: Self.housekeepingUserData)
        while !stopping {
            do {
                try backend.run(waitDeadlineNanoseconds: nil) { userData, result in
                    handle(userData: userData, result: result)
                }
            } catch {
                failEverythingAndDrain(message: "\(error)")
                return
            }
        }
        closeEverything(message: "the client stopped")
    }

    private func handle(userData: UInt64, result: Int32) {
        if userData == IOBackendUserData.wakeup {
            drainInbox()
        } else if userData == Self.housekeepingUserData {
            expireWaitingRequests(now: monotonicNanoseconds())
            backend!.timer(
                deadlineNanoseconds: monotonicNanoseconds() + 50_000_000,
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
        drainLocalQueue()
    }

    private func drainLocalQueue() {
        while !localQueue.isEmpty {
            let requests = localQueue
            localQueue.removeAll(keepingCapacity: true)
            for request in requests { enqueue(request) }
        }
    }

    private func drainInbox() {
        inbox.withLock { swap(&$0, &drained) }
        for message in drained {
            switch message {
            case .request(let request):
                enqueue(request)
            case .resolved(let index, let generation, let result):
                guard let connection = slots.connection(index: index, generation: generation) else { continue }
                connection.resolved(result, driver: self)
            case .stop:
                stopping = true
            }
        }
        drained.removeAll(keepingCapacity: true)
    }

    // MARK: Pools

    private func enqueue(_ request: HTTPClientRequest) {
        let now = monotonicNanoseconds()
        let pending = PendingRequest(
            request: request,
            submittedNanoseconds: now,
            deadlineNanoseconds: now + request.timeoutNanoseconds
        )
        guard let pool = pool(for: request.origin, pending: pending) else { return }
        guard pool.waitingCount < configuration.pendingRequestCountMax else {
            fail(pending, .overloaded, origin: pool.origin, "\(pool.waitingCount) requests already waiting")
            return
        }
        pool.waiting.append(pending)
        pump(pool)
    }

    private func pool(for origin: HTTPOrigin, pending: PendingRequest) -> HTTPPool? {
        if let index = poolIndexByOrigin[origin] { return pools[index] }
        var context: TLSContext? = nil
        if let tls = origin.tls {
            do {
                context = try TLSContext(client: tls)
            } catch {
                fail(pending, .tls, origin: origin, "\(error)")
                return nil
            }
        }
        let pool = HTTPPool(origin: origin, tlsContext: context)
        poolIndexByOrigin[origin] = pools.count
        pools.append(pool)
        return pool
    }

    /// Starts waiting requests on idle connections and opens connections up to the limit.
    func pump(_ pool: HTTPPool) {
        while pool.waitingCount > 0, let index = pool.idle.popLast() {
            let pending = pool.popWaiting()!
            slots.connections[index]!.start(pending, driver: self)
        }
        while pool.waitingCount > pool.openingCount && pool.connectionCount < configuration.connectionCountMax {
            openConnection(pool)
        }
    }

    func requeueAtFront(_ pending: PendingRequest, pool: HTTPPool) {
        pool.waiting.insert(pending, at: pool.waitingHead)
    }

    private func openConnection(_ pool: HTTPPool) {
        let (index, generation) = slots.reserve()
        let connection = HTTPClientConnection(
            index: index,
            generation: generation,
            pool: pool,
            bufferByteCount: configuration.bufferByteCount,
            parserLimits: configuration.parserLimits
        )
        slots.set(connection, at: index)
        pool.connectionCount += 1
        pool.openingCount += 1
        HTTPClientCounters.increment(counters.connectionsOpened)
        let origin = pool.origin
        if let address = resolver.cachedAddress(
            host: origin.host,
            port: origin.port,
            nowNanoseconds: monotonicNanoseconds()
        ) {
            connection.resolved(.success(address), driver: self)
            return
        }
        resolver.resolve(host: origin.host, port: origin.port) { [inbox = self, wakeup] result in
            inbox.postResolved(index: index, generation: generation, result)
            wakeup.signal()
        }
    }

    private func postResolved(index: Int, generation: UInt32, _ result: Result<SocketAddress, IOError>) {
        inbox.withLock { $0.append(.resolved(connectionIndex: index, generation: generation, result)) }
    }

    /// Called by a connection that closed for good: its slot is freed and the pool may open another.
    func release(_ connection: HTTPClientConnection) {
        let pool = connection.pool
        slots.release(connection.index)
        pool.connectionCount -= 1
        if !connection.wasEstablished { pool.openingCount -= 1 }
        if let position = pool.idle.firstIndex(of: connection.index) { pool.idle.remove(at: position) }
        if !stopping { pump(pool) }
    }

    /// A connection could not be established: requests beyond what the pool's other connections can
    /// serve fail with the same reason.
    func connectFailed(_ pool: HTTPPool, kind: HTTPClientFailure.Kind, message: String) {
        guard pool.establishedCount == 0 else { return }
        // Other attempts still opening will report their own outcome; fail what they cannot cover.
        while pool.waitingCount > max(0, pool.openingCount - 1), let pending = pool.popWaiting() {
            fail(pending, kind, origin: pool.origin, message)
        }
    }

    var ioBackend: any IOBackend { backend! }

    // MARK: Results

    func succeed(_ pending: PendingRequest, _ response: HTTPClientResponse) {
        HTTPClientCounters.increment(counters.requestsCompleted)
        if response.reusedConnection { HTTPClientCounters.increment(counters.reusedConnectionRequests) }
        if response.resumedTLSSession { HTTPClientCounters.increment(counters.resumedTLSSessions) }
        onComplete(pending.request.tag, .success(response))
    }

    func fail(_ pending: PendingRequest, _ kind: HTTPClientFailure.Kind, origin: HTTPOrigin, _ message: String) {
        HTTPClientCounters.increment(counters.requestsFailed)
        onComplete(
            pending.request.tag,
            .failure(HTTPClientFailure(kind: kind, origin: origin.description, message: message))
        )
    }

    private func expireWaitingRequests(now: UInt64) {
        for pool in pools where pool.waitingCount > 0 {
            let waiting = pool.waiting[pool.waitingHead...]
            guard waiting.contains(where: { $0.deadlineNanoseconds <= now }) else { continue }
            let expired = waiting.filter { $0.deadlineNanoseconds <= now }
            let kept = waiting.filter { $0.deadlineNanoseconds > now }
            pool.waiting = Array(kept)
            pool.waitingHead = 0
            for pending in expired {
                fail(pending, .timeout, origin: pool.origin, "no connection became free before the deadline")
            }
        }
    }

    private func closeEverything(message: String) {
        for pool in pools {
            while let pending = pool.popWaiting() { fail(pending, .overloaded, origin: pool.origin, message) }
        }
        for case let connection? in slots.connections { connection.abandon(driver: self, message: message) }
        drainInboxAfterStop(message: message)
    }

    private func failEverythingAndDrain(message: String) {
        stopping = true
        closeEverything(message: message)
    }

    /// Requests submitted after the stop still get exactly one result.
    private func drainInboxAfterStop(message: String) {
        inbox.withLock { swap(&$0, &drained) }
        for case .request(let request) in drained {
            let pending = PendingRequest(request: request, submittedNanoseconds: 0, deadlineNanoseconds: 0)
            fail(pending, .overloaded, origin: request.origin, message)
        }
        drained.removeAll()
        for request in localQueue {
            let pending = PendingRequest(request: request, submittedNanoseconds: 0, deadlineNanoseconds: 0)
            fail(pending, .overloaded, origin: request.origin, message)
        }
        localQueue.removeAll()
    }
}
