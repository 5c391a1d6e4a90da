// decode-ratio: Sluice's EventDecoder against Foundation's JSONDecoder (`--help` says what it measures).

import BenchmarkCommandLine
import DecodeAnchor
import Foundation
import Sluice

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("decode-ratio: \(message)\n".utf8))
    exit(1)
}

/// Folds decoded values into one number that is printed, so no decode can be optimized away.
nonisolated(unsafe) var checksum: UInt64 = 0

func runSluice(_ batch: DecodeBatch, _ decoder: inout EventDecoder, _ header: inout EventHeader) {
    for event in batch.events {
        do {
            try decoder.decodeHeader(event, into: &header)
        } catch {
            fail("EventDecoder rejected a generated event: \(error)")
        }
        checksum &+= UInt64(bitPattern: header.occurred.microsecondsSinceEpoch) &+ UInt64(header.name.rawValue)
    }
}

func runFoundation(_ batch: DecodeBatch, _ decoder: FoundationEventDecoder) {
    for data in batch.eventsData {
        do {
            let decoded = try decoder.decode(data)
            checksum &+= UInt64(decoded.occurred.timeIntervalSince1970) &+ UInt64(decoded.event.event.utf8.count)
        } catch {
            fail("JSONDecoder rejected a generated event: \(error)")
        }
    }
}

/// Both decoders read every event and agree on name, id and occurred (to the millisecond:
/// Foundation's `Date` from `ISO8601DateFormatter` keeps milliseconds). Also the warmup round.
func verify(
    _ batch: DecodeBatch,
    _ decoder: inout EventDecoder,
    _ header: inout EventHeader,
    _ foundation: FoundationEventDecoder
) {
    for (position, bytes) in batch.events.enumerated() {
        do {
            try decoder.decodeHeader(bytes, into: &header)
        } catch {
            fail("EventDecoder rejected event \(position): \(error)")
        }
        let decoded: (event: PrefectEvent, occurred: Date)
        do {
            decoded = try foundation.decode(batch.eventsData[position])
        } catch {
            fail("JSONDecoder rejected event \(position): \(error)")
        }
        let event = Event(header: header, bytes: bytes)
        guard event.string(header.nameReference) == decoded.event.event else {
            fail("event \(position): names differ")
        }
        guard header.id.description == decoded.event.id.uuidString.lowercased() else {
            fail("event \(position): ids differ (\(header.id) vs \(decoded.event.id))")
        }
        let sluiceMilliseconds = header.occurred.microsecondsSinceEpoch / 1000
        let foundationMilliseconds = Int64((decoded.occurred.timeIntervalSince1970 * 1000).rounded(.down))
        guard abs(sluiceMilliseconds - foundationMilliseconds) <= 1 else {
            fail("event \(position): occurred differs (\(header.occurred) vs \(decoded.occurred))")
        }
    }
}

var commandLine = BenchmarkCommandLine(
    name: "decode-ratio",
    summary: """
        Sluice's EventDecoder against Foundation's JSONDecoder, side by side in one process (PERFORMANCE.md
        "event decode"). Generates the same batch as DecodeBenchmarks (10,000 events, seed 42), checks once
        that both decoders read every event and agree on name, id and occurred, then times both decoders over
        the whole batch in alternating rounds (the order flips each round) with ContinuousClock. Prints the
        batch bytes, each decoder's median time and MB/s (1 MB = 10^6 bytes), and the median of the per-round
        ratios (JSONDecoder time / Sluice time). Goal: >= 10x.
        """
)
let rounds = commandLine.integer("--rounds", default: 7, range: 1...1_000, "alternating rounds")
let sluiceOnly = commandLine.flag(
    "--sluice-only",
    "skip the check and the anchor and time Sluice alone (for valgrind --tool=callgrind, where the anchor takes minutes)"
)
commandLine.finish()
let batch = DecodeBatch()
var decoder = EventDecoder()
var header = EventHeader()
let foundation = FoundationEventDecoder()

if sluiceOnly {
    runSluice(batch, &decoder, &header)  // warmup: interns the batch's symbols
    let clock = ContinuousClock()
    var times: [Double] = []
    for _ in 0..<rounds {
        let start = clock.now
        runSluice(batch, &decoder, &header)
        times.append(seconds(start.duration(to: clock.now)))
    }
    let middle = median(times)
    print("batch: \(batch.events.count) events, \(batch.byteCount) bytes; \(rounds) rounds, Sluice only")
    print(
        String(
            format: "EventDecoder.decodeHeader  median %.2f ms  %.1f MB/s",
            middle * 1e3,
            Double(batch.byteCount) / 1e6 / middle
        )
    )
    print("checksum \(checksum)")
    exit(0)
}

verify(batch, &decoder, &header, foundation)

let clock = ContinuousClock()
var sluiceSeconds: [Double] = []
var foundationSeconds: [Double] = []
var ratios: [Double] = []
for round in 0..<rounds {
    var sluice = 0.0
    var anchor = 0.0
    for sluiceFirst in round % 2 == 0 ? [true, false] : [false, true] {
        let start = clock.now
        if sluiceFirst { runSluice(batch, &decoder, &header) } else { runFoundation(batch, foundation) }
        let elapsed = seconds(start.duration(to: clock.now))
        if sluiceFirst { sluice = elapsed } else { anchor = elapsed }
    }
    sluiceSeconds.append(sluice)
    foundationSeconds.append(anchor)
    ratios.append(anchor / sluice)
}

let megabytes = Double(batch.byteCount) / 1e6
let sluiceMedian = median(sluiceSeconds)
let foundationMedian = median(foundationSeconds)
func milliseconds(_ value: Double) -> String { String(format: "%.2f ms", value * 1e3) }
func rate(_ value: Double) -> String { String(format: "%.1f MB/s", megabytes / value) }

print(
    "batch: \(batch.events.count) events, \(batch.byteCount) bytes (seed \(DecodeBatch.seedDefault)); \(rounds) alternating rounds"
)
print(
    "EventDecoder.decodeHeader  median \(milliseconds(sluiceMedian))  \(rate(sluiceMedian))  (min \(milliseconds(sluiceSeconds.min()!)), max \(milliseconds(sluiceSeconds.max()!)))"
)
print(
    "JSONDecoder.decode         median \(milliseconds(foundationMedian))  \(rate(foundationMedian))  (min \(milliseconds(foundationSeconds.min()!)), max \(milliseconds(foundationSeconds.max()!)))"
)
print(
    String(
        format: "ratio (JSONDecoder / Sluice): median of rounds %.2fx (min %.2fx, max %.2fx)",
        median(ratios),
        ratios.min()!,
        ratios.max()!
    )
)
print("checksum \(checksum)")
