import ArgumentParser
import Sluice

/// `sluice workflows runs`: the workflow runs journaled in a log (docs/workflows.md).
struct Workflows: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflows",
        abstract: "Workflow runs: list what ran, how it ended, and what failed.",
        subcommands: [Runs.self]
    )

    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "One line per run: run id, workflow, trigger, triggering event, attempts, outcome, exit status, duration.",
            discussion: """
                Reads the log's workflow run records (it may run beside the pipeline). A run whose last record is \
                'started' is running now, or was interrupted by a crash and runs again at the next start.
                """
        )
        @OptionGroup var location: DeadLetters.Location
        @Flag(help: "Only runs whose last attempt failed: dead-lettered, refused, or waiting for a retry.")
        var failed = false
        @Flag(help: "Print each run as one JSON object (its last record, with first_at and records).")
        var json = false

        func run() throws {
            let runs: [WorkflowRunFiles.Run]
            do {
                runs = try WorkflowRunFiles.runs(directory: try location.directory(), failedOnly: failed)
            } catch {
                throw exitStatus(reporting: error, ExitStatus.invalidInput)
            }
            for run in runs {
                if json {
                    printUnbuffered(run.json.encodedString())
                    continue
                }
                let last = run.last
                let state = last.outcome?.rawValue ?? "running"
                var line = "\(last.runID) \(last.workflow) trigger=\(last.trigger) event=\(last.eventID) "
                line += "attempt=\(last.attempt) \(state)"
                if let status = last.exitStatus { line += " exit=\(status)" }
                if let signal = last.signal { line += " signal=\(signal)" }
                if last.timedOut { line += " timed-out" }
                if last.phase == .finished { line += " \(last.durationMicroseconds / 1_000) ms" }
                if let message = last.message { line += ": \(message)" }
                printUnbuffered(line)
            }
            printError("\(runs.count) \(failed ? "failed " : "")runs")
        }
    }
}
