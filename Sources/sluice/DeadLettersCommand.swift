import ArgumentParser
import Sluice

/// `sluice deadletters list|redrive`.
struct DeadLetters: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deadletters",
        abstract: "Deliveries that ran out of attempts: list them, or ask for them to be delivered again.",
        subcommands: [List.self, Redrive.self]
    )

    struct Location: ParsableArguments {
        @Option(help: "The log directory.")
        var log: String?
        @Option(help: "A pipeline configuration whose log.directory to use.")
        var config: String?

        func directory() throws -> String {
            if let log { return log }
            guard let config else { throw ValidationError("give --log DIR or --config FILE") }
            return try PipelineConfiguration.load(path: config, environment: WebhookFiles.processEnvironment())
                .log.directory
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One line per dead letter: event sequence, event id, webhook, webhook-id, attempts, last failure."
        )
        @OptionGroup var location: Location
        @Flag(help: "Print each dead letter's outcome record (JSON) instead.")
        var json = false

        func run() throws {
            let entries: [DeadLetterEntry]
            do {
                entries = try DeadLetterFiles.list(directory: try location.directory())
            } catch {
                throw exitStatus(reporting: error, ExitStatus.invalidInput)
            }
            for entry in entries {
                let record = entry.record
                if json {
                    printUnbuffered(String(decoding: record.encoded(), as: UTF8.self))
                } else {
                    printUnbuffered(
                        "\(record.eventSequence) \(record.eventID) \(record.webhook) \(record.webhookID) "
                            + "attempts \(record.attempt) \(record.failureClass?.rawValue ?? "-") "
                            + "\(record.statusCode.map(String.init) ?? "-") \(record.at): \(record.message ?? "")"
                    )
                }
            }
            if !json { printError("\(entries.count) dead letters") }
        }
    }

    struct Redrive: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue dead letters for delivery again (the next `sluice run` sends them, attempts from 1).",
            discussion: "Needs the log's writer lock: stop the pipeline running on the directory first."
        )
        @OptionGroup var location: Location
        @Option(help: "Only this webhook's dead letters.")
        var webhook: String?
        @Option(help: "Only this event's (by event id, a UUID).")
        var event: String?

        func validate() throws {
            if let event, EventID.parse(Array(event.utf8)) == nil {
                throw ValidationError(
                    "--event '\(event)' is not an event id (a UUID like bf569ddc-2a30-4491-82f1-0689f6cdb5e1)"
                )
            }
        }

        func run() throws {
            do {
                let redriven = try DeadLetterFiles.redrive(
                    directory: try location.directory(),
                    webhook: webhook,
                    eventID: event
                )
                printUnbuffered("\(redriven.count) dead letters queued for redelivery")
            } catch {
                throw exitStatus(reporting: error, ExitStatus.invalidInput)
            }
        }
    }
}
