import Hummingbird
import Sluice

extension SluiceServer {
    /// `GET /api/deadletters?limit=N&after=CURSOR&webhook=NAME&event_id=UUID`: one page of dead letters.
    func listDeadLetters(_ request: Request) async -> Response {
        let parameters = request.uri.queryParameters
        let limit: Int
        switch Self.integerParameter(
            parameters["limit"].map(String.init),
            name: "limit",
            range: 1...DeliveryQueries.deadLetterCountMax
        ) {
        case .success(let value): limit = value ?? DeliveryQueries.deadLetterPageCountDefault
        case .failure(let failure): return failure.reply
        }
        let after: UInt64?
        if let text = parameters["after"].map(String.init) {
            guard let cursor = UInt64(text) else {
                return ManagementAPI.fieldError(
                    .badRequest,
                    code: "invalid_parameter",
                    field: "after",
                    message:
                        "must be the next_after of a previous page (an integer from 0 to \(UInt64.max)), not '\(text)'"
                )
            }
            after = cursor
        } else {
            after = nil
        }
        let eventID: EventID?
        switch Self.eventIDParameter(parameters["event_id"].map(String.init)) {
        case .success(let id): eventID = id
        case .failure(let failure): return failure.reply
        }
        let webhook = parameters["webhook"].map(String.init)
        return await query { directory in
            let (page, more) = try DeliveryQueries.deadLetters(
                directory: directory,
                after: after,
                webhook: webhook,
                eventID: eventID,
                limit: limit
            )
            return DeliveryQueries.deadLetterPage(page, more: more)
        }
    }

    /// `POST /api/deadletters/redrive` with `{"webhook":NAME,"event_id":UUID,"limit":N}` (each optional; an
    /// empty body is `{}`): the dead letters that match (at most `limit`, default and most 10,000) are
    /// delivered again while the pipeline runs. Answers once their `redrive_requested` records are durable.
    func redriveDeadLetters(_ request: Request) async -> Response {
        let filters: RedriveFilters
        switch await readRedriveFilters(request) {
        case .success(let value): filters = value
        case .failure(let failure): return failure.reply
        }
        let directory = pipeline.configuration.log.directory
        let management = self.management
        let pipeline = self.pipeline
        return await management.serialized {
            let page: [DeadLetter]
            let more: Bool
            do {
                (page, more) = try DeliveryQueries.deadLetters(
                    directory: directory,
                    after: nil,
                    webhook: filters.webhook,
                    eventID: filters.eventID,
                    limit: filters.limit
                )
            } catch {
                return ServerReply.error(.internalServerError, code: "log_unreadable", message: "\(error)")
            }
            let configured = Set(
                (management.current.document?.entries("webhooks") ?? []).compactMap { $0["name"]?.stringValue }
            )
            let chosen = page.filter { configured.contains($0.record.webhook) }
            let skipped = page.filter { !configured.contains($0.record.webhook) }
            do throws(ManagementError) {
                try pipeline.redrive(chosen.map(\.record))
            } catch {
                return ManagementAPI.reply(error, entryPath: nil)
            }
            var body = Array("{\"redriven\":\(chosen.count),\"more\":\(more),\"skipped\":[".utf8)
            for (position, entry) in skipped.enumerated() {
                if position > 0 { body.append(UInt8(ascii: ",")) }
                body += Array("{\"event_id\":\"\(entry.record.eventID)\",\"webhook\":".utf8)
                JSONString.appendQuoted(entry.record.webhook, to: &body)
                body += Array(",\"reason\":\"the webhook is not configured\"}".utf8)
            }
            body += Array("]}\n".utf8)
            return ServerReply.json(.ok, body)
        }
    }

    struct RedriveFilters: Sendable {
        var webhook: String?
        var eventID: EventID?
        var limit = DeliveryQueries.deadLetterCountMax
    }

    /// The redrive body: unknown keys and values of the wrong type are 422 naming the key.
    private func readRedriveFilters(_ request: Request) async -> Result<RedriveFilters, ServerReply.Failure> {
        let json: JSONValue
        if request.headers[.contentLength] == "0" {
            json = [:]
        } else {
            switch await readJSON(request) {
            case .success(let value): json = value
            case .failure(let failure): return .failure(failure)
            }
        }
        func invalid(_ field: String, _ message: String) -> Result<RedriveFilters, ServerReply.Failure> {
            .failure(
                ServerReply.Failure(
                    reply: ManagementAPI.fieldError(
                        .unprocessableContent,
                        code: "invalid_request",
                        field: field,
                        message: message
                    )
                )
            )
        }
        guard let object = json.objectValue else { return invalid("", "the body must be a JSON object") }
        if let key = object.keys.first(where: { !["webhook", "event_id", "limit"].contains($0) }) {
            return invalid(key, "unknown key '\(key)' (known: webhook, event_id, limit)")
        }
        var filters = RedriveFilters()
        if let value = object["webhook"] {
            guard let name = value.stringValue else { return invalid("webhook", "must be a webhook name (a string)") }
            filters.webhook = name
        }
        if let value = object["event_id"] {
            guard let text = value.stringValue, let id = EventID.parse(text) else {
                return invalid("event_id", "must be an event id (a UUID), not \(value.encodedString())")
            }
            filters.eventID = id
        }
        if let value = object["limit"] {
            let range = 1...DeliveryQueries.deadLetterCountMax
            guard let number = value.int64Value, number >= Int64(range.lowerBound), number <= Int64(range.upperBound)
            else {
                return invalid(
                    "limit",
                    "must be an integer from \(range.lowerBound) to \(range.upperBound), not \(value.encodedString())"
                )
            }
            filters.limit = Int(number)
        }
        return .success(filters)
    }

    /// A query parameter that must be an integer in `range` (400 naming it and the range otherwise).
    static func integerParameter(
        _ text: String?,
        name: String,
        range: ClosedRange<Int>
    ) -> Result<Int?, ServerReply.Failure> {
        guard let text else { return .success(nil) }
        guard let value = Int(text), range.contains(value) else {
            return .failure(
                ServerReply.Failure(
                    reply: ManagementAPI.fieldError(
                        .badRequest,
                        code: "invalid_parameter",
                        field: name,
                        message: "must be an integer from \(range.lowerBound) to \(range.upperBound), not '\(text)'"
                    )
                )
            )
        }
        return .success(value)
    }

    static func eventIDParameter(_ text: String?) -> Result<EventID?, ServerReply.Failure> {
        guard let text else { return .success(nil) }
        guard let id = EventID.parse(text) else {
            return .failure(
                ServerReply.Failure(
                    reply: ManagementAPI.fieldError(
                        .badRequest,
                        code: "invalid_parameter",
                        field: "event_id",
                        message: "'\(text)' is not an event id (a UUID)"
                    )
                )
            )
        }
        return .success(id)
    }
}
