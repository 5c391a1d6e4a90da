import Foundation
import GraphQL
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import OrderedCollections
import Sluice
import Synchronization

/// `/graphql` and `/graphql/{branch}`: GraphQL over HTTP (POST JSON or GET) and subscriptions over
/// WebSocket, both the `graphql-transport-ws` protocol and the legacy `graphql-ws`
/// (subscriptions-transport-ws) Infrahub serves (docs/queries.md "GraphQL").
///
/// Thread-safe: immutable but for the count of live subscriptions (an atomic).
final class GraphQLEndpoint: Sendable {
    let pipeline: Pipeline
    let configuration: GraphQLConfiguration
    let liveSubscriptions = Atomic<Int>(0)

    /// The close code of a subscriber cut off because it fell behind.
    static let closeSlowSubscriber: UInt16 = 4413
    /// The close code when the log cannot be read for a subscription.
    static let closeLogFailed: UInt16 = 4500
    /// How long a cut-off subscriber has to read what was sent before the close frame.
    static let closeGraceSeconds: Int64 = 60
    /// The largest message taken from a WebSocket client.
    static let messageByteCountMax = 1 << 20

    init(pipeline: Pipeline, configuration: GraphQLConfiguration) {
        self.pipeline = pipeline
        self.configuration = configuration
    }

    func context(mayReadAccountEvents: Bool, branch: String?) -> GraphQLRequestContext {
        GraphQLRequestContext(
            directory: pipeline.configuration.log.directory,
            mayReadAccountEvents: mayReadAccountEvents,
            configuration: configuration,
            branch: branch
        )
    }

    // MARK: - HTTP

    /// One GraphQL request over HTTP: `POST` with `{"query","variables","operationName"}`, or `GET` with
    /// the same as URL parameters (`variables` as JSON text).
    func handle(_ request: Request, branch: String?, mayReadAccountEvents: Bool) async -> Response {
        let graphQLRequest: GraphQLRequest
        do {
            graphQLRequest = try await Self.request(request)
        } catch {
            return ServerReply.error(.badRequest, code: "invalid_graphql_request", message: "\(error)")
        }
        let context = context(mayReadAccountEvents: mayReadAccountEvents, branch: branch)
        let result: GraphQLResult
        do {
            let document = try parse(source: Source(body: graphQLRequest.query, name: "GraphQL request"))
            if Self.operation(document, graphQLRequest.operationName)?.operation == .subscription {
                result = GraphQLResult(
                    errors: [
                        GraphQLError(message: "subscriptions need a WebSocket (graphql-transport-ws or graphql-ws)")
                    ]
                )
            } else {
                result = try await graphql(
                    schema: GraphQLEventSchema.schema,
                    request: graphQLRequest.query,
                    context: context,
                    variableValues: graphQLRequest.variables,
                    operationName: graphQLRequest.operationName
                )
            }
        } catch let error as GraphQLError {
            result = GraphQLResult(errors: [error])
        } catch {
            result = GraphQLResult(errors: [GraphQLError(message: "\(error)")])
        }
        return ServerReply.json(.ok, Array(Self.encode(result).utf8))
    }

    static func request(_ request: Request) async throws -> GraphQLRequest {
        if request.method == .get {
            let parameters = request.uri.queryParameters
            guard let query = parameters["query"].map(String.init) else {
                throw GraphQLEndpointError(message: "a GET request needs the URL parameter 'query'")
            }
            var variables: [String: Map] = [:]
            if let text = parameters["variables"].map(String.init), !text.isEmpty {
                variables = try JSONDecoder().decode([String: Map].self, from: Data(text.utf8))
            }
            return GraphQLRequest(
                query: query,
                operationName: parameters["operationName"].map(String.init),
                variables: variables
            )
        }
        let body = try await request.body.collect(upTo: messageByteCountMax)
        do {
            return try JSONDecoder().decode(GraphQLRequest.self, from: Data(body.readableBytesView))
        } catch {
            throw GraphQLEndpointError(
                message: "the body must be JSON {\"query\": …, \"variables\": {…}, \"operationName\": …}: \(error)"
            )
        }
    }

    static func operation(_ document: Document, _ name: String?) -> OperationDefinition? {
        let operations = document.definitions.compactMap { $0 as? OperationDefinition }
        guard let name else { return operations.count == 1 ? operations[0] : nil }
        return operations.first { $0.name?.value == name }
    }

    static func encode(_ value: some Encodable) -> String {
        let encoder = GraphQLJSONEncoder()
        guard let data = try? encoder.encode(value) else { return #"{"errors":[{"message":"unencodable result"}]}"# }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: - WebSocket

    enum WireProtocol: String, Sendable {
        case transportWS = "graphql-transport-ws"
        case legacy = "graphql-ws"
    }

    /// The subprotocol to accept from a `Sec-WebSocket-Protocol` offer (the modern one first), or `nil`.
    static func choose(_ offer: String?) -> WireProtocol? {
        let offered = (offer ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if offered.contains(WireProtocol.transportWS.rawValue) { return .transportWS }
        if offered.contains(WireProtocol.legacy.rawValue) { return .legacy }
        return nil
    }

    /// Serves one WebSocket connection until it closes.
    func serve(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        channel: any Channel,
        wire: WireProtocol,
        branch: String?,
        mayReadAccountEvents: Bool,
        logger: Logger
    ) async {
        let connection = GraphQLConnection(
            endpoint: self,
            outbound: outbound,
            channel: channel,
            wire: wire,
            context: context(mayReadAccountEvents: mayReadAccountEvents, branch: branch),
            logger: logger
        )
        await connection.run(inbound: inbound)
    }
}

struct GraphQLEndpointError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// One WebSocket connection: its protocol state, its running operations by id, its writes in order.
final class GraphQLConnection: Sendable {
    let endpoint: GraphQLEndpoint
    let outbound: WebSocketOutboundWriter
    let channel: any Channel
    let wire: GraphQLEndpoint.WireProtocol
    let context: GraphQLRequestContext
    let logger: Logger
    let state = Mutex<State>(State())
    let writeLock = AsyncWriteLock()

    struct State {
        var initialized = false
        var operations: [String: Task<Void, Never>] = [:]
        var closing = false
    }

    init(
        endpoint: GraphQLEndpoint,
        outbound: WebSocketOutboundWriter,
        channel: any Channel,
        wire: GraphQLEndpoint.WireProtocol,
        context: GraphQLRequestContext,
        logger: Logger
    ) {
        self.endpoint = endpoint
        self.outbound = outbound
        self.channel = channel
        self.wire = wire
        self.context = context
        self.logger = logger
    }

    func run(inbound: WebSocketInboundStream) async {
        do {
            for try await message in inbound.messages(maxSize: GraphQLEndpoint.messageByteCountMax) {
                guard case .text(let text) = message else {
                    await close(4400, "binary messages are not part of \(wire.rawValue)")
                    break
                }
                if await !receive(text) { break }
            }
        } catch {
            logger.debug("graphql websocket: \(error)")
        }
        let operations = state.withLock { state in
            state.closing = true
            defer { state.operations = [:] }
            return Array(state.operations.values)
        }
        for operation in operations { operation.cancel() }
    }

    /// Handles one client message; `false` when the connection is to close.
    func receive(_ text: String) async -> Bool {
        guard case .object(let message)? = try? JSONValue.parse(text), let type = message["type"]?.stringValue else {
            await close(4400, "invalid message: not a JSON object with a string 'type'")
            return false
        }
        let id = message["id"]?.stringValue
        switch (wire, type) {
        case (_, "connection_init"):
            let again = state.withLock { state in
                defer { state.initialized = true }
                return state.initialized
            }
            if wire == .transportWS {
                if again {
                    await close(4429, "Too many initialisation requests")
                    return false
                }
                await send(["type": "connection_ack"])
            }
        // graphql-ws (Infrahub): the payload is kept as connection params; no connection_ack (spec §d.2).
        case (.transportWS, "ping"):
            var pong: JSONObject = ["type": "pong"]
            if let payload = message["payload"] { pong.members.append(.init("payload", payload)) }
            await send(.object(pong))
        case (.transportWS, "pong"): break
        case (.transportWS, "subscribe"), (.legacy, "start"):
            guard let id, !id.isEmpty else {
                await close(4400, "invalid message: '\(type)' needs an 'id'")
                return false
            }
            if wire == .transportWS && !state.withLock({ $0.initialized }) {
                await close(4401, "Unauthorized")
                return false
            }
            guard let request = Self.request(message["payload"]) else {
                await close(4400, "invalid message: '\(type)' needs a payload {query, variables?, operationName?}")
                return false
            }
            let duplicate = state.withLock { $0.operations[id] != nil }
            if duplicate {
                if wire == .transportWS {
                    await close(4409, "Subscriber for \(id) already exists")
                    return false
                }
                stop(id)
            }
            let task = Task { [self] in
                await execute(id: id, request: request)
                _ = state.withLock { $0.operations.removeValue(forKey: id) }
            }
            state.withLock { state in
                if state.closing { task.cancel() } else { state.operations[id] = task }
            }
        case (.transportWS, "complete"), (.legacy, "stop"):
            if let id { stop(id) }
        case (.legacy, "connection_terminate"):
            await close(1000, nil)
            return false
        default:
            await close(4400, "invalid message type '\(type)' for \(wire.rawValue)")
            return false
        }
        return true
    }

    func stop(_ id: String) {
        state.withLock { $0.operations.removeValue(forKey: id) }?.cancel()
    }

    static func request(_ payload: JSONValue?) -> GraphQLRequest? {
        guard let payload, case .object = payload, let query = payload["query"]?.stringValue else { return nil }
        var variables: [String: Map] = [:]
        if case .object(let object)? = payload["variables"] {
            for member in object.members { variables[member.key] = GraphQLEventNodeBuilder.map(member.value) }
        }
        return GraphQLRequest(query: query, operationName: payload["operationName"]?.stringValue, variables: variables)
    }

    /// Runs one operation: a query once (`next` + `complete`), a subscription until it ends or is stopped.
    func execute(id: String, request: GraphQLRequest) async {
        let schema = GraphQLEventSchema.schema
        let document: Document
        do {
            document = try parse(source: Source(body: request.query, name: "GraphQL request"))
        } catch {
            await sendError(id, [error as? GraphQLError ?? GraphQLError(message: "\(error)")])
            return
        }
        let errors = validate(schema: schema, ast: document)
        guard errors.isEmpty else {
            await sendError(id, errors)
            return
        }
        guard let operation = GraphQLEndpoint.operation(document, request.operationName) else {
            await sendError(id, [GraphQLError(message: "no operation to run (name it with operationName)")])
            return
        }
        do {
            if operation.operation != .subscription {
                let result = try await GraphQL.execute(
                    schema: schema,
                    documentAST: document,
                    rootValue: (),
                    context: context,
                    variableValues: request.variables,
                    operationName: request.operationName
                )
                await sendResult(id, result)
                await sendComplete(id)
                return
            }
            // The `subscribe` resolver checks the arguments and leaves the stream it asks for in the context.
            let subscribed = try await graphqlSubscribe(
                schema: schema,
                request: request.query,
                context: context,
                variableValues: request.variables,
                operationName: request.operationName
            )
            if case .failure(let failure) = subscribed {
                await sendError(id, failure.errors)
                return
            }
            switch context.requested.withLock({ $0.take() }) {
            case .events(let query, let after)?:
                try await streamEvents(id: id, document: document, request: request, query: query, after: after)
            case .named(_, let text, let params, let interval)?:
                try await repeatNamed(
                    id: id,
                    document: document,
                    request: request,
                    text: text,
                    params: params,
                    interval: interval
                )
            case nil:
                await sendError(id, [GraphQLError(message: "the subscription asked for no stream")])
                return
            }
            await sendComplete(id)
        } catch is CancellationError {
            return
        } catch let error as GraphQLError {
            await sendError(id, [error])
        } catch {
            await sendError(id, [GraphQLError(message: "\(error)")])
        }
    }

    /// Sluice's live stream: every matching event once durable, each as a `next` with its cursor.
    func streamEvents(
        id: String,
        document: Document,
        request: GraphQLRequest,
        query: EventQuery,
        after: UInt64?
    ) async throws {
        let limit = endpoint.configuration.subscriptionCountMax
        let live = endpoint.liveSubscriptions.wrappingAdd(1, ordering: .relaxed).newValue
        defer { endpoint.liveSubscriptions.wrappingSubtract(1, ordering: .relaxed) }
        guard live <= limit else {
            throw GraphQLError(message: "too many live subscriptions: at most \(limit) (graphql.subscriptions_max)")
        }
        let subscription: EventSubscription
        do {
            subscription = try endpoint.pipeline.subscribe(
                query: query,
                after: after,
                bufferLimit: endpoint.configuration.subscriptionBufferLimit,
                onEnd: { [self] end in
                    // On the subscription's reader thread: cut a subscriber whose writes are stuck off now.
                    if case .overflow = end { cutOff(end) }
                }
            )
        } catch {
            throw GraphQLError(message: error.description)
        }
        defer { subscription.cancel() }
        var builder = GraphQLEventNodeBuilder()
        do {
            for try await event in subscription {
                guard let node = builder.node(event.bytes) else { continue }
                let item: [String: any Sendable] = ["cursor": String(event.sequence), "node": node]
                let result = try await GraphQL.execute(
                    schema: GraphQLEventSchema.schema,
                    documentAST: document,
                    rootValue: item,
                    context: context,
                    variableValues: request.variables,
                    operationName: request.operationName
                )
                await sendResult(id, result)
            }
        } catch let end as EventSubscriptionEnd {
            switch end {
            case .overflow: cutOff(end)
            case .logFailed: cutOff(end)
            case .stopped: await close(1001, "the server is stopping")
            }
            throw CancellationError()
        }
    }

    /// Infrahub's `query(name:, params:, interval:)`: the stored query every `interval` seconds, its data
    /// sent when non-empty.
    func repeatNamed(
        id: String,
        document: Document,
        request: GraphQLRequest,
        text: String,
        params: [String: Map],
        interval: Int
    ) async throws {
        while !Task.isCancelled {
            let stored = try await graphql(
                schema: GraphQLEventSchema.schema,
                request: text,
                context: context,
                variableValues: params
            )
            if let data = stored.data, data != .null, data.dictionary?.isEmpty != true {
                let result = try await GraphQL.execute(
                    schema: GraphQLEventSchema.schema,
                    documentAST: document,
                    rootValue: data,
                    context: context,
                    variableValues: request.variables,
                    operationName: request.operationName
                )
                await sendResult(id, result)
            } else if !stored.errors.isEmpty {
                await sendResult(id, GraphQLResult(data: nil, errors: stored.errors))
            }
            try await Task.sleep(for: .seconds(interval))
        }
    }

    // MARK: - Writes

    func sendResult(_ id: String, _ result: GraphQLResult) async {
        let type = wire == .transportWS ? "next" : "data"
        await sendText(
            #"{"type":"\#(type)","id":\#(JSONValue.string(id).encodedString()),"payload":"#
                + GraphQLEndpoint.encode(result) + "}"
        )
    }

    func sendError(_ id: String, _ errors: [GraphQLError]) async {
        // graphql-transport-ws: a list of errors; graphql-ws: one formatted error (spec §d.2).
        let payload = wire == .transportWS ? GraphQLEndpoint.encode(errors) : GraphQLEndpoint.encode(errors[0])
        await sendText(#"{"type":"error","id":\#(JSONValue.string(id).encodedString()),"payload":"# + payload + "}")
    }

    func sendComplete(_ id: String) async {
        await send(["type": "complete", "id": .string(id)])
    }

    func send(_ message: JSONValue) async { await sendText(message.encodedString()) }

    func sendText(_ text: String) async {
        await writeLock.withLock {
            try? await outbound.write(.text(text))
        }
    }

    func close(_ code: UInt16, _ reason: String?) async {
        await writeLock.withLock {
            try? await outbound.close(.unknown(code), reason: reason)
        }
    }

    /// Cuts the connection off without waiting for the writes in progress (a stalled client): the close
    /// frame is queued on the channel behind what is already sent, and the connection closed once it is
    /// written, or after ``GraphQLEndpoint/closeGraceSeconds`` at the latest.
    func cutOff(_ end: EventSubscriptionEnd) {
        let first = state.withLock { state in
            defer { state.closing = true }
            return !state.closing
        }
        guard first else { return }
        let code: UInt16
        switch end {
        case .overflow: code = GraphQLEndpoint.closeSlowSubscriber
        case .logFailed: code = GraphQLEndpoint.closeLogFailed
        case .stopped: code = 1001
        }
        var text = end.description
        while text.utf8.count > 120 { text.removeLast() }  // a close frame's payload is at most 125 bytes
        let reason = text
        logger.notice("graphql subscriber cut off (\(code)): \(end)")
        let channel = self.channel
        channel.eventLoop.execute {
            var buffer = channel.allocator.buffer(capacity: 2 + reason.utf8.count)
            buffer.write(webSocketErrorCode: .unknown(code))
            buffer.writeString(reason)
            let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)
            channel.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
            channel.eventLoop.scheduleTask(in: .seconds(GraphQLEndpoint.closeGraceSeconds)) {
                channel.close(promise: nil)
            }
        }
        let operations = state.withLock { Array($0.operations.values) }
        for operation in operations { operation.cancel() }
    }
}

/// Serializes the writes of one connection's operations (each message goes out whole, in order).
actor AsyncWriteLock {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func withLock(_ body: @Sendable () async -> Void) async {
        while busy {
            await withCheckedContinuation { waiters.append($0) }
        }
        busy = true
        await body()
        busy = false
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}
