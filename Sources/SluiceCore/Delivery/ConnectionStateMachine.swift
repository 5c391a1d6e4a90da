/// Deadlines of one delivery connection.
///
/// `requestNanoseconds` runs from the start of sending to the end of the response (Infrahub's
/// `INFRAHUB_HTTP_TIMEOUT`, 10 s by default, spec §c.7). `idleNanoseconds` is how long an idle
/// keep-alive connection is kept; it is below common server keep-alive timeouts (nginx 75 s), and
/// a request lost to a server closing an idle connection at the same moment is re-queued once
/// (see ``ConnectionStateMachine``).
public struct ConnectionTimeouts: Hashable, Sendable {
    public var connectNanoseconds: UInt64
    public var tlsHandshakeNanoseconds: UInt64
    public var requestNanoseconds: UInt64
    public var idleNanoseconds: UInt64

    public init(
        connectNanoseconds: UInt64 = 5 * RetryPolicy.second,
        tlsHandshakeNanoseconds: UInt64 = 5 * RetryPolicy.second,
        requestNanoseconds: UInt64 = 10 * RetryPolicy.second,
        idleNanoseconds: UInt64 = 30 * RetryPolicy.second
    ) {
        self.connectNanoseconds = connectNanoseconds
        self.tlsHandshakeNanoseconds = tlsHandshakeNanoseconds
        self.requestNanoseconds = requestNanoseconds
        self.idleNanoseconds = idleNanoseconds
    }
}

/// Pure state machine for one HTTP/1.1 delivery connection (one request at a time, no pipelining).
///
/// ```
///  connecting ──connected──► tlsHandshaking ──tlsHandshakeCompleted──┐
///      │        (no TLS) ────────────────────────────────────────────►  ready ◄────────────┐
///      │                                                               │ send(request)     │ response,
///      │                                                               ▼                   │ keep-alive
///      │                                                            sending ──requestWritten──► awaitingResponse
///      └──── failed / peerClosed / timeout / close (any open state) ──► closed ◄── response without keep-alive
/// ```
///
/// Rules: a deadline passing fails the request in flight with TIMEOUT and closes; a server close
/// while a request is in flight on a *reused* connection before any response byte re-queues the
/// request (the keep-alive race: the server closed the idle connection as we sent), otherwise it
/// fails with CONNECTION; a response without keep-alive (or received before the request was fully
/// written) closes the connection after completing the request. Completions arriving after
/// `closed` (io_uring cancellations) are ignored. Events that a correct driver cannot produce
/// (sending on a connection that is not ready) trap.
///
/// Reads no clock: `now` arrives in events. Not thread-safe; owned by one loop thread.
public struct ConnectionStateMachine: Sendable {
    /// The connection's state; deadlines are monotonic nanoseconds.
    public enum State: Hashable, Sendable {
        case connecting(deadlineNanoseconds: UInt64)
        case tlsHandshaking(deadlineNanoseconds: UInt64)
        /// Open and idle until the idle deadline.
        case ready(idleDeadlineNanoseconds: UInt64)
        case sending(requestIndex: Int, deadlineNanoseconds: UInt64, responseStarted: Bool)
        case awaitingResponse(requestIndex: Int, deadlineNanoseconds: UInt64, responseStarted: Bool)
        case closed

        /// The case without its payload, for state × event tables.
        public enum Kind: Hashable, Sendable, CaseIterable {
            case connecting, tlsHandshaking, ready, sending, awaitingResponse, closed
        }

        public var kind: Kind {
            switch self {
            case .connecting: return .connecting
            case .tlsHandshaking: return .tlsHandshaking
            case .ready: return .ready
            case .sending: return .sending
            case .awaitingResponse: return .awaitingResponse
            case .closed: return .closed
            }
        }
    }

    /// What the driver observed on the connection (completions, timers) or wants (send, close).
    public enum Event: Hashable, Sendable {
        case connected(nowNanoseconds: UInt64)
        case tlsHandshakeCompleted(nowNanoseconds: UInt64)
        /// The pool hands this ready connection a request.
        case send(requestIndex: Int, nowNanoseconds: UInt64)
        case requestWritten
        /// The first byte of a response arrived.
        case responseStarted
        /// The response parser reported `.end` (a final response).
        case responseCompleted(statusCode: Int, retryAfter: HTTPRetryAfter?, keepAlive: Bool, nowNanoseconds: UInt64)
        /// A socket, TLS or parse error; the outcome says which class (connection or TLS).
        case failed(DeliveryAttemptOutcome)
        /// The server closed the connection (read returned 0) with no error.
        case peerClosed
        case timerFired(nowNanoseconds: UInt64)
        /// The pool wants this connection gone (shutdown, endpoint disabled).
        case close

        /// The case without its payload, for state × event tables.
        public enum Kind: Hashable, Sendable, CaseIterable {
            case connected, tlsHandshakeCompleted, send, requestWritten, responseStarted, responseCompleted
            case failed, peerClosed, timerFired, close
        }

        public var kind: Kind {
            switch self {
            case .connected: return .connected
            case .tlsHandshakeCompleted: return .tlsHandshakeCompleted
            case .send: return .send
            case .requestWritten: return .requestWritten
            case .responseStarted: return .responseStarted
            case .responseCompleted: return .responseCompleted
            case .failed: return .failed
            case .peerClosed: return .peerClosed
            case .timerFired: return .timerFired
            case .close: return .close
            }
        }
    }

    /// What the driver does after an event: up to one socket operation, one timer change and one
    /// request result, independent of each other.
    public struct Actions: Hashable, Sendable {
        /// The socket operation to start, if any.
        public enum IO: Hashable, Sendable {
            case none, connect, startTLS
            case send(requestIndex: Int)
            case close
        }
        /// The change to the connection's single timer (arming replaces the previous deadline).
        public enum Timer: Hashable, Sendable {
            case none
            case arm(deadlineNanoseconds: UInt64)
            case cancel
        }
        /// What happened to the request the connection carried, if anything.
        public enum Result: Hashable, Sendable {
            case none
            /// The request's attempt ended with this outcome.
            case complete(requestIndex: Int, outcome: DeliveryAttemptOutcome)
            /// The request never reached the server's processing: queue it again (no attempt used).
            case requeue(requestIndex: Int)
            /// The connection failed before carrying a request.
            case connectFailed(DeliveryAttemptOutcome)
        }

        public var io: IO
        public var timer: Timer
        public var result: Result

        public init(io: IO = .none, timer: Timer = .none, result: Result = .none) {
            self.io = io
            self.timer = timer
            self.result = result
        }

        public static let none = Actions()
    }

    public internal(set) var state: State
    /// Responses completed on this connection (a request on a connection with `> 0` is "reused").
    public internal(set) var completedRequestCount = 0
    public let usesTLS: Bool
    public let timeouts: ConnectionTimeouts

    /// A connection being opened: the driver starts `connect` and arms the connect deadline.
    public static func open(
        usesTLS: Bool,
        timeouts: ConnectionTimeouts,
        nowNanoseconds: UInt64
    ) -> (machine: ConnectionStateMachine, actions: Actions) {
        let deadline = nowNanoseconds + timeouts.connectNanoseconds
        let machine = ConnectionStateMachine(
            state: .connecting(deadlineNanoseconds: deadline),
            usesTLS: usesTLS,
            timeouts: timeouts
        )
        return (machine, Actions(io: .connect, timer: .arm(deadlineNanoseconds: deadline)))
    }

    /// A machine in a given state (tests).
    public init(state: State, usesTLS: Bool, timeouts: ConnectionTimeouts, completedRequestCount: Int = 0) {
        self.state = state
        self.usesTLS = usesTLS
        self.timeouts = timeouts
        self.completedRequestCount = completedRequestCount
    }

    /// Whether the pool may hand this connection a request.
    public var isReady: Bool { state.kind == .ready }
    /// Whether a request is in flight on it.
    public var isBusy: Bool { state.kind == .sending || state.kind == .awaitingResponse }
    public var isClosed: Bool { state == .closed }
}
