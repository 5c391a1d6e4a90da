package import SluiceCore

extension DeliveryAttemptOutcome {
    /// The transport's result as the delivery policy's attempt outcome (§c.8 classes): what a delivery
    /// driver hands to its ``DeliveryStateMachine`` and circuit breaker when an attempt ends.
    package init(_ result: HTTPClientResult) {
        switch result {
        case .success(let response):
            self = .response(statusCode: response.statusCode, retryAfter: response.head.retryAfter)
        case .failure(let failure):
            switch failure.kind {
            case .connection, .protocolViolation, .overloaded: self = .connectionFailed(failure.message)
            case .tls: self = .tlsFailed(failure.message)
            case .timeout: self = .timedOut(failure.message)
            case .addressRefused: self = .addressRefused(failure.message)
            }
        }
    }
}
