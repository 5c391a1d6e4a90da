public import SluiceCore
import SluiceStorage
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// Why a change asked of a running pipeline (``Pipeline/reconfigure(document:environment:timeoutNanoseconds:)``,
/// ``Pipeline/redrive(_:timeoutNanoseconds:)``) was refused or not confirmed.
public struct ManagementError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The configuration is not valid; `field` names where (as the file loader names it).
        case invalid
        /// The pipeline is not running (not started, stopping, or failed): nothing changed.
        case notRunning = "not_running"
        /// The change is made but its record did not become durable in time (or the log failed): it may be
        /// lost by a crash.
        case notDurable = "not_durable"
    }

    public var code: Code
    /// A field path such as `webhooks[2].url` (empty when the error is about the whole request).
    public var field: String
    public var message: String

    public init(code: Code, field: String, message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

extension Pipeline {
    /// Reads the webhooks and triggers of `document` — a JSON object with the keys of
    /// ``ConfigurationRecord/configurationKeys`` (`default_branch`, `webhooks`, `triggers`) — with the decoders
    /// of the configuration file, and validates them as the file loader does (with this pipeline's bounds).
    /// - Throws: ``ManagementError`` `invalid`, naming the field.
    public func decodeReconfiguration(
        _ document: JSONValue,
        environment: [String: String]
    ) throws(ManagementError) -> (webhooks: WebhookConfiguration, triggers: TriggerConfiguration) {
        guard let object = document.objectValue else {
            throw ManagementError(code: .invalid, field: "", message: "the configuration must be a JSON object")
        }
        if let key = object.keys.first(where: { !ConfigurationRecord.configurationKeys.contains($0) }) {
            let changeable = ConfigurationRecord.configurationKeys.joined(separator: ", ")
            let message =
                TriggerConfiguration.fileKeys.contains(key)
                ? "cannot change while running (only \(changeable) can): edit the file and restart"
                : "unknown key '\(key)' (a configuration change has \(changeable))"
            throw ManagementError(code: .invalid, field: key, message: message)
        }
        let webhooks: WebhookConfiguration
        let triggers: TriggerConfiguration
        do throws(TriggerDefinitionError) {
            triggers = try TriggerConfiguration(json: document)
            webhooks = try WebhookConfiguration(json: document, environment: environment)
        } catch {
            throw ManagementError(code: .invalid, field: error.path, message: error.message)
        }
        var updated = configuration
        updated.webhooks = webhooks
        updated.triggers = triggers
        do throws(PipelineConfigurationError) {
            try updated.validate()
        } catch {
            throw ManagementError(code: .invalid, field: error.field, message: error.message)
        }
        return (webhooks, triggers)
    }

    /// Swaps in the webhooks and triggers of `document` while running (see
    /// ``decodeReconfiguration(_:environment:)``) and journals a replayable configuration change record
    /// (version 2, FORMAT.md) carrying `document`; returns once that record is durable, so a restart — also
    /// after `kill -9` — that restores from the log (``ConfigurationRecords``) comes back with this
    /// configuration. Blocks the calling thread (call it off the Swift concurrency pool).
    /// - Returns: the configuration's generation (in the record).
    /// - Throws: ``ManagementError``: `invalid` (nothing changed), `notRunning` (nothing changed), `notDurable`
    ///   (the swap happened; its record was not durable within `timeoutNanoseconds`, or the log failed).
    @discardableResult
    public func reconfigure(
        document: JSONValue,
        environment: [String: String],
        timeoutNanoseconds: UInt64 = 30_000_000_000
    ) throws(ManagementError) -> Int {
        let (webhooks, triggers) = try decodeReconfiguration(document, environment: environment)
        guard isRunning else {
            throw ManagementError(code: .notRunning, field: "", message: "the pipeline is not running")
        }
        try ConfigurationRecords.markReplayable(directory: configuration.log.directory)
        let at = Timestamp.now()
        let change: (ticket: Int, generation: Int)
        do throws(PipelineConfigurationError) {
            change = try core.reconfigure(webhooks: webhooks, triggers: triggers) { generation in
                ConfigurationRecord(generation: generation, at: at, configuration: document).encoded()
            }
        } catch {
            throw ManagementError(code: .invalid, field: error.field, message: error.message)
        }
        guard core.waitUntilDurable(ticket: change.ticket, timeoutNanoseconds: timeoutNanoseconds) else {
            throw ManagementError(
                code: .notDurable,
                field: "",
                message: "generation \(change.generation) is in use, but its log record is not durable"
                    + (failure.map { ": the log failed: \($0)" } ?? " yet")
            )
        }
        return change.generation
    }

    /// Delivers dead letters again while running: journals a `redrive_requested` record for each (as
    /// `sluice deadletters redrive` does offline), waits until they are durable, then queues each pair's
    /// delivery (attempts start over at 1; the `webhook-id` is the pair's, as before). Pairs whose webhook is
    /// no longer configured or no longer sent the event are skipped (``PipelineStatistics/redrivesSkipped``).
    /// Blocks the calling thread until the records are durable (call it off the Swift concurrency pool).
    /// - Throws: ``ManagementError`` `notRunning` (nothing journaled) or `notDurable`.
    /// - Parameter deadLetters: the dead-letter outcome records of the pairs (``DeadLetterEntry/record``).
    public func redrive(
        _ deadLetters: [DeliveryOutcomeRecord],
        timeoutNanoseconds: UInt64 = 30_000_000_000
    ) throws(ManagementError) {
        guard !deadLetters.isEmpty else { return }
        guard isRunning else {
            throw ManagementError(code: .notRunning, field: "", message: "the pipeline is not running")
        }
        guard core.redrive(deadLetters, timeoutNanoseconds: timeoutNanoseconds) else {
            throw ManagementError(
                code: .notDurable,
                field: "",
                message: "the redrive requests are not durable" + (failure.map { ": the log failed: \($0)" } ?? " yet")
            )
        }
    }

    /// Whether the pipeline takes events and changes (started, not stopping, not failed).
    public var isRunning: Bool { core.ingest.withLock { $0.running } && failure == nil }
}

/// The configuration change records of a log (FORMAT.md "Configuration change records"): where a restart
/// finds the configuration the management API last acknowledged.
public enum ConfigurationRecords {
    /// The file in the log directory that says the log holds replayable records (FORMAT.md "Pipeline files in
    /// the log directory"): written, durably, before the first one is journaled, so a start on a log without
    /// it reads no segment to look for one.
    public static let markerFileName = "configuration.replayable"

    /// Writes ``markerFileName`` unless it exists (temporary file, `fsync`, rename, directory `fsync`).
    /// - Throws: ``ManagementError`` `notDurable` when it cannot be written (nothing changed then).
    static func markReplayable(directory: String) throws(ManagementError) {
        do throws(SegmentLogError) {
            let store = try CheckpointStore(directory: directory)
            if try store.readFile(named: markerFileName) != nil { return }
            try store.replaceFile(
                named: markerFileName,
                with: Array("this log holds replayable configuration change records (FORMAT.md)\n".utf8)
            )
        } catch {
            throw ManagementError(code: .notDurable, field: "", message: "cannot write \(markerFileName): \(error)")
        }
    }

    /// The newest replayable (version 2) configuration change record in the log at `directory`, with its
    /// sequence; `nil` when the log has none (or does not exist yet). Version 1 summaries are skipped. Without
    /// ``markerFileName`` no segment is read; with it the segments are read newest first, stopping at the
    /// first that holds one; a torn tail is skipped (recovery reports it).
    /// - Throws: ``SegmentLogError`` when the log cannot be read; ``ConfigurationRecordError`` (with the
    ///   record's sequence in the message) when a newer record cannot be read — a restore never passes over it.
    public static func newest(directory: String) throws -> (sequence: UInt64, record: ConfigurationRecord)? {
        // `unsafe`: the path string is bridged to a C string for the duration of the call only.
        guard unsafe access(directory + "/" + markerFileName, F_OK) == 0 else { return nil }  // none was ever written
        let segments = try SegmentDirectory.segments(in: directory)
        var end = UInt64.max
        let ignoreIncident: (LogIncident) -> Void = { _ in }  // recovery reports damage when the pipeline starts
        for segment in segments.reversed() {
            var newest: (sequence: UInt64, record: ConfigurationRecord)?
            var failure: ConfigurationRecordError?
            _ = try LogReader.forEachRecord(
                directory: directory,
                fromSequence: segment.firstSequence,
                toSequence: end,
                skipDamaged: true,
                onIncident: ignoreIncident
            ) { record in
                guard record.type == .configurationChange else { return }
                do throws(ConfigurationRecordError) {
                    let decoded = try ConfigurationRecord(decoding: record.body)
                    if decoded.isReplayable {
                        newest = (record.sequence, decoded)
                        failure = nil
                    }
                } catch {
                    failure = ConfigurationRecordError(
                        field: error.field,
                        message:
                            "configuration change record \(record.sequence) in \(record.segmentPath): \(error.message)"
                    )
                }
            }
            if let failure { throw failure }
            if let newest { return newest }
            end = segment.firstSequence
        }
        return nil
    }

    /// `configuration` with the webhooks and triggers of `record` (decoded as the file's are; environment-sourced
    /// header values from `environment`) and its generation.
    /// - Throws: ``ManagementError`` `invalid` naming the field (prefixed with the record's sequence).
    public static func apply(
        _ record: ConfigurationRecord,
        sequence: UInt64,
        to configuration: inout PipelineConfiguration,
        environment: [String: String]
    ) throws(ManagementError) {
        precondition(record.isReplayable, "only a version 2 record carries a configuration")
        let document = record.configuration!  // replayable: not nil
        do throws(TriggerDefinitionError) {
            configuration.triggers = try TriggerConfiguration(json: document)
            configuration.webhooks = try WebhookConfiguration(json: document, environment: environment)
        } catch {
            throw ManagementError(
                code: .invalid,
                field: error.path,
                message: "configuration change record \(sequence): \(error.message)"
            )
        }
        configuration.configurationGeneration = record.generation
        do throws(PipelineConfigurationError) {
            try configuration.validate()
        } catch {
            throw ManagementError(
                code: .invalid,
                field: error.field,
                message: "configuration change record \(sequence): \(error.message)"
            )
        }
    }
}
