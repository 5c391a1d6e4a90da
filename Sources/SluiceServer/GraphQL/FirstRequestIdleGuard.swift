import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore

/// The HTTP/1.1 server with WebSocket upgrades (`/graphql` subscriptions), and `idle_timeout_ms` from the
/// first byte on.
///
/// Hummingbird's upgrade channel adds its idle handler only once the first request head has been parsed (it
/// must first see whether the request upgrades), so a client that connects and sends nothing would hold its
/// connection forever. ``FirstReadTimeoutHandler`` closes such a connection after the idle timeout; once a
/// byte arrives it steps aside and Hummingbird's own handlers take over.
struct IdleGuardedUpgradeChannel: ServerChildChannel {
    let inner: HTTP1WebSocketUpgradeChannel
    let idleTimeout: TimeAmount
    let connections: ConnectionGuard?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1WebSocketUpgradeChannel.Value> {
        do {
            if let connections { try channel.pipeline.syncOperations.addHandler(connections.counter()) }
            try channel.pipeline.syncOperations.addHandler(FirstReadTimeoutHandler(timeout: idleTimeout))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: HTTP1WebSocketUpgradeChannel.Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// ``IdleGuardedUpgradeChannel`` around Hummingbird's HTTP/1.1 + WebSocket upgrade channel.
    static func http1WebSocketUpgrade(
        idleTimeoutMilliseconds: Int,
        webSocket: WebSocketServerConfiguration,
        connections: ConnectionGuard? = nil,
        shouldUpgrade:
            @escaping @Sendable (HTTPRequest, any Channel, Logger) async throws -> ShouldUpgradeResult<
                WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>
            >
    ) -> HTTPServerBuilder {
        let milliseconds = Int64(idleTimeoutMilliseconds)
        return HTTPServerBuilder { responder in
            IdleGuardedUpgradeChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    configuration: .init(
                        http1: .init(
                            additionalChannelHandlers: connections.map { [$0.handler()] } ?? [],
                            idleTimeout: .milliseconds(milliseconds)
                        ),
                        ws: webSocket
                    ),
                    shouldUpgrade: shouldUpgrade
                ),
                idleTimeout: .milliseconds(milliseconds),
                connections: connections
            )
        }
    }
}

/// Closes a connection whose first request head (up to its blank line) has not arrived complete within
/// `timeout` of its start — a client sending nothing, or trickling a head in byte by byte; a pass-through
/// after that head (Hummingbird's idle handler, added once the head is parsed, takes over).
final class FirstReadTimeoutHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var read = false
    /// The last bytes of the head read so far (its end, `\r\n\r\n`, may straddle two reads).
    private var tail: [UInt8] = []

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !read, headEnds(in: unwrapInboundIn(data)) {
            read = true
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    /// Whether the head's blank line is in `buffer` (with what came before it).
    private func headEnds(in buffer: ByteBuffer) -> Bool {
        let bytes = tail + buffer.readableBytesView
        if bytes.count >= 4 {
            for index in 0...(bytes.count - 4)
            where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
                return true
            }
        }
        tail = Array(bytes.suffix(3))
        return false
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard deadline == nil, !read else { return }
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}
