import Dispatch
import Hummingbird
import Sluice
import Synchronization

/// The live management API's state and its changes (docs/server.md "Management API"): the configuration
/// document in force (``ManagementDocument``) and its generation.
///
/// Every change runs on one serial dispatch queue, off the Swift concurrency pool: read the document, edit it,
/// keep the stored secrets where the request sent `<redacted>`, validate and swap it in with
/// ``Pipeline/reconfigure(document:environment:timeoutNanoseconds:)`` — which returns once the replayable
/// configuration change record is durable — then publish it. Changes are therefore applied, and journaled, in
/// the order they are answered; a read never sees a document the pipeline does not run.
///
/// Thread-safe.
final class ManagementAPI: Sendable {
    let pipeline: Pipeline
    /// Where `environment` headers of webhooks are resolved (the server process's environment).
    let environment: [String: String]
    private let state: Mutex<State>
    private let changes = DispatchQueue(label: "sluice.management.changes")

    struct State {
        /// `nil` when the server was made without the configuration's document (an embedder's choice): the
        /// routes that read or edit parts of it answer 409 until `PUT /api/configuration` sets the whole.
        var document: ManagementDocument?
        var generation: Int
    }

    /// A change's result: the new document, the reply status, and the reply body for the new generation.
    struct Edit {
        var document: ManagementDocument
        var status: HTTPResponse.Status
        /// The entry the request was about (`webhooks[3]`), whose prefix is left out of error fields.
        var entryPath: String?
        var reply: @Sendable (Int) -> [UInt8]
    }

    init(pipeline: Pipeline, document: JSONValue?, environment: [String: String]) {
        self.pipeline = pipeline
        self.environment = environment
        state = Mutex(
            State(
                document: document.map(ManagementDocument.init(json:)),
                generation: pipeline.configuration.configurationGeneration
            )
        )
    }

    /// The document in force and its generation.
    var current: State { state.withLock { $0 } }

    /// Journals the document in force as a replayable record (`sluice serve --config-from-file`): the file's
    /// configuration then outlives older API changes at the next restart.
    /// - Throws: ``ManagementError`` when it cannot be journaled.
    func journalAtStart() async throws {
        guard let document = current.document else { return }
        let pipeline = self.pipeline
        let environment = self.environment
        let generation = try await SluiceServer.blocking {
            try pipeline.reconfigure(document: document.json, environment: environment)
        }
        state.withLock { $0.generation = generation }
    }

    /// Sets the document when none is known (`PUT /api/configuration` on an embedder's server).
    func adopt(_ document: ManagementDocument) {
        state.withLock { state in
            if state.document == nil { state.document = document }
        }
    }

    /// Runs `edit` on the document in force (serialized with every other change), applies the result and
    /// answers once it is durable: 422 with the field for an invalid configuration, 409 when the document is
    /// unknown, 503 when the pipeline is not running or the change's record is not durable.
    ///
    /// `replacingWhole`: the edit replaces the whole document, so it may run while the document is unknown
    /// (an embedder's server); the document becomes known only if the change succeeds.
    func change(
        replacingWhole: Bool = false,
        _ edit: @escaping @Sendable (ManagementDocument) throws(ManagementError) -> Edit
    ) async -> Response {
        await withCheckedContinuation { continuation in
            changes.async { continuation.resume(returning: self.changeNow(replacingWhole: replacingWhole, edit)) }
        }
    }

    /// ``change(replacingWhole:_:)`` on the changes queue.
    private func changeNow(
        replacingWhole: Bool,
        _ edit: (ManagementDocument) throws(ManagementError) -> Edit
    ) -> Response {
        let known = state.withLock { $0.document }
        guard let document = known ?? (replacingWhole ? ManagementDocument(json: [:]) : nil) else {
            return ServerReply.error(
                .conflict,
                code: "configuration_unknown",
                message: "this server was started without its configuration document: PUT /api/configuration first"
            )
        }
        var entryPath: String?
        do throws(ManagementError) {
            let edited = try edit(document)
            entryPath = edited.entryPath
            let json = try document.keepingSecrets(in: edited.document.json)
            let generation: Int
            do throws(ManagementError) {
                generation = try pipeline.reconfigure(document: json, environment: environment)
            } catch {
                if error.code == .notDurable {
                    // The swap happened: the document is in force, though its record may not survive a crash.
                    state.withLock {
                        $0 = State(document: ManagementDocument(json: json), generation: $0.generation + 1)
                    }
                }
                throw error
            }
            state.withLock { $0 = State(document: ManagementDocument(json: json), generation: generation) }
            return ServerReply.json(edited.status, edited.reply(generation))
        } catch {
            return Self.reply(error, entryPath: entryPath)
        }
    }

    /// The reply for a refused or unconfirmed change: `{"error":{"code","field","message"}}`.
    static func reply(_ error: ManagementError, entryPath: String?) -> Response {
        var field = error.field
        if let entryPath, field == entryPath {
            field = ""
        } else if let entryPath, field.hasPrefix(entryPath + ".") {
            field = String(field.dropFirst(entryPath.count + 1))
        }
        let status: HTTPResponse.Status
        let code: String
        switch error.code {
        case .invalid: (status, code) = (.unprocessableContent, "invalid_configuration")
        case .notRunning: (status, code) = (.serviceUnavailable, "not_running")
        case .notDurable: (status, code) = (.serviceUnavailable, "not_durable")
        }
        return fieldError(status, code: code, field: field, message: error.message)
    }

    /// `{"error":{"code":…,"field":…,"message":…}}`.
    static func fieldError(_ status: HTTPResponse.Status, code: String, field: String, message: String) -> Response {
        var body = Array("{\"error\":{\"code\":".utf8)
        JSONString.appendQuoted(code, to: &body)
        body += Array(",\"field\":".utf8)
        JSONString.appendQuoted(field, to: &body)
        body += Array(",\"message\":".utf8)
        JSONString.appendQuoted(message, to: &body)
        body += Array("}}\n".utf8)
        return ServerReply.json(status, body)
    }

    /// Runs `body` on the changes queue: a redrive's scan of the dead letters and its requests, serialized with
    /// the changes and other redrives (a second redrive then sees the first's durable `redrive_requested`
    /// records and does not send a pair twice).
    func serialized<Value: Sendable>(_ body: @escaping @Sendable () -> Value) async -> Value {
        await withCheckedContinuation { continuation in
            changes.async { continuation.resume(returning: body()) }
        }
    }
}
