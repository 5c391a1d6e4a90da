// soak-bench: the pipeline for 30 minutes with faulty receivers (`--help` says what it measures).
import BenchmarkCommandLine
import Foundation
import LoopbackPeers
import SluiceTools
import Synchronization

var commandLine = BenchmarkCommandLine(
    name: "soak-bench",
    summary: """
        The soak (issue 15): the pipeline at half its saturated rate with faulty receivers beside healthy ones,
        printing per minute the resident memory and the emit -> 2xx latency (p50, p99) of the healthy webhooks;
        memory must stay flat once the faulty endpoints hold their bound (endpoint_pending_max) and leave the
        rest of their backlog in the log. Receivers (nginx on 127.0.0.1): three healthy webhooks (204), one
        answering 500, one answering 429 with Retry-After: 2, and one whose port refuses connections. The
        default retry schedule (0, 5 s, 5 min, 30 min, ...) keeps the faulty deliveries retrying for the whole
        soak. The saturated rate is measured first, with the same webhooks, for --calibrate-seconds.
        Not a CI test: it runs for --minutes. Needs nginx.
        """
)
let minutes = commandLine.integer("--minutes", default: 30, range: 1...10_080, "length of the soak")
let calibrateSeconds = commandLine.number(
    "--calibrate-seconds",
    default: 10,
    range: 1...3_600,
    "how long the saturated rate is measured first"
)
let fixedRate = commandLine.number(
    "--rate",
    default: 0,
    range: 0...100_000_000,
    "events/s to emit instead of half the measured saturated rate (0: half)"
)
let eventCount = commandLine.integer(
    "--events",
    default: 100_000,
    range: 1_000...10_000_000,
    "distinct generated events, emitted in a cycle"
)
commandLine.finish()

let nginx = try Nginx(
    locations: """
        location /dead { return 500; }
                location /busy { add_header Retry-After 2 always; return 429; }
        """
)
defer { nginx.stop() }
let refusedPort = freeLoopbackPort()  // nothing listens there
let work = try WorkDirectory.make(prefix: "sluice-soak-bench")
defer { try? WorkDirectory.remove(work) }
var generator = FixtureGenerator(.init(eventCount: eventCount, seed: 7))
var events: [[UInt8]] = []
while let event = generator.next() { events.append(event) }

@MainActor func configuration(_ name: String) throws -> PipelineConfiguration {
    let base = "http://127.0.0.1:\(nginx.port)"
    let targets = [
        ("healthy-1", base + "/a"), ("healthy-2", base + "/b"), ("healthy-3", base + "/c"), ("dead", base + "/dead"),
        ("busy", base + "/busy"), ("refused", "http://127.0.0.1:\(refusedPort)/hook"),
    ]
    let webhooks = targets.map { name, url in
        #"{"name": "\#(name)", "url": "\#(url)", "shared_key": "k", "event_type": "all", "branch_scope": "all_branches"}"#
    }
    let json = try JSONValue.parse(Array(#"{"webhooks": [\#(webhooks.joined(separator: ","))]}"#.utf8))
    var configuration = PipelineConfiguration(
        log: LogConfiguration(directory: work + "/" + name),
        triggers: try TriggerConfiguration(json: json)
    )
    configuration.webhooks = try WebhookConfiguration(json: json, environment: [:])
    configuration.log.fsync = .interval(milliseconds: 5)
    configuration.allowedNetworks = [try IPNetwork.parse("127.0.0.1/32")]  // the receivers are on loopback
    return configuration
}

/// Emit → 2xx latencies in log-spaced buckets (16 per power of two: ±2 %), for quantiles without storing each.
final class LatencyBuckets: Sendable {
    private let counts = Mutex<[Int]>(Array(repeating: 0, count: 64 * 16))

    func record(_ nanoseconds: UInt64) {
        let value = max(nanoseconds, 1)
        let exponent = 63 - value.leadingZeroBitCount
        let fraction = exponent >= 4 ? Int((value >> UInt64(exponent - 4)) & 15) : 0
        counts.withLock { $0[exponent * 16 + fraction] += 1 }
    }

    /// Takes the counts (and starts over): (count, p50, p99) in milliseconds.
    func take() -> (count: Int, p50: Double, p99: Double) {
        let taken = counts.withLock { counts in
            defer { counts = Array(repeating: 0, count: counts.count) }
            return counts
        }
        let total = taken.reduce(0, +)
        func quantile(_ q: Double) -> Double {
            guard total > 0 else { return .nan }
            let rank = Int((Double(total) * q).rounded(.up))
            var seen = 0
            for (bucket, count) in taken.enumerated() {
                seen += count
                if seen >= rank {
                    let exponent = bucket / 16
                    let fraction = bucket % 16
                    return Double(UInt64(16 + fraction) << UInt64(max(exponent - 4, 0))) / 1e6
                }
            }
            return .nan
        }
        return (total, quantile(0.5), quantile(0.99))
    }
}

func residentMegabytes() -> Double {
    let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
    let pages = statm.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
    return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1e6
}

func emit(_ pipeline: Pipeline, _ event: [UInt8]) -> Bool {
    switch pipeline.emit(event) {
    case .accepted: return true
    case .backpressure: return false
    case .invalid(let error): fatalError("generated event rejected: \(error)")
    case .stopped: fatalError("pipeline stopped: \(pipeline.failure ?? "")")
    }
}

// 1. The saturated rate with the same webhooks.
var rate = fixedRate
if rate == 0 {
    let pipeline = try Pipeline(configuration: try configuration("calibrate"))
    let delivered = Atomic<Int>(0)
    pipeline.onDelivered { _ in delivered.wrappingAdd(1, ordering: .relaxed) }
    try pipeline.start()
    let start = Date()
    var emitted = 0
    while Date().timeIntervalSince(start) < calibrateSeconds {
        if emit(pipeline, events[emitted % events.count]) { emitted += 1 } else { usleep(50) }
    }
    // The healthy webhooks' deliveries per event are 3: the rate they keep up with is the saturated rate.
    let seconds = Date().timeIntervalSince(start)
    rate = Double(delivered.load(ordering: .relaxed)) / 3 / seconds / 2
    print(
        String(
            format: "calibration: %.0f events/s emitted, %.0f healthy deliveries/s for %.0f s; "
                + "soaking at %.0f events/s",
            Double(emitted) / seconds,
            Double(delivered.load(ordering: .relaxed)) / seconds,
            seconds,
            rate
        )
    )
    pipeline.stop(drainTimeoutNanoseconds: 2_000_000_000)
}

// 2. The soak.
let pipeline = try Pipeline(configuration: try configuration("soak"))
let latencies = LatencyBuckets()
pipeline.onDelivered { timing in latencies.record(timing.completedNanoseconds - timing.emittedNanoseconds) }
try pipeline.start()
print("minute  emitted  healthy-2xx  p50-ms  p99-ms  rss-MB  pending  spilling  dead-letters  backpressured")
let start = monotonicNanoseconds()
let interval = UInt64(1e9 / max(rate, 1))
var emitted = 0
var emittedThisMinute = 0
var minute = 1
var rssPerMinute: [Double] = []
while minute <= minutes {
    let due = start + UInt64(emitted) * interval
    let now = monotonicNanoseconds()
    if now < due {
        if due - now > 200_000 { usleep(UInt32((due - now) / 1_000 - 100)) }
        continue
    }
    if emit(pipeline, events[emitted % events.count]) {
        emitted += 1
        emittedThisMinute += 1
    } else {
        usleep(50)
    }
    if now >= start + UInt64(minute) * 60_000_000_000 {
        let (count, p50, p99) = latencies.take()
        let statistics = pipeline.statistics
        let rss = residentMegabytes()
        rssPerMinute.append(rss)
        print(
            String(
                format: "%6d  %7d  %11d  %6.2f  %6.2f  %6.1f  %7d  %8d  %12d  %13d",
                minute,
                emittedThisMinute,
                count,
                p50,
                p99,
                rss,
                statistics.pendingDeliveries,
                statistics.spillingWebhooks,
                statistics.deadLettered,
                statistics.backpressured
            )
        )
        fflush(nil)
        emittedThisMinute = 0
        minute += 1
    }
}
pipeline.stop(drainTimeoutNanoseconds: 5_000_000_000)
let half = rssPerMinute.count / 2
let firstHalf = rssPerMinute[..<max(half, 1)].max() ?? 0
let secondHalf = rssPerMinute[half...].max() ?? 0
print(
    String(
        format: "RSS: max %.1f MB in the first half, %.1f MB in the second (%+.1f %%); %d events emitted at %.0f/s",
        firstHalf,
        secondHalf,
        (secondHalf - firstHalf) / firstHalf * 100,
        emitted,
        rate
    )
)
