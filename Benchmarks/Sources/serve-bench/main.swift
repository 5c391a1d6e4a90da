// serve-bench: `sluice serve`'s HTTP surfaces against their anchors, side by side in one run (`--help` says
// what it measures and every option).
import BenchmarkCommandLine
import CLinuxEvents
import Foundation
import LoopbackPeers
import SluiceTools

/// The repository root, from this file's path (Benchmarks/Sources/serve-bench/main.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path
let executableDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path

var commandLine = BenchmarkCommandLine(
    name: "serve-bench",
    summary: """
        `sluice serve` (issue 17) against its anchors, side by side in one run. The server is a real
        `sluice serve` process (the release build next to this executable) on 127.0.0.1 with `fsync: always`
        (group commit) and idempotency on; every request carries fresh event ids, so every event is emitted.
        Events: FixtureGenerator (seed 42), ~5 KB each. Parts (--parts):
          ingest   HTTP ingest with keep-alive and durable replies, from one client thread (epoll, --connections
                   connections, closed loop): (i) single-event POSTs, (ii) --batch-event NDJSON batches, in
                   events/s, against in-process `Pipeline.emit` of the same events with the same configuration
                   (a log of its own per round), from one thread, until all are durable. Goal: batches >= 0.7x.
          wrk      wrk -t1 -c<connections> with one Lua script (a typical event, a fresh id per request)
                   against nginx (1 worker) answering a static 200, and against sluice serve. Goal >= 0.5x.
          latency  POST -> durable reply at --rate events/s, open loop: request i is due at start + i/rate
                   and its latency counts from then (waiting for a free connection included). Goal p99 <= 3 ms.
          github   POST /github/<source> with real X-Hub-Signature-256 (the deliveries of fixtures/github,
                   a fresh X-GitHub-Delivery each), against POST /api/events of the events the receiver makes
                   of the same deliveries. Goal >= 0.8x.
        Rounds alternate the order of each pair; the figures are medians of the rounds, with CPU time per
        event of each process (sluice serve, the client, wrk, nginx). Needs nginx and wrk (scripts/bench
        installs them) and the sluice executable (scripts/bench builds it).
        """
)
let rounds = commandLine.integer("--rounds", default: 3, range: 1...1_000, "rounds of each part's pair")
let seconds = commandLine.number("--seconds", default: 2, range: 0.2...3_600, "seconds of each closed-loop run")
let connectionCount = commandLine.integer(
    "--connections",
    default: 64,
    range: 1...4_096,
    "keep-alive connections of the client and of wrk"
)
let batchSize = commandLine.integer("--batch", default: 100, range: 2...16_384, "events per NDJSON batch")
let latencyRate = commandLine.number("--rate", default: 1_000, range: 1...1_000_000, "events/s of the latency run")
let latencySeconds = commandLine.number(
    "--latency-seconds",
    default: 5,
    range: 0.2...3_600,
    "seconds of the latency run"
)
let eventCount = commandLine.integer("--events", default: 1_000, range: 100...1_000_000, "distinct generated events")
let parts = Set(
    commandLine.choices(
        "--parts",
        default: ["ingest", "wrk", "latency", "github"],
        from: ["ingest", "wrk", "latency", "github"],
        "the parts to run"
    )
)
let sluicePath = commandLine.text("--sluice", default: executableDirectory + "/sluice", "the sluice executable")
let gitHubDirectory = commandLine.text(
    "--github-fixtures",
    default: repositoryRoot + "/fixtures/github",
    "the GitHub deliveries"
)
commandLine.finish()

func median(_ values: [Double]) -> Double {
    let sorted = values.filter { !$0.isNaN }.sorted()
    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
}
func format(_ value: Double, _ digits: Int = 0) -> String {
    value.isNaN ? "–" : String(format: "%.\(digits)f", value)
}
func ratioText(_ value: Double) -> String { value.isNaN ? "–" : String(format: "%.2f×", value) }
func microseconds(_ nanoseconds: UInt64) -> String { String(format: "%.0f µs", Double(nanoseconds) / 1e3) }

/// One measured run: its rate and the CPU each process spent per event.
struct Figure {
    var eventsPerSecond: Double
    /// Process name → CPU µs per event.
    var cpu: [(String, Double)]

    var cpuText: String {
        cpu.map { "\($0.0) \(format($0.1, 1))" }.joined(separator: ", ") + " µs CPU/event"
    }
}

let work = try WorkDirectory.make(prefix: "sluice-serve-bench")
defer { try? WorkDirectory.remove(work) }
let gitHubSource = "bench"
let gitHubSecret = "serve-bench-secret-\(UInt32.random(in: 0...UInt32.max))"
let configurationPath = work + "/sluice.yaml"
try """
log:
  directory: serve-log
  fsync: always
server:
  github:
    - source: \(gitHubSource)
      secrets: [{value: "\(gitHubSecret)"}]
""".write(toFile: configurationPath, atomically: true, encoding: .utf8)

let events = try EventSet(count: eventCount)
let server = try ServeProcess(
    executable: sluicePath,
    configurationPath: configurationPath,
    errorPath: work + "/serve.stderr"
)
defer { try? server.stop() }
let port = server.port
print("command: \(CommandLine.arguments.joined(separator: " "))")
print("server: \(server.command)  (config: log fsync always, group commit; idempotency on; port \(port))")
print(
    "events: \(events.events.count) generated (seed 42), mean \(events.byteCountMean) bytes; \(connectionCount) connections; "
        + "\(rounds) rounds of \(format(seconds, 1)) s"
)

/// Runs one closed-loop or open-loop load against the server and measures the CPU of both processes.
@MainActor func measureHTTP(
    pacing: LoadPacing,
    request: (Int) -> [UInt8],
    check: (Int, ArraySlice<UInt8>) -> Int?
) throws -> (LoadOutcome, Figure) {
    let serverBefore = server.cpuNanoseconds()
    let ownBefore = processCPUNanoseconds()
    let outcome = try runLoad(
        port: port,
        connections: connectionCount,
        pacing: pacing,
        request: request,
        check: check
    )
    let count = Double(max(outcome.eventCount, 1))
    let figure = Figure(
        eventsPerSecond: outcome.eventsPerSecond,
        cpu: [
            ("serve", Double(server.cpuNanoseconds() - serverBefore) / 1e3 / count),
            ("client", Double(processCPUNanoseconds() - ownBefore) / 1e3 / count),
        ]
    )
    if outcome.failureCount > 0 {
        print("  \(outcome.failureCount) of \(outcome.replyCount) replies failed, e.g.:")
        for sample in outcome.failureSamples { print("    \(sample)") }
    }
    return (outcome, figure)
}

// MARK: ingest

/// In-process `Pipeline.emit` of the same events, same configuration, a fresh log: events/s until all durable.
@MainActor func runEmitAnchor(round: Int) throws -> Figure {
    let configuration = try PipelineConfiguration.load(
        path: configurationPath,
        environment: [:],
        logDirectory: work + "/anchor-\(round)"
    )
    let pipeline = try Pipeline(configuration: configuration)
    _ = try pipeline.start()
    defer { pipeline.stop() }
    let stamp = IDStamp()
    let ownBefore = processCPUNanoseconds()
    let start = nowNanoseconds()
    let deadline = start + UInt64(seconds * 1e9)
    var emitted = 0
    var lastPosition = -1
    while nowNanoseconds() < deadline {
        let event = events.events[emitted % events.events.count]
        var bytes = event.bytes
        for offset in event.idOffsets { stamp.write(emitted, into: &bytes, at: offset) }
        switch pipeline.emit(bytes) {
        case .accepted(let position):
            emitted += 1
            lastPosition = position
        case .backpressure:
            sched_yield()
        case .invalid(let error):
            throw LoadError(description: "the anchor's event was refused: \(error)")
        case .stopped:
            throw LoadError(description: "the anchor's pipeline stopped: \(pipeline.failure ?? "")")
        }
    }
    while pipeline.acknowledgedCount <= lastPosition { usleep(20) }
    let elapsed = nowNanoseconds() - start
    return Figure(
        eventsPerSecond: Double(emitted) / (Double(elapsed) / 1e9),
        cpu: [("emit", Double(processCPUNanoseconds() - ownBefore) / 1e3 / Double(max(emitted, 1)))]
    )
}

let singles = events.singles()
let batches = events.batches(size: batchSize)
var anchorFigures: [Figure] = []
var singleFigures: [Figure] = []
var batchFigures: [Figure] = []
var singleRatios: [Double] = []
var batchRatios: [Double] = []

// MARK: wrk

/// One request of `template` as a Lua script for wrk: the bytes around each id as Lua strings, and a fresh id
/// per request (`%08x-0000-4000-8000-%012x`, the IDStamp format), so wrk sends exactly what the client sends.
func luaScript(_ template: Template) -> String {
    func literal(_ bytes: ArraySlice<UInt8>) -> String {
        var text = "\""
        for byte in bytes {
            if byte >= 32, byte < 127, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += "\\" + String(format: "%03d", byte)
            }
        }
        return text + "\""
    }
    let offsets = template.idGroups.flatMap { $0 }.sorted()
    var pieces: [String] = []
    var start = 0
    for offset in offsets {
        pieces.append(literal(template.bytes[start..<offset]))
        start = offset + IDStamp.byteCount
    }
    pieces.append(literal(template.bytes[start...]))
    return """
        local pieces = {\(pieces.joined(separator: ",\n"))}
        local prefix = \(UInt32.random(in: 0...UInt32.max))
        local counter = 0
        request = function()
          counter = counter + 1
          local id = string.format("%08x-0000-4000-8000-%012x", prefix, counter)
          return table.concat(pieces, id)
        end
        """
}

struct WrkResult {
    var requestsPerSecond: Double
    var requestCount: Double
    var failures: [String]
    var cpuNanoseconds: UInt64
}

@MainActor func runWrk(port: UInt16, script: String) throws -> WrkResult {
    let scriptPath = work + "/request.lua"
    try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
    let wrk = Process()
    wrk.executableURL = URL(fileURLWithPath: try program(["/usr/bin/wrk"]))
    wrk.arguments = [
        "-t1", "-c\(connectionCount)", "-d\(Int(seconds.rounded(.up)))s", "-s", scriptPath,
        "http://127.0.0.1:\(port)/api/events",
    ]
    let output = Pipe()
    wrk.standardOutput = output
    let before = childrenCPUNanoseconds()
    try wrk.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    wrk.waitUntilExit()
    var after = childrenCPUNanoseconds()
    for _ in 0..<100 where after == before {  // Foundation reaps the child on another thread
        usleep(10_000)
        after = childrenCPUNanoseconds()
    }
    var result = WrkResult(requestsPerSecond: .nan, requestCount: 0, failures: [], cpuNanoseconds: after - before)
    for line in text.split(separator: "\n") {
        let words = line.split(separator: " ")
        if words.first == "Requests/sec:", words.count > 1 { result.requestsPerSecond = Double(words[1]) ?? .nan }
        if line.contains("requests in") { result.requestCount = Double(words.first ?? "") ?? 0 }
        if line.contains("Non-2xx") || line.contains("Socket errors") {
            result.failures.append(line.trimmingCharacters(in: .whitespaces))
        }
    }
    guard wrk.terminationStatus == 0, !result.requestsPerSecond.isNaN else {
        throw LoadError(description: "wrk failed (status \(wrk.terminationStatus)):\n\(text)")
    }
    return result
}

let typical = events.typical()
let nginxReply =
    "{\"accepted\":1,\"duplicates\":0,\"invalid\":0,\"durable\":true,\"results\":[{\"line\":1,\"status\":\"accepted\",\"id\":\"\(IDStamp().string(1))\",\"sequence\":1234567}]}"
let nginx =
    parts.contains("wrk")
    ? try Nginx(locations: "location = /api/events { default_type application/json; return 200 '\(nginxReply)'; }")
    : nil
defer { nginx?.stop() }
var wrkNginxFigures: [Figure] = []
var wrkSluiceFigures: [Figure] = []
var wrkRatios: [Double] = []

@MainActor func measureWrk(toNginx: Bool) throws -> Figure {
    let serverBefore = toNginx ? nginx!.cpuNanoseconds() : server.cpuNanoseconds()
    let result = try runWrk(port: toNginx ? nginx!.port : port, script: luaScript(typical))
    let serverSpent = (toNginx ? nginx!.cpuNanoseconds() : server.cpuNanoseconds()) - serverBefore
    if !result.failures.isEmpty { print("  wrk → \(toNginx ? "nginx" : "sluice"): \(result.failures)") }
    let count = max(result.requestCount, 1)
    return Figure(
        eventsPerSecond: result.failures.isEmpty ? result.requestsPerSecond : .nan,
        cpu: [
            (toNginx ? "nginx" : "serve", Double(serverSpent) / 1e3 / count),
            ("wrk", Double(result.cpuNanoseconds) / 1e3 / count),
        ]
    )
}

// MARK: github

let gitHub =
    parts.contains("github")
    ? try GitHubSet(directory: gitHubDirectory, source: gitHubSource, secret: gitHubSecret) : nil
var gitHubFigures: [Figure] = []
var plainFigures: [Figure] = []
var gitHubRatios: [Double] = []

// MARK: rounds

for round in 0..<rounds {
    let anchorFirst = round % 2 == 0
    print("round \(round + 1):")
    if parts.contains("ingest") {
        var anchor: Figure?
        if anchorFirst { anchor = try runEmitAnchor(round: round) }
        let stampSingle = IDStamp()
        let (_, single) = try measureHTTP(
            pacing: .closed(seconds: seconds),
            request: { singles[$0 % singles.count].make($0, stamp: stampSingle) },
            check: ingestAccepted
        )
        let stampBatch = IDStamp()
        let (_, batch) = try measureHTTP(
            pacing: .closed(seconds: seconds),
            request: { batches[$0 % batches.count].make($0, stamp: stampBatch) },
            check: ingestAccepted
        )
        if !anchorFirst { anchor = try runEmitAnchor(round: round) }
        anchorFigures.append(anchor!)
        singleFigures.append(single)
        batchFigures.append(batch)
        singleRatios.append(single.eventsPerSecond / anchor!.eventsPerSecond)
        batchRatios.append(batch.eventsPerSecond / anchor!.eventsPerSecond)
        print("  Pipeline.emit in-process   \(format(anchor!.eventsPerSecond)) events/s  (\(anchor!.cpuText))")
        print(
            "  HTTP single-event POSTs    \(format(single.eventsPerSecond)) events/s  \(ratioText(singleRatios.last!))  (\(single.cpuText))"
        )
        print(
            "  HTTP \(batchSize)-event batches     \(format(batch.eventsPerSecond)) events/s  \(ratioText(batchRatios.last!))  (\(batch.cpuText))"
        )
    }
    if parts.contains("wrk") {
        let first = try measureWrk(toNginx: anchorFirst)
        let second = try measureWrk(toNginx: !anchorFirst)
        let (toNginx, toSluice) = anchorFirst ? (first, second) : (second, first)
        wrkNginxFigures.append(toNginx)
        wrkSluiceFigures.append(toSluice)
        wrkRatios.append(toSluice.eventsPerSecond / toNginx.eventsPerSecond)
        print("  wrk → nginx static 200     \(format(toNginx.eventsPerSecond)) req/s  (\(toNginx.cpuText))")
        print(
            "  wrk → sluice serve         \(format(toSluice.eventsPerSecond)) req/s  \(ratioText(wrkRatios.last!))  (\(toSluice.cpuText))"
        )
    }
    if let gitHub {
        var signed: Figure?
        var plain: Figure?
        for step in 0..<2 {
            let stamp = IDStamp()
            if (step == 0) == anchorFirst {
                plain = try measureHTTP(
                    pacing: .closed(seconds: seconds),
                    request: { gitHub.plain[$0 % gitHub.plain.count].make($0, stamp: stamp) },
                    check: ingestAccepted
                ).1
            } else {
                signed = try measureHTTP(
                    pacing: .closed(seconds: seconds),
                    request: { gitHub.deliveries[$0 % gitHub.deliveries.count].make($0, stamp: stamp) },
                    check: gitHubAccepted
                ).1
            }
        }
        gitHubFigures.append(signed!)
        plainFigures.append(plain!)
        gitHubRatios.append(signed!.eventsPerSecond / plain!.eventsPerSecond)
        print("  plain ingest, same events  \(format(plain!.eventsPerSecond)) events/s  (\(plain!.cpuText))")
        print(
            "  GitHub signed deliveries   \(format(signed!.eventsPerSecond)) deliveries/s  \(ratioText(gitHubRatios.last!))  (\(signed!.cpuText))"
        )
    }
}

var latency: LoadOutcome?
var latencyFigure: Figure?
if parts.contains("latency") {
    let stamp = IDStamp()
    (latency, latencyFigure) = try measureHTTP(
        pacing: .open(rate: latencyRate, seconds: latencySeconds),
        request: { singles[$0 % singles.count].make($0, stamp: stamp) },
        check: ingestAccepted
    )
}

// MARK: summary

/// The median of each process's CPU µs per event across `figures`.
func cpuMedian(_ figures: [Figure]) -> String {
    guard let first = figures.first else { return "" }
    return first.cpu.indices.map { index in
        "\(first.cpu[index].0) \(format(median(figures.map { $0.cpu[index].1 }), 1))"
    }.joined(separator: ", ")
}
func verdict(_ met: Bool) -> String { met ? "✓" : "✗" }

print("")
print("| figure | median | anchor (same run) | ratio (median of rounds) | goal | CPU µs per event |")
print("|---|---|---|---|---|---|")
if !anchorFigures.isEmpty {
    let anchorRate = median(anchorFigures.map(\.eventsPerSecond))
    print("| in-process `Pipeline.emit` | \(format(anchorRate)) events/s | | | | \(cpuMedian(anchorFigures)) |")
    print(
        "| HTTP single-event POSTs | \(format(median(singleFigures.map(\.eventsPerSecond)))) events/s | emit | \(ratioText(median(singleRatios))) | | \(cpuMedian(singleFigures)) |"
    )
    let batchRatio = median(batchRatios)
    print(
        "| HTTP \(batchSize)-event NDJSON batches | \(format(median(batchFigures.map(\.eventsPerSecond)))) events/s | emit | \(ratioText(batchRatio)) | ≥ 0.70× \(verdict(batchRatio >= 0.7)) | \(cpuMedian(batchFigures)) |"
    )
}
if !wrkRatios.isEmpty {
    let ratio = median(wrkRatios)
    print(
        "| wrk → nginx static 200 | \(format(median(wrkNginxFigures.map(\.eventsPerSecond)))) req/s | | | | \(cpuMedian(wrkNginxFigures)) |"
    )
    print(
        "| wrk → sluice serve, single events | \(format(median(wrkSluiceFigures.map(\.eventsPerSecond)))) req/s | wrk → nginx | \(ratioText(ratio)) | ≥ 0.50× \(verdict(ratio >= 0.5)) | \(cpuMedian(wrkSluiceFigures)) |"
    )
}
if !gitHubRatios.isEmpty {
    let ratio = median(gitHubRatios)
    print(
        "| plain ingest of the GitHub events | \(format(median(plainFigures.map(\.eventsPerSecond)))) events/s | | | | \(cpuMedian(plainFigures)) |"
    )
    print(
        "| GitHub receiver, signed | \(format(median(gitHubFigures.map(\.eventsPerSecond)))) deliveries/s | plain ingest | \(ratioText(ratio)) | ≥ 0.80× \(verdict(ratio >= 0.8)) | \(cpuMedian(gitHubFigures)) |"
    )
}
if let latency, let latencyFigure {
    let p99 = latency.latencyNanoseconds(quantile: 0.99)
    print(
        "| POST → durable reply at \(format(latencyRate)) events/s (\(latency.replyCount) requests, \(latency.failureCount) failed) | p50 \(microseconds(latency.latencyNanoseconds(quantile: 0.5))), p99 \(microseconds(p99)), p99.9 \(microseconds(latency.latencyNanoseconds(quantile: 0.999))), max \(microseconds(latency.latencyNanoseconds(quantile: 1))) | | | p99 ≤ 3 ms \(verdict(p99 <= 3_000_000 && latency.failureCount == 0)) | \(latencyFigure.cpu.map { "\($0.0) \(format($0.1, 1))" }.joined(separator: ", ")) |"
    )
}
try server.stop()
