import Hummingbird
import NIOCore
import Sluice

extension EventIngest {
    /// The per-line reply (docs/server.md): 200 when no line was invalid, else 400; either way each line's
    /// result is listed, so the caller sees exactly what was taken.
    func reply(
        events: [(line: Int, lineStart: Int, bytes: [UInt8])],
        lineErrors: [Int: EventDecodingError],
        results: [Pipeline.BatchEventResult],
        durable: Bool
    ) -> Response {
        precondition(events.count == results.count, "one result per event")
        var entries: [(line: Int, json: [UInt8])] = []
        entries.reserveCapacity(events.count + lineErrors.count)
        var accepted = 0
        var duplicates = 0
        for (event, result) in zip(events, results) {
            var json: [UInt8] = []
            json += Array("{\"line\":\(event.line),".utf8)
            switch result {
            case .accepted(let position, let id):
                accepted += 1
                json += Array("\"status\":\"accepted\",\"id\":".utf8)
                JSONString.appendQuoted(id.description, to: &json)
                if durable, let sequence = pipeline.logSequence(ofAcknowledged: position) {
                    json += Array(",\"sequence\":\(sequence)".utf8)
                }
            case .refused(let id):
                duplicates += 1
                json += Array("\"status\":\"duplicate\",\"id\":".utf8)
                JSONString.appendQuoted(id.description, to: &json)
            case .invalid(let error):
                json += Array("\"status\":\"invalid\",\"error\":".utf8)
                Self.append(error.located(line: event.line, lineStart: event.lineStart), to: &json)
            }
            json.append(UInt8(ascii: "}"))
            entries.append((event.line, json))
        }
        for (line, error) in lineErrors {
            var json = Array("{\"line\":\(line),\"status\":\"invalid\",\"error\":".utf8)
            Self.append(error, to: &json)
            json.append(UInt8(ascii: "}"))
            entries.append((line, json))
        }
        entries.sort { $0.line < $1.line }
        let invalid = entries.count - accepted - duplicates
        var body = Array(
            "{\"accepted\":\(accepted),\"duplicates\":\(duplicates),\"invalid\":\(invalid),\"durable\":\(durable),\"results\":["
                .utf8
        )
        for (position, entry) in entries.enumerated() {
            if position > 0 { body.append(UInt8(ascii: ",")) }
            body += entry.json
        }
        body += Array("]}\n".utf8)
        return ServerReply.json(invalid == 0 ? .ok : .badRequest, body)
    }

    /// `{"line":…,"byte_offset":…,"field":…,"code":…,"message":…}` (byte_offset within the request body).
    static func append(_ error: EventDecodingError, to json: inout [UInt8]) {
        json += Array("{\"line\":\(error.line ?? 1),\"byte_offset\":\(error.byteOffset),\"field\":".utf8)
        JSONString.appendQuoted(error.fieldPath, to: &json)
        json += Array(",\"code\":".utf8)
        JSONString.appendQuoted(code(error.code), to: &json)
        json += Array(",\"message\":".utf8)
        JSONString.appendQuoted(error.message, to: &json)
        json.append(UInt8(ascii: "}"))
    }

    /// The error code as the API spells it (`invalidJSON` → `invalid_json`).
    static func code(_ code: EventDecodingError.Code) -> String {
        var text = ""
        var previousWasUpper = false
        for character in code.description {
            if character.isUppercase {
                if !text.isEmpty, !previousWasUpper { text.append("_") }
                text += character.lowercased()
                previousWasUpper = true
            } else {
                text.append(character)
                previousWasUpper = false
            }
        }
        return text
    }

    /// `application/json; charset=utf-8` → `application/json`.
    static func mediaType(_ header: String) -> String {
        let type = header.split(separator: ";", maxSplits: 1).first ?? ""
        return String(type.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
            .lowercased()
    }
}

/// Replies and request-body reading shared by the routes.
enum ServerReply {
    static func json(_ status: HTTPResponse.Status, _ body: [UInt8], headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// `{"error":{"code":…,"message":…}}`.
    static func error(
        _ status: HTTPResponse.Status,
        code: String,
        message: String,
        headers: HTTPFields = [:]
    ) -> Response {
        var body = Array("{\"error\":{\"code\":".utf8)
        JSONString.appendQuoted(code, to: &body)
        body += Array(",\"message\":".utf8)
        JSONString.appendQuoted(message, to: &body)
        body += Array("}}\n".utf8)
        return json(status, body, headers: headers)
    }

    /// Reads the whole body: 413 over `byteCountMax` (at once when `Content-Length` says so), 408 when the
    /// client takes longer than `timeoutMilliseconds` to send it.
    static func collectBody(
        _ request: Request,
        byteCountMax: Int,
        timeoutMilliseconds: Int
    ) async -> Result<ByteBuffer, Failure> {
        let tooLarge = Failure(
            reply: error(
                .contentTooLarge,
                code: "body_too_large",
                message: "the body is larger than server.body_bytes_max (\(byteCountMax) bytes)",
                headers: [.connection: "close"]
            )
        )
        if let length = request.headers[.contentLength], let byteCount = Int(length), byteCount > byteCountMax {
            return .failure(tooLarge)
        }
        let body = request.body
        let outcome = await withTaskGroup(of: BodyOutcome.self) { group in
            group.addTask {
                do {
                    return .body(try await body.collect(upTo: byteCountMax))
                } catch is NIOTooManyBytesError {
                    return .tooLarge
                } catch {
                    return .failed("\(error)")  // the client went away or broke the framing
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(timeoutMilliseconds))
                return .timedOut
            }
            let first = await group.next() ?? .timedOut
            group.cancelAll()
            return first
        }
        switch outcome {
        case .body(let buffer): return .success(buffer)
        case .tooLarge: return .failure(tooLarge)
        case .failed(let reason):
            return .failure(
                Failure(
                    reply: error(
                        .badRequest,
                        code: "body_unreadable",
                        message: "the body could not be read: \(reason)",
                        headers: [.connection: "close"]
                    )
                )
            )
        case .timedOut:
            return .failure(
                Failure(
                    reply: error(
                        .requestTimeout,
                        code: "request_timeout",
                        message: "the body did not arrive within server.request_timeout_ms (\(timeoutMilliseconds) ms)",
                        headers: [.connection: "close"]
                    )
                )
            )
        }
    }

    private enum BodyOutcome: Sendable {
        case body(ByteBuffer)
        case tooLarge
        case failed(String)
        case timedOut
    }

    /// A reply that ends the request early.
    struct Failure: Error {
        var reply: Response
    }
}
