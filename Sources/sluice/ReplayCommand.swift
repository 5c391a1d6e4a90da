import ArgumentParser
import SluiceTools

#if canImport(Glibc)
import Glibc
#endif

/// `sluice replay`: the load tester.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load-test: replay a fixture through the full pipeline into the configured endpoints and report.",
        discussion: """
            Emits the fixture's events at --rate (or as fast as the pipeline takes them), waits for their \
            deliveries, and prints the report: throughput per stage, emit-to-2xx latency (HDR histograms overall, \
            per stage and per trigger), deliveries ok / retried / dead-lettered. --report-dir also writes \
            report.txt, report.json and a self-contained report.html with latency plots. The log goes to a new \
            temporary directory unless --log is given.
            """
    )

    @Argument(help: "A JSON Lines fixture (sluice fixtures generate).")
    var fixture: String
    @Option(help: "The configuration (webhooks, triggers, pipeline section; YAML or JSON).")
    var config: String
    @Option(help: "Events per second (default: as fast as the pipeline takes them).")
    var rate: Double?
    @Option(help: "Stop emitting after this many seconds.")
    var duration: Double?
    @Flag(help: "With --duration: start the fixture again when it ends.")
    var loop = false
    @Option(help: "The log directory (default: a new temporary one, removed afterwards).")
    var log: String?
    @Option(help: "Write report.txt, report.json and report.html here.")
    var reportDir: String?
    @Option(help: "Seconds to wait for deliveries after the last emit.")
    var drainTimeout: Double = 60

    func validate() throws {
        try checkRange(rate, 0.001...100_000_000, "--rate")
        try checkRange(duration, 0.001...31_536_000, "--duration")
        try checkRange(drainTimeout, 0...86_400, "--drain-timeout")
        if loop, duration == nil { throw ValidationError("--loop needs --duration") }
    }

    func run() throws {
        do {
            // The report directory is made before the run, so a bad path fails now, not after it.
            if let reportDir { try WorkDirectory.create(reportDir) }
            let temporary = log == nil ? try WorkDirectory.make(prefix: "sluice-replay") : nil
            defer { if let temporary { try? WorkDirectory.remove(temporary) } }
            let configuration = try PipelineConfiguration.load(
                path: config,
                environment: WebhookFiles.processEnvironment(),
                logDirectory: log ?? temporary.map { $0 + "/log" }
            )
            var options = Replayer.Options(fixturePath: fixture)
            options.rate = rate
            // In range (validate()): at most 365 days, so the milliseconds fit.
            options.duration = duration.map { .milliseconds(Int64(($0 * 1000).rounded())) }
            options.loop = loop
            options.drainTimeout = .milliseconds(Int64((drainTimeout * 1000).rounded()))
            let report = try Replayer.run(options, configuration: configuration, progress: progressLine)
            finishProgressLine()
            try printReport(report, directory: reportDir)
        } catch {
            finishProgressLine()
            throw exitStatus(reporting: error)
        }
    }
}

/// `sluice demo`: the main job on the embedded default.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "The main job: generate a fixture, start a sink on loopback, replay it through the full pipeline, report.",
        discussion: """
            Everything runs in this process on 127.0.0.1: a sink that verifies every signature, and the pipeline \
            (segment log with fsync interval:5, 1,000 triggers of which 100 webhooks deliver to the sink). Files \
            go to --directory (default: a new /tmp/sluice-demo-XXXXXX, removed unless --keep).
            """
    )

    @OptionGroup var generator: Fixtures.GeneratorOptions
    @Option(help: "Triggers in the index (webhooks included).")
    var triggers = 1_000
    @Option(help: "Webhooks that deliver to the sink.")
    var webhooks = 100
    @Option(help: "Events per second (default: as fast as the pipeline takes them).")
    var rate: Double?
    @Option(help: "Working directory (fixture, log, reports).")
    var directory: String?
    @Flag(help: "Keep the files of the default temporary directory.")
    var keep = false

    func validate() throws {
        try checkRange(triggers, 1...1_000_000, "--triggers")
        try checkRange(webhooks, 1...triggers, "--webhooks")
        try checkRange(rate, 0.001...100_000_000, "--rate")
    }

    func run() throws {
        var options = DemoJob.Options()
        var fixture = generator.configuration
        if generator.events == 100_000 { fixture.eventCount = 20_000 }  // the demo's own default size
        options.fixture = fixture
        options.triggerCount = triggers
        options.webhookCount = webhooks
        options.rate = rate
        options.directory = directory
        do {
            let outcome = try DemoJob.run(options, step: printError, progress: progressLine)
            finishProgressLine()
            try printReport(outcome.report, directory: outcome.directory)
            printUnbuffered("sink: \(outcome.sinkSummary)")
            if directory == nil && !keep {
                try WorkDirectory.remove(outcome.directory)
                printUnbuffered("(files removed; --keep keeps them)")
            } else {
                printUnbuffered(
                    "files: \(outcome.directory) (events.jsonl, log/, report.txt, report.json, report.html)"
                )
            }
            if outcome.sinkRejected > 0 { throw ExitStatus.invalidInput }
        } catch {
            finishProgressLine()
            throw exitStatus(reporting: error)
        }
    }
}

/// Prints the text report and, with a directory, writes the three renderings there.
func printReport(_ report: LoadTestReport, directory: String?) throws {
    let text = report.text()
    printUnbuffered(text)
    guard let directory else { return }
    for (name, content) in [("report.txt", text), ("report.json", report.json()), ("report.html", report.html())] {
        let writer = try BufferedWriter(path: directory + "/" + name)
        try writer.write(content)
        try writer.close()
    }
    printUnbuffered("reports: \(directory)/report.{txt,json,html}")
}

/// A progress line on standard error, redrawn in place.
func progressLine(_ line: String) {
    let bytes = Array(("\r" + line).utf8)
    _ = bytes.withUnsafeBytes { raw in write(2, raw.baseAddress, raw.count) }
}

/// Ends the progress line.
func finishProgressLine() {
    _ = [UInt8(0x0A)].withUnsafeBytes { raw in write(2, raw.baseAddress, raw.count) }
}
