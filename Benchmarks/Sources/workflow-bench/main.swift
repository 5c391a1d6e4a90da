// workflow-bench: workflow dispatch against a plain posix_spawn loop of the same command, side by side in one
// run (`--help` says what it measures and every option).
import BenchmarkCommandLine
import Foundation
import Sluice
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

var commandLine = BenchmarkCommandLine(
    name: "workflow-bench",
    summary: """
        Workflow dispatch (issue 19): events whose trigger runs a workflow whose command is `true`, through the
        assembled pipeline (segment log with fsync interval:5, one trigger, one workflow with --concurrency
        runs at once), against the anchor: --concurrency threads each running `true` with posix_spawnp and
        waitpid in a loop, in the same process and run. Rounds alternate; figures are medians. Reported: runs/s
        (the pipeline: firings run to exit per second, each attempt journaled twice), and the p50/p99 of
        firing -> process start (the pipeline: from the matcher handing the firing over to posix_spawnp
        returning; the anchor: from the loop deciding to spawn to posix_spawnp returning). Goal: pipeline runs/s
        >= 0.8x the anchor.
        """
)
let rounds = commandLine.integer("--rounds", default: 3, range: 1...1_000, "rounds of each side, alternating")
let runCount = commandLine.integer("--runs", default: 2_000, range: 1...1_000_000, "runs per round")
let concurrency = commandLine.integer("--concurrency", default: 4, range: 1...256, "runs at once")
let command = commandLine.choice("--command", default: "true", from: ["true", "/bin/true"], "the command run")
commandLine.finish()

/// Seconds between two monotonic readings.
func seconds(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1e9 }

func percentile(_ values: [UInt64], _ fraction: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let index = min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))
    return Double(sorted[index]) / 1e3  // microseconds
}

struct RoundResult {
    var runsPerSecond: Double
    var p50Microseconds: Double
    var p99Microseconds: Double
}

/// The anchor: `concurrency` threads, each spawning `command` and waiting for it, `runCount` in all.
func anchorRound() -> RoundResult {
    let next = Atomic<Int>(0)
    let latencies = Mutex<[UInt64]>([])
    let start = monotonicNanoseconds()
    var threads: [Thread] = []
    let done = DispatchGroup()
    for _ in 0..<concurrency {
        done.enter()
        let thread = Thread {
            var mine: [UInt64] = []
            var argv: [UnsafeMutablePointer<CChar>?] = [strdup(command), nil]
            defer { free(argv[0]) }
            while next.wrappingAdd(1, ordering: .relaxed).oldValue < runCount {
                let decided = monotonicNanoseconds()
                var pid: pid_t = 0
                guard posix_spawnp(&pid, command, nil, nil, &argv, environ) == 0 else { fatalError("spawn failed") }
                mine.append(monotonicNanoseconds() - decided)
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            }
            latencies.withLock { $0 += mine }
            done.leave()
        }
        threads.append(thread)
        thread.start()
    }
    done.wait()
    let elapsed = monotonicNanoseconds() - start
    let all = latencies.withLock { $0 }
    return RoundResult(
        runsPerSecond: Double(runCount) / seconds(elapsed),
        p50Microseconds: percentile(all, 0.5),
        p99Microseconds: percentile(all, 0.99)
    )
}

/// The pipeline: `runCount` events, each firing the workflow once; until every run has ended.
func pipelineRound(_ round: Int) throws -> RoundResult {
    let directory = NSTemporaryDirectory() + "workflow-bench-\(getpid())-\(round)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let json = try JSONValue.parse(
        #"{"workflows":[{"name":"noop","command":["\#(command)"],"concurrency":\#(concurrency),"retry_delays_s":[]}],"#
            + #""triggers":[{"name":"every","expect":["bench.tick"],"actions":[{"workflow":"noop"}]}]}"#
    )
    var configuration = PipelineConfiguration(
        log: LogConfiguration(directory: directory),
        triggers: try TriggerConfiguration(json: json)
    )
    configuration.log.fsync = .interval(milliseconds: 5)
    configuration.workflowQueueMax = max(runCount, 1)
    let pipeline = try Pipeline(configuration: configuration)
    let latencies = Mutex<[UInt64]>([])
    pipeline.onWorkflowStarted { timing in
        latencies.withLock { $0.append(timing.startedNanoseconds &- timing.firedNanoseconds) }
    }
    pipeline.scrubsSealedSegmentsAtStart = false
    try pipeline.start()
    var random = SplitMix64(seed: UInt64(round) &+ 19)
    let start = monotonicNanoseconds()
    for _ in 0..<runCount {
        let event = EventDraft(
            name: "bench.tick",
            id: random.nextEventID(),
            occurred: Timestamp.now(),
            resource: ResourceDraft(id: "bench.tick")
        ).encoded()
        while true {
            switch pipeline.emit(event) {
            case .accepted: break
            case .backpressure:
                usleep(100)
                continue
            case .invalid(let error): fatalError("invalid event: \(error)")
            case .stopped: fatalError("the pipeline stopped: \(pipeline.failure ?? "?")")
            }
            break
        }
    }
    guard pipeline.flush(timeoutNanoseconds: 600_000_000_000) else { fatalError("runs did not end in 600 s") }
    let elapsed = monotonicNanoseconds() - start
    pipeline.stop()
    let succeeded = pipeline.statistics.workflows?.succeeded ?? 0
    guard succeeded == runCount else { fatalError("\(succeeded) of \(runCount) runs succeeded") }
    let all = latencies.withLock { $0 }
    return RoundResult(
        runsPerSecond: Double(runCount) / seconds(elapsed),
        p50Microseconds: percentile(all, 0.5),
        p99Microseconds: percentile(all, 0.99)
    )
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

var pipelineResults: [RoundResult] = []
var anchorResults: [RoundResult] = []
for round in 0..<rounds {
    let pipelineResult = try pipelineRound(round)
    let anchorResult = anchorRound()
    pipelineResults.append(pipelineResult)
    anchorResults.append(anchorResult)
    print(
        String(
            format: "round %d: pipeline %.0f runs/s (firing -> start p50 %.0f us, p99 %.0f us); "
                + "posix_spawn loop %.0f runs/s (p50 %.0f us, p99 %.0f us)",
            round + 1,
            pipelineResult.runsPerSecond,
            pipelineResult.p50Microseconds,
            pipelineResult.p99Microseconds,
            anchorResult.runsPerSecond,
            anchorResult.p50Microseconds,
            anchorResult.p99Microseconds
        )
    )
}
let pipelineRate = median(pipelineResults.map(\.runsPerSecond))
let anchorRate = median(anchorResults.map(\.runsPerSecond))
print(
    String(
        format: "median: pipeline %.0f runs/s, p99 firing -> start %.0f us; posix_spawn loop %.0f runs/s, p99 %.0f us; "
            + "ratio %.2fx (goal >= 0.8x)",
        pipelineRate,
        median(pipelineResults.map(\.p99Microseconds)),
        anchorRate,
        median(anchorResults.map(\.p99Microseconds)),
        pipelineRate / anchorRate
    )
)
