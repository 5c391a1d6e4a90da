import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// Host name resolution off the loop thread, with a time-to-live cache.
///
/// Numeric hosts (`127.0.0.1`, `::1`) never leave the caller. Other names are looked up with
/// `getaddrinfo` on the resolver's own thread (it blocks), and the first TCP address is cached for
/// `timeToLiveNanoseconds` (`getaddrinfo` reports no TTL, so the cache's is configured). Thread-safe: the
/// cache is behind a `Mutex` (control plane: one lookup per new connection, never per request).
package final class Resolver: Sendable {
    package typealias Completion = @Sendable (Result<SocketAddress, IOError>) -> Void

    private struct Job: Sendable {
        var host: String
        var port: UInt16
        var completion: Completion
    }

    private struct State: Sendable {
        var jobs: [Job] = []
        var stopping = false
        var cache: [String: (address: SocketAddress, expiresNanoseconds: UInt64)] = [:]
    }

    /// What the caller and the resolver thread share.
    private final class Shared: Sendable {
        let state = Mutex(State())
        let signal = Semaphore()
    }

    private let shared = Shared()
    private let thread: LoopThread
    private let timeToLiveNanoseconds: UInt64

    package init(timeToLiveNanoseconds: UInt64 = 60_000_000_000) throws(IOError) {
        self.timeToLiveNanoseconds = timeToLiveNanoseconds
        let shared = self.shared
        thread = try LoopThread {
            Resolver.serve(shared: shared, timeToLiveNanoseconds: timeToLiveNanoseconds)
        }
    }

    deinit {
        shared.state.withLock { $0.stopping = true }
        shared.signal.post()
        thread.join()
    }

    /// The address for `host` without blocking: numeric hosts and cached names; `nil` when a lookup is needed.
    package func cachedAddress(host: String, port: UInt16, nowNanoseconds: UInt64) -> SocketAddress? {
        if let numeric = SocketAddress(numericHost: host, port: port) { return numeric }
        return shared.state.withLock { state -> SocketAddress? in
            guard let entry = state.cache[host], entry.expiresNanoseconds > nowNanoseconds else { return nil }
            var address = entry.address
            address.port = port
            return address
        }
    }

    /// Looks `host` up on the resolver thread; `completion` runs there.
    package func resolve(host: String, port: UInt16, completion: @escaping Completion) {
        shared.state.withLock { $0.jobs.append(Job(host: host, port: port, completion: completion)) }
        shared.signal.post()
    }

    private static func serve(shared: Shared, timeToLiveNanoseconds: UInt64) {
        while true {
            shared.signal.wait()
            let (jobs, stopping) = shared.state.withLock { state -> ([Job], Bool) in
                defer { state.jobs.removeAll() }
                return (state.jobs, state.stopping)
            }
            if stopping { return }
            for job in jobs {
                let result = lookUp(host: job.host, port: job.port)
                if case .success(let address) = result {
                    let expires = monotonicNanoseconds() + timeToLiveNanoseconds
                    shared.state.withLock { $0.cache[job.host] = (address, expires) }
                }
                job.completion(result)
            }
        }
    }

    /// One blocking `getaddrinfo` for a TCP address of `host`.
    static func lookUp(host: String, port: UInt16) -> Result<SocketAddress, IOError> {
        var hints = unsafe addrinfo()
        unsafe hints.ai_family = AF_UNSPEC
        unsafe hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let code = unsafe getaddrinfo(host, nil, &hints, &list)
        guard code == 0, let first = unsafe list else {
            let reason = unsafe String(validatingCString: gai_strerror(code)) ?? "error \(code)"
            return .failure(IOError(code: .resolution, operation: "getaddrinfo", subject: "\(host): \(reason)"))
        }
        defer { unsafe freeaddrinfo(list) }
        var storage = sockaddr_storage()
        let length = unsafe first.pointee.ai_addrlen
        unsafe withUnsafeMutableBytes(of: &storage) { target in
            unsafe target.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(length)))
        }
        var address = SocketAddress(storage: storage, length: length)
        address.port = port
        return .success(address)
    }
}

/// A counting semaphore (POSIX `sem_t` on the heap, so its address is fixed) for waking a blocked thread.
@safe final class Semaphore: @unchecked Sendable {
    // @unchecked: sem_post and sem_wait are thread-safe by POSIX; the pointer never changes.
    private let semaphore: UnsafeMutablePointer<sem_t>

    init() {
        unsafe semaphore = .allocate(capacity: 1)
        let result = unsafe sem_init(semaphore, 0, 0)
        precondition(result == 0, "sem_init failed: errno \(Glibc.errno)")
    }

    deinit {
        unsafe sem_destroy(semaphore)
        unsafe semaphore.deallocate()
    }

    func post() { _ = unsafe sem_post(semaphore) }

    func wait() {
        while unsafe sem_wait(semaphore) != 0 && Glibc.errno == EINTR {}
    }
}
