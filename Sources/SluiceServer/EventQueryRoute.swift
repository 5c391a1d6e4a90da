import Hummingbird
import Sluice
import Synchronization

/// `GET /api/events?…`: an ``EventQuery`` over the server's log, streamed as NDJSON (docs/queries.md
/// "REST").
///
/// The parameters are ``EventQueryParameters`` (Infrahub's argument names plus Sluice's). Each line is
/// `{"sequence":N,"event":<the event as stored>}`; `N` is the resume cursor: the same query with
/// `after=N` continues after that line, in the same order, so a client whose connection broke resumes
/// without a gap or a duplicate. `count=true` answers `{"count":N}` instead (offset and limit ignored).
///
/// Scope `events:read`; account events (`infrahub.account.*`) need `admin`, as Infrahub's
/// `MANAGE_ACCOUNTS` rule: without it they are left out, and asking for one by `event_type` is 403.
///
/// Streaming: the query runs in pages of at most ``pageEventCountMax`` events or about
/// ``pageByteCountMax`` bytes off the concurrency pool; each page is written (the write waits for the
/// client) before the next is read from the cursor, so a reply of any size holds one page in memory.
/// A log that cannot be read is 500 before the first line; a failure after it aborts the chunked reply
/// (the client sees a truncated transfer and resumes from its last cursor).
extension SluiceServer {
    static let pageEventCountMax = 1_000
    static let pageByteCountMax = 1 << 20

    func queryEvents(_ request: Request) async -> Response {
        if let refusal = authorize(request, .eventsRead) { return refusal }
        let mayReadAccountEvents: Bool
        switch tokenCheck.check(authorization: request.headers[.authorization], scope: .admin) {
        case .open, .allowed: mayReadAccountEvents = true
        case .unauthenticated, .forbidden: mayReadAccountEvents = false
        }
        var parameters: EventQueryParameters
        do throws(EventQueryError) {
            parameters = try EventQueryParameters(
                EventQueryParameters.decode(queryString: request.uri.query ?? ""),
                mayReadAccountEvents: true
            )
        } catch {
            return ServerReply.error(.badRequest, code: "invalid_parameter", message: "\(error)")
        }
        if !mayReadAccountEvents {
            if let name = parameters.query.eventTypes.first(where: { $0.hasPrefix(EventQuery.accountPrefix) }) {
                return ServerReply.error(
                    .forbidden,
                    code: "forbidden",
                    message: "event_type: \(name): reading account events needs the admin scope"
                )
            }
            parameters.query.mayReadAccountEvents = false
        }
        let directory = pipeline.configuration.log.directory
        let index = EventQueryIndexes.index(for: directory)
        let query = parameters.query
        if parameters.count {
            do {
                let count = try await Self.blocking {
                    try EventQueryEngine.count(directory: directory, query: query, index: index).matchedCount
                }
                return ServerReply.json(.ok, Array("{\"count\":\(count)}\n".utf8))
            } catch {
                return ServerReply.error(.internalServerError, code: "log_unreadable", message: "\(error)")
            }
        }
        let first: EventPage
        do {
            first = try await Self.blocking { try EventPage(directory: directory, query: query, index: index) }
        } catch {
            return ServerReply.error(.internalServerError, code: "log_unreadable", message: "\(error)")
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/x-ndjson"],
            body: ResponseBody { writer in
                var page = first
                var query = query
                while true {
                    try await writer.write(ByteBuffer(bytes: page.bytes))
                    guard let last = page.lastSequence, page.isFull else { break }
                    if let limit = query.limit {
                        guard limit > page.count else { break }
                        query.limit = limit - page.count
                    }
                    query.afterSequence = last
                    query.offset = 0
                    let next = query
                    page = try await Self.blocking { try EventPage(directory: directory, query: next, index: index) }
                }
                try await writer.finish(nil)
            }
        )
    }
}

/// One page of `GET /api/events`: the NDJSON lines of at most ``SluiceServer/pageEventCountMax`` events
/// (stopping after the line that passes ``SluiceServer/pageByteCountMax`` bytes).
struct EventPage: Sendable {
    var bytes: [UInt8] = []
    var count = 0
    var lastSequence: UInt64?
    /// The page stopped at its own bound: more may follow from ``lastSequence``.
    var isFull = false

    init(directory: String, query: EventQuery, index: EventQueryIndex) throws(SegmentLogError) {
        var query = query
        let pageMax = SluiceServer.pageEventCountMax
        let limitedByPage = query.limit.map { $0 > pageMax } ?? true
        if limitedByPage { query.limit = pageMax }
        var bytes: [UInt8] = []
        var stoppedBySize = false
        let outcome = try EventQueryEngine.run(directory: directory, query: query, index: index) { event in
            bytes += Array("{\"sequence\":\(event.sequence),\"event\":".utf8)
            bytes += event.bytes
            bytes += Array("}\n".utf8)
            if bytes.count >= SluiceServer.pageByteCountMax {
                stoppedBySize = true
                return false
            }
            return true
        }
        self.bytes = bytes
        count = outcome.returnedCount
        lastSequence = outcome.lastSequence
        isFull = stoppedBySize || (limitedByPage && outcome.returnedCount == pageMax)
    }
}

/// The server's in-memory query summaries, one ``EventQueryIndex`` per log directory for the process's
/// life (a server serves one log; tests start several servers in one process).
enum EventQueryIndexes {
    private static let indexes = Mutex<[String: EventQueryIndex]>([:])

    static func index(for directory: String) -> EventQueryIndex {
        indexes.withLock { indexes in
            if let index = indexes[directory] { return index }
            let index = EventQueryIndex(directory: directory)
            indexes[directory] = index
            return index
        }
    }
}
