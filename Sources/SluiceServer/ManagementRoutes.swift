import HTTPTypes
import Hummingbird
import Sluice

/// The live management API's routes, all with the `admin` scope (docs/server.md "Management API"):
///
/// | route | answer |
/// |---|---|
/// | `GET /api/configuration` | the webhooks and triggers in force, secrets redacted |
/// | `PUT /api/configuration` | replaces them all |
/// | `GET /api/webhooks`, `GET /api/webhooks/{name}` | the webhooks / one webhook, secrets redacted |
/// | `PUT /api/webhooks/{name}`, `DELETE /api/webhooks/{name}` | adds or replaces / removes one webhook |
/// | `GET /api/triggers`, `GET /api/triggers/{name}`, `PUT …`, `DELETE …` | the same for explicit triggers |
/// | `GET /api/deadletters?limit&after&webhook&event_id` | dead letters, paged |
/// | `POST /api/deadletters/redrive` | delivers dead letters again, while running |
extension SluiceServer {
    /// Registers the management routes on `router`.
    func addManagementRoutes(to router: Router<BasicRequestContext>) {
        router.get("api/configuration") { [self] request, _ in
            if let refusal = authorize(request, .admin) { return refusal }
            guard let current = management.current.document else { return Self.configurationUnknown() }
            return ServerReply.json(
                .ok,
                current.redactedJSON.encoded() + [UInt8(ascii: "\n")],
                headers: [Self.generationField: "\(management.current.generation)"]
            )
        }
        router.put("api/configuration") { [self] request, _ in
            if let refusal = authorize(request, .admin) { return refusal }
            let body: JSONValue
            switch await readJSON(request) {
            case .success(let json): body = json
            case .failure(let failure): return failure.reply
            }
            // The whole replaces the whole: allowed while the document is unknown (an embedder's server), which
            // becomes known only if this change is accepted (a refused one leaves it unknown, not empty).
            return await management.change(replacingWhole: true) { _ throws(ManagementError) in
                ManagementAPI.Edit(document: ManagementDocument(json: body), status: .ok, entryPath: nil) {
                    generation in
                    Array("{\"generation\":\(generation)}\n".utf8)
                }
            }
        }
        for list in ["webhooks", "triggers"] {
            addEntryRoutes(list, to: router)
        }
        router.get("api/deadletters") { [self] request, _ in
            if let refusal = authorize(request, .admin) { return refusal }
            return await listDeadLetters(request)
        }
        router.post("api/deadletters/redrive") { [self] request, _ in
            if let refusal = authorize(request, .admin) { return refusal }
            return await redriveDeadLetters(request)
        }
    }

    /// The reply header that carries the configuration's generation.
    static let generationField = HTTPField.Name("Sluice-Configuration-Generation")!

    static func configurationUnknown() -> Response {
        ServerReply.error(
            .conflict,
            code: "configuration_unknown",
            message: "this server was started without its configuration document: PUT /api/configuration first"
        )
    }

    /// `GET /api/{list}`, `GET|PUT|DELETE /api/{list}/{name}` for `webhooks` or `triggers`.
    private func addEntryRoutes(_ list: String, to router: Router<BasicRequestContext>) {
        let redact: @Sendable (JSONValue) -> JSONValue
        if list == "webhooks" {
            redact = { ManagementDocument.redact(webhook: $0) }
        } else {
            redact = { $0 }
        }
        router.get(RouterPath("api/\(list)")) { [self] request, _ in
            if let refusal = authorize(request, .admin) { return refusal }
            guard let current = management.current.document else { return Self.configurationUnknown() }
            let json: JSONValue = [list: .array(current.entries(list).map(redact))]
            return ServerReply.json(.ok, json.encoded() + [UInt8(ascii: "\n")])
        }
        router.get(RouterPath("api/\(list)/:name")) { [self] request, context in
            if let refusal = authorize(request, .admin) { return refusal }
            guard let current = management.current.document else { return Self.configurationUnknown() }
            let name = context.parameters.get("name") ?? ""
            guard let position = current.position(of: name, in: list) else { return Self.noEntry(list, name) }
            return ServerReply.json(.ok, redact(current.entries(list)[position]).encoded() + [UInt8(ascii: "\n")])
        }
        router.put(RouterPath("api/\(list)/:name")) { [self] request, context in
            if let refusal = authorize(request, .admin) { return refusal }
            let name = context.parameters.get("name") ?? ""
            let entry: JSONValue
            switch await readJSON(request) {
            case .success(let json): entry = json
            case .failure(let failure): return failure.reply
            }
            return await management.change { document throws(ManagementError) in
                try Self.put(entry, named: name, in: list, of: document, redact: redact)
            }
        }
        router.delete(RouterPath("api/\(list)/:name")) { [self] request, context in
            if let refusal = authorize(request, .admin) { return refusal }
            let name = context.parameters.get("name") ?? ""
            guard let current = management.current.document else { return Self.configurationUnknown() }
            guard current.position(of: name, in: list) != nil else { return Self.noEntry(list, name) }
            return await management.change { document throws(ManagementError) in
                // Checked again here: another change may have removed it meanwhile.
                guard let removed = document.removing(name, from: list) else {
                    throw ManagementError(code: .invalid, field: "name", message: "no \(list.dropLast()) '\(name)'")
                }
                return ManagementAPI.Edit(document: removed, status: .ok, entryPath: nil) { generation in
                    Array("{\"generation\":\(generation)}\n".utf8)
                }
            }
        }
    }

    /// The edit of `PUT /api/{list}/{name}`: the body is one entry; its `name`, when given, must be `name`.
    static func put(
        _ entry: JSONValue,
        named name: String,
        in list: String,
        of document: ManagementDocument,
        redact: @escaping @Sendable (JSONValue) -> JSONValue
    ) throws(ManagementError) -> ManagementAPI.Edit {
        guard var object = entry.objectValue else {
            throw ManagementError(code: .invalid, field: "", message: "the body must be a JSON object (one entry)")
        }
        if let given = object["name"], given.stringValue != name {
            throw ManagementError(
                code: .invalid,
                field: "name",
                message: "is \(given.encodedString()), but the path names '\(name)' (leave it out or make them equal)"
            )
        }
        object["name"] = .string(name)
        let existed = document.position(of: name, in: list) != nil
        let (edited, position) = document.replacing(name, in: list, with: .object(object))
        let stored = edited.entries(list)[position]
        return ManagementAPI.Edit(
            document: edited,
            status: existed ? .ok : .created,
            entryPath: "\(list)[\(position)]"
        ) { generation in
            var reply = Array("{\"generation\":\(generation),\"\(list.dropLast())\":".utf8)
            redact(stored).write(to: &reply)
            reply += Array("}\n".utf8)
            return reply
        }
    }

    static func noEntry(_ list: String, _ name: String) -> Response {
        ServerReply.error(.notFound, code: "not_found", message: "no \(list.dropLast()) named '\(name)'")
    }

    /// The request body as JSON: 413/408 as for every body, 400 when it is not JSON.
    func readJSON(_ request: Request) async -> Result<JSONValue, ServerReply.Failure> {
        let buffer: ByteBuffer
        switch await ServerReply.collectBody(
            request,
            byteCountMax: configuration.bodyByteCountMax,
            timeoutMilliseconds: configuration.requestTimeoutMilliseconds
        ) {
        case .success(let body): buffer = body
        case .failure(let failure): return .failure(failure)
        }
        do throws(JSONError) {
            return .success(try JSONValue.parse(Array(buffer.readableBytesView)))
        } catch {
            return .failure(
                ServerReply.Failure(
                    reply: ManagementAPI.fieldError(.badRequest, code: "invalid_json", field: "", message: "\(error)")
                )
            )
        }
    }
}
