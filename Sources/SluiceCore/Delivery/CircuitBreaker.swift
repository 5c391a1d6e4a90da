/// When an endpoint's circuit opens and how it recovers.
///
/// Defaults: open when at least 50 % of at least 10 attempts within a 60 s window failed; stay
/// open 30 s; then let 1 probe through; close on its success, reopen on its failure.
public struct CircuitBreakerPolicy: Hashable, Sendable {
    public var windowNanoseconds: UInt64
    /// Attempts in the window below which the circuit never opens.
    public var requestCountMin: Int
    /// Open when failures × 100 ≥ this × attempts.
    public var failureRatePercent: Int
    /// Cool-down before probes are let through.
    public var openNanoseconds: UInt64
    /// Probes allowed at once while half-open.
    public var halfOpenProbeCountMax: Int

    public init(
        windowNanoseconds: UInt64 = 60 * RetryPolicy.second,
        requestCountMin: Int = 10,
        failureRatePercent: Int = 50,
        openNanoseconds: UInt64 = 30 * RetryPolicy.second,
        halfOpenProbeCountMax: Int = 1
    ) {
        self.windowNanoseconds = windowNanoseconds
        self.requestCountMin = requestCountMin
        self.failureRatePercent = failureRatePercent
        self.openNanoseconds = openNanoseconds
        self.halfOpenProbeCountMax = halfOpenProbeCountMax
    }

    /// - Throws: ``DeliveryConfigurationError`` naming the field.
    public func validate() throws(DeliveryConfigurationError) {
        if windowNanoseconds == 0 {
            throw DeliveryConfigurationError(field: "circuit_breaker.window", message: "must be positive")
        }
        if requestCountMin < 1 {
            throw DeliveryConfigurationError(field: "circuit_breaker.request_count_min", message: "must be at least 1")
        }
        if !(1...100).contains(failureRatePercent) {
            throw DeliveryConfigurationError(
                field: "circuit_breaker.failure_rate_percent",
                message: "\(failureRatePercent) is not in 1...100"
            )
        }
        if halfOpenProbeCountMax < 1 {
            throw DeliveryConfigurationError(
                field: "circuit_breaker.half_open_probe_count_max",
                message: "must be at least 1"
            )
        }
    }
}

/// Pure circuit breaker for one endpoint: closed → open → half-open → closed.
///
/// ```
///   closed ──(failure rate ≥ limit over ≥ requestCountMin in the window)──► open
///     ▲                                                                     │ cool-down passed,
///     │ probe succeeded                                                     ▼ next request
///     └────────────────────────────── half-open ◄───────────────────────────┘
///                                        │ probe failed ──► open (new cool-down)
/// ```
///
/// The window is a tumbling window: counts restart when it has passed. In half-open, any result
/// counts as the probe's (results of requests sent before the circuit opened are ignored while
/// open). Feed it results with ``record(_:nowNanoseconds:)``: failures that do not count against
/// the endpoint (``DeliveryFailure/countsAgainstEndpoint``) count as healthy responses.
/// Not thread-safe; owned by one delivery loop.
public struct CircuitBreaker: Sendable {
    /// The breaker's state; `Kind` names it without payload (for tables).
    public enum State: Hashable, Sendable {
        case closed(windowStartNanoseconds: UInt64, successCount: Int, failureCount: Int)
        case open(untilNanoseconds: UInt64)
        case halfOpen(probeCount: Int)

        /// The case without its payload, for state × event tables.
        public enum Kind: Hashable, Sendable, CaseIterable { case closed, open, halfOpen }

        public var kind: Kind {
            switch self {
            case .closed: return .closed
            case .open: return .open
            case .halfOpen: return .halfOpen
            }
        }
    }

    /// What the breaker is told; times are monotonic nanoseconds.
    public enum Event: Hashable, Sendable {
        /// May a request be sent now?
        case requestPermission(nowNanoseconds: UInt64)
        case succeeded(nowNanoseconds: UInt64)
        case failed(nowNanoseconds: UInt64)

        /// The case without its payload, for state × event tables.
        public enum Kind: Hashable, Sendable, CaseIterable { case requestPermission, succeeded, failed }

        public var kind: Kind {
            switch self {
            case .requestPermission: return .requestPermission
            case .succeeded: return .succeeded
            case .failed: return .failed
            }
        }
    }

    /// What the driver does in response.
    public enum Action: Hashable, Sendable {
        case none
        /// Send normally.
        case allow
        /// Send as a probe of a half-open circuit.
        case allowProbe
        /// Do not send; defer the delivery (no attempt is used) until at most this time.
        case reject(retryAtNanoseconds: UInt64)
        /// The circuit opened: log it and defer the endpoint's queued deliveries.
        case opened(untilNanoseconds: UInt64)
        /// The circuit closed: resume deferred deliveries now.
        case closed
    }

    public private(set) var state: State
    public let policy: CircuitBreakerPolicy

    public init(policy: CircuitBreakerPolicy = CircuitBreakerPolicy(), nowNanoseconds: UInt64) {
        self.policy = policy
        state = .closed(windowStartNanoseconds: nowNanoseconds, successCount: 0, failureCount: 0)
    }

    public init(policy: CircuitBreakerPolicy, state: State) {
        self.policy = policy
        self.state = state
    }

    /// Records an attempt's result.
    public mutating func record(_ result: DeliveryAttemptResult, nowNanoseconds: UInt64) -> Action {
        if case .failure(let failure) = result, failure.countsAgainstEndpoint {
            return handle(.failed(nowNanoseconds: nowNanoseconds))
        }
        return handle(.succeeded(nowNanoseconds: nowNanoseconds))
    }

    public mutating func handle(_ event: Event) -> Action {
        switch state {
        case .closed(let windowStart, var successCount, var failureCount):
            let now = event.nowNanoseconds
            var start = windowStart
            if now >= windowStart + policy.windowNanoseconds {
                start = now
                successCount = 0
                failureCount = 0
            }
            switch event {
            case .requestPermission:
                state = .closed(windowStartNanoseconds: start, successCount: successCount, failureCount: failureCount)
                return .allow
            case .succeeded:
                state = .closed(
                    windowStartNanoseconds: start,
                    successCount: successCount + 1,
                    failureCount: failureCount
                )
                return .none
            case .failed:
                failureCount += 1
                let total = successCount + failureCount
                if total >= policy.requestCountMin && failureCount * 100 >= policy.failureRatePercent * total {
                    return open(now)
                }
                state = .closed(windowStartNanoseconds: start, successCount: successCount, failureCount: failureCount)
                return .none
            }
        case .open(let until):
            switch event {
            case .requestPermission(let now):
                guard now >= until else { return .reject(retryAtNanoseconds: until) }
                state = .halfOpen(probeCount: 1)
                return .allowProbe
            case .succeeded, .failed:
                return .none  // a request sent before the circuit opened; it says nothing new
            }
        case .halfOpen(let probeCount):
            switch event {
            case .requestPermission(let now):
                guard probeCount < policy.halfOpenProbeCountMax else {
                    return .reject(retryAtNanoseconds: now + policy.openNanoseconds)
                }
                state = .halfOpen(probeCount: probeCount + 1)
                return .allowProbe
            case .succeeded(let now):
                state = .closed(windowStartNanoseconds: now, successCount: 0, failureCount: 0)
                return .closed
            case .failed(let now):
                return open(now)
            }
        }
    }

    private mutating func open(_ now: UInt64) -> Action {
        let until = now + policy.openNanoseconds
        state = .open(untilNanoseconds: until)
        return .opened(untilNanoseconds: until)
    }
}

extension CircuitBreaker.Event {
    var nowNanoseconds: UInt64 {
        switch self {
        case .requestPermission(let now), .succeeded(let now), .failed(let now): return now
        }
    }
}
