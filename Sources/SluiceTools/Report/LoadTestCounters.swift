/// The counts a load test keeps besides its latencies: what `emit` answered, what matched, how
/// deliveries ended, failed attempts by §c.8 failure class, and bytes.
///
/// A plain value: not thread-safe by itself; each ``LatencyRecorder`` owns one and recorders are
/// merged after the run.
public struct LoadTestCounters: Sendable, Equatable {
    /// `emit` calls, whatever they answered (`accepted + backpressured + invalid`).
    public var eventsEmitted: UInt64 = 0
    /// Events `emit` took into the ring.
    public var eventsAccepted: UInt64 = 0
    /// `emit` calls answered with backpressure (a retried event counts once per call).
    public var eventsBackpressured: UInt64 = 0
    /// Events rejected by decoding or validation.
    public var eventsInvalid: UInt64 = 0
    /// Bytes of the accepted events' JSON.
    public var eventByteCount: UInt64 = 0
    /// (event, webhook) pairs the matcher produced: deliveries owed.
    public var matchedPairs: UInt64 = 0
    /// Deliveries that ended with a 2xx response (on any attempt).
    public var deliveriesSucceeded: UInt64 = 0
    /// Of ``deliveriesSucceeded``, those that needed more than one attempt.
    public var deliveriesRetried: UInt64 = 0
    /// Deliveries that exhausted their attempts (or could not be retried) and were dead-lettered.
    public var deliveriesDeadLettered: UInt64 = 0
    /// Bytes of the HTTP requests written to sockets, every attempt included.
    public var requestByteCount: UInt64 = 0
    /// Failed attempts per failure class, indexed by `DeliveryFailureClass.allCases` order.
    var failedAttemptCounts: [UInt64] = Array(repeating: 0, count: DeliveryFailureClass.allCases.count)

    public init() {}

    /// Failed attempts of one failure class.
    public func failedAttempts(_ failureClass: DeliveryFailureClass) -> UInt64 {
        failedAttemptCounts[failureClass.counterIndex]
    }

    /// Failed attempts of every class.
    public var failedAttemptCount: UInt64 { failedAttemptCounts.reduce(0, &+) }

    /// Counts one failed attempt of `failureClass`.
    public mutating func countFailedAttempt(_ failureClass: DeliveryFailureClass) {
        failedAttemptCounts[failureClass.counterIndex] &+= 1
    }

    /// Adds every count of `other` to this one (merging per-thread recorders).
    public mutating func add(_ other: LoadTestCounters) {
        eventsEmitted &+= other.eventsEmitted
        eventsAccepted &+= other.eventsAccepted
        eventsBackpressured &+= other.eventsBackpressured
        eventsInvalid &+= other.eventsInvalid
        eventByteCount &+= other.eventByteCount
        matchedPairs &+= other.matchedPairs
        deliveriesSucceeded &+= other.deliveriesSucceeded
        deliveriesRetried &+= other.deliveriesRetried
        deliveriesDeadLettered &+= other.deliveriesDeadLettered
        requestByteCount &+= other.requestByteCount
        for index in failedAttemptCounts.indices {
            failedAttemptCounts[index] &+= other.failedAttemptCounts[index]
        }
    }
}

extension DeliveryFailureClass {
    /// Position in `allCases`, without a search (counters are indexed by it on the delivery thread).
    var counterIndex: Int {
        switch self {
        case .config: return 0
        case .connection: return 1
        case .tls: return 2
        case .timeout: return 3
        case .httpClientError: return 4
        case .httpServerError: return 5
        case .addressRefused: return 6
        case .circuitOpen: return 7
        }
    }
}
