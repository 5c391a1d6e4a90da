import HTTPTypes
import Hummingbird
import NIOCore
import Sluice

/// `POST /github/<source>`: GitHub webhook deliveries (docs/server.md "The GitHub receiver").
///
/// The signature is verified over the raw body, in constant time, against every secret of the source
/// before anything is parsed: a bad or missing signature is 401 and nothing is stored. A verified delivery
/// is normalized (``GitHubNormalizer``) and emitted through the ingest path, so its event id — the
/// `X-GitHub-Delivery` — makes a redelivery a `duplicate`, and the reply comes when the event is durable.
///
/// Immutable after init; any thread.
final class GitHubReceiver: Sendable {
    struct Source: Sendable {
        var configuration: GitHubSource
        var verifiers: [GitHubSignatureVerifier]
    }

    let sources: [String: Source]
    let ingest: EventIngest
    let metrics: ServerMetrics
    let requestTimeoutMilliseconds: Int

    init(sources: [GitHubSource], ingest: EventIngest, metrics: ServerMetrics, requestTimeoutMilliseconds: Int) {
        var byName: [String: Source] = [:]
        for source in sources {
            byName[source.name] = Source(
                configuration: source,
                verifiers: source.secrets.map { GitHubSignatureVerifier(secret: $0) }
            )
        }
        self.sources = byName
        self.ingest = ingest
        self.metrics = metrics
        self.requestTimeoutMilliseconds = requestTimeoutMilliseconds
    }

    /// The verdicts counted per source in `sluice_github_deliveries_total`.
    enum Verdict: String {
        case accepted, duplicate, ignored, invalid, unauthenticated
    }

    func count(_ source: String, _ verdict: Verdict) {
        metrics.recordGitHub(source: source, verdict: verdict.rawValue)
    }

    func handle(_ request: Request, sourceName: String) async -> Response {
        guard let source = sources[sourceName] else {
            return ServerReply.error(.notFound, code: "unknown_source", message: "no GitHub source '\(sourceName)'")
        }
        let body: ByteBuffer
        switch await ServerReply.collectBody(
            request,
            byteCountMax: GitHubNormalizer.bodyByteCountMax,
            timeoutMilliseconds: requestTimeoutMilliseconds
        ) {
        case .success(let buffer): body = buffer
        case .failure(let failure): return failure.reply
        }
        let bytes = Array(body.readableBytesView)
        guard verify(request, bytes, source) else {
            count(sourceName, .unauthenticated)
            return ServerReply.error(
                .unauthorized,
                code: "invalid_signature",
                message: "X-Hub-Signature-256 is missing or does not match a secret of source '\(sourceName)'"
            )
        }
        guard let event = request.headers[HTTPField.Name("X-GitHub-Event")!],
            let deliveryID = request.headers[HTTPField.Name("X-GitHub-Delivery")!]
        else {
            count(sourceName, .invalid)
            return ServerReply.error(
                .badRequest,
                code: "missing_header",
                message: "X-GitHub-Event and X-GitHub-Delivery are required"
            )
        }
        if source.configuration.otherEvents == .ignore, !GitHubSource.gitOpsEvents.contains(event) {
            count(sourceName, .ignored)
            return Self.reply(.accepted, ["status": "ignored", "event": event])
        }
        let delivery = GitHubDelivery(
            event: event,
            deliveryID: deliveryID,
            hookID: request.headers[HTTPField.Name("X-GitHub-Hook-ID")!],
            body: bytes,
            receivedAt: Timestamp.now()
        )
        let draft: EventDraft
        do {
            draft = try GitHubNormalizer.draft(for: delivery)
        } catch {
            count(sourceName, .invalid)
            return ServerReply.error(.badRequest, code: "invalid_delivery", message: "\(error)")
        }
        return await emit(draft, sourceName: sourceName)
    }

    /// Whether a signature header verifies with one of the source's secrets (each is tried: the time does
    /// not tell which one matched).
    func verify(_ request: Request, _ body: [UInt8], _ source: Source) -> Bool {
        var verified = false
        if let header = request.headers[HTTPField.Name(GitHubSignatureVerifier.headerName)!] {
            for verifier in source.verifiers {
                do {
                    try verifier.verify(signature256: header, body: body)
                    verified = true
                } catch {
                    continue
                }
            }
        } else if source.configuration.allowsSHA1,
            let header = request.headers[HTTPField.Name(GitHubSignatureVerifier.legacyHeaderName)!]
        {
            for verifier in source.verifiers {
                do {
                    try verifier.verify(legacySignature: header, body: body)
                    verified = true
                } catch {
                    continue
                }
            }
        }
        return verified
    }

    func emit(_ draft: EventDraft, sourceName: String) async -> Response {
        switch await ingest.submit([draft.encoded()], waitsForDurability: true) {
        case .failure(let failure):
            return failure.reply
        case .success(let results):
            switch results.first {
            case .accepted(let position, let id):
                count(sourceName, .accepted)
                var fields = ["status": "accepted", "event": draft.name, "id": id.description]
                if let sequence = ingest.pipeline.logSequence(ofAcknowledged: position) {
                    fields["sequence"] = String(sequence)
                }
                return Self.reply(.ok, fields)
            case .refused(let id):
                count(sourceName, .duplicate)
                return Self.reply(.ok, ["status": "duplicate", "event": draft.name, "id": id.description])
            case .invalid(let error):
                count(sourceName, .invalid)
                return ServerReply.error(
                    .unprocessableContent,
                    code: EventIngest.code(error.code),
                    message: "the normalized event was refused: \(error.message) (at \(error.fieldPath))"
                )
            case nil:
                preconditionFailure("one event submitted, one result")
            }
        }
    }

    /// `{"status": …, …}` with string values (a sequence is written as a number).
    static func reply(_ status: HTTPResponse.Status, _ fields: [String: String]) -> Response {
        var json: [UInt8] = [UInt8(ascii: "{")]
        for (position, key) in fields.keys.sorted().enumerated() {
            if position > 0 { json.append(UInt8(ascii: ",")) }
            JSONString.appendQuoted(key, to: &json)
            json.append(UInt8(ascii: ":"))
            if key == "sequence" {
                json += Array(fields[key]!.utf8)
            } else {
                JSONString.appendQuoted(fields[key]!, to: &json)
            }
        }
        json += Array("}\n".utf8)
        return ServerReply.json(status, json)
    }
}
