import ArgumentParser
import Sluice

struct Triggers: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Trigger configurations: compile them, and explain why an event does or does not fire each trigger.",
        subcommands: [Compile.self, Explain.self]
    )

    static func load(_ path: String) throws -> TriggerConfiguration {
        do {
            return try ConfigurationFile.loadTriggers(path: path)
        } catch {
            throw exitStatus(reporting: error)
        }
    }

    struct Compile: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Compile a configuration and print index statistics.")
        @Option(help: "The configuration, JSON or YAML (default_branch, webhooks, triggers).")
        var config: String

        func run() throws {
            let configuration = try Triggers.load(config)
            let triggers = configuration.allTriggers
            let (index, seconds) = measure { TriggerIndex.compile(triggers, symbols: SymbolTable()) }
            let statistics = index.statistics
            print(
                "\(configuration.webhooks.count) webhooks + \(configuration.triggers.count) triggers "
                    + "(\(triggers.filter(\.enabled).count) enabled), compiled in \(format1(seconds * 1000)) ms"
            )
            print(
                "exact event names \(statistics.exactNameCount), triggers needing a name pattern check "
                    + "\(statistics.patternTriggerCount)"
            )
            let stateful = triggers.filter { $0.stateSummary != nil }
            print(
                "stateful triggers \(stateful.count) (\(stateful.filter { $0.posture == .proactive }.count) Proactive)"
            )
            print(
                "value buckets over [\(statistics.dimensions.joined(separator: ", "))]: "
                    + "\(statistics.indexedTriggerCount) triggers bucketed, \(statistics.unindexedTriggerCount) "
                    + "checked for every event of their names; \(statistics.programCount) distinct residual "
                    + "programs, \(statistics.literalCount) literal values"
            )
        }
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "For every trigger: whether the event fires it, or the first condition that failed."
        )
        @Option(help: "The configuration, JSON or YAML (default_branch, webhooks, triggers).")
        var config: String
        @Argument(help: "A file holding one event (Prefect JSON).")
        var event: String

        func run() throws {
            let configuration = try Triggers.load(config)
            var decoder = EventDecoder()
            let decoded: Event
            do {
                decoded = try decoder.decode(
                    try readWholeFile(path: event, byteCountMax: EventLimits().eventByteCountMax)
                )
            } catch {
                throw exitStatus(reporting: error, ExitStatus.invalidInput, context: "\(event)")
            }
            var fired = 0
            for trigger in configuration.allTriggers {
                let verdict = ReferenceMatcher.evaluate(trigger, decoded, symbols: decoder.symbols)
                let reason: String
                switch verdict {
                case .matches:
                    fired += 1
                    let name = decoder.symbols.string(decoded.header.name)
                    if let state = trigger.stateSummary {
                        reason =
                            trigger.events.expects(name)
                            ? "reaches it and counts toward its window (\(state))"
                            : "reaches it and only opens a window (after; \(state))"
                    } else {
                        reason = "fires"
                    }
                case .disabled: reason = "disabled"
                case .eventName(let name):
                    reason = "event name \(name) is not covered by expect \(trigger.events.expect)"
                case .match(let label):
                    let value = decoder.symbols.lookup(label).flatMap {
                        decoded.labelValue($0, of: decoded.header.primary)
                    }
                    reason =
                        "match: \(label) = \(value.map { "\"\($0)\"" } ?? "(absent)") fails \(patterns(trigger.match, label))"
                case .matchRelated(let index):
                    reason = "match_related[\(index)]: no related resource satisfies it"
                }
                print("\(trigger.name): \(reason)")
            }
            print("\(fired) of \(configuration.allTriggers.count) triggers fire or count the event")
        }

        private func patterns(_ specification: ResourceSpecification, _ label: String) -> String {
            let texts = specification.conditions.first { $0.label == label }?.patterns.map(\.text) ?? []
            return "[" + texts.joined(separator: ", ") + "]"
        }
    }
}
