import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Sluice

extension SluiceServer {
    /// `GET`/`POST /graphql` and `/graphql/{branch}` (token scope `events:read`; account events need
    /// `admin`, Infrahub's `MANAGE_ACCOUNTS` rule). WebSocket upgrades of the same paths are taken by
    /// ``webSocketUpgrade(_:_:_:)`` before routing.
    func registerGraphQL(on router: Router<BasicRequestContext>) {
        let handle: @Sendable (Request, String?) async -> Response = { [self] request, branch in
            if let refusal = authorize(request, .eventsRead) { return refusal }
            return await graphQL.handle(
                request,
                branch: branch,
                mayReadAccountEvents: mayReadAccountEvents(request.headers[.authorization])
            )
        }
        router.post("graphql") { request, _ in await handle(request, nil) }
        router.get("graphql") { request, _ in await handle(request, nil) }
        router.post("graphql/:branch") { request, context in await handle(request, context.parameters.get("branch")) }
        router.get("graphql/:branch") { request, context in await handle(request, context.parameters.get("branch")) }
    }

    /// Infrahub's `MANAGE_ACCOUNTS`: the token has `admin` (or the server has no tokens).
    func mayReadAccountEvents(_ authorization: String?) -> Bool {
        switch tokenCheck.check(authorization: authorization, scope: .admin) {
        case .open, .allowed: true
        case .unauthenticated, .forbidden: false
        }
    }

    /// Takes a WebSocket upgrade of `/graphql` or `/graphql/{branch}` offering `graphql-transport-ws` or
    /// `graphql-ws`; without a token allowed `events:read` the socket is closed at once with 4401 (no or an
    /// unknown token) or 4403 (a token without the scope) and the reason. Other upgrades are refused (400).
    @Sendable
    func webSocketUpgrade(
        _ request: HTTPRequest,
        _ channel: any Channel,
        _ logger: Logger
    ) async throws -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>> {
        let path = (request.path ?? "").split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard segments.first == "graphql", segments.count <= 2,
            let wire = GraphQLEndpoint.choose(request.headerFields[.secWebSocketProtocol])
        else { return .dontUpgrade }
        let authorization = request.headerFields[.authorization]
        var refusal: (code: UInt16, reason: String)?
        switch tokenCheck.check(authorization: authorization, scope: .eventsRead) {
        case .open, .allowed: break
        case .unauthenticated(let reason): refusal = (4401, "Unauthorized: \(reason)")
        case .forbidden(let name):
            refusal = (4403, "Forbidden: the token '\(name)' does not have the scope events:read")
        }
        if let refusal {
            // The subprotocols' own codes for a refused client, with the reason (a browser cannot read a 401).
            return .upgrade([.secWebSocketProtocol: wire.rawValue]) { _, outbound, _ in
                try await outbound.close(.unknown(refusal.code), reason: String(refusal.reason.prefix(120)))
            }
        }
        let branch = segments.count == 2 ? segments[1].removingPercentEncoding ?? segments[1] : nil
        let mayReadAccountEvents = mayReadAccountEvents(authorization)
        let endpoint = graphQL
        return .upgrade([.secWebSocketProtocol: wire.rawValue]) { inbound, outbound, _ in
            await endpoint.serve(
                inbound: inbound,
                outbound: outbound,
                channel: channel,
                wire: wire,
                branch: branch,
                mayReadAccountEvents: mayReadAccountEvents,
                logger: logger
            )
        }
    }
}

extension GraphQLEndpoint {
    /// Frames up to 1 MiB (a page of events fits one message); a WebSocket ping every 30 s (a peer that does
    /// not answer is closed).
    static let webSocketConfiguration = WebSocketServerConfiguration(maxFrameSize: messageByteCountMax)
}
