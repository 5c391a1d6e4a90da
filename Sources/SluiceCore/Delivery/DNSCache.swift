/// How long resolved names are kept and how many.
///
/// `getaddrinfo` reports no TTL, so answers live for `positiveTTLNanoseconds` (60 s) unless the
/// resolver passes a TTL; failures are remembered for `negativeTTLNanoseconds` (5 s) so an
/// unresolvable host does not make every delivery call the resolver. Memory: up to
/// `entryCountMax` entries of a host name and its addresses.
public struct DNSCachePolicy: Hashable, Sendable {
    public var positiveTTLNanoseconds: UInt64
    public var negativeTTLNanoseconds: UInt64
    /// A resolution not answered within this time may be started again.
    public var resolveTimeoutNanoseconds: UInt64
    public var entryCountMax: Int

    public init(
        positiveTTLNanoseconds: UInt64 = 60 * RetryPolicy.second,
        negativeTTLNanoseconds: UInt64 = 5 * RetryPolicy.second,
        resolveTimeoutNanoseconds: UInt64 = 10 * RetryPolicy.second,
        entryCountMax: Int = 1024
    ) {
        self.positiveTTLNanoseconds = positiveTTLNanoseconds
        self.negativeTTLNanoseconds = negativeTTLNanoseconds
        self.resolveTimeoutNanoseconds = resolveTimeoutNanoseconds
        self.entryCountMax = entryCountMax
    }
}

/// Pure TTL cache of name resolutions, with one resolution in flight per host (time passed in).
///
/// ``lookup(_:nowNanoseconds:)`` answers from the cache, or tells the caller to start a resolution
/// (off the loop thread) and report it with ``store(_:addresses:nowNanoseconds:ttlNanoseconds:)`` or
/// ``storeFailure(_:message:nowNanoseconds:)``; lookups meanwhile are told to wait. When full, the
/// entry that expires first is evicted. Not thread-safe; owned by one loop thread.
public struct DNSCache<Address: Hashable & Sendable>: Sendable {
    /// A host's cache entry.
    public enum Entry: Hashable, Sendable {
        case resolving(startedNanoseconds: UInt64)
        case resolved([Address], expiresNanoseconds: UInt64)
        case failed(String, expiresNanoseconds: UInt64)
    }

    /// The answer to a lookup.
    public enum Lookup: Hashable, Sendable {
        case hit([Address])
        /// Start a resolution for this host now.
        case resolve
        /// A resolution is running; the caller waits for its `store`.
        case wait
        /// The host failed to resolve recently (a CONNECTION failure with this message).
        case failed(String)
    }

    public let policy: DNSCachePolicy
    public private(set) var entries: [String: Entry] = [:]

    public init(policy: DNSCachePolicy = DNSCachePolicy()) {
        precondition(policy.entryCountMax >= 1, "a cache needs room for one entry")
        self.policy = policy
    }

    public mutating func lookup(_ host: String, nowNanoseconds: UInt64) -> Lookup {
        switch entries[host] {
        case .none:
            return startResolving(host, nowNanoseconds)
        case .resolving(let started):
            if nowNanoseconds >= started + policy.resolveTimeoutNanoseconds {
                return startResolving(host, nowNanoseconds)
            }
            return .wait
        case .resolved(let addresses, let expires):
            if nowNanoseconds >= expires { return startResolving(host, nowNanoseconds) }
            return .hit(addresses)
        case .failed(let message, let expires):
            if nowNanoseconds >= expires { return startResolving(host, nowNanoseconds) }
            return .failed(message)
        }
    }

    /// Records a successful resolution (an empty list is recorded as a failure).
    public mutating func store(
        _ host: String,
        addresses: [Address],
        nowNanoseconds: UInt64,
        ttlNanoseconds: UInt64? = nil
    ) {
        guard !addresses.isEmpty else {
            storeFailure(host, message: "\(host) resolved to no addresses", nowNanoseconds: nowNanoseconds)
            return
        }
        let ttl = ttlNanoseconds ?? policy.positiveTTLNanoseconds
        put(host, .resolved(addresses, expiresNanoseconds: nowNanoseconds + ttl))
    }

    public mutating func storeFailure(_ host: String, message: String, nowNanoseconds: UInt64) {
        put(host, .failed(message, expiresNanoseconds: nowNanoseconds + policy.negativeTTLNanoseconds))
    }

    /// Drops expired answers and failures (resolutions in flight stay).
    public mutating func removeExpired(nowNanoseconds: UInt64) {
        entries = entries.filter { _, entry in
            switch entry {
            case .resolving: return true
            case .resolved(_, let expires), .failed(_, let expires): return nowNanoseconds < expires
            }
        }
    }

    private mutating func startResolving(_ host: String, _ nowNanoseconds: UInt64) -> Lookup {
        put(host, .resolving(startedNanoseconds: nowNanoseconds))
        return .resolve
    }

    private mutating func put(_ host: String, _ entry: Entry) {
        if entries[host] == nil && entries.count >= policy.entryCountMax { evictOne() }
        entries[host] = entry
        assert(entries.count <= policy.entryCountMax, "cache over its bound")
    }

    /// Evicts the answer or failure that expires first (resolutions in flight are evicted last).
    private mutating func evictOne() {
        func expiry(_ entry: Entry) -> UInt64 {
            switch entry {
            case .resolving: return UInt64.max
            case .resolved(_, let expires), .failed(_, let expires): return expires
            }
        }
        guard let victim = entries.min(by: { expiry($0.value) < expiry($1.value) })?.key else { return }
        entries[victim] = nil
    }
}
