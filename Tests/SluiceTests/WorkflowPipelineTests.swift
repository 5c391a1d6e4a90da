import Foundation
import Sluice
import SluiceTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Workflows in the assembled pipeline, with real child processes (`/bin/sh`): parameters reach standard
/// input exactly, a hanging command is killed at its timeout (with its process group) and retried, the
/// depth bound refuses, run records are in the log.
@Suite(.serialized) struct WorkflowPipelineTests {
    static func configuration(_ yaml: String, directory: String) throws -> PipelineConfiguration {
        let path = directory + "/config.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        var configuration = try PipelineConfiguration.load(path: path, environment: [:])
        configuration.log.fsync = .interval(milliseconds: 2)
        configuration.ioBackend = "epoll"
        return configuration
    }

    static func event(id: String, node: String, level: Int = 0) -> [UInt8] {
        Array(
            #"""
            {"occurred":"2026-12-07T18:00:00Z","event":"infrahub.node.updated","id":"\#(id)",
             "resource":{"prefect.resource.id":"infrahub.node.\#(node)","infrahub.node.id":"\#(node)","infrahub.node.kind":"InfraDevice"},
             "related":[{"prefect.resource.id":"\#(id)","prefect.resource.role":"infrahub.event","infrahub.event.level":"\#(level)","infrahub.event.has_children":"false"},
              {"prefect.resource.id":"infrahub.branch.b1","prefect.resource.role":"infrahub.branch","infrahub.resource.label":"feature-1"}],
             "payload":{"data":{"members":[1,{"a":"b"}],"name":"x\"y"}}}
            """#.utf8
        ).filter { $0 != 0x0A }
    }

    /// Runs `events` through a pipeline on `configuration` until every run is final.
    static func run(_ events: [[UInt8]], _ configuration: PipelineConfiguration) throws -> PipelineStatistics {
        let pipeline = try Pipeline(configuration: configuration)
        try pipeline.start()
        for event in events { #expect(pipeline.emit(event) != .stopped) }
        #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000), "every run ends")
        pipeline.stop()
        return pipeline.statistics
    }

    @Test(.timeLimit(.minutes(1))) func parametersReachStandardInputExactly() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let configuration = try Self.configuration(
            """
            workflows:
              - name: capture
                command: [sh, -c, 'cat > "$OUT/$SLUICE_RUN_ID.json"; env | grep ^SLUICE_ | sort > "$OUT/$SLUICE_RUN_ID.env"']
                environment: {OUT: "\(temporary.path)"}
            triggers:
              - name: devices
                trigger: {expect: [infrahub.node.updated]}
                actions:
                  - workflow: capture
                    parameters:
                      node: "{{ event.resource['infrahub.node.id'] }}"
                      members: "{{ event.payload['data']['members'] }}"
                      id: "{{ event.id }}"
                      text: "node {{ event.resource['infrahub.node.id'] }} on {{ event.related[1]['infrahub.resource.label'] }}"
                      fixed: {a: [1, 2]}
            log: {directory: log}
            """,
            directory: temporary.path
        )
        let id = "bf569ddc-2a30-4491-82f1-0689f6cdb5e1"
        let statistics = try Self.run([Self.event(id: id, node: "n1")], configuration)
        #expect(statistics.workflows?.succeeded == 1)
        let runID = WorkflowRunInput.runID(eventID: EventID.parse(id)!, trigger: "devices", action: 0)
        let input = try JSONValue.parse(
            Array(try Data(contentsOf: URL(fileURLWithPath: "\(temporary.path)/\(runID).json")))
        )
        let expected = try JSONValue.parse(
            #"{"node":"n1","members":[1,{"a":"b"}],"id":"\#(id)","text":"node n1 on feature-1","fixed":{"a":[1,2]}}"#
        )
        #expect(input["parameters"] == expected)
        #expect(input["run_id"] == .string(runID))
        #expect(input["attempt"] == 1)
        #expect(input[path: ["context", "branch"]] == "feature-1")
        #expect(input[path: ["event", "id"]] == .string(id))
        let environment = try String(contentsOfFile: "\(temporary.path)/\(runID).env", encoding: .utf8)
        #expect(environment.contains("SLUICE_RUN_ID=\(runID)\n"))
        #expect(environment.contains("SLUICE_PARAM_NODE=n1\n"))
        #expect(environment.contains(#"SLUICE_PARAM_MEMBERS=[1,{"a":"b"}]"#))
        #expect(environment.contains("SLUICE_EVENT_BRANCH=feature-1\n"))
        let runs = try WorkflowRunFiles.runs(directory: configuration.log.directory)
        #expect(runs.map(\.last.outcome) == [.succeeded])
        #expect(runs.first?.recordCount == 2)
    }

    @Test(.timeLimit(.minutes(1))) func aHangingCommandIsKilledAtItsTimeoutWithItsGroupAndRetried() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        // Attempt 1 starts a grandchild and hangs; attempt 2 succeeds at once.
        let configuration = try Self.configuration(
            """
            workflows:
              - name: hang
                command: [sh, -c, 'echo "$SLUICE_RUN_ATTEMPT" >> "$OUT/attempts"; if [ "$SLUICE_RUN_ATTEMPT" = 1 ]; then sleep 60 & echo $! > "$OUT/grandchild"; sleep 60; fi']
                timeout_s: 0.5
                retry_delays_s: [0]
                environment: {OUT: "\(temporary.path)"}
            triggers:
              - {name: any, expect: [infrahub.node.updated], actions: [{workflow: hang}]}
            log: {directory: log}
            """,
            directory: temporary.path
        )
        let started = ContinuousClock.now
        let statistics = try Self.run(
            [Self.event(id: "bf569ddc-2a30-4491-82f1-0689f6cdb5e1", node: "n1")],
            configuration
        )
        #expect(started.duration(to: .now) < .seconds(20), "the hanging attempt did not wait for its sleep")
        #expect(statistics.workflows?.started == 2)
        #expect(statistics.workflows?.succeeded == 1)
        #expect(statistics.workflows?.failedAttempts == 1)
        let attempts = try String(contentsOfFile: temporary.path + "/attempts", encoding: .utf8)
        #expect(attempts == "1\n2\n")
        let grandchild = try #require(
            Int32(
                try String(contentsOfFile: temporary.path + "/grandchild", encoding: .utf8).trimmingCharacters(
                    in: .whitespacesAndNewlines
                )
            )
        )
        // Gone, or a zombie waiting for the reaper of orphans: either way no longer running.
        let state = (try? String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8))?
            .split(separator: ")").last?.split(separator: " ").first
        #expect(state == nil || state == "Z", "the grandchild in the command's process group was killed too")
        let records = try WorkflowRunFiles.runs(directory: configuration.log.directory)
        #expect(records.count == 1)
        #expect(records.first?.last.attempt == 2)
        #expect(records.first?.last.outcome == .succeeded)
        #expect(records.first?.recordCount == 4)  // started, finished (timed out), started, finished
    }

    @Test(.timeLimit(.minutes(1))) func failuresRetryThenDeadLetterAndDepthIsBounded() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let configuration = try Self.configuration(
            """
            workflows:
              - {name: fail, command: [sh, -c, 'echo oops >&2; exit 3'], retry_delays_s: [0, 0]}
            workflows_depth_max: 2
            triggers:
              - {name: any, expect: [infrahub.node.updated], actions: [{workflow: fail}]}
            log: {directory: log}
            """,
            directory: temporary.path
        )
        let statistics = try Self.run(
            [
                Self.event(id: "bf569ddc-2a30-4491-82f1-0689f6cdb5e1", node: "n1"),
                Self.event(id: "bf569ddc-2a30-4491-82f1-0689f6cdb5e2", node: "n2", level: 2),
            ],
            configuration
        )
        #expect(statistics.workflows?.started == 3)
        #expect(statistics.workflows?.deadLettered == 1)
        #expect(statistics.workflows?.refused == 1)
        // The two runs go on concurrently: their records may come in either order.
        let failed = try WorkflowRunFiles.runs(directory: configuration.log.directory, failedOnly: true)
        #expect(Set(failed.compactMap(\.last.outcome)) == [.deadLettered, .refused])
        let dead = failed.first { $0.last.outcome == .deadLettered }?.last
        #expect(dead?.exitStatus == 3)
        #expect(dead?.standardError == "oops\n")
        #expect(dead?.attempt == 3)
        let refused = failed.first { $0.last.outcome == .refused }?.last
        #expect(refused?.message?.contains("workflows_depth_max is 2") == true)
    }

    @Test(.timeLimit(.minutes(1))) func aRestartRunsWhatHadNoFinalRecordWithTheSameRunID() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let yaml = """
            workflows:
              - name: note
                command: [sh, -c, 'echo "$SLUICE_RUN_ID" >> "$OUT/runs"']
                environment: {OUT: "\(temporary.path)"}
            triggers:
              - {name: any, expect: [infrahub.node.updated], actions: [{workflow: note}]}
            log: {directory: log}
            """
        // A first start whose workflow command cannot start: the firing's attempts fail, then a restart
        // (the journal says `retrying`; the run is not final) runs the same run id with a working command.
        var broken = try Self.configuration(
            yaml.replacingOccurrences(of: "[sh, -c,", with: "[no-such-command-sluice, -c,"),
            directory: temporary.path
        )
        broken.triggers.workflows.workflows[0].retryDelayNanoseconds = [60_000_000_000]
        do {  // the first pipeline closes its log (and its writer lock) at the end of this scope
            let first = try Pipeline(configuration: broken)
            try first.start()
            #expect(first.emit(Self.event(id: "bf569ddc-2a30-4491-82f1-0689f6cdb5e1", node: "n1")) != .stopped)
            let deadline = ContinuousClock.now.advanced(by: .seconds(20))
            while first.statistics.workflows?.failedAttempts != 1, ContinuousClock.now < deadline { usleep(5_000) }
            first.stop()
        }
        let runs = try WorkflowRunFiles.runs(directory: broken.log.directory)
        #expect(runs.first?.last.outcome == .retrying)
        #expect(runs.first?.last.message?.contains("cannot start") == true)

        let working = try Self.configuration(yaml, directory: temporary.path)
        do {
            let second = try Pipeline(configuration: working)
            let recovery = try second.start()
            #expect(recovery.workflows?.runsResumed == 1)
            #expect(second.flush(timeoutNanoseconds: 20_000_000_000))
            second.stop()
        }
        let runID = WorkflowRunInput.runID(
            eventID: EventID.parse("bf569ddc-2a30-4491-82f1-0689f6cdb5e1")!,
            trigger: "any",
            action: 0
        )
        #expect(try String(contentsOfFile: temporary.path + "/runs", encoding: .utf8) == runID + "\n")
        let final = try WorkflowRunFiles.runs(directory: working.log.directory)
        #expect(final.first?.last.outcome == .succeeded)
        #expect(final.first?.last.attempt == 2)

        // A third start finds nothing to run.
        let third = try Pipeline(configuration: working)
        #expect(try third.start().workflows?.runsResumed == 0)
        third.stop()
    }
}
