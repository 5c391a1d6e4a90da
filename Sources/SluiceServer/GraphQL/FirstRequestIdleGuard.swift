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

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1WebSocketUpgradeChannel.Value> {
        do {
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
        additionalChannelHandlers: @escaping @Sendable () -> [any RemovableChannelHandler] = { [] },
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
                            additionalChannelHandlers: additionalChannelHandlers(),
                            idleTimeout: .milliseconds(milliseconds)
                        ),
                        ws: webSocket
                    ),
                    shouldUpgrade: shouldUpgrade
                ),
                idleTimeout: .milliseconds(milliseconds)
            )
        }
    }
}

/// Closes a connection on which nothing arrives within `timeout` of its start; a pass-through after the
/// first read.
final class FirstReadTimeoutHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var read = false

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !read {
            read = true
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard deadline == nil, !read else { return }
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}
