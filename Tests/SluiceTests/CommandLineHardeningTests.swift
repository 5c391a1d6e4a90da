import Foundation
import SluiceTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// No input may crash `sluice`, exit statuses are the documented ones (docs/cli.md, "Exit status and errors"),
/// URLs are printed redacted, and the small things an operator reads are right — all through the built
/// executable as a child process.
@Suite(.serialized, .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"))
struct CommandLineHardeningTests {
    /// Files the cases use: an empty configuration, a fixture, a log directory.
    final class Workspace {
        let temporary = TemporaryDirectory()
        var path: String { temporary.path }
        var emptyConfiguration: String { path + "/empty.yaml" }
        var fixture: String { path + "/events.jsonl" }

        init() throws {
            writeFile(emptyConfiguration, Array("# nothing configured\n".utf8))
            let generated = try CommandLineTests.run(["fixtures", "generate", "--events", "20", "-o", fixture])
            #expect(generated.status == 0)
        }

        func write(_ name: String, _ text: String) -> String {
            writeFile(path + "/" + name, Array(text.utf8))
            return path + "/" + name
        }

        deinit { try? FileManager.default.removeItem(atPath: temporary.path + "/log") }
    }

    /// Every input that trapped (SIGILL, SIGSEGV) before: each is now an error naming the flag or key and
    /// its range, with status 2 (usage) or 1 (invalid configuration), never a signal.
    @Test(arguments: [
        (["replay", "FIXTURE", "--config", "EMPTY", "--rate", "1e300"], Int32(2), "--rate must be from 0.001 to"),
        (["replay", "FIXTURE", "--config", "EMPTY", "--duration", "1e300"], 2, "--duration must be from 0.001 to"),
        (
            ["replay", "FIXTURE", "--config", "EMPTY", "--drain-timeout", "1e300"], 2,
            "--drain-timeout must be from 0.0 to"
        ),
        (["replay", "FIXTURE", "--config", "EMPTY", "--rate", "nan"], 2, "--rate must be from"),
        (
            ["events", "validate", "--event-byte-count-max", "9223372036854775807", "FIXTURE"], 2,
            "--event-byte-count-max must be from 1 to 1073741824"
        ),
        (["log", "dump", "LOG", "--follow", "--idle-exit", "1e300"], 2, "--idle-exit must be from 0.001 to"),
        (["run", "--config", "EMPTY", "--done-timeout=-1"], 2, "--done-timeout must be from"),
        (["run", "--config", "EMPTY", "--no-such-flag"], 2, "Unknown option '--no-such-flag'"),
        (["webhooks", "verify", "--secret", "s", "--now=-9223372036854775808", "--signature", "x", "-"], 2, "--now"),
        (
            ["run", "--config", "CONFIG:pipeline: {retry_schedule_s: [0, 2e10]}"], 1,
            "pipeline.retry_schedule_s[1]: must be a number of seconds from 0 to 2592000"
        ),
        (
            ["run", "--config", "CONFIG:pipeline: {request_timeout_ms: 18446744073709551}"], 1,
            "pipeline.request_timeout_ms: must be an integer from 1 to 3600000"
        ),
        (
            ["run", "--config", "CONFIG:log: {fsync: \"interval:18446744073709551\"}"], 1,
            "log.fsync: must be always, never or interval:MILLISECONDS (1 to 3600000)"
        ),
        (["run", "--config", "DEEP"], 1, "nested deeper than 128 levels"),
        (["triggers", "compile", "--config", "DEEP"], 1, "nested deeper than 128 levels"),
        (["run", "--config", "BOMB"], 1, "aliases expand to more than 100000 nodes"),
        (["webhooks", "request", "--config", "BOMB", "--webhook", "w", "FIXTURE"], 1, "aliases expand to more than"),
    ])
    func trapsAreErrorsWithTheirRange(arguments: [String], status: Int32, message: String) throws {
        let workspace = try Workspace()
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
        var previous = "a"
        for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            bomb += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
            previous = name
        }
        let deep = "triggers: " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "\n"
        let resolved = arguments.map { argument -> String in
            switch argument {
            case "FIXTURE": workspace.fixture
            case "EMPTY": workspace.emptyConfiguration
            case "LOG": workspace.path + "/log"
            case "DEEP": workspace.write("deep.yaml", deep)
            case "BOMB": workspace.write("bomb.yaml", bomb)
            case let text where text.hasPrefix("CONFIG:"):
                workspace.write("config.yaml", text.dropFirst("CONFIG:".count) + "\n")
            default: argument
            }
        }
        let outcome = try CommandLineTests.run(resolved, input: Data())
        #expect(outcome.status == status, "\(arguments): \(outcome.standardError)")
        #expect(outcome.standardError.contains(message), "\(arguments): \(outcome.standardError)")
    }

    @Test func redriveRefusesAnEventIdThatIsNotAUUID() throws {
        let workspace = try Workspace()
        let outcome = try CommandLineTests.run([
            "deadletters", "redrive", "--log", workspace.path + "/log", "--event", "not-a-uuid",
        ])
        #expect(outcome.status == 2, "\(outcome.standardError)")
        #expect(outcome.standardError.contains("--event 'not-a-uuid' is not an event id"))
        #expect(!outcome.standardOutput.contains("queued"))
    }

    /// `webhooks request` reads a YAML configuration and prints the URL redacted unless `--show-secrets`.
    @Test func webhooksRequestRedactsTheURLAndReadsYAML() throws {
        let workspace = try Workspace()
        let configuration = workspace.write(
            "hooks.yaml",
            """
            webhooks:
              - name: slack
                url: "https://hooks.slack.com/services/T0/B0/SECRETPATH?token=SECRETTOKEN"
                kind: custom
            """
        )
        let event = workspace.write(
            "event.json",
            String(
                decoding: try readRepositoryFile("fixtures/infrahub/all-event-types.jsonl").split(separator: 0x0A)[0],
                as: UTF8.self
            )
        )
        let redacted = try CommandLineTests.run([
            "webhooks", "request", "--config", configuration, "--webhook", "slack", "--timestamp", "1", event,
        ])
        #expect(redacted.status == 0, "\(redacted.standardError)")
        #expect(redacted.standardOutput.hasPrefix("POST https://hooks.slack.com/REDACTED?token=REDACTED\n"))
        #expect(!redacted.standardOutput.contains("SECRET"))
        let shown = try CommandLineTests.run([
            "webhooks", "request", "--config", configuration, "--webhook", "slack", "--timestamp", "1",
            "--show-secrets",
            event,
        ])
        #expect(
            shown.standardOutput.hasPrefix("POST https://hooks.slack.com/services/T0/B0/SECRETPATH?token=SECRETTOKEN\n")
        )
        let typo = workspace.write("typo.yaml", "webhooks:\n  - {name: slack, url: \"http://h/\", brnach_scope: x}\n")
        let refused = try CommandLineTests.run(["webhooks", "request", "--config", typo, "--webhook", "slack", event])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("typo.yaml:2:"), "\(refused.standardError)")
        #expect(refused.standardError.contains("did you mean 'branch_scope'?"))
    }

    @Test func logAppendReportsItsRecoveryAsASentence() throws {
        let workspace = try Workspace()
        let log = workspace.path + "/log"
        #expect(try CommandLineTests.run(["log", "append", log, workspace.fixture]).status == 0)
        let segment = log + "/00000000000000000000.segment"
        let handle = try #require(FileHandle(forWritingAtPath: segment))
        handle.seekToEndOfFile()
        handle.write(Data("torn torn torn".utf8))
        try handle.close()
        let appended = try CommandLineTests.run(["log", "append", log, workspace.fixture])
        #expect(appended.status == 0)
        #expect(
            appended.standardError.contains(
                "recovered: truncated a torn tail of \(segment) at file offset 16639: 14 bytes, sequences from 20 on"
            ),
            "\(appended.standardError)"
        )
        #expect(!appended.standardError.contains("RecoveryReport("))
    }

    /// The report directory is made before the run (it failed at the end of a run when missing).
    @Test func replayMakesTheReportDirectoryUpFront() throws {
        let workspace = try Workspace()
        let reports = workspace.path + "/reports/nested"
        defer { try? FileManager.default.removeItem(atPath: workspace.path + "/reports") }
        let outcome = try CommandLineTests.run([
            "replay", workspace.fixture, "--config", workspace.emptyConfiguration, "--report-dir", reports,
            "--drain-timeout", "5",
        ])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        for name in ["report.txt", "report.json", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: reports + "/" + name), "\(name)")
        }
        let blocked = workspace.write("file", "not a directory")
        let refused = try CommandLineTests.run([
            "replay", workspace.fixture, "--config", workspace.emptyConfiguration, "--report-dir", blocked + "/reports",
        ])
        #expect(refused.status == 3, "\(refused.standardError)")
        #expect(!refused.standardOutput.contains("throughput"), "fails before the run")
    }

    /// The status line counts every invalid input line the run reported, the oversize ones included.
    @Test func statusLineCountsEveryReportedInvalidLine() throws {
        let workspace = try Workspace()
        let configuration = workspace.write("run.yaml", "log: {directory: log}\n")
        var input =
            try readRepositoryFile("fixtures/infrahub/all-event-types.jsonl").prefix(while: { $0 != 0x0A })
            + [0x0A]
        input += Array("{\"not\": \"an event\"}\n".utf8)
        input += Array("{\"event\": \"x\"".utf8) + Array(repeating: UInt8(ascii: " "), count: 1_600_000) + [0x7D, 0x0A]
        input += Array("[1, 2]\n".utf8)
        writeFile(workspace.path + "/input.jsonl", Array(input))
        let outcome = try CommandLineTests.run([
            "run", "--config", configuration, "--input", workspace.path + "/input.jsonl", "--exit-when-done",
            "--status-interval", "0",
        ])
        #expect(outcome.status == 1, "\(outcome.standardError)")
        let reported = outcome.standardError.split(separator: "\n").filter { $0.contains("input.jsonl:") }
        #expect(reported.count == 3, "\(outcome.standardError)")
        let status = try #require(outcome.standardError.split(separator: "\n").last { $0.hasPrefix("accepted ") })
        #expect(status.hasSuffix("invalid 3"), "\(status)")
        #expect(status.hasPrefix("accepted 1,"), "\(status)")
    }

    /// An input file that cannot be read is status 3 (a file could not be read), not 0.
    @Test func runExitsThreeWhenTheInputCannotBeRead() throws {
        let workspace = try Workspace()
        let configuration = workspace.write("run.yaml", "log: {directory: log}\n")
        let outcome = try CommandLineTests.run([
            "run", "--config", configuration, "--input", workspace.path + "/missing.jsonl", "--exit-when-done",
            "--status-interval", "0",
        ])
        #expect(outcome.status == 3, "\(outcome.standardError)")
        #expect(outcome.standardError.contains("missing.jsonl: No such file or directory"), "\(outcome.standardError)")
    }

    /// A full disk stops `sluice run` with status 3 (it exited 0, which a supervisor takes for a clean stop).
    @Test(.enabled(if: TmpfsMount.isAvailable, "mounting a small tmpfs needs root (mount -t tmpfs)"))
    func runExitsThreeWhenTheDiskIsFull() throws {
        let workspace = try Workspace()
        let mountPoint = workspace.path + "/full"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
        try #require(TmpfsMount.mount(at: mountPoint, byteCount: 1 << 20))
        defer {
            TmpfsMount.unmount(mountPoint)
            rmdir(mountPoint)
        }
        let events = workspace.path + "/many.jsonl"
        #expect(
            try CommandLineTests.run(["fixtures", "generate", "--events", "5000", "--seed", "2", "-o", events]).status
                == 0
        )
        let configuration = workspace.write("full.yaml", "log: {directory: full/log, compression: none}\n")
        let outcome = try CommandLineTests.run([
            "run", "--config", configuration, "--input", events, "--exit-when-done", "--status-interval", "0",
        ])
        #expect(outcome.status == 3, "\(outcome.standardError)")
        #expect(outcome.standardError.contains("No space left on device"), "\(outcome.standardError)")
    }
}

/// A small tmpfs for the full-disk test (root only; a clear skip elsewhere).
enum TmpfsMount {
    static let isAvailable: Bool = {
        guard geteuid() == 0 else { return false }
        let probe = TemporaryDirectory()
        guard mount(at: probe.path, byteCount: 1 << 16) else { return false }
        unmount(probe.path)
        return true
    }()

    static func mount(at path: String, byteCount: Int) -> Bool {
        Glibc.mount("tmpfs", path, "tmpfs", 0, "size=\(byteCount)") == 0
    }

    static func unmount(_ path: String) {
        umount2(path, 0)
    }
}
