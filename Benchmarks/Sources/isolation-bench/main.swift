// isolation-bench: a healthy webhook beside a dead one on the same host (`--help` says what it measures).
import BenchmarkCommandLine
import Foundation
import LoopbackPeers
import SluiceTools
import Synchronization

var commandLine = BenchmarkCommandLine(
    name: "isolation-bench",
    summary: """
        Per-endpoint isolation (issue 15, ARCHITECTURE.md 6), side by side in one run: a healthy webhook's
        throughput alone, and beside a dead neighbour on the same host (nginx: /healthy answers 204, /dead
        answers 500), in alternating rounds; and the dead webhook's time from its first attempt to its dead
        letter against its schedule (0 + 1 + 1 + 1 s, no jitter). Goals: healthy with a dead neighbour >= 0.9x
        alone (medians); dead letters within 1 s of the schedule's end. Each round emits the same generated
        fixture as fast as the pipeline takes it and ends when the healthy webhook has every event; a round
        with the neighbour then watches the dead letters for --watch-seconds more. Needs nginx.
        """
)
let rounds = commandLine.integer("--rounds", default: 5, range: 1...1_000, "rounds of each side, alternating")
let eventCount = commandLine.integer("--events", default: 50_000, range: 1...10_000_000, "generated events per round")
let watchSeconds = commandLine.number(
    "--watch-seconds",
    default: 5,
    range: 0...3_600,
    "how long a round with the neighbour watches dead letters after the healthy webhook is done"
)
let endpointPendingMax = commandLine.integer(
    "--endpoint-pending-max",
    default: 0,
    range: 0...100_000_000,
    "the pipeline's endpoint_pending_max (0: the pipeline's default)"
)
let besideOnly = commandLine.flag(
    "--beside-only",
    "run only the rounds beside the dead neighbour (for profiling its cost)"
)
let aloneOnly = commandLine.flag(
    "--alone-only",
    "run only the rounds of the healthy webhook alone (to compare with --beside-only)"
)
let showThreads = commandLine.flag(
    "--threads",
    "print each thread's CPU µs per event at the end of each round (the pipeline's threads are the round's own)"
)
commandLine.finish()
let scheduleSeconds = 3.0

let nginx = try Nginx(locations: "location /dead { return 500; }")
defer { nginx.stop() }
let work = try WorkDirectory.make(prefix: "sluice-isolation-bench")
defer { try? WorkDirectory.remove(work) }
var generator = FixtureGenerator(.init(eventCount: eventCount, seed: 42))
var events: [[UInt8]] = []
while let event = generator.next() { events.append(event) }

@MainActor func configuration(round: String, withDead: Bool) throws -> PipelineConfiguration {
    var webhooks = """
        {"name": "healthy", "url": "http://127.0.0.1:\(nginx.port)/healthy", "shared_key": "k",
         "event_type": "all", "branch_scope": "all_branches"}
        """
    if withDead {
        webhooks += """
            , {"name": "dead", "url": "http://127.0.0.1:\(nginx.port)/dead", "shared_key": "k",
               "event_type": "all", "branch_scope": "all_branches"}
            """
    }
    let json = try JSONValue.parse(Array(#"{"webhooks": [\#(webhooks)]}"#.utf8))
    var configuration = PipelineConfiguration(
        log: LogConfiguration(directory: work + "/log-" + round),
        triggers: try TriggerConfiguration(json: json)
    )
    configuration.webhooks = try WebhookConfiguration(json: json, environment: [:])
    configuration.log.fsync = .interval(milliseconds: 5)
    configuration.allowedNetworks = [try IPNetwork.parse("127.0.0.1/32")]  // nginx on loopback
    configuration.retryPolicy = RetryPolicy(
        delayNanoseconds: [0, RetryPolicy.second, RetryPolicy.second, RetryPolicy.second],
        jitterPercent: 0
    )
    if endpointPendingMax > 0 { configuration.endpointPendingMax = endpointPendingMax }
    return configuration
}

/// CPU seconds of each of this process's threads by name (`/proc/self/task/*/stat`: utime + stime).
func threadCPUSeconds() -> [String: Double] {
    var result: [String: Double] = [:]
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? [] {
        guard let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
        else { continue }
        let name = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
        result[name, default: 0] += (user + system) / ticks
    }
    return result
}

/// What one round measured.
struct Round {
    var healthyPerSecond: Double
    /// CPU µs per event until the healthy webhook had them all: this process, and nginx.
    var ownMicroseconds: Double
    var nginxMicroseconds: Double
    /// Seconds after the schedule's end, per dead letter seen.
    var lateness: [Double]
    var circuitOpen: Int
    var deadRequests: Int
}

/// What the hooks saw. The dead webhook's first attempts and dead letters are written by sequence into two
/// tables by the delivery loop alone (its only writer) and read after the pipeline stopped (which joins the
/// loop): no lock on the delivery loop, whose CPU is what the round measures.
final class Observed: @unchecked Sendable {
    let healthy = Atomic<Int>(0)
    let circuitOpen = Atomic<Int>(0)
    /// Microseconds since the epoch by event sequence (0: none).
    let firstAttemptAt: UnsafeMutableBufferPointer<Int64>
    let deadLetterAt: UnsafeMutableBufferPointer<Int64>

    init(sequenceCountMax: Int) {
        firstAttemptAt = .allocate(capacity: sequenceCountMax)
        firstAttemptAt.initialize(repeating: 0)
        deadLetterAt = .allocate(capacity: sequenceCountMax)
        deadLetterAt.initialize(repeating: 0)
    }

    deinit {
        firstAttemptAt.deallocate()
        deadLetterAt.deallocate()
    }

    /// Seconds after the schedule's end, per dead letter whose first attempt was seen.
    func lateness() -> [Double] {
        zip(firstAttemptAt, deadLetterAt).compactMap { first, dead in
            first > 0 && dead > 0 ? Double(dead - first) / 1e6 - scheduleSeconds : nil
        }
    }
}

@MainActor func run(round: Int, withDead: Bool) throws -> Round {
    let pipeline = try Pipeline(configuration: try configuration(round: "\(round)-\(withDead)", withDead: withDead))
    let observed = Observed(sequenceCountMax: events.count + 1_024)  // sequences start at 1 in a new log
    pipeline.onDelivered { timing in
        if timing.webhook == "healthy" { observed.healthy.wrappingAdd(1, ordering: .relaxed) }
    }
    pipeline.onOutcome { record in
        let sequence = Int(record.eventSequence)
        guard sequence < observed.firstAttemptAt.count else { return }
        switch record.outcome {
        case .retrying where record.attempt == 1 && record.webhook == "dead":
            observed.firstAttemptAt[sequence] = record.at.microsecondsSinceEpoch
        case .deadLettered where record.webhook == "dead":
            if record.failureClass == .circuitOpen { observed.circuitOpen.wrappingAdd(1, ordering: .relaxed) }
            observed.deadLetterAt[sequence] = record.at.microsecondsSinceEpoch
        default:
            break
        }
    }
    try pipeline.start()
    let start = Date()
    let ownBefore = processCPUNanoseconds()
    let nginxBefore = nginx.cpuNanoseconds()
    for event in events {
        var backoff: UInt32 = 50  // as the replayer: 50 µs doubling to 1 ms (spinning would steal the stages' CPU)
        while true {
            switch pipeline.emit(event) {
            case .accepted: break
            case .backpressure:
                usleep(backoff)
                backoff = min(backoff * 2, 1_000)
                continue
            case .invalid(let error): fatalError("generated event rejected: \(error)")
            case .stopped: fatalError("pipeline stopped: \(pipeline.failure ?? "")")
            }
            break
        }
    }
    while observed.healthy.load(ordering: .relaxed) < events.count {
        if Date().timeIntervalSince(start) > 600 { fatalError("the healthy webhook did not get every event in 600 s") }
        usleep(500)
    }
    let seconds = Date().timeIntervalSince(start)
    let own = Double(processCPUNanoseconds() - ownBefore) / 1e3 / Double(events.count)
    let nginxSpent = Double(nginx.cpuNanoseconds() - nginxBefore) / 1e3 / Double(events.count)
    if showThreads {
        let threads = threadCPUSeconds().filter { $0.key.hasPrefix("sluice-") }.sorted { $0.value > $1.value }
        print(
            threads.map { String(format: "%@ %.1f µs/event", $0.key, $0.value * 1e6 / Double(events.count)) }
                .joined(separator: ", ")
        )
    }
    if withDead { Thread.sleep(forTimeInterval: watchSeconds) }
    pipeline.stop(drainTimeoutNanoseconds: 5_000_000_000)
    return Round(
        healthyPerSecond: Double(events.count) / seconds,
        ownMicroseconds: own,
        nginxMicroseconds: nginxSpent,
        lateness: observed.lateness(),
        circuitOpen: observed.circuitOpen.load(ordering: .relaxed),
        deadRequests: 0
    )
}

func median(_ values: [Double]) -> Double { values.isEmpty ? .nan : values.sorted()[values.count / 2] }
func quantile(_ values: [Double], _ q: Double) -> Double {
    values.isEmpty ? .nan : values.sorted()[min(values.count - 1, Int(Double(values.count) * q))]
}

print(
    "isolation-bench: \(eventCount) events per round (seed 42), nginx :\(nginx.port) (/healthy 204, /dead 500), "
        + "schedule 0+1+1+1 s, fsync interval:5, \(rounds) rounds each side, alternating"
)
var alone: [Double] = []
var beside: [Double] = []
var ratios: [Double] = []
var lateness: [Double] = []
if besideOnly || aloneOnly {  // for profiling the dead neighbour's cost: one side, compared between two runs
    for round in 0..<rounds {
        let result = try run(round: round, withDead: besideOnly)
        print(String(format: "round %d: healthy %.0f/s", round + 1, result.healthyPerSecond))
    }
    nginx.stop()  // `exit` skips the `defer`s
    exit(0)
}
for round in 0..<rounds {
    let a = try run(round: round, withDead: false)
    let b = try run(round: round, withDead: true)
    alone.append(a.healthyPerSecond)
    beside.append(b.healthyPerSecond)
    ratios.append(b.healthyPerSecond / a.healthyPerSecond)
    lateness += b.lateness
    print(
        String(
            format: "round %d: healthy alone %.0f/s (cpu/event %.1f µs + nginx %.1f), beside a dead neighbour "
                + "(cpu/event %.1f µs + nginx %.1f) %.0f/s (%.2f×); %d dead letters seen, "
                + "lateness median %.3f s, max %.3f s; %d of them after a CIRCUIT_OPEN attempt",
            round + 1,
            a.healthyPerSecond,
            a.ownMicroseconds,
            a.nginxMicroseconds,
            b.ownMicroseconds,
            b.nginxMicroseconds,
            b.healthyPerSecond,
            b.healthyPerSecond / a.healthyPerSecond,
            b.lateness.count,
            median(b.lateness),
            b.lateness.max() ?? .nan,
            b.circuitOpen
        )
    )
}
print(
    String(
        format: "healthy alone %.0f/s, beside a dead neighbour %.0f/s: ratio median %.2f× "
            + "(min %.2f, max %.2f; goal ≥ 0.9×)",
        median(alone),
        median(beside),
        median(ratios),
        ratios.min()!,
        ratios.max()!
    )
)
print(
    String(
        format: "dead letters: %d seen, after the schedule's end by median %.3f s, p99 %.3f s, max %.3f s (goal ≤ 1 s)",
        lateness.count,
        median(lateness),
        quantile(lateness, 0.99),
        lateness.max() ?? .nan
    )
)
