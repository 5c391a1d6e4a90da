import SluiceCore
import SluiceIO
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// File-level plumbing for running a ``Pipeline`` as a process (`sluice run`): read a configuration,
/// feed it JSON Lines from a file or standard input, report progress, stop cleanly on SIGINT/SIGTERM.
public enum PipelineFiles {
    public struct RunOptions: Sendable {
        /// The YAML or JSON configuration (webhooks, triggers, `log`, `pipeline`).
        public var configurationPath: String
        /// A JSON Lines file of events, `-` for standard input, `nil` for none (recover and deliver only).
        public var inputPath: String?
        /// Overrides the configuration's `log.directory`.
        public var logDirectory: String?
        /// After the input ends, wait for every delivery to be final, stop and return (instead of running
        /// until a stop signal).
        public var exitWhenDone = false
        /// How long ``exitWhenDone`` waits for deliveries before stopping anyway (they resume next start).
        public var doneTimeoutSeconds: Double = 300
        /// Write `ack N` to standard output whenever the first N accepted events are durable.
        public var reportAcknowledged = false
        /// Seconds between status lines (0: none).
        public var statusIntervalSeconds: Double = 5

        public init(configurationPath: String) { self.configurationPath = configurationPath }
    }

    /// What a run did.
    public struct RunSummary: Sendable {
        public var recovery: PipelineRecovery
        public var statistics: PipelineStatistics
        /// Input lines that were not valid events (each reported through `errorLine`).
        public var invalidLines: Int
        /// Whether every delivery was final when the run ended.
        public var settled: Bool
        public var stoppedBySignal: Bool
        /// The error that stopped the pipeline (a log write or sync failed, e.g. the disk is full), if any;
        /// it was reported through `errorLine`.
        public var failure: String?
        /// Why the input could not be read (e.g. the file is missing), if it could not; reported through
        /// `errorLine`.
        public var inputFailure: String?
    }

    /// Runs the pipeline of `options` until the input is done (with ``RunOptions/exitWhenDone``) or a stop
    /// signal arrives. `outputLine` gets `ack N` lines; `errorLine` gets the start, status and error lines.
    /// Call ``StopSignals/block()`` first if signals should stop it cleanly.
    public static func run(
        _ options: RunOptions,
        outputLine: @escaping @Sendable (String) -> Void,
        errorLine: @escaping @Sendable (String) -> Void
    ) throws -> RunSummary {
        let configuration = try PipelineConfiguration.load(
            path: options.configurationPath,
            environment: WebhookFiles.processEnvironment(),
            logDirectory: options.logDirectory
        )
        let pipeline = try Pipeline(configuration: configuration)
        pipeline.onLogDamage { incident in errorLine(incident.isDamage ? "log damage: \(incident)" : "\(incident)") }
        let recovery = try pipeline.start()
        errorLine("I/O backend: \(recovery.ioBackend)")
        for incident in recovery.incidents { errorLine("recovered: \(incident)") }
        errorLine(describe(recovery, directory: configuration.log.directory))

        let inputDone = Atomic<Bool>(options.inputPath == nil)
        let invalid = Atomic<Int>(0)
        // Lines refused before they reach `emit` (longer than the largest event): the pipeline does not
        // count them, the status line must.
        let oversize = Atomic<Int>(0)
        let inputFailure = Mutex<String?>(nil)
        var inputThread: LoopThread?
        if let path = options.inputPath {
            let limits = configuration.eventLimits
            inputThread = try LoopThread(name: "sluice-input") {
                defer { inputDone.store(true, ordering: .releasing) }
                do {
                    let reader = try LineReader(path: path, lineByteCountMax: limits.eventByteCountMax + 2)
                    defer { reader.close() }
                    var stopped = false
                    try unsafe reader.forEachLine(
                        onOversizeLine: { line, start, count in
                            invalid.wrappingAdd(1, ordering: .relaxed)
                            oversize.wrappingAdd(1, ordering: .relaxed)
                            errorLine(
                                "\(path):\(line): byte offset \(start): event of \(count) bytes exceeds event-byte-count-max"
                            )
                        },
                        onLine: { line, start, raw in
                            guard !stopped else { return }
                            let bytes = unsafe [UInt8](raw)
                            while true {
                                switch pipeline.emit(bytes) {
                                case .accepted: return
                                case .backpressure: usleep(200)  // the ring is full: wait, never drop
                                case .invalid(let error):
                                    invalid.wrappingAdd(1, ordering: .relaxed)
                                    errorLine(error.located(line: line, lineStart: start, source: path).description)
                                    return
                                case .stopped:
                                    stopped = true
                                    return
                                }
                            }
                        }
                    )
                } catch {
                    inputFailure.withLock { $0 = "\(error)" }
                }
            }
        }

        var reportedAcknowledged = -1
        var lastStatus = monotonicNanoseconds()
        var stoppedBySignal = false
        var doneSince: UInt64?
        var settled = false
        while true {
            if StopSignals.received(waitingNanoseconds: 5_000_000) {
                stoppedBySignal = true
                break
            }
            if options.reportAcknowledged {
                let acknowledged = pipeline.acknowledgedEmittedCount
                if acknowledged != reportedAcknowledged {
                    outputLine("ack \(acknowledged)")
                    reportedAcknowledged = acknowledged
                }
            }
            let now = monotonicNanoseconds()
            if options.statusIntervalSeconds > 0, Double(now - lastStatus) / 1e9 >= options.statusIntervalSeconds {
                errorLine(status(pipeline.statistics, oversizeLines: oversize.load(ordering: .relaxed)))
                lastStatus = now
            }
            if let failure = pipeline.failure {
                errorLine("error: \(failure)")
                break
            }
            if options.exitWhenDone, inputDone.load(ordering: .acquiring) {
                let since = doneSince ?? now
                doneSince = since
                if pipeline.flush(timeoutNanoseconds: 0) {
                    settled = true
                    break
                }
                if Double(now - since) / 1e9 >= options.doneTimeoutSeconds { break }
            }
        }
        pipeline.stop()
        if options.reportAcknowledged, pipeline.acknowledgedEmittedCount != reportedAcknowledged {
            outputLine("ack \(pipeline.acknowledgedEmittedCount)")
        }
        if inputDone.load(ordering: .acquiring) { inputThread?.join() }
        let inputFailureText = inputFailure.withLock { $0 }
        if let inputFailureText { errorLine("error: \(inputFailureText)") }
        let statistics = pipeline.statistics
        errorLine(status(statistics, oversizeLines: oversize.load(ordering: .relaxed)))
        return RunSummary(
            recovery: recovery,
            statistics: statistics,
            invalidLines: invalid.load(ordering: .relaxed),
            settled: settled || statistics.pendingDeliveries == 0,
            stoppedBySignal: stoppedBySignal,
            failure: pipeline.failure,
            inputFailure: inputFailureText
        )
    }

    /// `recovered: checkpoint 120, 35 events re-matched, 12 deliveries resumed (…)`.
    public static func describe(_ recovery: PipelineRecovery, directory: String) -> String {
        var text = "log \(directory): next sequence \(recovery.log.nextSequence)"
        if !recovery.incidents.isEmpty { text += "; \(recovery.incidents.count) repairs (above)" }
        text += "; checkpoint \(recovery.checkpoint), \(recovery.eventsRematched) events re-matched, "
        text +=
            "\(recovery.deliveriesResumed) deliveries resumed (\(recovery.deliveriesCarried) carried by the webhook "
        text += "checkpoints), \(recovery.deliveriesAlreadyFinal) already final"
        if recovery.deliveriesDropped > 0 {
            text += "; \(recovery.deliveriesDropped) pending deliveries dropped (webhook removed or renamed, no longer "
            text += "matched, or event gone)"
        }
        if let note = recovery.checkpointNote { text += "; " + note }
        return text
    }

    /// One status line; `oversizeLines` are input lines refused before `emit` (too long to be an event),
    /// counted as invalid with the pipeline's own.
    public static func status(_ statistics: PipelineStatistics, oversizeLines: Int = 0) -> String {
        "accepted \(statistics.accepted), journaled \(statistics.journaled), matched \(statistics.matched), "
            + "delivered \(statistics.delivered), failed attempts \(statistics.failedAttempts), "
            + "dead letters \(statistics.deadLettered), pending \(statistics.pendingDeliveries), "
            + "in flight \(statistics.inFlight), backpressured \(statistics.backpressured), "
            + "invalid \(statistics.invalid + oversizeLines)"
            + (statistics.spillingWebhooks > 0
                ? ", backlog in the log for \(statistics.spillingWebhooks) webhooks" : "")
            + (statistics.disabledEndpoints.isEmpty
                ? "" : ", DISABLED (410 Gone): \(statistics.disabledEndpoints.joined(separator: ", "))")
    }
}
