// delivery-bench: webhook delivery against wrk on the same nginx (`--help` says what it measures).
import BenchmarkCommandLine
import Foundation
import LoopbackPeers
@_spi(Benchmarks) import SluiceTools

var commandLine = BenchmarkCommandLine(
    name: "delivery-bench",
    summary: """
        Webhook delivery throughput against wrk, side by side in one run (issue 6, PERFORMANCE.md "HTTP
        delivery"): signed 1 KiB webhook POSTs on one Sluice client loop thread (io_uring and epoll) to nginx
        (`return 204`, 1 worker) on 127.0.0.1 over keep-alive connections, and `wrk -t1` sending the same
        request (method, headers, body; a Lua script) to the same nginx. Rounds alternate wrk, io_uring, epoll;
        the figures are medians of the rounds, with latency and CPU per request. Goal: Sluice >= 0.8x wrk.
        Needs nginx and wrk (scripts/bench installs them).
        """
)
let rounds = commandLine.integer("--rounds", default: 3, range: 1...1_000, "rounds of each side, alternating")
let seconds = commandLine.number("--seconds", default: 3, range: 0.1...3_600, "seconds of each round")
let connections = commandLine.integer(
    "--connections",
    default: 64,
    range: 1...4_096,
    "keep-alive connections (and wrk -c)"
)
let backends = commandLine.choices(
    "--backends",
    default: ["uring", "epoll"],
    from: ["uring", "epoll"],
    "the Sluice backends to run (for profiling one)"
)
let runsWrk = !commandLine.flag("--no-wrk", "leave out the wrk anchor (for profiling a client alone)")
commandLine.finish()

let nginx = try Nginx()
defer { nginx.stop() }
let directory = nginx.directory
let port = nginx.port

// wrk sends exactly the request Sluice sends (delivery 0's id and signature; Sluice signs each delivery).
let body = DeliveryBenchmark.body()
let luaString: (String) -> String = {
    "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}
var lua =
    "wrk.method = \"POST\"\nwrk.path = \"/hook\"\nwrk.body = \(luaString(String(decoding: body, as: UTF8.self)))\n"
for field in DeliveryBenchmark.headerFields(number: 1, body: body) {
    lua += "wrk.headers[\(luaString(field.name))] = \(luaString(field.value))\n"
}
try lua.write(toFile: "\(directory)/post.lua", atomically: true, encoding: .utf8)

struct WrkResult {
    var requestsPerSecond: Double
    /// wrk's CPU time (user + system, from RUSAGE_CHILDREN around its run) per request.
    var cpuMicrosecondsPerRequest: Double = .nan
    var p50Microseconds: Double
    var p99Microseconds: Double
}

/// Parses wrk's `Requests/sec:` line and its `--latency` distribution (`50%  61.00us`).
@MainActor func runWrk() throws -> WrkResult {
    let wrk = Process()
    wrk.executableURL = URL(fileURLWithPath: try program(["/usr/bin/wrk"]))
    wrk.arguments = [
        "-t1", "-c\(connections)", "-d\(Int(seconds.rounded(.up)))s", "--latency", "-s", "\(directory)/post.lua",
        "http://127.0.0.1:\(port)/hook",
    ]
    let output = Pipe()
    wrk.standardOutput = output
    let before = childrenCPUMicroseconds()
    try wrk.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    wrk.waitUntilExit()
    var after = childrenCPUMicroseconds()
    for _ in 0..<100 where after == before {  // Foundation reaps the child on another thread
        usleep(10_000)
        after = childrenCPUMicroseconds()
    }
    func microseconds(_ token: String) -> Double {
        let units: [(String, Double)] = [("us", 1), ("ms", 1000), ("s", 1_000_000)]
        for (suffix, scale) in units where token.hasSuffix(suffix) {
            return (Double(token.dropLast(suffix.count)) ?? .nan) * scale
        }
        return .nan
    }
    var result = WrkResult(requestsPerSecond: .nan, p50Microseconds: .nan, p99Microseconds: .nan)
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ").map(String.init)
        if parts.first == "Requests/sec:" { result.requestsPerSecond = Double(parts[1]) ?? .nan }
        if parts.first == "50%" { result.p50Microseconds = microseconds(parts[1]) }
        if parts.first == "99%" { result.p99Microseconds = microseconds(parts[1]) }
        if line.contains("Non-2xx") || line.contains("Socket errors") { print("wrk: \(line)") }
    }
    var requests = 0.0
    for line in text.split(separator: "\n") where line.contains("requests in") {
        requests = Double(line.split(separator: " ").first ?? "") ?? 0
    }
    result.cpuMicrosecondsPerRequest = requests > 0 ? (after - before) / requests : .nan
    return result
}

/// User + system CPU of reaped children, in microseconds.
func childrenCPUMicroseconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
}

func format(_ value: Double, _ digits: Int = 0) -> String { String(format: "%.\(digits)f", value) }

print(
    "delivery-bench: \(body.count)-byte signed POSTs, \(connections) connections, \(rounds) rounds of \(seconds) s, nginx 1 worker on 127.0.0.1:\(port)"
)
var wrkResults: [WrkResult] = []
var sluiceResults: [String: [DeliveryBenchmarkResult]] = [:]
for round in 1...rounds {
    var line = "round \(round):"
    if runsWrk {
        let wrk = try runWrk()
        wrkResults.append(wrk)
        line += " wrk \(format(wrk.requestsPerSecond)) req/s"
    }
    for backend in backends {
        let result = try DeliveryBenchmark.run(port: port, backend: backend, connections: connections, seconds: seconds)
        sluiceResults[backend, default: []].append(result)
        line += "  \(result.backend) \(format(result.deliveriesPerSecond))/s (\(result.failures) failed)"
    }
    print(line)
}
let wrkRate = median(wrkResults.map(\.requestsPerSecond))
print("")
let wrkCPU = median(wrkResults.map(\.cpuMicrosecondsPerRequest))
print("| client | deliveries/s (median) | × wrk | p50 µs | p99 µs | CPU µs per request | wrk CPU ÷ this |")
print("|---|---|---|---|---|---|---|")
print(
    "| wrk -t1 -c\(connections) | \(format(wrkRate)) | 1.00 | \(format(median(wrkResults.map(\.p50Microseconds)))) | \(format(median(wrkResults.map(\.p99Microseconds)))) | \(format(wrkCPU, 2)) | 1.00 |"
)
for backend in backends {
    let results = sluiceResults[backend]!
    let rate = median(results.map(\.deliveriesPerSecond))
    let cpu = median(results.map(\.cpuMicrosecondsPerDelivery))
    print(
        "| Sluice \(results[0].backend), 1 loop thread | \(format(rate)) | \(format(rate / wrkRate, 2)) | \(format(median(results.map(\.p50Microseconds)))) | \(format(median(results.map(\.p99Microseconds)))) | \(format(cpu, 2)) | \(format(wrkCPU / cpu, 2)) |"
    )
}
