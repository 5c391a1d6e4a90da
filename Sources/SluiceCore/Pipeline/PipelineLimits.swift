/// The pipeline's internal bounds and cadences, each named with its unit. The defaults are what the
/// pipeline has always used; ``validate()`` runs at every start (through the pipeline configuration's
/// validation) and refuses a value outside its range with the range in the message.
///
/// Not keys of the configuration file: embedders and tests set them in Swift when they need to.
package struct PipelineLimits: Sendable, Equatable {
    /// Events the journaler takes from the ring into one frame at most.
    package var journalBatchEventCountMax = 1_024
    /// Outcome records the journaler takes from each delivery shard per frame at most.
    package var journalBatchOutcomeCountMax = 1_024
    /// Outcome records dropped per turn from each shard after the log failed (they are not final, so the
    /// next start sends them again).
    package var journalFailedOutcomeDropCountMax = 4_096
    /// With `fsync: interval` or `never`, a batch of fewer events than this lingers (to become one frame).
    package var lingerEventCountMin = 256
    /// With `fsync: interval` or `never`, fewer waiting outcome records than this linger too.
    package var lingerOutcomeCountMin = 512
    /// How long a small batch lingers at most.
    package var lingerNanoseconds: UInt64 = 1_000_000
    /// The shortest sleep of a lingering journaler (a timed sleep, not a park).
    package var lingerSleepMinimumNanoseconds: UInt64 = 50_000
    /// The journaler's park bounds: its park timeout is the fsync interval clamped to these (the
    /// `always` and `never` policies use the maximum).
    package var journalParkMinimumNanoseconds: UInt64 = 1_000_000
    package var journalParkMaximumNanoseconds: UInt64 = 10_000_000
    /// Checkpoint files are considered at most this often.
    package var checkpointIntervalNanoseconds: UInt64 = 100_000_000
    /// A checkpoint file of `n` bytes waits `n ×` this before the next (400 ns/byte ≈ 2.5 MB/s at most).
    package var checkpointNanosecondsPerByte: UInt64 = 400
    /// A delivery pending at a snapshot at least this old is carried (``SettledState``).
    package var carryAgeNanoseconds: UInt64 = 1_000_000_000
    /// Records a spilling webhook's read-back covers per matcher turn.
    package var spillReadBackRecordCountMax = 512
    /// Records a read-back decodes under one hold of the ingest lock (the decoder is the live stream's).
    package var spillReadBackDecodeBatchMax = 64
    /// Recovery reads carried events whose sequences are closer than this in one indexed read.
    package var recoveryReadRunSequenceGapMax: UInt64 = 4_096
    /// How often `flush` and `stop` look again while they wait.
    package var flushPollNanoseconds: UInt64 = 500_000
    package var stopPollNanoseconds: UInt64 = 1_000_000

    package init() {}

    /// Every limit with its range, for ``validate()`` and its messages.
    private var checks: [(name: String, value: UInt64, range: ClosedRange<UInt64>, unit: String)] {
        [
            ("journal_batch_event_count_max", UInt64(clamping: journalBatchEventCountMax), 1...1_048_576, "events"),
            (
                "journal_batch_outcome_count_max", UInt64(clamping: journalBatchOutcomeCountMax), 1...1_048_576,
                "records"
            ),
            (
                "journal_failed_outcome_drop_count_max", UInt64(clamping: journalFailedOutcomeDropCountMax),
                1...1_048_576, "records"
            ),
            ("linger_event_count_min", UInt64(clamping: lingerEventCountMin), 1...1_048_576, "events"),
            ("linger_outcome_count_min", UInt64(clamping: lingerOutcomeCountMin), 1...1_048_576, "records"),
            ("linger_ns", lingerNanoseconds, 0...1_000_000_000, "ns"),
            ("linger_sleep_minimum_ns", lingerSleepMinimumNanoseconds, 1_000...1_000_000_000, "ns"),
            ("journal_park_minimum_ns", journalParkMinimumNanoseconds, 1_000...1_000_000_000, "ns"),
            ("journal_park_maximum_ns", journalParkMaximumNanoseconds, 1_000...1_000_000_000, "ns"),
            ("checkpoint_interval_ns", checkpointIntervalNanoseconds, 1_000_000...60_000_000_000, "ns"),
            ("checkpoint_ns_per_byte", checkpointNanosecondsPerByte, 0...1_000_000, "ns/byte"),
            ("carry_age_ns", carryAgeNanoseconds, 0...3_600_000_000_000, "ns"),
            (
                "spill_read_back_record_count_max", UInt64(clamping: spillReadBackRecordCountMax), 1...1_048_576,
                "records"
            ),
            (
                "spill_read_back_decode_batch_max", UInt64(clamping: spillReadBackDecodeBatchMax), 1...1_048_576,
                "records"
            ),
            ("recovery_read_run_sequence_gap_max", recoveryReadRunSequenceGapMax, 1...1_048_576, "sequences"),
            ("flush_poll_ns", flushPollNanoseconds, 1_000...1_000_000_000, "ns"),
            ("stop_poll_ns", stopPollNanoseconds, 1_000...1_000_000_000, "ns"),
        ]
    }

    /// Refuses a limit outside its range (negative counts included), or park bounds out of order.
    package func validate() throws(PipelineLimitsError) {
        for (name, count) in [
            ("journal_batch_event_count_max", journalBatchEventCountMax),
            ("journal_batch_outcome_count_max", journalBatchOutcomeCountMax),
            ("journal_failed_outcome_drop_count_max", journalFailedOutcomeDropCountMax),
            ("linger_event_count_min", lingerEventCountMin), ("linger_outcome_count_min", lingerOutcomeCountMin),
            ("spill_read_back_record_count_max", spillReadBackRecordCountMax),
            ("spill_read_back_decode_batch_max", spillReadBackDecodeBatchMax),
        ] where count < 1 {
            throw PipelineLimitsError(limit: name, message: "must be from 1 to 1048576, not \(count)")
        }
        for check in checks where !check.range.contains(check.value) {
            throw PipelineLimitsError(
                limit: check.name,
                message:
                    "must be from \(check.range.lowerBound) to \(check.range.upperBound) \(check.unit), not \(check.value)"
            )
        }
        guard journalParkMinimumNanoseconds <= journalParkMaximumNanoseconds else {
            throw PipelineLimitsError(
                limit: "journal_park_minimum_ns",
                message: "must be at most journal_park_maximum_ns (\(journalParkMaximumNanoseconds)), "
                    + "not \(journalParkMinimumNanoseconds)"
            )
        }
    }

    /// The journaler's park timeout for an fsync interval (`nil`: `always` or `never`).
    package func journalParkNanoseconds(fsyncIntervalMilliseconds: Int?) -> UInt64 {
        guard let milliseconds = fsyncIntervalMilliseconds else { return journalParkMaximumNanoseconds }
        let requested = UInt64(clamping: milliseconds).multipliedReportingOverflow(by: 1_000_000)
        let nanoseconds = requested.overflow ? UInt64.max : requested.partialValue
        return max(journalParkMinimumNanoseconds, min(journalParkMaximumNanoseconds, nanoseconds))
    }
}

/// A ``PipelineLimits`` value out of its range.
package struct PipelineLimitsError: Error, Equatable, CustomStringConvertible {
    /// The limit's name (snake case, with its unit).
    package var limit: String
    package var message: String

    package init(limit: String, message: String) {
        self.limit = limit
        self.message = message
    }

    package var description: String { "pipeline limit \(limit): \(message)" }
}
