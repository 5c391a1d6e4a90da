/// The failure classes of spec §c.8 (Infrahub's `StatusClass`), recorded on every failed attempt, plus
/// Sluice's own ``addressRefused`` (the SSRF guard, which Infrahub does not have) and ``circuitOpen``.
///
/// `UNKNOWN` is not produced: every failure Sluice can observe falls in one of these eight.
public enum DeliveryFailureClass: String, CaseIterable, Hashable, Sendable {
    /// The delivery could not be built: a header's environment variable is missing, a bad URL.
    case config = "CONFIG"
    /// Name resolution, connect, reset, a close before the response, or an unparseable response.
    case connection = "CONNECTION"
    /// TLS handshake or certificate verification failed.
    case tls = "TLS"
    /// Connect, handshake or request deadline passed.
    case timeout = "TIMEOUT"
    /// A non-2xx status that is not 5xx: 1xx never reaches here (skipped), so 3xx and 4xx.
    /// Redirects are not followed and count here, as in Infrahub (httpx `raise_for_status`).
    case httpClientError = "HTTP_CLIENT_ERROR"
    /// A 5xx status.
    case httpServerError = "HTTP_SERVER_ERROR"
    /// The SSRF guard refused the resolved address (loopback, private, link-local, metadata, …; see
    /// ``AddressPolicy``) before any connection was made.
    case addressRefused = "ADDRESS_REFUSED"
    /// Sluice's own: the endpoint's circuit breaker was open when the attempt was due, so nothing was
    /// sent. The attempt counts (the retry schedule is a promise in time: an open breaker never moves
    /// the dead letter past the schedule's end).
    case circuitOpen = "CIRCUIT_OPEN"

    /// What an operator can do about it (Sluice's wording; Infrahub's texts are not copied).
    public var remediation: String {
        switch self {
        case .config: return "Check the webhook configuration and the environment variables its headers use."
        case .connection: return "Check that the target host resolves and accepts connections."
        case .tls: return "Check the target's certificate, the configured CA, or validate_certificates."
        case .timeout: return "Check the target's response time or raise the delivery timeout."
        case .httpClientError: return "Check the webhook URL and what the target expects."
        case .httpServerError: return "Check the target service's health and logs."
        case .addressRefused:
            return "The target resolved to an internal address; if it is meant to be reached, add its network to "
                + "pipeline.allowed_networks or the webhook's allowed_networks."
        case .circuitOpen:
            return "Earlier attempts to this endpoint kept failing; check the target service's health and logs."
        }
    }
}

/// What happened on one delivery attempt, as the driver observed it.
public enum DeliveryAttemptOutcome: Hashable, Sendable {
    /// A final response arrived (any status).
    case response(statusCode: Int, retryAfter: HTTPRetryAfter?)
    /// The request could not be built (header resolution, URL); nothing was sent.
    case configurationFailed(String)
    /// Resolve, connect, reset, early close or a malformed response.
    case connectionFailed(String)
    /// The TLS handshake or verification failed.
    case tlsFailed(String)
    /// A deadline passed; the text names which (connect, handshake, response).
    case timedOut(String)
    /// The resolved address is refused by the SSRF guard (``AddressRefusal``'s text); nothing was connected.
    case addressRefused(String)
    /// Not sent: the endpoint's circuit breaker is open (the text says until when).
    case circuitOpen(String)
}

/// One failed attempt: its class, status when there was a response, and a message for humans.
public struct DeliveryFailure: Hashable, Sendable, CustomStringConvertible {
    public var failureClass: DeliveryFailureClass
    public var statusCode: Int?
    /// As Infrahub words HTTP failures: "The target responded with HTTP 404."
    public var message: String
    /// 1-based attempt number.
    public var attempt: Int
    /// The `Retry-After` the response carried, if any.
    public var retryAfter: HTTPRetryAfter?

    public init(
        failureClass: DeliveryFailureClass,
        statusCode: Int? = nil,
        message: String,
        attempt: Int,
        retryAfter: HTTPRetryAfter? = nil
    ) {
        self.failureClass = failureClass
        self.statusCode = statusCode
        self.message = message
        self.attempt = attempt
        self.retryAfter = retryAfter
    }

    /// `<message>. <remediation>`-style text, as Infrahub ends a failed run.
    public var description: String { "\(failureClass.rawValue): \(message) \(failureClass.remediation)" }

    /// Whether this failure says something about the endpoint's health (circuit breaker input):
    /// connection, TLS, timeout, 5xx, 408 and 429 do; configuration errors, refused addresses (a policy
    /// decision, not the endpoint's health) and other 3xx/4xx (a problem with this request) do not.
    public var countsAgainstEndpoint: Bool {
        switch failureClass {
        case .connection, .tls, .timeout, .httpServerError: return true
        case .config, .circuitOpen, .addressRefused: return false
        case .httpClientError: return statusCode == 408 || statusCode == 429
        }
    }
}

/// The classification of one attempt's outcome.
public enum DeliveryAttemptResult: Hashable, Sendable {
    /// A 2xx response: the delivery is done.
    case success(statusCode: Int)
    case failure(DeliveryFailure)
}

extension DeliveryAttemptOutcome {
    /// 2xx is success; every other outcome is a failure of its §c.8 class.
    /// - Precondition: `attempt >= 1`.
    public func classify(attempt: Int) -> DeliveryAttemptResult {
        precondition(attempt >= 1, "attempts are numbered from 1")
        switch self {
        case .response(let statusCode, let retryAfter):
            if (200..<300).contains(statusCode) { return .success(statusCode: statusCode) }
            let failureClass: DeliveryFailureClass = statusCode >= 500 ? .httpServerError : .httpClientError
            return .failure(
                DeliveryFailure(
                    failureClass: failureClass,
                    statusCode: statusCode,
                    message: "The target responded with HTTP \(statusCode).",
                    attempt: attempt,
                    retryAfter: retryAfter
                )
            )
        case .configurationFailed(let message):
            return .failure(DeliveryFailure(failureClass: .config, message: message, attempt: attempt))
        case .connectionFailed(let message):
            return .failure(DeliveryFailure(failureClass: .connection, message: message, attempt: attempt))
        case .tlsFailed(let message):
            return .failure(DeliveryFailure(failureClass: .tls, message: message, attempt: attempt))
        case .timedOut(let message):
            return .failure(DeliveryFailure(failureClass: .timeout, message: message, attempt: attempt))
        case .addressRefused(let message):
            return .failure(DeliveryFailure(failureClass: .addressRefused, message: message, attempt: attempt))
        case .circuitOpen(let message):
            return .failure(DeliveryFailure(failureClass: .circuitOpen, message: message, attempt: attempt))
        }
    }
}
