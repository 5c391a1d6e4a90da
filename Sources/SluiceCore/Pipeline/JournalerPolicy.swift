/// The journaler's decisions as a value: how large a batch is, whether a small batch lingers, which
/// appended batches and outcome records are durable once the log says how far it synced, and when the
/// checkpoint files are due. No clock (times are arguments), no I/O, no lock; the journaler thread reads
/// the ring, writes and syncs the log and executes what this returns.
///
/// The one rule it keeps above all: nothing is reported durable — no ring position acknowledged, no
/// outcome handed to the ``SettledState`` — before the log's durable sequence has passed it.
package struct JournalerPolicy: Sendable {
    /// One outcome record appended, waiting to be durable: its log sequence and what the tracker learns.
    package struct WaitingOutcome: Sendable, Equatable {
        package var record: UInt64
        package var outcome: SettledState.Journaled

        package init(record: UInt64, outcome: SettledState.Journaled) {
            self.record = record
            self.outcome = outcome
        }
    }

    /// What to do with the events and outcome records waiting.
    package enum Step: Equatable, Sendable {
        /// Write them now.
        case write
        /// Sleep this long, then look again (they may become one larger frame).
        case linger(sleepNanoseconds: UInt64)
    }

    /// What became durable.
    package struct Durable: Equatable, Sendable {
        /// The ring end now acknowledged (`nil`: no batch became durable).
        package var ringEnd: Int?
        /// Outcome records now durable, in log order.
        package var outcomes: [SettledState.Journaled]

        package init(ringEnd: Int?, outcomes: [SettledState.Journaled]) {
            self.ringEnd = ringEnd
            self.outcomes = outcomes
        }
    }

    package let limits: PipelineLimits
    /// `fsync: interval` or `never`: small batches linger; `always` writes at once.
    package let lingers: Bool
    /// Appended batches not yet durable: (ring end, log end), in order.
    private var appended: [(ringEnd: Int, logEnd: UInt64)] = []
    private var waitingOutcomes: [WaitingOutcome] = []
    private var outcomesWaitingSince: UInt64 = 0
    private var checkpointedAt: UInt64
    /// The current interval between checkpoint writes (grows with the file).
    package private(set) var checkpointIntervalNanoseconds: UInt64

    package init(limits: PipelineLimits, lingers: Bool, nowNanoseconds: UInt64) {
        self.limits = limits
        self.lingers = lingers
        checkpointedAt = nowNanoseconds
        checkpointIntervalNanoseconds = limits.checkpointIntervalNanoseconds
    }

    /// The ring end of the next batch: what is available, at most ``PipelineLimits/journalBatchEventCountMax``.
    package func batchEnd(next: Int, available: Int) -> Int {
        min(available, next + limits.journalBatchEventCountMax)
    }

    /// Whether to write `events` waiting events (the oldest emitted at `oldestEventNanoseconds`) and
    /// `outcomes` waiting outcome records now, or let them linger (only with ``lingers``, while not
    /// stopping, and while both are below their linger counts).
    package mutating func step(
        events: Int,
        outcomes: Int,
        oldestEventNanoseconds: UInt64?,
        stopping: Bool,
        nowNanoseconds now: UInt64
    ) -> Step {
        if lingers, !stopping, events < limits.lingerEventCountMin, outcomes < limits.lingerOutcomeCountMin,
            events > 0 || outcomes > 0
        {
            if outcomes > 0, outcomesWaitingSince == 0 { outcomesWaitingSince = now }
            var oldest = outcomes > 0 ? outcomesWaitingSince : now
            if events > 0, let emitted = oldestEventNanoseconds { oldest = min(oldest, emitted) }
            let waited = now >= oldest ? now - oldest : 0
            if waited < limits.lingerNanoseconds {
                return .linger(
                    sleepNanoseconds: max(limits.lingerSleepMinimumNanoseconds, limits.lingerNanoseconds - waited)
                )
            }
        }
        outcomesWaitingSince = 0
        return .write
    }

    /// A batch was appended: the ring up to `ringEnd`, the log up to `logEnd`, with its outcome records.
    package mutating func appended(ringEnd: Int, logEnd: UInt64, outcomes: [WaitingOutcome]) {
        appended.append((ringEnd, logEnd))
        waitingOutcomes.append(contentsOf: outcomes)
    }

    /// The log is durable below `durable`: the batches and outcome records it covers, taken out.
    package mutating func durable(below durable: UInt64) -> Durable {
        var result = Durable(ringEnd: nil, outcomes: [])
        var drop = 0
        for batch in appended {
            guard batch.logEnd <= durable else { break }
            result.ringEnd = batch.ringEnd
            drop += 1
        }
        if drop > 0 { appended.removeFirst(drop) }
        let ready = waitingOutcomes.prefix { $0.record < durable }.count
        if ready > 0 {
            result.outcomes = waitingOutcomes.prefix(ready).map(\.outcome)
            waitingOutcomes.removeFirst(ready)
        }
        return result
    }

    /// Whether the checkpoint files are due (always for the `final` one, before the journaler returns).
    package func checkpointDue(nowNanoseconds now: UInt64, final: Bool) -> Bool {
        final || now - min(now, checkpointedAt) >= checkpointIntervalNanoseconds
    }

    /// Whether `new` must be written when `old` was last: only when what a restart does changes — attempts
    /// alone changing need no write, since a restart reads the outcome records from the re-match point on.
    package static func mustWrite(_ new: WebhookCheckpoints, after old: WebhookCheckpoints?) -> Bool {
        guard let old else { return true }
        guard old.settled == new.settled, old.rematchFrom == new.rematchFrom, old.matchedEnd == new.matchedEnd,
            old.webhooks.count == new.webhooks.count
        else { return true }
        return !zip(old.webhooks, new.webhooks).allSatisfy { old, new in
            old.name == new.name && old.checkpoint == new.checkpoint
                && old.pending.map(\.eventSequence) == new.pending.map(\.eventSequence)
        }
    }

    /// A due checkpoint was considered at `now`; `writtenByteCount` is the file's size when it was
    /// rewritten (large files — many carried pairs — are then written less often).
    package mutating func checkpointed(nowNanoseconds now: UInt64, writtenByteCount: Int?) {
        if let writtenByteCount {
            let (scaled, overflow) = UInt64(writtenByteCount).multipliedReportingOverflow(
                by: limits.checkpointNanosecondsPerByte
            )
            checkpointIntervalNanoseconds = max(limits.checkpointIntervalNanoseconds, overflow ? .max : scaled)
        }
        checkpointedAt = now
    }
}
