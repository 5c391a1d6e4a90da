import SluiceCore
import SluiceTestSupport
import Testing

/// A generator that must not be drawn from (events that need no randomness).
struct NoRandomness: RandomNumberGenerator {
    mutating func next() -> UInt64 { fatalError("no randomness expected here") }
}

@Suite struct DeliveryFailureTests {
    @Test(arguments: [
        (DeliveryAttemptOutcome.response(statusCode: 200, retryAfter: nil), nil as DeliveryFailureClass?),
        (.response(statusCode: 204, retryAfter: nil), nil),
        (.response(statusCode: 299, retryAfter: nil), nil),
        (.response(statusCode: 301, retryAfter: nil), .httpClientError),
        (.response(statusCode: 308, retryAfter: nil), .httpClientError),
        (.response(statusCode: 400, retryAfter: nil), .httpClientError),
        (.response(statusCode: 408, retryAfter: nil), .httpClientError),
        (.response(statusCode: 429, retryAfter: .seconds(3)), .httpClientError),
        (.response(statusCode: 500, retryAfter: nil), .httpServerError),
        (.response(statusCode: 503, retryAfter: nil), .httpServerError),
        (.configurationFailed("env INFRAHUB_TOKEN missing"), .config),
        (.connectionFailed("connection refused"), .connection),
        (.tlsFailed("certificate verify failed"), .tls),
        (.timedOut("no response within 10 s"), .timeout),
    ])
    func classifies(outcome: DeliveryAttemptOutcome, expected: DeliveryFailureClass?) {
        switch outcome.classify(attempt: 3) {
        case .success(let status):
            #expect(expected == nil)
            #expect((200..<300).contains(status))
        case .failure(let failure):
            #expect(failure.failureClass == expected)
            #expect(failure.attempt == 3)
            if case .response(let status, let retryAfter) = outcome {
                #expect(failure.statusCode == status)
                #expect(failure.retryAfter == retryAfter)
                #expect(failure.message == "The target responded with HTTP \(status).")
            }
        }
    }

    @Test func wireNamesAreThoseOfTheSpec() {
        #expect(
            DeliveryFailureClass.allCases.map(\.rawValue) == [
                "CONFIG", "CONNECTION", "TLS", "TIMEOUT", "HTTP_CLIENT_ERROR", "HTTP_SERVER_ERROR",
                "ADDRESS_REFUSED",  // Sluice's own (the SSRF guard); the six before are spec §c.8's
                "CIRCUIT_OPEN",  // Sluice's own: an attempt the open breaker refused
            ]
        )
        for failureClass in DeliveryFailureClass.allCases { #expect(!failureClass.remediation.isEmpty) }
    }

    @Test func whatCountsAgainstTheEndpoint() {
        func failure(_ failureClass: DeliveryFailureClass, _ status: Int? = nil) -> DeliveryFailure {
            DeliveryFailure(failureClass: failureClass, statusCode: status, message: "", attempt: 1)
        }
        #expect(failure(.connection).countsAgainstEndpoint)
        #expect(failure(.tls).countsAgainstEndpoint)
        #expect(failure(.timeout).countsAgainstEndpoint)
        #expect(failure(.httpServerError, 502).countsAgainstEndpoint)
        #expect(failure(.httpClientError, 429).countsAgainstEndpoint)
        #expect(failure(.httpClientError, 408).countsAgainstEndpoint)
        #expect(!failure(.httpClientError, 404).countsAgainstEndpoint)
        #expect(!failure(.httpClientError, 302).countsAgainstEndpoint)
        #expect(!failure(.config).countsAgainstEndpoint)
        #expect(!failure(.addressRefused).countsAgainstEndpoint)
    }
}

@Suite struct RetryPolicyTests {
    static let second = RetryPolicy.second
    static let wall = Timestamp(secondsSinceEpoch: 1_740_656_629)

    static func failure(attempt: Int, status: Int? = 503, retryAfter: HTTPRetryAfter? = nil) -> DeliveryFailure {
        DeliveryFailure(
            failureClass: status.map { $0 >= 500 ? .httpServerError : .httpClientError } ?? .connection,
            statusCode: status,
            message: "x",
            attempt: attempt,
            retryAfter: retryAfter
        )
    }

    @Test func defaultScheduleIsTheIssuesSchedule() throws {
        let policy = RetryPolicy()
        try policy.validate()
        #expect(policy.attemptCountMax == 8)
        #expect(
            policy.delayNanoseconds.map { $0 / Self.second } == [0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
        )
        #expect(RetryPolicy.infrahub.attemptCountMax == 4)
    }

    @Test func withoutJitterFollowsTheScheduleThenDeadLetters() {
        let policy = RetryPolicy(jitterPercent: 0)
        var random = NoRandomness()
        for attempt in 1..<8 {
            let decision = policy.decide(after: Self.failure(attempt: attempt), nowWall: Self.wall, random: &random)
            #expect(decision == .retry(attempt: attempt + 1, delayNanoseconds: policy.delayNanoseconds[attempt]))
        }
        #expect(
            policy.decide(after: Self.failure(attempt: 8), nowWall: Self.wall, random: &random)
                == .deadLetter(.attemptsExhausted)
        )
    }

    /// Jittered delays stay within ±jitter/2 of the schedule and actually vary (seeded).
    @Test func jitterStaysWithinBounds() {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        let policy = RetryPolicy(jitterPercent: 20)
        var seen: Set<UInt64> = []
        for _ in 0..<1_000 {
            let delay = policy.delayNanoseconds(beforeAttempt: 3, random: &random)
            #expect(delay >= 270 * Self.second && delay <= 330 * Self.second, "seed \(seed)")
            seen.insert(delay)
        }
        #expect(seen.count > 900, "seed \(seed)")
        #expect(policy.delayNanoseconds(beforeAttempt: 1, random: &random) == 0)
    }

    @Test func retryAfterLengthensWithinBounds() {
        let policy = RetryPolicy(jitterPercent: 0, retryAfterNanosecondsMax: 600 * Self.second)
        var random = NoRandomness()
        func delay(_ retryAfter: HTTPRetryAfter, attempt: Int = 1) -> RetryDecision {
            policy.decide(
                after: Self.failure(attempt: attempt, status: 429, retryAfter: retryAfter),
                nowWall: Self.wall,
                random: &random
            )
        }
        #expect(delay(.seconds(120)) == .retry(attempt: 2, delayNanoseconds: 120 * Self.second))
        #expect(
            delay(.seconds(1)) == .retry(attempt: 2, delayNanoseconds: 5 * Self.second),
            "never shorter than the schedule"
        )
        #expect(delay(.seconds(86_400)) == .retry(attempt: 2, delayNanoseconds: 600 * Self.second), "capped")
        #expect(delay(.seconds(UInt64.max)) == .retry(attempt: 2, delayNanoseconds: 600 * Self.second), "no overflow")
        let date = Timestamp(secondsSinceEpoch: Self.wall.secondsSinceEpoch + 90)
        #expect(delay(.date(date)) == .retry(attempt: 2, delayNanoseconds: 90 * Self.second))
        #expect(delay(.invalid) == .retry(attempt: 2, delayNanoseconds: 5 * Self.second), "ignored")
        #expect(delay(.seconds(120), attempt: 8) == .deadLetter(.attemptsExhausted))
    }

    @Test func goneAndPermanentStatuses() {
        var random = NoRandomness()
        let policy = RetryPolicy(jitterPercent: 0, deadLetterStatusCodes: [400, 413])
        #expect(
            policy.decide(after: Self.failure(attempt: 1, status: 410), nowWall: Self.wall, random: &random)
                == .deadLetter(.endpointGone)
        )
        #expect(
            policy.decide(after: Self.failure(attempt: 1, status: 413), nowWall: Self.wall, random: &random)
                == .deadLetter(.permanentStatus)
        )
        #expect(
            policy.decide(after: Self.failure(attempt: 1, status: 404), nowWall: Self.wall, random: &random)
                == .retry(attempt: 2, delayNanoseconds: 5 * Self.second)
        )
        let lenient = RetryPolicy(jitterPercent: 0, disableEndpointOnGone: false)
        #expect(
            lenient.decide(after: Self.failure(attempt: 1, status: 410), nowWall: Self.wall, random: &random)
                == .retry(attempt: 2, delayNanoseconds: 5 * Self.second)
        )
    }

    @Test func validationNamesTheField() {
        #expect(throws: DeliveryConfigurationError(field: "retry.delays", message: "at least one attempt is needed")) {
            try RetryPolicy(delayNanoseconds: []).validate()
        }
        #expect(throws: DeliveryConfigurationError(field: "retry.jitter_percent", message: "101 is not in 0...100")) {
            try RetryPolicy(jitterPercent: 101).validate()
        }
        #expect(
            throws: DeliveryConfigurationError(
                field: "retry.dead_letter_status_codes",
                message: "204 is not a failure status"
            )
        ) {
            try RetryPolicy(deadLetterStatusCodes: [204]).validate()
        }
    }
}
