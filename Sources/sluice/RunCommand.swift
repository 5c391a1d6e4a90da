import ArgumentParser
import Sluice

#if canImport(Glibc)
import Glibc
#endif

/// The main job on the embedded default. For now: generate a fixture stream, validate it, convert it to
/// Infrahub webhook bodies, and print a summary (issue 7 turns this into the full pipeline run).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the main job on the embedded default: generate → validate → convert, with a summary."
    )

    @OptionGroup var generator: Fixtures.GeneratorOptions

    @Option(
        help: "Working directory for the generated files (default: a new directory under /tmp, removed afterwards)."
    )
    var directory: String?

    @Flag(help: "Keep the generated files in the default temporary directory.")
    var keep = false

    func run() throws {
        let workDirectory = try directory ?? makeTemporaryDirectory()
        let eventsPath = workDirectory + "/events.jsonl"
        let bodiesPath = workDirectory + "/webhook-bodies.jsonl"
        print(
            "sluice run: \(generator.events) events, seed \(generator.seed), \(generator.kinds) kinds, "
                + "\(generator.branches) branches → \(workDirectory)"
        )
        do {
            let (bytes, generateSeconds) = try measure {
                try FixtureFiles.generateEvents(generator.configuration, path: eventsPath)
            }
            print("  generate  \(megabytes(bytes)) in \(format1(generateSeconds)) s")
            var firstErrors: [String] = []
            let (summary, validateSeconds) = try measure {
                try EventFiles.validate(paths: [eventsPath]) { error in
                    if firstErrors.count < 10 { firstErrors.append(error.description) }
                }
            }
            for error in firstErrors { printError("error: \(error)") }
            print(
                "  validate  \(summary.validCount) valid, \(summary.invalidCount) invalid in \(format1(validateSeconds)) s "
                    + "(\(formatRate(Double(summary.validCount), validateSeconds)) events/s, "
                    + "\(formatRate(Double(summary.byteCount), validateSeconds))B/s)"
            )
            let writer = try BufferedWriter(path: bodiesPath)
            let (converted, convertSeconds) = try measure {
                try EventFiles.convert(paths: [eventsPath], to: .webhookBody, output: writer) { _ in }
            }
            try writer.close()
            print(
                "  convert   \(converted.validCount) webhook bodies, \(megabytes(converted.outputByteCount)) in "
                    + "\(format1(convertSeconds)) s (\(formatRate(Double(converted.validCount), convertSeconds)) events/s)"
            )
            if let earliest = summary.earliest, let latest = summary.latest {
                print("  span      \(earliest) … \(latest)")
            }
            print("  events by name (top 8):")
            for (name, count) in summary.countsByName.prefix(8) { print("    \(count)\t\(name)") }
            if directory == nil && !keep {
                unlink(eventsPath)
                unlink(bodiesPath)
                rmdir(workDirectory)
                print("  \(summary.countsByName.count) distinct event names (files removed; --keep keeps them)")
            } else {
                print("  \(summary.countsByName.count) distinct event names; files: \(eventsPath), \(bodiesPath)")
            }
            if summary.invalidCount > 0 { throw ExitStatus.invalidInput }
        } catch let error as SystemCallError {
            printError("error: \(error)")
            throw ExitStatus.ioFailure
        }
    }

    private func makeTemporaryDirectory() throws -> String {
        var template = Array("/tmp/sluice-run-XXXXXX".utf8CString)
        guard let pointer = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SystemCallError(operation: "mkdtemp", path: "/tmp/sluice-run-XXXXXX", errno: errno)
        }
        return String(cString: pointer)
    }
}
