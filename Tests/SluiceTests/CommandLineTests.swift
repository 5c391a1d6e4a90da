import Foundation
import SluiceTestSupport
import Testing

/// The `sluice` executable end to end: output and exit statuses. `swift test` builds the executable
/// with the tests; the suite is skipped, with the reason, if it cannot be found (``SluiceExecutable``).
@Suite(.serialized, .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"))
struct CommandLineTests {
    static let executable = SluiceExecutable.path

    struct Outcome {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    static func run(_ arguments: [String], input: Data? = nil) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        if let input {
            let pipe = Pipe()
            process.standardInput = pipe
            try process.run()
            pipe.fileHandleForWriting.write(input)
            try pipe.fileHandleForWriting.close()
        } else {
            try process.run()
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        return Outcome(
            status: process.reapedStatus(),
            standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData, as: UTF8.self)
        )
    }

    @Test func validateExitStatusesAndErrors() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let events = temporary.path + "/events.jsonl"
        let generated = try Self.run(["fixtures", "generate", "--events", "200", "--seed", "3", "-o", events])
        #expect(generated.status == 0)
        #expect(generated.standardOutput.contains("wrote 200 events"))
        let valid = try Self.run(["events", "validate", events])
        #expect(valid.status == 0)
        #expect(valid.standardOutput.hasPrefix("200 valid, 0 invalid of 200 lines"))

        let bad = temporary.path + "/bad.jsonl"
        writeFile(
            bad,
            Array(
                #"{"event":"x","occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-0689f6cdb5e1","resource":{"prefect.resource.id":"p"},"related":[{"prefect.resource.id":"r"}]}"#
                    .utf8
            ) + [0x0A]
        )
        let invalid = try Self.run(["events", "validate", bad])
        #expect(invalid.status == 1)
        #expect(invalid.standardError.contains(#"bad.jsonl:1: byte offset 141: related[0]["prefect.resource.role"]"#))

        let missing = try Self.run(["events", "validate", temporary.path + "/missing.jsonl"])
        #expect(missing.status == 3)
        #expect(missing.standardError.contains("missing.jsonl"))

        let usage = try Self.run(["events", "convert", "--to", "yaml", events])
        #expect(usage.status == 2, "usage errors exit 2 as docs/cli.md says: \(usage.standardError)")
    }

    @Test func convertsTheOfficialExampleFromStandardInput() throws {
        let stream = try readRepositoryFile("fixtures/infrahub/all-event-types.jsonl")
        let converted = try Self.run(["events", "convert", "--to", "webhook-body", "-"], input: Data(stream))
        #expect(converted.status == 0)
        let lines = converted.standardOutput.split(separator: "\n")
        #expect(lines.count == 31)
        #expect(lines.allSatisfy { $0.hasPrefix(#"{"data":"#) })
        let graphql = try Self.run(["events", "convert", "--to", "graphql", "-"], input: Data(stream))
        #expect(graphql.standardOutput.split(separator: "\n").count == 31)
    }

    @Test func normalizesAGitHubDelivery() throws {
        let result = try Self.run([
            "github", "normalize", "--event", "pull_request", "--delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "--received-at", "2025-03-13T16:44:32Z", packageRoot + "/fixtures/github/pull_request.opened.json",
        ])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains(#""event":"github.pull_request.opened""#))
        #expect(result.standardOutput.contains(#""id":"72d3162e-cc78-11e3-81ab-4c9367dc0958""#))
        let bad = try Self.run([
            "github", "normalize", "--event", "Push", "--delivery", "d", packageRoot + "/fixtures/github/push.json",
        ])
        #expect(bad.status == 1)
        #expect(bad.standardError.contains("invalidHeader"))
    }

    @Test func logCommandsAppendInspectVerifyAndDump() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let events = temporary.path + "/events.jsonl"
        let log = temporary.path + "/log"
        #expect(try Self.run(["fixtures", "generate", "--events", "300", "--seed", "5", "-o", events]).status == 0)
        let appended = try Self.run(["log", "append", log, events, "--batch-events", "50"])
        #expect(appended.status == 0)
        #expect(appended.standardOutput.contains("appended 300 events; next sequence 300"))
        let inspected = try Self.run(["log", "inspect", log])
        #expect(inspected.standardOutput.contains("records 300"))
        #expect(inspected.standardOutput.contains("compression ratio"))
        #expect(try Self.run(["log", "verify", log]).status == 0)
        let dumped = try Self.run(["log", "dump", log, "--from", "298"])
        #expect(dumped.standardOutput.split(separator: "\n").map { $0.prefix(10) } == ["298 event ", "299 event "])
        let filtered = try Self.run(["log", "dump", log, "--event", "infrahub.node.*", "--branch", "main"])
        #expect(filtered.status == 0)
        #expect(filtered.standardOutput.split(separator: "\n").allSatisfy { $0.contains(#""event":"infrahub.node."#) })

        // Damage a byte in the middle of the first frame's payload: verify names the file and offset.
        let segment = log + "/00000000000000000000.segment"
        var bytes = try readRepositoryFileAbsolute(segment)
        bytes[200] ^= 0xFF
        writeFile(segment, bytes)
        let verified = try Self.run(["log", "verify", log])
        #expect(verified.status == 1)
        #expect(verified.standardError.contains("00000000000000000000.segment at file offset 64"))
    }

    @Test func triggersCompileAndExplain() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let config = temporary.path + "/config.json"
        writeFile(
            config,
            Array(
                #"""
                {"default_branch": "main",
                 "webhooks": [{"name": "devices", "event_type": "infrahub.node.updated", "branch_scope": "all_branches", "node_kind": "InfraInterface*"},
                              {"name": "main-only", "event_type": "all"}],
                 "triggers": [{"name": "explicit", "trigger": {"expect": ["infrahub.node.*"], "match": {"infrahub.node.action": "deleted"}}}]}
                """#.utf8
            )
        )
        let compiled = try Self.run(["triggers", "compile", "--config", config])
        #expect(compiled.status == 0)
        #expect(compiled.standardOutput.contains("2 webhooks + 1 triggers (3 enabled)"))
        let event = temporary.path + "/event.json"
        let stream = try readRepositoryFile("fixtures/infrahub/all-event-types.jsonl")
        writeFile(event, Array(stream.split(separator: 0x0A)[1]))  // infrahub.node.updated, InfraInterfaceL3, main
        let explained = try Self.run(["triggers", "explain", "--config", config, event])
        #expect(explained.status == 0)
        #expect(explained.standardOutput.contains("webhook::devices: fires"))
        #expect(explained.standardOutput.contains("webhook::main-only: fires"))
        #expect(
            explained.standardOutput.contains(#"explicit: match: infrahub.node.action = "updated" fails [deleted]"#)
        )
        writeFile(config, Array(#"{"webhooks": [{"name": "x", "branch_scope": "nowhere"}]}"#.utf8))
        let invalid = try Self.run(["triggers", "compile", "--config", config])
        #expect(invalid.status == 1)
        #expect(invalid.standardError.contains("webhooks[0].branch_scope"))
    }

    @Test func triggersCompileAndExplainYAMLWithStatefulTriggers() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let config = temporary.path + "/config.yaml"
        writeFile(
            config,
            Array(
                """
                webhooks:
                  - {name: devices, event_type: infrahub.node.updated, branch_scope: all_branches}
                triggers:
                  - name: burst
                    trigger: {expect: [infrahub.node.updated], threshold: 3, within: 60, for_each: [infrahub.node.kind]}
                  - name: quiet
                    trigger: {expect: [infrahub.node.created], after: [infrahub.node.updated], posture: Proactive, within: 600}
                """.utf8
            )
        )
        let compiled = try Self.run(["triggers", "compile", "--config", config])
        #expect(compiled.status == 0)
        #expect(compiled.standardOutput.contains("1 webhooks + 2 triggers (3 enabled)"))
        #expect(compiled.standardOutput.contains("stateful triggers 2 (1 Proactive)"))
        let event = temporary.path + "/event.json"
        let stream = try readRepositoryFile("fixtures/infrahub/all-event-types.jsonl")
        writeFile(event, Array(stream.split(separator: 0x0A)[1]))  // infrahub.node.updated
        let explained = try Self.run(["triggers", "explain", "--config", config, event])
        #expect(explained.status == 0)
        #expect(explained.standardOutput.contains("webhook::devices: fires"))
        #expect(
            explained.standardOutput.contains("burst: reaches it and counts toward its window (Reactive, threshold 3")
        )
        #expect(explained.standardOutput.contains("quiet: reaches it and only opens a window"))
        writeFile(config, Array("triggers:\n  - name: t\n    trigger:\n      within: -1\n".utf8))
        let invalid = try Self.run(["triggers", "compile", "--config", config])
        #expect(invalid.status == 1)
        #expect(
            invalid.standardError.contains(
                "config.yaml:4:15: triggers[0].trigger.within: must be a number of seconds from 0"
            )
        )
    }

    func readRepositoryFileAbsolute(_ path: String) throws -> [UInt8] {
        try #require(FileManager.default.contents(atPath: path)).map { $0 }
    }
}
