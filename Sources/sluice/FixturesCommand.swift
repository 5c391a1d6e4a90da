import ArgumentParser
import SluiceTools

struct Fixtures: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate deterministic event streams and matching trigger configurations.",
        subcommands: [Generate.self]
    )

    struct GeneratorOptions: ParsableArguments {
        @Option(help: "Number of events.")
        var events = 100_000
        @Option(help: "Seed: the same options always give the same bytes.")
        var seed: UInt64 = 1
        @Option(help: "Distinct node kinds.")
        var kinds = 8
        @Option(help: "Distinct branches (main plus branch-N).")
        var branches = 4
        @Option(help: "Distinct accounts.")
        var accounts = 6

        var configuration: FixtureGenerator.Configuration {
            FixtureGenerator.Configuration(
                eventCount: events,
                seed: seed,
                kindCount: kinds,
                branchCount: branches,
                accountCount: accounts
            )
        }

        func validate() throws {
            try checkRange(events, 0...1_000_000_000, "--events")
            try checkRange(kinds, 1...100_000, "--kinds")
            try checkRange(branches, 1...100_000, "--branches")
            try checkRange(accounts, 1...100_000, "--accounts")
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a realistic JSON Lines stream of Infrahub events (and optionally webhooks that match it)."
        )

        @OptionGroup var generator: GeneratorOptions

        @Option(name: .shortAndLong, help: "Events output file ('-' for standard output).")
        var output = "-"

        @Option(help: "Also write a configuration of this many webhooks/triggers matching the stream.")
        var triggers: Int?

        @Option(help: "Where to write the trigger configuration.")
        var triggersOutput = "triggers.json"

        func validate() throws {
            try checkRange(triggers, 0...10_000_000, "--triggers")
        }

        func run() throws {
            do {
                let total = generator.events
                let showProgress = output != "-" && total >= 200_000
                let (bytes, seconds) = try measure {
                    try FixtureFiles.generateEvents(generator.configuration, path: output) { count in
                        if showProgress { printError("generated \(count)/\(total) events") }
                    }
                }
                if output != "-" {
                    print("wrote \(total) events, \(megabytes(bytes)) to \(output) in \(format1(seconds)) s")
                }
                if let triggers {
                    let triggerBytes = try FixtureFiles.generateTriggers(
                        generator.configuration,
                        count: triggers,
                        path: triggersOutput
                    )
                    print("wrote \(triggers) webhooks and triggers, \(megabytes(triggerBytes)) to \(triggersOutput)")
                }
            } catch {
                throw exitStatus(reporting: error, ExitStatus.ioFailure)
            }
        }
    }
}
