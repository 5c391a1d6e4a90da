/// The four legs of a delivery's life that the load-test report times separately.
///
/// Their sum is the end-to-end latency (emit → 2xx) when each leg is measured on the same clock.
public enum LoadTestStage: Int, CaseIterable, Hashable, Sendable {
    /// `emit` accepted the event → the journaler published it as durable (fsync per policy).
    case journal
    /// Durable → the matcher produced the event's action jobs.
    case match
    /// Matched → the request was signed and its last byte handed to the socket.
    case send
    /// Sent → the 2xx response was parsed.
    case response

    /// The stable key used in the JSON report (`stages[].name`).
    public var name: String {
        switch self {
        case .journal: return "journal"
        case .match: return "match"
        case .send: return "send"
        case .response: return "response"
        }
    }

    /// What the stage measures, for humans (text and HTML reports).
    public var label: String {
        switch self {
        case .journal: return "emit → journaled"
        case .match: return "journaled → matched"
        case .send: return "matched → sent"
        case .response: return "sent → 2xx"
        }
    }
}

/// What `emit` answered for one event, as the load tester counts it.
public enum LoadTestEmitResult: Hashable, Sendable {
    /// The event is in the ring.
    case accepted
    /// The ring was full; the event was not taken (the replayer may try again).
    case backpressured
    /// The event failed decoding or validation.
    case invalid
}
