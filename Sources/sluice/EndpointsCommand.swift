import ArgumentParser
import Sluice

/// `sluice endpoints list|enable`: webhooks that `410 Gone` disabled.
struct Endpoints: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoints",
        abstract: "Webhook endpoints and their state: list them, or enable one that 410 Gone disabled.",
        subcommands: [List.self, Enable.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "One line per endpoint: webhook, state (enabled or disabled), and for a disabled one why and since when.",
            discussion: "With --config, every configured webhook is listed; with --log only, the disabled ones."
        )
        @OptionGroup var location: DeadLetters.Location

        func run() throws {
            let disabled: [DisabledEndpoint]
            var configured: [String] = []
            do {
                disabled = try EndpointStateFiles.read(directory: try location.directory())
                if let config = location.config {
                    configured = try PipelineConfiguration.load(
                        path: config,
                        environment: WebhookFiles.processEnvironment()
                    ).webhooks.webhooks.map(\.name)
                }
            } catch {
                throw exitStatus(reporting: error, ExitStatus.invalidInput)
            }
            let byName = Dictionary(disabled.map { ($0.webhook, $0) }, uniquingKeysWith: { _, last in last })
            for name in configured where byName[name] == nil { printUnbuffered("\(name) enabled") }
            for endpoint in disabled {
                printUnbuffered("\(endpoint.webhook) disabled since \(endpoint.at): \(endpoint.reason)")
            }
            printError("\(disabled.count) disabled endpoints")
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enable a webhook that 410 Gone disabled (journaled in the log).",
            discussion: """
                Needs the log's writer lock: stop the pipeline running on the directory first. Deliveries that \
                dead-lettered while it was disabled stay dead letters: `sluice deadletters redrive --webhook NAME`.
                """
        )
        @OptionGroup var location: DeadLetters.Location
        @Argument(help: "The webhook's name.")
        var name: String

        func run() throws {
            do {
                guard try EndpointStateFiles.enable(directory: try location.directory(), webhook: name) else {
                    printError("error: webhook '\(name)' is not disabled")
                    throw ExitStatus.invalidInput
                }
                printUnbuffered("\(name) enabled")
            } catch {
                throw exitStatus(reporting: error, ExitStatus.ioFailure)
            }
        }
    }
}
