public import ArgumentParser
import Sluice

extension EventView: ExpressibleByArgument {}

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate and convert JSON Lines streams of events (Prefect wire shape).",
        subcommands: [Validate.self, Convert.self, Query.self]
    )

    struct LimitOptions: ParsableArguments {
        @Option(help: "Largest event in bytes.")
        var eventByteCountMax = EventLimits().eventByteCountMax
        @Option(help: "Most labels on one resource.")
        var labelsPerResourceCountMax = EventLimits().labelsPerResourceCountMax
        @Option(help: "Most related resources (Prefect's stock default is 100; Infrahub deploys 500).")
        var relatedResourceCountMax = EventLimits().relatedResourceCountMax
        @Option(help: "Longest event name in bytes.")
        var eventNameByteCountMax = EventLimits().eventNameByteCountMax

        var limits: EventLimits {
            var limits = EventLimits()
            limits.eventByteCountMax = eventByteCountMax
            limits.labelsPerResourceCountMax = labelsPerResourceCountMax
            limits.relatedResourceCountMax = relatedResourceCountMax
            limits.eventNameByteCountMax = eventNameByteCountMax
            return limits
        }

        func validate() throws {
            try checkRange(eventByteCountMax, 1...(1 << 30), "--event-byte-count-max")
            try checkRange(labelsPerResourceCountMax, 1...1_000_000, "--labels-per-resource-count-max")
            try checkRange(relatedResourceCountMax, 0...1_000_000, "--related-resource-count-max")
            try checkRange(eventNameByteCountMax, 1...1_000_000, "--event-name-byte-count-max")
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every line of each file; print every bad line with its position and field.",
            discussion: "Exits 0 when every event is valid, 1 when some are not, 3 when a file cannot be read."
        )

        @Argument(help: "JSON Lines files ('-' for standard input).")
        var files: [String]

        @OptionGroup var limitOptions: LimitOptions

        @Option(help: "Print at most this many errors (all are counted).")
        var errorCountMax = 1000

        func validate() throws {
            try checkRange(errorCountMax, 0...Int(Int32.max), "--error-count-max")
        }

        func run() throws {
            var printed = 0
            let (summary, seconds) = try measure {
                do {
                    return try EventFiles.validate(paths: files, limits: limitOptions.limits) { error in
                        if printed < errorCountMax { printError("error: \(error)") }
                        printed += 1
                    }
                } catch {
                    throw exitStatus(reporting: error, ExitStatus.ioFailure)
                }
            }
            if printed > errorCountMax { printError("… \(printed - errorCountMax) more errors not shown") }
            print(
                "\(summary.validCount) valid, \(summary.invalidCount) invalid of \(summary.lineCount) lines in "
                    + "\(summary.fileCount) file(s), \(megabytes(summary.byteCount)) in \(format1(seconds)) s "
                    + "(\(formatRate(Double(summary.lineCount), seconds)) events/s, "
                    + "\(formatRate(Double(summary.byteCount), seconds))B/s)"
            )
            if summary.invalidCount > 0 { throw ExitStatus.invalidInput }
        }
    }

    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write each valid event as one of its wire views, one per line.",
            discussion: """
                prefect: the Prefect event JSON, compact. webhook-body: the Infrahub webhook body, byte-exact \
                (data, id, branch, account_id, occured_at, event). graphql: the GraphQL EventNodeInterface object. \
                Invalid lines are reported on standard error and skipped; the exit status is then 1.
                """
        )

        @Option(help: "The view to write: prefect, webhook-body or graphql.")
        var to: EventView

        @Option(name: .shortAndLong, help: "Output file ('-' for standard output).")
        var output = "-"

        @Argument(help: "JSON Lines files ('-' for standard input).")
        var files: [String]

        @OptionGroup var limitOptions: LimitOptions

        func run() throws {
            var invalid = 0
            do {
                let writer = try BufferedWriter(path: output)
                let summary = try EventFiles.convert(paths: files, to: to, output: writer, limits: limitOptions.limits)
                {
                    error in
                    printError("error: \(error)")
                    invalid += 1
                }
                try writer.close()
                if output != "-" {
                    print(
                        "\(summary.validCount) events converted to \(to.rawValue), \(megabytes(summary.outputByteCount)) written to \(output)"
                    )
                }
            } catch {
                throw exitStatus(reporting: error, ExitStatus.ioFailure)
            }
            if invalid > 0 { throw ExitStatus.invalidInput }
        }
    }
}
