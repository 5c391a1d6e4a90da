import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// Host name resolution off the loop thread: `getaddrinfo` (which blocks) runs on the resolver's own
/// thread and the result is handed to a completion there. Caching is the loop's business (the pure
/// `DNSCache` policy: TTLs, one resolution in flight per host). Thread-safe.
package final class Resolver: Sendable {
    package typealias Completion = @Sendable (Result<SocketAddress, IOError>) -> Void
    /// One blocking lookup of a host (the port of the answer is set by the caller): ``lookUp(host:port:)``,
    /// or a test's stub.
    package typealias LookUp = @Sendable (_ host: String, _ port: UInt16) -> Result<SocketAddress, IOError>

    private struct Job: Sendable {
        var host: String
        var port: UInt16
        var completion: Completion
    }

    private struct State: Sendable {
        var jobs: [Job] = []
        var stopping = false
    }

    /// What the caller and the resolver thread share.
    private final class Shared: Sendable {
        let state = Mutex(State())
        let signal = Semaphore()
    }

    private let shared = Shared()
    private let thread: LoopThread

    /// - Parameter lookUp: how a name is resolved (on the resolver thread); `getaddrinfo` by default.
    package init(lookUp: @escaping LookUp = Resolver.lookUp(host:port:)) throws(IOError) {
        let shared = self.shared
        thread = try LoopThread(name: "sluice-resolve") { Resolver.serve(shared: shared, lookUp: lookUp) }
    }

    deinit {
        shared.state.withLock { $0.stopping = true }
        shared.signal.post()
        thread.join()
    }

    /// Looks `host` up on the resolver thread; `completion` runs there.
    package func resolve(host: String, port: UInt16, completion: @escaping Completion) {
        shared.state.withLock { $0.jobs.append(Job(host: host, port: port, completion: completion)) }
        shared.signal.post()
    }

    private static func serve(shared: Shared, lookUp: LookUp) {
        while true {
            shared.signal.wait()
            let (jobs, stopping) = shared.state.withLock { state -> ([Job], Bool) in
                defer { state.jobs.removeAll() }
                return (state.jobs, state.stopping)
            }
            if stopping { return }
            for job in jobs { job.completion(lookUp(job.host, job.port)) }
        }
    }

    /// One blocking `getaddrinfo` for a TCP address of `host`.
    package static func lookUp(host: String, port: UInt16) -> Result<SocketAddress, IOError> {
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
@safe package final class Semaphore: @unchecked Sendable {
    // @unchecked: sem_post and sem_wait are thread-safe by POSIX; the pointer never changes.
    private let semaphore: UnsafeMutablePointer<sem_t>

    package init() {
        unsafe semaphore = .allocate(capacity: 1)
        let result = unsafe sem_init(semaphore, 0, 0)
        precondition(result == 0, "sem_init failed: errno \(Glibc.errno)")
    }

    deinit {
        unsafe sem_destroy(semaphore)
        unsafe semaphore.deallocate()
    }

    package func post() { _ = unsafe sem_post(semaphore) }

    package func wait() {
        while unsafe sem_wait(semaphore) != 0 && Glibc.errno == EINTR {}
    }
}
