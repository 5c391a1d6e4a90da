import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// `server.connections_max`, refused cleanly (docs/server.md "Limits").
///
/// The server counts its open connections; a connection opened while `connections_max` are open gets
/// **503** with `Retry-After` and `Connection: close` as soon as its request head arrives — never a hang in
/// the listen backlog, never a reset — and is closed once its request has been read to its end (so the
/// close loses nothing the client sent before it read the reply). Nothing of it reaches a route. A refused
/// client that never finishes its request is closed by Hummingbird's idle timer (`idle_timeout_ms`): the
/// parts this handler drops never reach it, so it sees the connection idle.
///
/// Up to ``refusalConnectionCountMax`` connections beyond the limit are taken only to be refused; past
/// that the server stops accepting (Hummingbird's `MaximumAvailableConnections`) and new clients wait in
/// the kernel's listen backlog, so memory stays bounded however many connect.
///
/// Connections are counted at accept by ``Counter`` (the first handler of every connection, WebSocket
/// upgrades included); ``Handler`` is added by Hummingbird once the first request head is parsed and refuses
/// it when the count was over the limit. (A client trickling in the bytes of its first head is closed at
/// `idle_timeout_ms` by ``FirstReadTimeoutHandler``; a body has `request_timeout_ms`.)
final class ConnectionGuard: Sendable {
    /// Connections beyond `connections_max` accepted only to be answered 503.
    static let refusalConnectionCountMax = 64

    let connectionCountMax: Int
    let retryAfterSeconds: Int
    private let open = Atomic<Int>(0)

    init(configuration: ServerConfiguration) {
        connectionCountMax = configuration.connectionCountMax
        retryAfterSeconds = configuration.retryAfterSeconds
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
    /// before the request handling; added once the first request head is parsed).
    func handler() -> Handler { Handler(guard: self) }

    /// Counts one connection from its accept to its close, WebSocket upgrades included: the first handler of
    /// every connection, before any parsing (raw bytes pass through untouched).
    func counter() -> Counter { Counter(guard: self) }

    final class Counter: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer

        let connections: ConnectionGuard
        private var counted = false
        /// Counted while `connections_max` were open: its first request is answered 503 (``Handler``).
        private(set) var overLimit = false

        init(guard connections: ConnectionGuard) {
            self.connections = connections
        }

        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { count() }
        }

        func channelActive(context: ChannelHandlerContext) {
            count()
            context.fireChannelActive()
        }

        func channelInactive(context: ChannelHandlerContext) {
            uncount()
            context.fireChannelInactive()
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            uncount()
        }

        private func count() {
            guard !counted else { return }
            counted = true
            overLimit = !connections.opened()
        }

        private func uncount() {
            guard counted else { return }
            counted = false
            connections.closed()
        }
    }

    final class Handler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart
        typealias OutboundOut = HTTPResponsePart

        let connections: ConnectionGuard
        private var state = State.serving
        /// The refusal's last write: the connection closes once it is out.
        private var refusalWritten: EventLoopFuture<Void>?

        private enum State {
            /// Within the limit: everything goes on to the routes.
            case serving
            /// Over the limit: the next request head is answered 503.
            case overLimit
            /// Refused: its 503 is written; the rest of the request is dropped, then the connection closed.
            case refusing
            /// Closing: anything more is dropped.
            case closing
        }

        init(guard connections: ConnectionGuard) {
            self.connections = connections
        }

        func handlerAdded(context: ChannelHandlerContext) {
            // The connection was counted at accept (``Counter``, first in the pipeline); this handler is added
            // once the first request head is parsed and refuses it when the count was over the limit.
            if let counter = try? context.pipeline.syncOperations.handler(type: Counter.self), counter.overLimit {
                state = .overLimit
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch state {
            case .serving:
                context.fireChannelRead(data)
            case .overLimit:
                guard case .head = unwrapInboundIn(data) else { return }
                state = .refusing
                refuse(context)
            case .refusing:
                if case .end = unwrapInboundIn(data) { finishRefusal(context) }
            case .closing:
                return
            }
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            if case .serving = state { context.fireChannelReadComplete() }
        }

        /// Writes the 503 (the request goes on being read and dropped).
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
        }

        /// The refused request was read to its end: close once the reply is out.
        private func finishRefusal(_ context: ChannelHandlerContext) {
            state = .closing
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            // Closed when the reply is written, or at once if the write failed (the client is gone).
            refusalWritten?.whenComplete { _ in loopBound.value.close(promise: nil) }
        }
    }
}
