// log-ratio: log append against raw LZ4 on the same bytes (`--help` says what it measures).
import BenchmarkCommandLine
import Foundation
@_spi(Benchmarks) import SluiceTools

var commandLine = BenchmarkCommandLine(
    name: "log-ratio",
    summary: """
        Log append against its anchor, side by side in one process (issue 3, PERFORMANCE.md "log append"): the
        same generated events (seed 42) appended through SegmentLogWriter (framing, LZ4, CRC-32C, pwrite) and
        compressed by raw LZ4_compress_default in blocks of the same size. Goal: ours >= 0.7x the anchor.
        """
)
let rounds = commandLine.integer("--rounds", default: 5, range: 1...1_000, "alternating rounds")
let eventCount = commandLine.integer("--events", default: 20_000, range: 1...10_000_000, "generated events")
let fsync: FsyncPolicy =
    commandLine.choice("--fsync", default: "never", from: ["never", "always"], "the writer's fsync policy") == "always"
    ? .always : .never
commandLine.finish()

var generator = FixtureGenerator(.init(eventCount: eventCount, seed: 42))
var records: [LogRecord] = []
var timestamp: Int64 = 1_741_884_272_000_000
while let event = generator.next() {
    timestamp += 1000
    records.append(LogRecord(type: .event, timestampMicroseconds: timestamp, body: event))
}
let byteCount = records.reduce(0) { $0 + $1.body.count }
let frameByteCountMax = LogConfiguration(directory: "").frameByteCountMax
// The anchor's blocks: the same bodies cut where the writer cuts frames (records with their 16-byte headers).
var blocks: [[UInt8]] = []
var block: [UInt8] = []
for record in records {
    if !block.isEmpty && block.count + record.body.count + 16 > frameByteCountMax {
        blocks.append(block)
        block.removeAll()
    }
    block.append(contentsOf: [UInt8](repeating: 0, count: 16))
    block.append(contentsOf: record.body)
}
blocks.append(block)
var scratch = [UInt8](repeating: 0, count: LZ4Anchor.bound(frameByteCountMax))
let batchEventCount = 256
let clock = ContinuousClock()
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

var ours: [Double] = []
var anchor: [Double] = []
var ratios: [Double] = []
var storedByteCount: UInt64 = 0
for round in 0..<rounds {
    var compressed = 0
    let anchorTime = clock.measure {
        for block in blocks { compressed += LZ4Anchor.compress(block, into: &scratch) }
    }
    let directory = NSTemporaryDirectory() + "sluice-log-ratio-\(getpid())-\(round)"
    var configuration = LogConfiguration(directory: directory)
    configuration.fsync = fsync
    let writer = try SegmentLogWriter(configuration: configuration, nowMicroseconds: 0)
    let oursTime = try clock.measure {
        var start = 0
        while start < records.count {
            let end = min(records.count, start + batchEventCount)
            try writer.append(Array(records[start..<end]), nowMicroseconds: 0, nowMonotonicNanoseconds: 0)
            start = end
        }
    }
    let summary = try LogFiles.forEachRecord(directory: directory) { _ in }
    storedByteCount = summary.storedByteCount
    try FileManager.default.removeItem(atPath: directory)
    ours.append(seconds(oursTime))
    anchor.append(seconds(anchorTime))
    ratios.append(seconds(anchorTime) / seconds(oursTime))
    _ = compressed
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
let megabytes = Double(byteCount) / 1e6
print(
    "events \(eventCount), \(byteCount) bytes, fsync \(fsync), \(rounds) rounds, frames of ≤ \(frameByteCountMax) bytes"
)
print(
    String(
        format: "SegmentLogWriter.append  median %.1f ms  %.0f MB/s  %.0f k events/s",
        median(ours) * 1000,
        megabytes / median(ours),
        Double(eventCount) / median(ours) / 1000
    )
)
print(
    String(
        format: "LZ4_compress_default     median %.1f ms  %.0f MB/s",
        median(anchor) * 1000,
        megabytes / median(anchor)
    )
)
print(
    String(
        format: "compression ratio %.2f (payload bytes / stored bytes)",
        Double(byteCount + 16 * eventCount) / Double(storedByteCount)
    )
)
print(
    String(
        format: "ratio (ours / anchor throughput): median %.2fx (min %.2fx, max %.2fx)",
        median(ratios),
        ratios.min()!,
        ratios.max()!
    )
)
