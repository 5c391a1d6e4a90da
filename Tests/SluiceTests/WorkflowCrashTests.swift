import Foundation
import Sluice
import SluiceTestSupport
import Testing

/// Workflows under `kill -9`: a child `sluice run` ingests events whose triggers run two workflows; the
/// parent SIGKILLs it at random moments while commands run, restarts it on the same log, and at the end
/// checks what the commands themselves recorded: every acknowledged event's workflow ran at least once,
/// every duplicate carried the same `SLUICE_RUN_ID`, and a command that hangs was killed at its timeout
/// and its firing retried to success.
@Suite(.serialized) struct WorkflowCrashTests {
    @Test(.timeLimit(.minutes(5)), .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"))
    func everyAcknowledgedFiringRunsAtLeastOnceAcrossSIGKILL() throws {
        let rounds = ProcessInfo.processInfo.environment["SLUICE_WORKFLOW_CRASH_ROUNDS"].flatMap(Int.init) ?? 8
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        let out = temporary.path
        let configurationPath = temporary.path + "/config.yaml"
        try """
        workflows:
          - name: note
            command: [sh, -c, 'sleep 0.02; echo "$SLUICE_RUN_ID $SLUICE_EVENT_ID $SLUICE_RUN_ATTEMPT" >> "$OUT/note"']
            concurrency: 4
            timeout_s: 20
            retry_delays_s: [0, 0.1]
            environment: {OUT: "\(out)"}
          - name: hang
            command: [sh, -c, 'echo "$SLUICE_RUN_ID $SLUICE_RUN_ATTEMPT" >> "$OUT/hang"; [ "$SLUICE_RUN_ATTEMPT" = 1 ] && exec sleep 3; exit 0']
            concurrency: 8
            timeout_s: 0.3
            retry_delays_s: [0]
            environment: {OUT: "\(out)"}
        triggers:
          - {name: every, expect: [infrahub.node.updated], actions: [{workflow: note}]}
          - name: hanging
            trigger: {expect: [infrahub.node.updated], match: {infrahub.node.id: "hang-*"}}
            actions: [{workflow: hang}]
        log: {directory: log, fsync: always}
        """.write(toFile: configurationPath, atomically: true, encoding: .utf8)

        var acknowledged: [(id: String, node: String)] = []
        var offered: Set<String> = []
        var pending: [(id: String, node: String, bytes: [UInt8])] = []
        for round in 0..<rounds {
            var chunk = pending
            for number in 0..<30 {
                let id = random.nextEventID()
                let node = number % 10 == 0 ? "hang-\(round)-\(number)" : "n-\(round)-\(number)"
                let draft = EventDraft(
                    name: "infrahub.node.updated",
                    id: id,
                    occurred: Timestamp.now(),
                    resource: ResourceDraft(id: "infrahub.node.\(node)", [("infrahub.node.id", node)])
                )
                chunk.append((id.description, node, draft.encoded()))
                offered.insert(id.description)
            }
            let input = temporary.path + "/round-\(round).jsonl"
            try Data(chunk.map { $0.bytes + [0x0A] }.joined()).write(to: URL(fileURLWithPath: input))
            let durable = try runAndKill(
                configuration: configurationPath,
                input: input,
                killAfterAcks: 1 + random.next(below: 3),
                random: &random
            )
            acknowledged += chunk.prefix(durable).map { ($0.id, $0.node) }
            pending = Array(chunk.dropFirst(durable))
        }
        let final = try CommandLineTests.run([
            "run", "--config", configurationPath, "--exit-when-done", "--done-timeout", "120", "--status-interval", "0",
        ])
        #expect(final.status == 0, "seed \(seed): the last run settles: \(final.standardError)")

        func lines(_ name: String) throws -> [[Substring]] {
            guard FileManager.default.fileExists(atPath: "\(out)/\(name)") else { return [] }
            return try String(contentsOfFile: "\(out)/\(name)", encoding: .utf8).split(separator: "\n")
                .map { $0.split(separator: " ") }
        }
        var notesOfRun: [String: Int] = [:]
        var eventOfRun: [String: String] = [:]
        for fields in try lines("note") where fields.count == 3 {
            let run = String(fields[0])
            notesOfRun[run, default: 0] += 1
            #expect(eventOfRun[run].map { $0 == fields[1] } ?? true, "seed \(seed): one run id, one event")
            eventOfRun[run] = String(fields[1])
            // Ids derive from (event id, trigger, action): a duplicate under another id would not match.
            let expected = WorkflowRunInput.runID(
                eventID: EventID.parse(String(fields[1]))!,
                trigger: "every",
                action: 0
            )
            #expect(run == expected, "seed \(seed): \(run) is the run id of event \(fields[1])")
            #expect(offered.contains(String(fields[1])), "seed \(seed): \(fields[1]) was offered")
        }
        var attemptsOfHang: [String: Set<String>] = [:]
        for fields in try lines("hang") where fields.count == 2 {
            attemptsOfHang[String(fields[0]), default: []].insert(String(fields[1]))
        }
        #expect(!acknowledged.isEmpty, "seed \(seed): some events were acknowledged")
        var hangsRequired = 0
        for (id, node) in acknowledged {
            let eventID = EventID.parse(id)!
            let note = WorkflowRunInput.runID(eventID: eventID, trigger: "every", action: 0)
            #expect(notesOfRun[note] != nil, "seed \(seed): acknowledged event \(id) ran its workflow")
            guard node.hasPrefix("hang-") else { continue }
            hangsRequired += 1
            let hang = WorkflowRunInput.runID(eventID: eventID, trigger: "hanging", action: 0)
            #expect(
                attemptsOfHang[hang]?.contains("2") == true,
                "seed \(seed): the hanging run \(hang) was killed at its timeout and retried"
            )
        }
        let runs = try WorkflowRunFiles.runs(directory: temporary.path + "/log")
        let unfinished = runs.filter { $0.last.outcome != .succeeded }
        #expect(unfinished.isEmpty, "seed \(seed): every run ended in success: \(unfinished.map(\.last.runID))")
        let timedOut = runs.filter { $0.last.workflow == "hang" && $0.last.attempt >= 2 }
        #expect(timedOut.count >= hangsRequired, "seed \(seed): each hanging run needed a second attempt")
        print(
            "workflow crash test: \(rounds) rounds, \(acknowledged.count) of \(offered.count) events acknowledged, "
                + "\(notesOfRun.count) runs of 'note' (\(notesOfRun.values.reduce(0, +) - notesOfRun.count) duplicates), "
                + "\(hangsRequired) hanging runs retried (seed \(seed))"
        )
    }
}
