import SluiceCore
import SluiceStorage

/// The name of the pipeline's settled checkpoint in the log directory (`pipeline.checkpoint`, FORMAT.md).
let pipelineCheckpointName = "pipeline"
/// The pipeline's per-webhook checkpoints file in the log directory (FORMAT.md).
let pipelineWebhookCheckpointsFileName = "pipeline.webhooks"

/// Where a start resumes, from `pipeline.checkpoint` and `pipeline.webhooks` (FORMAT.md, "Pipeline files"):
/// the sequence to re-match from, each webhook's checkpoint, and the pending pairs it carries.
struct RecoveryCheckpoints {
    /// Re-match events (and read outcome records) from here on.
    var rematchFrom: UInt64
    /// The checkpoint of a webhook neither file names (new in the configuration).
    var newWebhookStart: UInt64
    /// By webhook name: events below it are not re-matched for that webhook.
    var checkpointOf: [String: UInt64] = [:]
    /// By webhook name: pending pairs below its checkpoint.
    var pendingOf: [String: [WebhookCheckpoints.Pending]] = [:]
    /// Why the per-webhook file was not used as is, when it was not (a fallback is never silent).
    var note: String?
    /// Checkpoints lowered because they point past the end of the recovered log (never silent either).
    var incidents: [LogIncident] = []

    /// Reads both files. `logEnd` clamps every value: with `fsync: never` a power loss can lose records the
    /// (synced) checkpoints already cover.
    /// - Throws: when `pipeline.checkpoint` itself is unreadable (it has no fallback).
    static func load(store: CheckpointStore, logEnd: UInt64) throws(SegmentLogError) -> RecoveryCheckpoints {
        let settled = try store.read(name: pipelineCheckpointName) ?? 0
        var legacy = RecoveryCheckpoints(rematchFrom: min(settled, logEnd), newWebhookStart: min(settled, logEnd))
        if settled > logEnd {
            legacy.incidents.append(
                LogIncident(
                    kind: .checkpointMovedBack,
                    path: store.directory + "/" + pipelineCheckpointName + ".checkpoint",
                    fileOffset: 8,
                    sequences: logEnd..<settled,
                    detail: "it said \(settled) but the log ends at \(logEnd) (records lost to a power loss under "
                        + "fsync interval/never, or to a repair); re-matching from \(logEnd)"
                )
            )
        }
        let path = store.directory + "/" + pipelineWebhookCheckpointsFileName
        let file: WebhookCheckpoints
        do {
            guard let bytes = try store.readFile(named: pipelineWebhookCheckpointsFileName) else { return legacy }
            file = try WebhookCheckpoints(decoding: bytes)
        } catch {
            // Safe: `pipeline.checkpoint` is at or below every pending delivery, so re-matching from it (and
            // reading the outcome records after it) finds every pair the damaged file carried.
            var fallback = legacy
            fallback.note = "\(path): \(error); re-matching from pipeline.checkpoint (\(settled)) instead"
            return fallback
        }
        guard file.settled <= settled else {
            // Written before the settled checkpoint moved on without it (a pipeline that does not write
            // the file ran on this log): stale, and the settled checkpoint alone is complete.
            var stale = legacy
            stale.note = "\(path) is older than pipeline.checkpoint (settled \(file.settled) < \(settled)); ignored"
            return stale
        }
        // When the settled checkpoint is lower than the file says (a redrive moved it back, or a crash fell
        // between writing the two files), nothing at or after it may be skipped for any webhook.
        let bound = min(settled == file.settled ? UInt64.max : settled, logEnd)
        var checkpoints = RecoveryCheckpoints(
            rematchFrom: min(file.rematchFrom, bound),
            newWebhookStart: min(file.matchedEnd, bound)
        )
        checkpoints.incidents = legacy.incidents
        if file.matchedEnd > logEnd {
            checkpoints.incidents.append(
                LogIncident(
                    kind: .checkpointMovedBack,
                    path: path,
                    fileOffset: 32,
                    sequences: logEnd..<file.matchedEnd,
                    detail: "matchedEnd was \(file.matchedEnd) but the log ends at \(logEnd); every webhook "
                        + "checkpoint is lowered to at most \(logEnd)"
                )
            )
        }
        if settled != file.settled {
            checkpoints.note =
                "pipeline.checkpoint (\(settled)) is below \(path)'s settled \(file.settled): re-matching from \(checkpoints.rematchFrom)"
        }
        for webhook in file.webhooks {
            let checkpoint = min(webhook.checkpoint, bound)
            checkpoints.checkpointOf[webhook.name] = checkpoint
            // Pairs at or after the (lowered) checkpoint are re-matched like any other.
            let pending = webhook.pending.filter { $0.eventSequence < checkpoint }
            if !pending.isEmpty { checkpoints.pendingOf[webhook.name] = pending }
        }
        return checkpoints
    }
}
