extension ConnectionStateMachine {
    public mutating func handle(_ event: Event) -> Actions {
        switch state {
        case .connecting(let deadline): return connecting(event, deadline: deadline)
        case .tlsHandshaking(let deadline): return tlsHandshaking(event, deadline: deadline)
        case .ready(let idleDeadline): return ready(event, idleDeadline: idleDeadline)
        case .sending(let requestIndex, let deadline, let responseStarted):
            return inFlight(
                event,
                requestIndex: requestIndex,
                deadline: deadline,
                responseStarted: responseStarted,
                written: false
            )
        case .awaitingResponse(let requestIndex, let deadline, let responseStarted):
            return inFlight(
                event,
                requestIndex: requestIndex,
                deadline: deadline,
                responseStarted: responseStarted,
                written: true
            )
        case .closed: return closed(event)
        }
    }

    private mutating func connecting(_ event: Event, deadline: UInt64) -> Actions {
        switch event {
        case .connected(let now):
            if usesTLS {
                let handshakeDeadline = now + timeouts.tlsHandshakeNanoseconds
                state = .tlsHandshaking(deadlineNanoseconds: handshakeDeadline)
                return Actions(io: .startTLS, timer: .arm(deadlineNanoseconds: handshakeDeadline))
            }
            return becomeReady(now)
        case .failed(let outcome): return closeBeforeRequest(.connectFailed(outcome))
        case .peerClosed:
            return closeBeforeRequest(.connectFailed(.connectionFailed("connection closed while connecting")))
        case .timerFired(let now):
            guard now >= deadline else { return .none }  // a stale timer from an earlier deadline
            return closeBeforeRequest(.connectFailed(.timedOut("connect did not complete in time")))
        case .close: return closeBeforeRequest(.none)
        case .tlsHandshakeCompleted, .send, .requestWritten, .responseStarted, .responseCompleted:
            preconditionFailure("\(event.kind) while connecting")
        }
    }

    private mutating func tlsHandshaking(_ event: Event, deadline: UInt64) -> Actions {
        switch event {
        case .tlsHandshakeCompleted(let now): return becomeReady(now)
        case .failed(let outcome): return closeBeforeRequest(.connectFailed(outcome))
        case .peerClosed:
            return closeBeforeRequest(.connectFailed(.tlsFailed("connection closed during the TLS handshake")))
        case .timerFired(let now):
            guard now >= deadline else { return .none }  // stale timer
            return closeBeforeRequest(.connectFailed(.timedOut("TLS handshake did not complete in time")))
        case .close: return closeBeforeRequest(.none)
        case .connected, .send, .requestWritten, .responseStarted, .responseCompleted:
            preconditionFailure("\(event.kind) during the TLS handshake")
        }
    }

    private mutating func ready(_ event: Event, idleDeadline: UInt64) -> Actions {
        switch event {
        case .send(let requestIndex, let now):
            let deadline = now + timeouts.requestNanoseconds
            state = .sending(requestIndex: requestIndex, deadlineNanoseconds: deadline, responseStarted: false)
            return Actions(io: .send(requestIndex: requestIndex), timer: .arm(deadlineNanoseconds: deadline))
        case .timerFired(let now):
            guard now >= idleDeadline else { return .none }  // stale timer
            return closeBeforeRequest(.none)  // idle keep-alive connection expired
        case .peerClosed, .failed, .close:
            return closeBeforeRequest(.none)  // the server closed an idle connection: normal
        case .responseStarted, .responseCompleted:
            return closeBeforeRequest(.none)  // bytes nobody asked for (an unsolicited 408): unusable
        case .connected, .tlsHandshakeCompleted, .requestWritten:
            preconditionFailure("\(event.kind) on a ready connection")
        }
    }

    private mutating func inFlight(
        _ event: Event,
        requestIndex: Int,
        deadline: UInt64,
        responseStarted: Bool,
        written: Bool
    ) -> Actions {
        switch event {
        case .requestWritten:
            precondition(!written, "requestWritten twice for request \(requestIndex)")
            state = .awaitingResponse(
                requestIndex: requestIndex,
                deadlineNanoseconds: deadline,
                responseStarted: responseStarted
            )
            return .none
        case .responseStarted:
            state =
                written
                ? .awaitingResponse(requestIndex: requestIndex, deadlineNanoseconds: deadline, responseStarted: true)
                : .sending(requestIndex: requestIndex, deadlineNanoseconds: deadline, responseStarted: true)
            return .none
        case .responseCompleted(let statusCode, let retryAfter, let keepAlive, let now):
            completedRequestCount += 1
            let result = Actions.Result.complete(
                requestIndex: requestIndex,
                outcome: .response(statusCode: statusCode, retryAfter: retryAfter)
            )
            // A response before the request was fully written leaves the stream unusable.
            guard keepAlive && written else { return closeBeforeRequest(result) }
            var actions = becomeReady(now)
            actions.result = result
            return actions
        case .failed(let outcome):
            return closeBeforeRequest(.complete(requestIndex: requestIndex, outcome: outcome))
        case .peerClosed:
            if completedRequestCount > 0 && !responseStarted {
                return closeBeforeRequest(.requeue(requestIndex: requestIndex))
            }
            return closeBeforeRequest(
                .complete(
                    requestIndex: requestIndex,
                    outcome: .connectionFailed("connection closed by the server before the response")
                )
            )
        case .timerFired(let now):
            guard now >= deadline else { return .none }  // stale timer
            let milliseconds = timeouts.requestNanoseconds / 1_000_000
            return closeBeforeRequest(
                .complete(
                    requestIndex: requestIndex,
                    outcome: .timedOut("no complete response within \(milliseconds) ms")
                )
            )
        case .close:
            return closeBeforeRequest(
                .complete(
                    requestIndex: requestIndex,
                    outcome: .connectionFailed("connection closed by Sluice (shutdown)")
                )
            )
        case .connected, .tlsHandshakeCompleted, .send:
            preconditionFailure("\(event.kind) while request \(requestIndex) is in flight")
        }
    }

    private mutating func closed(_ event: Event) -> Actions {
        switch event {
        case .connected, .tlsHandshakeCompleted, .requestWritten, .responseStarted, .responseCompleted, .failed,
            .peerClosed, .timerFired, .close:
            return .none  // completions of operations cancelled by the close
        case .send:
            preconditionFailure("send on a closed connection")
        }
    }

    private mutating func becomeReady(_ now: UInt64) -> Actions {
        let idleDeadline = now + timeouts.idleNanoseconds
        state = .ready(idleDeadlineNanoseconds: idleDeadline)
        return Actions(timer: .arm(deadlineNanoseconds: idleDeadline))
    }

    private mutating func closeBeforeRequest(_ result: Actions.Result) -> Actions {
        state = .closed
        return Actions(io: .close, timer: .cancel, result: result)
    }
}
