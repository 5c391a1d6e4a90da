/// A delivery that will not be retried automatically any more, with its last failure.
public struct DeadLetter: Hashable, Sendable {
    public var reason: DeadLetterReason
    /// Attempts made (0 when the endpoint was disabled before the first).
    public var attemptCount: Int
    /// The last failed attempt (nil only when no attempt was made).
    public var lastFailure: DeliveryFailure?

    public init(reason: DeadLetterReason, attemptCount: Int, lastFailure: DeliveryFailure?) {
        self.reason = reason
        self.attemptCount = attemptCount
        self.lastFailure = lastFailure
    }

    /// Whether the endpoint must be disabled as a consequence (410 Gone).
    public var disablesEndpoint: Bool { reason == .endpointGone }
}

/// Pure state machine for one delivery (one event to one webhook): attempts, retries on the
/// ``RetryPolicy`` schedule, success or dead letter.
///
/// ```
///            timerFired(now ≥ due)                 2xx
///  waiting ─────────────────────────► inFlight ───────────► succeeded
///     ▲  ▲ deferred(until) (also from inFlight: not sent after all)  │ failure, policy: retry
///     │  └───────────────────────────────┤
///     │           retryLater              │ failure, policy: give up (or endpoint disabled)
///     └──────────────────────────────────┘──────────────────► deadLettered
///  cancel (waiting/inFlight) ─► cancelled;  endpointDisabled (waiting) ─► deadLettered
/// ```
///
/// Reads no clock and draws no random number: `now` values arrive in events and jitter comes from
/// the `random` argument. Impossible events (an attempt finishing that was never sent) trap;
/// stale ones (a timer after the delivery ended, a completion after cancel) return `.none`.
/// Not thread-safe; owned by one delivery loop.
public struct DeliveryStateMachine: Sendable {
    /// The delivery's state; `Kind` names it without payload (for tables).
    public enum State: Hashable, Sendable {
        /// Attempt `attempt` is due at `dueNanoseconds` (monotonic).
        case waiting(attempt: Int, dueNanoseconds: UInt64)
        /// Attempt `attempt` was sent; `endpointDisabled` if the endpoint was disabled meanwhile.
        case inFlight(attempt: Int, endpointDisabled: Bool)
        case succeeded(attempt: Int, statusCode: Int)
        case deadLettered(DeadLetter)
        case cancelled

        /// The case without its payload, for state × event tables.
        public enum Kind: Hashable, Sendable, CaseIterable {
            case waiting, inFlight, succeeded, deadLettered, cancelled
        }

        public var kind: Kind {
            switch self {
            case .waiting: return .waiting
            case .inFlight: return .inFlight
            case .succeeded: return .succeeded
            case .deadLettered: return .deadLettered
            case .cancelled: return .cancelled
            }
        }
    }

    /// What the driver reports; times are monotonic nanoseconds except `nowWall`.
    public enum Event: Hashable, Sendable {
        /// The timer armed for this delivery fired (possibly late or stale).
        case timerFired(nowNanoseconds: UInt64)
        /// The attempt in flight ended with this outcome.
        case attemptFinished(DeliveryAttemptOutcome, nowNanoseconds: UInt64, nowWall: Timestamp)
        /// The attempt cannot be made yet (circuit open, endpoint queue full): wait, no attempt used.
        /// Valid while waiting and right after `.send` (the attempt was then not made).
        case deferred(untilNanoseconds: UInt64)
        /// The endpoint was disabled (410 on another delivery, or an operator).
        case endpointDisabled
        /// An operator cancelled the delivery (spec §c.8 "Cancel").
        case cancel

        /// The case without its payload, for state × event tables.
        public enum Kind: Hashable, Sendable, CaseIterable {
            case timerFired, attemptFinished, deferred, endpointDisabled, cancel
        }

        public var kind: Kind {
            switch self {
            case .timerFired: return .timerFired
            case .attemptFinished: return .attemptFinished
            case .deferred: return .deferred
            case .endpointDisabled: return .endpointDisabled
            case .cancel: return .cancel
            }
        }
    }

    /// What the driver does in response (one action per event).
    public enum Action: Hashable, Sendable {
        case none
        /// Send attempt `attempt` now.
        case send(attempt: Int)
        /// (Re-)arm this delivery's timer.
        case armTimer(dueNanoseconds: UInt64)
        /// Record `failure`, then arm the timer for `attempt` at `dueNanoseconds`.
        case retryLater(DeliveryFailure, attempt: Int, dueNanoseconds: UInt64)
        /// Record success: the delivery is done.
        case succeeded(statusCode: Int, attempt: Int)
        /// Record the dead letter (and disable the endpoint if ``DeadLetter/disablesEndpoint``).
        case deadLetter(DeadLetter)
        /// Record the cancellation.
        case cancelled
    }

    public private(set) var state: State
    public private(set) var lastFailure: DeliveryFailure?
    public let policy: RetryPolicy

    /// A new delivery; attempt 1 is due after the schedule's first delay (normally at once).
    public init(policy: RetryPolicy, nowNanoseconds: UInt64, random: inout some RandomNumberGenerator) {
        self.policy = policy
        let delay = policy.delayNanoseconds(beforeAttempt: 1, random: &random)
        state = .waiting(attempt: 1, dueNanoseconds: nowNanoseconds + delay)
    }

    /// A machine in a given state (tests, and rebuilding state after a restart).
    public init(policy: RetryPolicy, state: State, lastFailure: DeliveryFailure? = nil) {
        self.policy = policy
        self.state = state
        self.lastFailure = lastFailure
    }

    public mutating func handle(_ event: Event, random: inout some RandomNumberGenerator) -> Action {
        switch event {
        case .timerFired(let now): return timerFired(nowNanoseconds: now)
        case .attemptFinished(let outcome, let now, let nowWall):
            return attemptFinished(outcome, nowNanoseconds: now, nowWall: nowWall, random: &random)
        case .deferred(let until): return deferred(untilNanoseconds: until)
        case .endpointDisabled: return endpointDisabled()
        case .cancel: return cancel()
        }
    }

    public mutating func timerFired(nowNanoseconds: UInt64) -> Action {
        switch state {
        case .waiting(let attempt, let due):
            if nowNanoseconds < due { return .armTimer(dueNanoseconds: due) }  // early: wait on
            state = .inFlight(attempt: attempt, endpointDisabled: false)
            return .send(attempt: attempt)
        case .inFlight, .succeeded, .deadLettered, .cancelled:
            return .none  // stale timer
        }
    }

    public mutating func attemptFinished(
        _ outcome: DeliveryAttemptOutcome,
        nowNanoseconds: UInt64,
        nowWall: Timestamp,
        random: inout some RandomNumberGenerator
    ) -> Action {
        switch state {
        case .inFlight(let attempt, let endpointDisabled):
            switch outcome.classify(attempt: attempt) {
            case .success(let statusCode):
                state = .succeeded(attempt: attempt, statusCode: statusCode)
                return .succeeded(statusCode: statusCode, attempt: attempt)
            case .failure(let failure):
                lastFailure = failure
                let decision =
                    endpointDisabled
                    ? .deadLetter(.endpointDisabled) : policy.decide(after: failure, nowWall: nowWall, random: &random)
                switch decision {
                case .retry(let nextAttempt, let delay):
                    let due = nowNanoseconds + delay
                    state = .waiting(attempt: nextAttempt, dueNanoseconds: due)
                    return .retryLater(failure, attempt: nextAttempt, dueNanoseconds: due)
                case .deadLetter(let reason):
                    let deadLetter = DeadLetter(reason: reason, attemptCount: attempt, lastFailure: failure)
                    state = .deadLettered(deadLetter)
                    return .deadLetter(deadLetter)
                }
            }
        case .cancelled:
            return .none  // the attempt was in flight when the delivery was cancelled
        case .waiting, .succeeded, .deadLettered:
            preconditionFailure("attemptFinished in state \(state): no attempt was in flight")
        }
    }

    /// The attempt in flight was not sent: the endpoint's circuit breaker refuses requests until
    /// `untilNanoseconds`. It fails with `outcome` (a `CIRCUIT_OPEN` one), and so does every later attempt
    /// the schedule makes due before that time — they would be refused too — so the delivery wakes next at
    /// the first attempt due once the breaker may let requests through, or at its last attempt, whose
    /// refusal then makes the dead letter on time. One wake-up instead of one per refused attempt.
    /// Returns the action for the first refusal (`retryLater` with the attempt and time it wakes for, or
    /// `deadLetter` when this was the last attempt).
    public mutating func refused(
        _ outcome: DeliveryAttemptOutcome,
        untilNanoseconds: UInt64,
        nowNanoseconds: UInt64,
        nowWall: Timestamp,
        random: inout some RandomNumberGenerator
    ) -> Action {
        let action = attemptFinished(outcome, nowNanoseconds: nowNanoseconds, nowWall: nowWall, random: &random)
        guard case .retryLater(let failure, var attempt, var due) = action, due < untilNanoseconds,
            attempt < policy.attemptCountMax
        else { return action }
        // Attempts `attempt`, `attempt + 1`, … come due before the breaker opens: each fails unsent.
        while due < untilNanoseconds, attempt < policy.attemptCountMax {
            var skipped = failure
            skipped.attempt = attempt
            let wall = Timestamp(
                microsecondsSinceEpoch: nowWall.microsecondsSinceEpoch + Int64((due - nowNanoseconds) / 1_000)
            )
            guard case .retry(let next, let delay) = policy.decide(after: skipped, nowWall: wall, random: &random)
            else { break }
            attempt = next
            due += delay
        }
        state = .waiting(attempt: attempt, dueNanoseconds: due)
        return .retryLater(failure, attempt: attempt, dueNanoseconds: due)
    }

    /// The attempt cannot be made yet: while waiting, it is postponed; after `send`, it means the
    /// attempt was not made after all (circuit open, pool queue full), so it goes back to waiting
    /// with the same attempt number.
    public mutating func deferred(untilNanoseconds: UInt64) -> Action {
        switch state {
        case .waiting(let attempt, let due):
            let newDue = max(due, untilNanoseconds)
            state = .waiting(attempt: attempt, dueNanoseconds: newDue)
            return .armTimer(dueNanoseconds: newDue)
        case .inFlight(let attempt, let endpointDisabled):
            if endpointDisabled {
                let deadLetter = DeadLetter(
                    reason: .endpointDisabled,
                    attemptCount: attempt - 1,
                    lastFailure: lastFailure
                )
                state = .deadLettered(deadLetter)
                return .deadLetter(deadLetter)
            }
            state = .waiting(attempt: attempt, dueNanoseconds: untilNanoseconds)
            return .armTimer(dueNanoseconds: untilNanoseconds)
        case .succeeded, .deadLettered, .cancelled:
            return .none  // a late deferral of a delivery that ended changes nothing
        }
    }

    public mutating func endpointDisabled() -> Action {
        switch state {
        case .waiting(let attempt, _):
            let deadLetter = DeadLetter(reason: .endpointDisabled, attemptCount: attempt - 1, lastFailure: lastFailure)
            state = .deadLettered(deadLetter)
            return .deadLetter(deadLetter)
        case .inFlight(let attempt, _):
            state = .inFlight(attempt: attempt, endpointDisabled: true)  // decided when the attempt ends
            return .none
        case .succeeded, .deadLettered, .cancelled:
            return .none
        }
    }

    public mutating func cancel() -> Action {
        switch state {
        case .waiting, .inFlight:
            state = .cancelled
            return .cancelled
        case .succeeded, .deadLettered, .cancelled:
            return .none  // already ended
        }
    }
}
