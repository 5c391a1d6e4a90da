/// When to try a failed delivery again, and when to give up (pure: randomness is passed in).
///
/// Attempt *n* (1-based) is made `delayNanoseconds[n - 1]` after the previous attempt failed
/// (attempt 1: after the delivery was created). The default is Sluice's schedule: immediately,
/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, so 8 attempts over about 27.6 hours. Infrahub itself
/// makes 4 attempts 120 s apart (spec §c.8); that schedule is ``infrahub``.
///
/// - Jitter: each delay is spread uniformly over ±`jitterPercent`/2 % of itself.
/// - `Retry-After` (on any failed response) lengthens the next delay up to
///   `retryAfterNanosecondsMax`; it never shortens the schedule.
/// - Like Infrahub, every failure class is retried (4xx and CONFIG included) except the statuses in
///   ``deadLetterStatusCodes``; `410 Gone` dead-letters the delivery and disables the endpoint
///   when ``disableEndpointOnGone`` is set.
public struct RetryPolicy: Hashable, Sendable {
    public static let second: UInt64 = 1_000_000_000
    public static let defaultDelayNanoseconds: [UInt64] = [
        0, 5 * second, 300 * second, 1_800 * second, 7_200 * second, 18_000 * second, 36_000 * second,
        36_000 * second,
    ]
    /// Infrahub 1.11.9: `retries=3, retry_delay_seconds=120`.
    public static let infrahub = RetryPolicy(
        delayNanoseconds: [0, 120 * second, 120 * second, 120 * second],
        jitterPercent: 0
    )

    /// Delay before each attempt; `count` is the number of attempts (at least 1).
    public var delayNanoseconds: [UInt64]
    /// Total jitter spread in percent of each delay (0...100).
    public var jitterPercent: Int
    /// The longest wait a `Retry-After` may impose.
    public var retryAfterNanosecondsMax: UInt64
    /// Statuses that dead-letter at once instead of retrying (empty by default, as Infrahub).
    public var deadLetterStatusCodes: Set<Int>
    /// `410 Gone` disables the endpoint (its other pending deliveries dead-letter too).
    public var disableEndpointOnGone: Bool

    public init(
        delayNanoseconds: [UInt64] = RetryPolicy.defaultDelayNanoseconds,
        jitterPercent: Int = 20,
        retryAfterNanosecondsMax: UInt64 = 3_600 * RetryPolicy.second,
        deadLetterStatusCodes: Set<Int> = [],
        disableEndpointOnGone: Bool = true
    ) {
        self.delayNanoseconds = delayNanoseconds
        self.jitterPercent = jitterPercent
        self.retryAfterNanosecondsMax = retryAfterNanosecondsMax
        self.deadLetterStatusCodes = deadLetterStatusCodes
        self.disableEndpointOnGone = disableEndpointOnGone
    }

    public var attemptCountMax: Int { delayNanoseconds.count }

    /// - Throws: ``DeliveryConfigurationError`` naming the field.
    public func validate() throws(DeliveryConfigurationError) {
        if delayNanoseconds.isEmpty {
            throw DeliveryConfigurationError(field: "retry.delays", message: "at least one attempt is needed")
        }
        if delayNanoseconds.count > 64 {
            throw DeliveryConfigurationError(field: "retry.delays", message: "more than 64 attempts")
        }
        if !(0...100).contains(jitterPercent) {
            throw DeliveryConfigurationError(
                field: "retry.jitter_percent",
                message: "\(jitterPercent) is not in 0...100"
            )
        }
        for code in deadLetterStatusCodes where (200..<300).contains(code) || !(100...999).contains(code) {
            throw DeliveryConfigurationError(
                field: "retry.dead_letter_status_codes",
                message: "\(code) is not a failure status"
            )
        }
    }

    /// The delay before `attempt` (1-based), jittered with `random`.
    /// - Precondition: `1 <= attempt <= attemptCountMax`.
    public func delayNanoseconds(beforeAttempt attempt: Int, random: inout some RandomNumberGenerator) -> UInt64 {
        precondition(attempt >= 1, "attempts are numbered from 1")
        precondition(attempt <= attemptCountMax, "attempt \(attempt) beyond the schedule")
        let base = delayNanoseconds[attempt - 1]
        let spread = base / 100 * UInt64(jitterPercent)
        guard spread > 0 else { return base }
        return base - spread / 2 + UInt64.random(in: 0...spread, using: &random)
    }

    /// What to do after `failure` (on attempt `failure.attempt`).
    /// - Parameters:
    ///   - nowWall: wall time, for `Retry-After` dates.
    ///   - random: the jitter source.
    public func decide(
        after failure: DeliveryFailure,
        nowWall: Timestamp,
        random: inout some RandomNumberGenerator
    ) -> RetryDecision {
        precondition(failure.attempt >= 1, "attempts are numbered from 1")
        if let status = failure.statusCode {
            if status == 410 && disableEndpointOnGone { return .deadLetter(.endpointGone) }
            if deadLetterStatusCodes.contains(status) { return .deadLetter(.permanentStatus) }
        }
        guard failure.attempt < attemptCountMax else { return .deadLetter(.attemptsExhausted) }
        let nextAttempt = failure.attempt + 1
        var delay = delayNanoseconds(beforeAttempt: nextAttempt, random: &random)
        if let retryAfterMicroseconds = failure.retryAfter?.delayMicroseconds(nowWall: nowWall) {
            let (asked, overflow) = retryAfterMicroseconds.multipliedReportingOverflow(by: 1_000)
            delay = max(delay, min(overflow ? UInt64.max : asked, retryAfterNanosecondsMax))
        }
        return .retry(attempt: nextAttempt, delayNanoseconds: delay)
    }
}

/// Why a delivery became a dead letter.
public enum DeadLetterReason: String, Hashable, Sendable, CaseIterable {
    /// Every attempt of the schedule failed.
    case attemptsExhausted = "attempts_exhausted"
    /// A status listed in ``RetryPolicy/deadLetterStatusCodes``.
    case permanentStatus = "permanent_status"
    /// `410 Gone`: the endpoint is disabled.
    case endpointGone = "endpoint_gone"
    /// The endpoint was disabled (by another delivery's 410 or by an operator) before this one ended.
    case endpointDisabled = "endpoint_disabled"
}

/// The retry policy's answer to one failure.
public enum RetryDecision: Hashable, Sendable {
    case retry(attempt: Int, delayNanoseconds: UInt64)
    case deadLetter(DeadLetterReason)
}
