public import Hummingbird
import Sluice
import Synchronization

extension SluiceServer {
    /// The routes (docs/server.md "Routes").
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.middlewares.add(RequestMetricsMiddleware(metrics: metrics, logger: logger))
        router.get("healthz") { _, _ in
            Self.text(.ok, "ok")
        }
        router.get("readyz") { [self] _, _ in
            readiness()
        }
        router.post("api/events") { [self] request, _ in
            if let refusal = authorize(request, .eventsWrite) { return refusal }
            return await ingest.handle(request)
        }
        router.get("api/events") { [self] request, _ in await queryEvents(request) }
        router.get("metrics") { [self] request, _ in
            if let refusal = authorize(request, .metricsRead) { return refusal }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.render()))
            )
        }
        addManagementRoutes(to: router)
        router.get("api/events/:id/attempts") { [self] request, context in
            if let refusal = authorize(request, .eventsRead) { return refusal }
            let text = context.parameters.get("id") ?? ""
            guard let id = EventID.parse(text) else {
                return ServerReply.error(
                    .badRequest,
                    code: "invalid_id",
                    message: "'\(text)' is not an event id (a UUID)"
                )
            }
            return await query { directory in try DeliveryQueries.attempts(of: id, directory: directory) }
        }
        addWorkflowRoutes(to: router)
        router.get("openapi.json") { _, _ in
            ServerReply.json(.ok, Array(OpenAPIDocument.json.utf8))
        }
        registerGraphQL(on: router)
        // A GitHub source's signature is its credential: no token.
        router.post("github/:source") { [gitHub] request, context in
            await gitHub.handle(request, sourceName: context.parameters.get("source") ?? "")
        }
        return router
    }

    /// 200 while the pipeline runs and the server takes requests, else 503 with the reason.
    func readiness() -> Response {
        if let failure = pipeline.failure {
            return Self.text(.serviceUnavailable, "not ready: the log failed: \(failure)")
        }
        switch Phase(rawValue: phase.load(ordering: .acquiring)) {
        case .ready: return Self.text(.ok, "ready")
        case .starting: return Self.text(.serviceUnavailable, "not ready: starting")
        case .draining, .stopped, nil: return Self.text(.serviceUnavailable, "not ready: stopping")
        }
    }

    /// Runs a log query off the concurrency pool; 500 with the reason when the log cannot be read.
    func query(_ body: @escaping @Sendable (String) throws -> [UInt8]) async -> Response {
        guard queryGate.enter() else {
            return ServerReply.error(
                .serviceUnavailable,
                code: "too_many_queries",
                message: "\(DeliveryQueryGate.queryCountMax) log queries are running; try again",
                headers: [.retryAfter: String(configuration.retryAfterSeconds)]
            )
        }
        defer { queryGate.leave() }
        let directory = pipeline.configuration.log.directory
        do {
            return ServerReply.json(.ok, try await Self.blocking { try body(directory) })
        } catch {
            return ServerReply.error(.internalServerError, code: "log_unreadable", message: "\(error)")
        }
    }

    /// Every route the router registers, as `METHOD /path/{parameter}` (for the OpenAPI test).
    public var routeDescriptions: [String] {
        makeRouter().routes.map { route in
            let path = route.path.description.split(separator: "/").map { segment in
                segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : String(segment)
            }
            return "\(route.method.rawValue) /" + path.joined(separator: "/")
        }
    }

    /// `nil` when the request may use a route that needs `scope`, else the 401 or 403 reply (sent before
    /// the body is read, so nothing of a refused request is stored).
    func authorize(_ request: Request, _ scope: BearerToken.Scope) -> Response? {
        switch tokenCheck.check(authorization: request.headers[.authorization], scope: scope) {
        case .open, .allowed: return nil
        case .unauthenticated(let reason):
            return ServerReply.error(
                .unauthorized,
                code: "unauthenticated",
                message: reason,
                headers: [.wwwAuthenticate: "Bearer"]
            )
        case .forbidden(let name):
            return ServerReply.error(
                .forbidden,
                code: "forbidden",
                message: "the token '\(name)' does not have the scope \(scope.rawValue)"
            )
        }
    }

    /// A `text/plain` reply of one line.
    static func text(_ status: HTTPResponse.Status, _ line: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: line + "\n"))
        )
    }
}
