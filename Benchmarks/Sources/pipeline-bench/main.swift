// pipeline-bench: the assembled pipeline against delivery alone, side by side in one run (`--help` says what
// it measures and every option).
import BenchmarkCommandLine
import Foundation
import LoopbackPeers
@_spi(Benchmarks) import SluiceTools

var commandLine = BenchmarkCommandLine(
    name: "pipeline-bench",
    summary: """
        The assembled pipeline at saturation against the delivery stage alone, side by side in one run (issue 7,
        PERFORMANCE.md "end to end"): a generated fixture (seed 42) through the full pipeline (segment log with
        fsync interval:5, 1,000 triggers of which 100 are webhooks) into nginx (`return 204`, 1 worker) on
        127.0.0.1 over 64 keep-alive connections, against delivery-bench's signed 1 KiB POSTs on one client loop
        thread to the same nginx. Rounds alternate; figures are medians. Goal: pipeline deliveries/s >= 0.5x
        delivery alone. Then the latency emit -> 2xx at 50 % of the saturated event rate (p50, p99, p99.9).
        The 100 webhooks watch the fixture's own node kinds, so delivery dominates.

        Environment, for experiments: SLUICE_BENCH_JOBS=N sets job_queue_capacity, SLUICE_BENCH_PENDING=N
        pending_deliveries_max, SLUICE_BENCH_CONNECTIONS=N the pipeline's connections (the anchor keeps 64),
        SLUICE_BENCH_IN_FLIGHT=N in_flight_max, SLUICE_BENCH_WAIT=spin|yield|park the stages' wait strategy
        (park by default); SLUICE_IO=uring|epoll forces the I/O backend.
        Needs nginx (scripts/bench installs it).
        """
)
let rounds = commandLine.integer("--rounds", default: 3, range: 1...1_000, "rounds of each side, alternating")
let eventCount = commandLine.integer("--events", default: 20_000, range: 1...10_000_000, "generated events per round")
let deliverySeconds = commandLine.number(
    "--seconds",
    default: 3,
    range: 0.1...3_600,
    "seconds of each delivery-alone round"
)
let latencySeconds = commandLine.number(
    "--latency-seconds",
    default: 5,
    range: 0.1...3_600,
    "seconds of the steady latency run"
)
let latencyRate = commandLine.number(
    "--latency-rate",
    default: 0,
    range: 0...100_000_000,
    "events/s of the latency run instead of half the saturated rate (0: half), to compare two builds at one load"
)
let selective = commandLine.flag(
    "--selective",
    "keep the generator's node kinds for the webhooks (most events then match no webhook)"
)
let pipelineOnly = commandLine.flag(
    "--pipeline-only",
    "run only the pipeline rounds: no anchor, no latency run (for profiling with perf)"
)
let matchedAnchor = commandLine.flag(
    "--matched-anchor",
    "also run delivery alone with bodies of the fixture's mean webhook body size (a same-size ratio)"
)
let reportsCPU = commandLine.flag(
    "--cpu",
    "print per round the CPU time per delivery of this process and of nginx, and the pipeline's per thread"
)
commandLine.finish()

/// CPU time one side of a round used: this process's (and per thread name), and nginx's.
struct CPUSpent {
    var ownNanoseconds: UInt64
    var nginxNanoseconds: UInt64
    var threadsBefore: [String: UInt64]?
    var threadsAfter: [String: UInt64]?

    /// The figures per delivery, for `--cpu`.
    func lines(_ label: String, deliveries: Int) -> String {
        let count = Double(max(deliveries, 1))
        var text = String(
            format: "    cpu per delivery, %@: %.1f µs own + %.1f µs nginx",
            label,
            Double(ownNanoseconds) / 1e3 / count,
            Double(nginxNanoseconds) / 1e3 / count
        )
        if let threadsBefore, let threadsAfter {
            text += "\n" + stageLine(threadsBefore, threadsAfter, deliveries: deliveries)
        }
        return text
    }
}

/// Runs `body`; returns its result and the CPU time it cost this process and nginx.
@MainActor func measuringCPU<T>(_ body: () throws -> T) rethrows -> (T, CPUSpent) {
    let ownBefore = processCPUNanoseconds()
    let nginxBefore = nginx.cpuNanoseconds()
    let threadsBefore = sampler?.totals()
    let result = try body()
    let spent = CPUSpent(
        ownNanoseconds: processCPUNanoseconds() - ownBefore,
        nginxNanoseconds: nginx.cpuNanoseconds() - nginxBefore,
        threadsBefore: threadsBefore,
        threadsAfter: sampler?.totals()
    )
    return (result, spent)
}

/// With `--cpu`: this process's threads' CPU time by thread name, sampled from `/proc/self/task` every
/// 20 ms (a thread's last sample before it ends counts), so each stage's cost per delivery can be shown.
final class ThreadCPUSampler: @unchecked Sendable {
    private let lock = NSLock()
    /// Thread id → (name, CPU nanoseconds at its last sample).
    private var threads: [Int32: (name: String, nanoseconds: UInt64)] = [:]
    private var running = true

    init() {
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                sample()
                usleep(20_000)
            }
        }
    }

    func sample() {
        let tids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for tid in tids.compactMap({ Int32($0) }) {
            guard
                let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8),
                let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/schedstat", encoding: .utf8),
                let nanoseconds = stat.split(separator: " ").first.flatMap({ UInt64($0) })
            else { continue }
            let name = comm.trimmingCharacters(in: .whitespacesAndNewlines)
            lock.withLock { threads[tid] = (name, nanoseconds) }
        }
    }

    /// CPU nanoseconds per thread name so far.
    func totals() -> [String: UInt64] {
        sample()
        return lock.withLock { threads.values.reduce(into: [:]) { $0[$1.name, default: 0] += $1.nanoseconds } }
    }
}
let sampler = reportsCPU ? ThreadCPUSampler() : nil
/// The CPU µs per delivery of each thread name between two `totals()`.
func stageLine(_ before: [String: UInt64], _ after: [String: UInt64], deliveries: Int) -> String {
    let lines = after.compactMap { name, nanoseconds -> (String, Double)? in
        let spent = Double(nanoseconds - (before[name] ?? 0)) / 1e3 / Double(max(deliveries, 1))
        return spent >= 0.05 ? (name, spent) : nil
    }.sorted { $0.1 > $1.1 }
    return "      by thread: " + lines.map { String(format: "%@ %.2f", $0.0, $0.1) }.joined(separator: ", ") + " µs"
}

let nginx = try Nginx()
defer { nginx.stop() }
let work = try WorkDirectory.make(prefix: "sluice-pipeline-bench")
defer { try? WorkDirectory.remove(work) }
let fixture = FixtureGenerator.Configuration(eventCount: eventCount, seed: 42)
let fixturePath = work + "/events.jsonl"
_ = try FixtureFiles.generateEvents(fixture, path: fixturePath)
let json = LoadTestSetup.configuration(
    fixture: fixture,
    entryCount: 1_000,
    webhookCount: 100,
    baseURL: "http://127.0.0.1:\(nginx.port)",
    sharedKey: "pipeline-bench-key",
    webhooksOnStreamKinds: !selective
)
/// io_uring where the kernel allows it (as the pipeline detects), else epoll; `SLUICE_IO` forces one.
let backend: String = {
    if let forced = ProcessInfo.processInfo.environment["SLUICE_IO"] { return forced }
    return (try? DeliveryBenchmark.run(port: nginx.port, backend: "uring", connections: 1, seconds: 0.05)) != nil
        ? "uring" : "epoll"
}()

func pipelineConfiguration(_ round: Int) throws -> PipelineConfiguration {
    var configuration = PipelineConfiguration(
        log: LogConfiguration(directory: work + "/log-\(round)"),
        triggers: try TriggerConfiguration(json: json)
    )
    configuration.webhooks = try WebhookConfiguration(json: json, environment: [:])
    configuration.log.fsync = .interval(milliseconds: 5)
    // nginx listens on loopback, which the SSRF guard refuses unless allowed.
    configuration.allowedNetworks = [try IPNetwork.parse("127.0.0.1/32")]
    configuration.connectionCountMax = 64
    if let connections = ProcessInfo.processInfo.environment["SLUICE_BENCH_CONNECTIONS"].flatMap(Int.init) {
        configuration.connectionCountMax = connections
    }
    if let inFlight = ProcessInfo.processInfo.environment["SLUICE_BENCH_IN_FLIGHT"].flatMap(Int.init) {
        configuration.inFlightMax = inFlight
        configuration.pendingDeliveryCountMax = max(configuration.pendingDeliveryCountMax, inFlight)
    }
    if let jobs = ProcessInfo.processInfo.environment["SLUICE_BENCH_JOBS"].flatMap(Int.init) {
        configuration.jobQueueCapacity = jobs
    }
    if let pending = ProcessInfo.processInfo.environment["SLUICE_BENCH_PENDING"].flatMap(Int.init) {
        configuration.pendingDeliveryCountMax = pending
    }
    if let wait = ProcessInfo.processInfo.environment["SLUICE_BENCH_WAIT"].flatMap(RingWaitStrategyKind.init(rawValue:))
    {
        configuration.waitStrategy = wait
    }
    return configuration
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func format(_ value: Double) -> String { String(format: "%.0f", value) }
func milliseconds(_ nanoseconds: UInt64) -> String { String(format: "%.2f ms", Double(nanoseconds) / 1e6) }

print(
    "fixture \(eventCount) events (seed 42), 1,000 triggers, 100 webhooks, fsync interval:5, nginx :\(nginx.port), "
        + "backend \(backend), \(rounds) rounds"
)
var alone: [Double] = []
var pipelineDeliveries: [Double] = []
var pipelineEvents: [Double] = []
var ratios: [Double] = []
var matchedAlone: [Double] = []
var matchedRatios: [Double] = []
/// The mean standard body of the fixture's events (what the pipeline's requests carry).
let meanBodyByteCount: Int = try {
    guard matchedAnchor else { return 0 }
    var decoder = EventDecoder()
    var total = 0
    var count = 0
    for line in try String(contentsOfFile: fixturePath, encoding: .utf8).split(separator: "\n") {
        total += try decoder.decode(Array(line.utf8)).webhookBody().count
        count += 1
    }
    return total / max(count, 1)
}()
for round in 0..<rounds {
    let deliveryFirst = round % 2 == 0
    var deliveryRate = 0.0
    var report: LoadTestReport?
    for step in 0..<2 {
        if (step == 0) == deliveryFirst {
            if pipelineOnly {
                deliveryRate = .nan
                continue
            }
            let (result, spent) = try measuringCPU {
                try DeliveryBenchmark.run(port: nginx.port, backend: backend, connections: 64, seconds: deliverySeconds)
            }
            if reportsCPU { print(spent.lines("delivery alone", deliveries: result.deliveries)) }
            deliveryRate = result.deliveriesPerSecond
            if matchedAnchor {
                let matched = try DeliveryBenchmark.run(
                    port: nginx.port,
                    backend: backend,
                    connections: 64,
                    seconds: deliverySeconds,
                    bodyByteCount: meanBodyByteCount
                )
                matchedAlone.append(matched.deliveriesPerSecond)
            }
        } else {
            let configuration = try pipelineConfiguration(round)
            let (replayed, spent) = try measuringCPU {
                try Replayer.run(
                    Replayer.Options(fixturePath: fixturePath),
                    configuration: configuration,
                    progress: { _ in }
                )
            }
            if reportsCPU {
                print(spent.lines("pipeline", deliveries: Int(replayed.counters.deliveriesSucceeded)))
            }
            report = replayed
        }
    }
    let result = report!
    precondition(result.counters.deliveriesDeadLettered == 0 && result.deliveriesUnfinished == 0, "deliveries lost")
    alone.append(deliveryRate)
    pipelineDeliveries.append(result.deliveriesPerSecond)
    pipelineEvents.append(result.eventsAcceptedPerSecond)
    ratios.append(result.deliveriesPerSecond / deliveryRate)
    if let matched = matchedAlone.last, matchedAlone.count == round + 1 {
        matchedRatios.append(result.deliveriesPerSecond / matched)
        print(
            "  round \(round + 1): delivery alone with \(meanBodyByteCount)-byte bodies \(format(matched))/s; ratio "
                + String(format: "%.2f", matchedRatios.last!) + "x"
        )
    }
    print(
        "  round \(round + 1): delivery alone \(format(deliveryRate))/s; pipeline \(format(result.deliveriesPerSecond)) deliveries/s, "
            + "\(format(result.eventsAcceptedPerSecond)) events/s (\(result.counters.deliveriesSucceeded) deliveries of "
            + "\(result.counters.eventsAccepted) events, \(result.counters.requestByteCount / max(1, result.counters.deliveriesSucceeded)) "
            + "request bytes each, \(result.counters.eventsBackpressured) emits backpressured); "
            + "ratio \(String(format: "%.2f", ratios.last!))x"
    )
}
print(
    "saturated: pipeline \(format(median(pipelineDeliveries))) deliveries/s (\(format(median(pipelineEvents))) events/s) "
        + "vs delivery alone \(format(median(alone)))/s: ratio median \(String(format: "%.2f", median(ratios)))x "
        + "(min \(String(format: "%.2f", ratios.min()!))x, max \(String(format: "%.2f", ratios.max()!))x)"
)

if !matchedRatios.isEmpty {
    print(
        "same-size anchor: delivery alone with \(meanBodyByteCount)-byte bodies \(format(median(matchedAlone)))/s: "
            + "ratio median \(String(format: "%.2f", median(matchedRatios)))x "
            + "(min \(String(format: "%.2f", matchedRatios.min()!))x, max \(String(format: "%.2f", matchedRatios.max()!))x)"
    )
}

if !pipelineOnly {
    // Latency at half the saturated event rate, over a longer steady run.
    // `--latency-rate R`: a fixed rate instead (to compare two builds at the same load).
    let rate = latencyRate > 0 ? latencyRate : median(pipelineEvents) / 2
    var options = Replayer.Options(fixturePath: fixturePath)
    options.rate = rate
    options.duration = .milliseconds(Int64(latencySeconds * 1000))
    options.loop = true
    let steady = try Replayer.run(options, configuration: try pipelineConfiguration(rounds), progress: { _ in })
    print(
        "at 50 % (\(format(rate)) events/s for \(latencySeconds) s, \(steady.counters.deliveriesSucceeded) deliveries): "
            + "emit → 2xx p50 \(milliseconds(steady.endToEnd.p50Nanoseconds)), p99 \(milliseconds(steady.endToEnd.p99Nanoseconds)), "
            + "p99.9 \(milliseconds(steady.endToEnd.p999Nanoseconds)), max \(milliseconds(steady.endToEnd.maxNanoseconds))"
    )
    for stage in steady.stages {
        print(
            "  \(stage.stage.label): p50 \(milliseconds(stage.latency.p50Nanoseconds)), p99 \(milliseconds(stage.latency.p99Nanoseconds))"
        )
    }
}
