public import SluiceCore
public import SluiceStorage

/// A delivery whose last recorded outcome is a dead letter: no more automatic attempts.
public struct DeadLetterEntry: Sendable, Equatable {
    /// The dead-letter outcome record (attempts, last failure class, status and message, time).
    public var record: DeliveryOutcomeRecord
    /// Where that record is in the log.
    public var recordSequence: UInt64
}

/// Dead letters in a log directory (`sluice deadletters list|redrive`).
public enum DeadLetterFiles {
    /// Every (event, webhook) pair whose last outcome record is a dead letter, in log order.
    /// - Throws: ``SegmentLogError`` for damage; ``DeliveryOutcomeRecordError`` for an unreadable record.
    public static func list(directory: String) throws -> [DeadLetterEntry] {
        var last: [String: DeadLetterEntry] = [:]
        var order: [String] = []
        var failure: (any Error)?
        _ = try LogReader.forEachRecord(directory: directory) { record in
            guard record.type == .deliveryOutcome, failure == nil else { return }
            let outcome: DeliveryOutcomeRecord
            do {
                outcome = try DeliveryOutcomeRecord(decoding: record.body)
            } catch {
                failure = SegmentLogError(
                    code: .corrupt,
                    path: record.segmentPath,
                    fileOffset: record.frameFileOffset,
                    message: "delivery outcome record \(record.sequence): \(error)"
                )
                return
            }
            guard !outcome.outcome.isEndpointState else { return }  // about the webhook, not a delivery
            let key = "\(outcome.eventSequence) \(outcome.webhook)"
            if last[key] == nil { order.append(key) }
            last[key] = DeadLetterEntry(record: outcome, recordSequence: record.sequence)
        }
        if let failure { throw failure }
        return order.compactMap { key in last[key].flatMap { $0.record.outcome == .deadLettered ? $0 : nil } }
    }

    /// Asks for the dead letters that match `webhook` and `eventID` (`nil`: any) to be delivered again: appends
    /// a `redrive_requested` outcome record for each and moves the pipeline checkpoint back to the earliest
    /// of their events, so the next ``Pipeline/start()`` re-matches them and starts their attempts over.
    /// Takes the log's writer lock: it fails with `locked` while a pipeline runs on the directory.
    /// - Returns: the entries redriven.
    public static func redrive(
        directory: String,
        webhook: String? = nil,
        eventID: String? = nil,
        configuration: LogConfiguration? = nil
    ) throws -> [DeadLetterEntry] {
        var log = configuration ?? LogConfiguration(directory: directory)
        log.directory = directory
        let writer = try SegmentLogWriter(configuration: log, nowMicroseconds: Timestamp.now().microsecondsSinceEpoch)
        let chosen = try list(directory: directory).filter { entry in
            (webhook == nil || entry.record.webhook == webhook)
                && (eventID == nil || entry.record.eventID.description == eventID?.lowercased())
        }
        guard !chosen.isEmpty else { return [] }
        let now = Timestamp.now()
        let records = chosen.map { entry in
            var request = entry.record
            request.outcome = .redriveRequested
            request.attempt = 0
            request.statusCode = nil
            request.failureClass = nil
            request.message = "redrive requested"
            request.at = now
            return LogRecord(
                type: .deliveryOutcome,
                timestampMicroseconds: now.microsecondsSinceEpoch,
                body: request.encoded()
            )
        }
        // The checkpoint moves back first (always safe): a crash before the records are durable then only
        // costs a re-scan, never a redrive the next start would not see.
        // The per-webhook checkpoints move back too: the file goes first (without it a start re-matches from
        // `pipeline.checkpoint`, always safe), then the settled checkpoint, then the file returns lowered.
        let checkpoints = try CheckpointStore(directory: directory)
        let earliest = chosen.map(\.record.eventSequence).min()!
        let current = try checkpoints.read(name: pipelineCheckpointName) ?? 0
        let perWebhook = try? checkpoints.readFile(named: pipelineWebhookCheckpointsFileName).map {
            try WebhookCheckpoints(decoding: $0)
        }
        try checkpoints.removeFile(named: pipelineWebhookCheckpointsFileName)
        let settled = min(earliest, current)
        if settled < current { try checkpoints.write(name: pipelineCheckpointName, sequence: settled) }
        if let file = perWebhook ?? nil, file.settled == current {
            var lowered = file
            lowered.settled = settled
            lowered.rematchFrom = min(file.rematchFrom, earliest)
            lowered.webhooks = file.webhooks.map { webhook in
                let checkpoint = min(webhook.checkpoint, earliest)
                return WebhookCheckpoints.Webhook(
                    name: webhook.name,
                    checkpoint: checkpoint,
                    pending: webhook.pending.filter { $0.eventSequence < checkpoint }
                )
            }
            try checkpoints.replaceFile(named: pipelineWebhookCheckpointsFileName, with: lowered.encoded())
        }
        try writer.append(records, nowMicroseconds: now.microsecondsSinceEpoch, nowMonotonicNanoseconds: 0)
        try writer.sync()
        return chosen
    }
}
