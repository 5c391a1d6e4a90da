import ArgumentParser
import Sluice

#if canImport(Glibc)
import Glibc
#endif

@main
struct SluiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "A high-throughput event pipeline: Infrahub events, GitHub deliveries, signed webhooks.",
        version: SluiceVersion.current,
        subcommands: [
            Run.self, Events.self, GitHub.self, Fixtures.self, Log.self, Triggers.self, Webhooks.self, SinkCommand.self,
            DeadLetters.self, Endpoints.self, Replay.self, Demo.self, Serve.self, Workflows.self, Emit.self,
        ],
        defaultSubcommand: nil
    )

    /// ArgumentParser's own `main`, but a usage error (an unknown option, a bad value, a failed `validate()`)
    /// exits with the documented status 2 instead of ArgumentParser's 64 (`EX_USAGE`).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if exitCode(for: error) == .validationFailure {
                printError(fullMessage(for: error))
                Glibc.exit(ExitStatus.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}

/// Exit statuses shared by every command (docs/cli.md, "Exit status and errors").
enum ExitStatus {
    /// Input was read but some of it is invalid (every problem was printed).
    static let invalidInput = ExitCode(1)
    /// Bad command-line usage: an unknown option, a missing argument, a value out of its range.
    static let usage = ExitCode(2)
    /// A file could not be read or written (for `sluice run`: the log failed, e.g. the disk is full).
    static let ioFailure = ExitCode(3)
}

/// The one way a command reports a failure: prints `error: [context: ]error` on standard error and returns the
/// exit status to throw (`} catch { throw exitStatus(reporting: error) }`). Without `status`, a failed system
/// call (a file, the disk) is ``ExitStatus/ioFailure`` and anything else ``ExitStatus/invalidInput``. An exit
/// status thrown inside the `do` (the problem was already printed) passes through as it is.
func exitStatus(reporting error: any Error, _ status: ExitCode? = nil, context: String? = nil) -> ExitCode {
    if let exit = error as? ExitCode { return exit }
    printError("error: " + (context.map { "\($0): " } ?? "") + "\(error)")
    return status ?? (error is SystemCallError ? ExitStatus.ioFailure : ExitStatus.invalidInput)
}

/// Standard output of a command that prints what it reads and may meet a failure part way (`log dump`,
/// `events query`): buffered, written until the first write error, and closed on every path, so that
/// everything read before a failure is printed before the failure is reported.
final class CommandOutput {
    private let writer: BufferedWriter
    private var writeError: SystemCallError?

    init() throws {
        do {
            writer = try BufferedWriter(path: "-")
        } catch {
            throw exitStatus(reporting: error, ExitStatus.ioFailure)
        }
    }

    /// Runs `write` on the buffer unless a write failed before; `false` once one has.
    @discardableResult
    func write(_ write: (BufferedWriter) throws(SystemCallError) -> Void) -> Bool {
        guard writeError == nil else { return false }
        do throws(SystemCallError) { try write(writer) } catch { writeError = error }
        return writeError == nil
    }

    /// Closes standard output, then reports the first write error (exit 3), else `failure` with `status`.
    func finish(after failure: (any Error)?, status: ExitCode) throws {
        do throws(SystemCallError) { try writer.close() } catch { writeError = writeError ?? error }
        if let writeError { throw exitStatus(reporting: writeError, ExitStatus.ioFailure) }
        if let failure { throw exitStatus(reporting: failure, status) }
    }
}

/// Throws a usage error (exit 2) unless `value` is in `range`: `--rate must be from 1.0e-06 to 100000000.0,
/// not 1e+300`. NaN is never in a range.
func checkRange<Value: Comparable>(_ value: Value?, _ range: ClosedRange<Value>, _ option: String) throws {
    guard let value, !range.contains(value) else { return }
    throw ValidationError("\(option) must be from \(range.lowerBound) to \(range.upperBound), not \(value)")
}

/// Prints to standard error.
func printError(_ text: String) {
    var line = Array(text.utf8)
    line.append(0x0A)
    // Standard error is unbuffered; a short write of a diagnostic line is not worth retrying.
    _ = line.withUnsafeBytes { raw in write(2, raw.baseAddress, raw.count) }
}

/// Prints a line to standard output immediately (no stdio buffering), for progress a parent process reads.
func printUnbuffered(_ text: String) {
    var line = Array(text.utf8)
    line.append(0x0A)
    var written = 0
    while written < line.count {
        let result = line.withUnsafeBytes { raw in write(1, raw.baseAddress! + written, raw.count - written) }
        if result <= 0 { return }  // the reader went away; nothing useful left to do with the line
        written += result
    }
}

/// Wall-clock seconds of `body` (CLI reporting only; never used in the library).
func measure<Result>(_ body: () throws -> Result) rethrows -> (Result, Double) {
    let clock = ContinuousClock()
    let start = clock.now
    let result = try body()
    let elapsed = start.duration(to: clock.now)
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return (result, seconds)
}

func formatRate(_ count: Double, _ seconds: Double) -> String {
    guard seconds > 0 else { return "n/a" }
    let rate = count / seconds
    if rate >= 1e6 { return String(format1(rate / 1e6)) + " M" }
    if rate >= 1e3 { return String(format1(rate / 1e3)) + " k" }
    return format1(rate)
}

func format1(_ value: Double) -> String {
    let scaled = (value * 10).rounded() / 10
    return String(scaled)
}

func megabytes(_ bytes: Int) -> String { format1(Double(bytes) / 1e6) + " MB" }
