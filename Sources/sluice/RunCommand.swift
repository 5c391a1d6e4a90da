import ArgumentParser
import Sluice
import SluiceServer

/// `sluice run`: the pipeline as a process.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run the pipeline: recover the log, ingest JSON Lines events, deliver the webhooks, until interrupted.",
        discussion: """
            Reads the configuration (webhooks, triggers, `log` and `pipeline` sections; YAML or JSON), recovers the \
            log, re-sends deliveries that have no final outcome, then takes events from --input (a JSON Lines file, \
            or - for standard input) and runs until SIGINT/SIGTERM, which drain it cleanly. Status lines go to \
            standard error.
            """
    )

    @Option(help: "The configuration file (YAML or JSON).")
    var config: String
    @Option(help: "JSON Lines events to ingest: a file, or - for standard input.")
    var input: String?
    @Option(help: "The log directory (overrides the configuration's log.directory).")
    var log: String?
    @Flag(help: "Once the input is ingested and every delivery is final, stop and exit.")
    var exitWhenDone = false
    @Option(help: "With --exit-when-done: seconds to wait for deliveries before stopping anyway.")
    var doneTimeout: Double = 300
    @Flag(help: "Print 'ack N' on standard output whenever the first N accepted events are durable.")
    var reportAcknowledged = false
    @Option(help: "Seconds between status lines on standard error (0: none).")
    var statusInterval: Double = 5

    func validate() throws {
        try checkRange(doneTimeout, 0...31_536_000, "--done-timeout")
        try checkRange(statusInterval, 0...86_400, "--status-interval")
    }

    func run() throws {
        StopSignals.block()
        var options = PipelineFiles.RunOptions(configurationPath: config)
        options.inputPath = input
        options.logDirectory = log
        options.exitWhenDone = exitWhenDone
        options.doneTimeoutSeconds = doneTimeout
        options.reportAcknowledged = reportAcknowledged
        options.statusIntervalSeconds = statusInterval
        let summary: PipelineFiles.RunSummary
        do {
            // The `server` section is `sluice serve`'s, but a mistake in it is refused here too.
            try ServerConfiguration.check(path: config)
            summary = try PipelineFiles.run(options, outputLine: printUnbuffered, errorLine: printError)
        } catch {
            throw exitStatus(reporting: error)
        }
        // The log failed (e.g. the disk is full): a supervisor must not take this for a clean stop.
        if summary.failure != nil || summary.inputFailure != nil { throw ExitStatus.ioFailure }
        if summary.invalidLines > 0 { throw ExitStatus.invalidInput }
        if exitWhenDone, !summary.settled, !summary.stoppedBySignal {
            printError(
                "stopped with \(summary.statistics.pendingDeliveries) deliveries not final (they resume next start)"
            )
            throw ExitStatus.invalidInput
        }
    }
}
