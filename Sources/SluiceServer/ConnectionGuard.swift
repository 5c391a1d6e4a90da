import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// What no client may do to the server: hold more than `server.connections_max` connections, or hold one
/// without sending a request (docs/server.md "Limits").
///
/// - **Too many connections are refused cleanly.** The server counts its open connections; a connection
///   opened while `connections_max` are open gets **503** with `Retry-After` and `Connection: close` as
///   soon as its request head arrives — never a hang in the listen backlog, never a reset — and is closed
///   once its request has been read to its end (so the close loses nothing the client sent before it read
///   the reply), or `request_timeout_ms` after the head. Nothing of it reaches a route. Up to
///   ``refusalConnectionCountMax`` connections beyond the limit are taken only to be refused; past that
///   the server stops accepting (Hummingbird's `MaximumAvailableConnections`) and new clients wait in the
///   kernel's listen backlog, so memory stays bounded however many connect.
/// - **A request head must arrive within `idle_timeout_ms`** of the connection opening, or of the previous
///   response on a keep-alive connection. Hummingbird's idle timeout closes a connection on which nothing
///   is read; this also closes one that trickles the bytes of a head in slowly enough to keep it "busy"
///   (slowloris). The body has `request_timeout_ms` (408, ``EventIngest``).
final class ConnectionGuard: Sendable {
    /// Connections beyond `connections_max` accepted only to be answered 503.
    static let refusalConnectionCountMax = 64

    let connectionCountMax: Int
    let retryAfterSeconds: Int
    let headTimeout: TimeAmount
    let refusalTimeout: TimeAmount
    private let open = Atomic<Int>(0)

    init(configuration: ServerConfiguration) {
        connectionCountMax = configuration.connectionCountMax
        retryAfterSeconds = configuration.retryAfterSeconds
        headTimeout = .milliseconds(Int64(configuration.idleTimeoutMilliseconds))  // ≤ 1 day: no overflow
        refusalTimeout = .milliseconds(Int64(configuration.requestTimeoutMilliseconds))
    }

    /// The accept limit: the connections served plus those taken only to be refused.
    var acceptedConnectionCountMax: Int { connectionCountMax + Self.refusalConnectionCountMax }

    /// Connections open now (served and refused).
    var openConnectionCount: Int { open.load(ordering: .relaxed) }

    /// Counts a new connection; `false` when `connections_max` were open already (it is counted all the same,
    /// until ``closed()``).
    func opened() -> Bool {
        open.wrappingAdd(1, ordering: .relaxed).newValue <= connectionCountMax
    }

    func closed() {
        open.wrappingSubtract(1, ordering: .relaxed)
    }

    /// The channel handler of one connection (Hummingbird's `additionalChannelHandlers`: after the HTTP codec,
    /// before the request handling).
    func handler() -> Handler { Handler(guard: self) }

    final class Handler: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart
        typealias OutboundIn = HTTPResponsePart
        typealias OutboundOut = HTTPResponsePart

        let connections: ConnectionGuard
        private var counted = false
        private var state = State.waitingForHead
        private var refused = false
        private var timer: Scheduled<Void>?
        /// The refusal's last write: the connection closes once it is out.
        private var refusalWritten: EventLoopFuture<Void>?

        private enum State {
            /// No request in progress: the next head must come before the timer.
            case waitingForHead
            /// A request is read or answered.
            case inRequest
            /// Refused: its 503 is written; the rest of the request is dropped, then the connection closed.
            case refusing
            /// Closing: anything more is dropped.
            case closing
        }

        init(guard connections: ConnectionGuard) {
            self.connections = connections
        }

        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { start(context) }
        }

        func channelActive(context: ChannelHandlerContext) {
            start(context)
            context.fireChannelActive()
        }

        private func start(_ context: ChannelHandlerContext) {
            guard !counted else { return }
            counted = true
            refused = !connections.opened()
            arm(context, after: connections.headTimeout)
        }

        func channelInactive(context: ChannelHandlerContext) {
            stop()
            context.fireChannelInactive()
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            stop()
        }

        private func stop() {
            timer?.cancel()
            timer = nil
            guard counted else { return }
            counted = false
            connections.closed()
        }

        /// Closes the connection unless the timer is re-armed or cancelled first.
        private func arm(_ context: ChannelHandlerContext, after delay: TimeAmount) {
            timer?.cancel()
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: delay) {
                loopBound.value.close(promise: nil)
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let part = unwrapInboundIn(data)
            switch state {
            case .waitingForHead:
                guard case .head = part else {
                    context.fireChannelRead(data)  // cannot happen (a request starts with its head): the codec's
                    return
                }
                if refused {
                    state = .refusing
                    refuse(context)
                    return
                }
                timer?.cancel()
                timer = nil
                state = .inRequest
                context.fireChannelRead(data)
            case .inRequest:
                context.fireChannelRead(data)
            case .refusing:
                if case .end = part { finishRefusal(context) }
            case .closing:
                return
            }
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            switch state {
            case .waitingForHead, .inRequest: context.fireChannelReadComplete()
            case .refusing, .closing: return
            }
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if case .end = unwrapOutboundIn(data), case .inRequest = state {
                // The response is complete: the next request's head must come within the head timeout.
                state = .waitingForHead
                arm(context, after: connections.headTimeout)
            }
            context.write(data, promise: promise)
        }

        /// Writes the 503 and closes after `request_timeout_ms` unless the request ends first.
        private func refuse(_ context: ChannelHandlerContext) {
            let body = ByteBuffer(
                string:
                    "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"the server has \(connections.connectionCountMax) connections open (server.connections_max); retry after \(connections.retryAfterSeconds) s\"}}\n"
            )
            var fields = HTTPFields()
            fields[.contentType] = "application/json"
            fields[.contentLength] = String(body.readableBytes)
            fields[.retryAfter] = String(connections.retryAfterSeconds)
            fields[.connection] = "close"
            let head = HTTPResponse(status: .serviceUnavailable, headerFields: fields)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(body)), promise: nil)
            refusalWritten = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            arm(context, after: connections.refusalTimeout)
        }

        /// The refused request was read to its end: close once the reply is out.
        private func finishRefusal(_ context: ChannelHandlerContext) {
            state = .closing
            timer?.cancel()
            timer = nil
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            // Closed when the reply is written, or at once if the write failed (the client is gone).
            refusalWritten?.whenComplete { _ in loopBound.value.close(promise: nil) }
        }
    }
}
