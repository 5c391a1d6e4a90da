import Benchmark
import DecodeAnchor
import Foundation
import SluiceTools

// Goal (PERFORMANCE.md, "event decode"): Sluice's decoder ≥ 10× Foundation's JSONDecoder into
// equivalent structs, both measured in the same run over the same bytes.
//
// Both benchmarks read one `DecodeBatch` (10,000 events from `FixtureGenerator`, seed 42), generated
// in setup and never measured. MB/s = batch bytes / p50 wall clock; `swift run -c release
// decode-ratio` prints the batch bytes and the ratio directly (see README.md).

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident],
        warmupIterations: 2,
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 50
    )

    /// One iteration: `EventDecoder.decodeHeader` over all 10,000 events of the batch, with one
    /// decoder and one `EventHeader` reused across all iterations, as a long-lived reader does (new
    /// symbols are interned during warmup, so measured iterations should allocate nothing).
    /// Anchor: `JSONDecoder.decode.generatedStream`, same batch, same run; goal ≥ 10× (PERFORMANCE.md).
    Benchmark("EventDecoder.decodeHeader.generatedStream") { benchmark, state in
        let batch = state.batch
        // Moved out of the class for the loop: unique locals, no exclusivity checks, no copy-on-write.
        var decoder = state.decoder.take()!  // set in init, put back by the defer below
        var header = state.header.take()!  // set in init, put back by the defer below
        defer {
            state.decoder = decoder
            state.header = header
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for event in batch.events {
                do {
                    try decoder.decodeHeader(event, into: &header)
                } catch {
                    benchmark.error("EventDecoder rejected a generated event: \(error)")
                    return
                }
                blackHole(header.occurred)
                blackHole(header.name)
            }
        }
        benchmark.stopMeasurement()
    } setup: {
        SluiceDecodeState()
    }

    /// One iteration: Foundation's `JSONDecoder` over all 10,000 events of the batch (bytes as `Data`,
    /// converted once in setup) into `PrefectEvent` (the Prefect wire shape as `Decodable` structs),
    /// plus `occurred` parsed with one `ISO8601DateFormatter` (fractional seconds).
    /// This is the anchor for `EventDecoder.decodeHeader.generatedStream`: what a Swift service
    /// decodes without Sluice. It parses the whole document, as Sluice's decoder validates it.
    Benchmark("JSONDecoder.decode.generatedStream") { benchmark, state in
        let batch = state.batch
        let decoder = state.decoder
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for data in batch.eventsData {
                do {
                    let decoded = try decoder.decode(data)
                    blackHole(decoded.occurred)
                    blackHole(decoded.event)
                } catch {
                    benchmark.error("JSONDecoder rejected a generated event: \(error)")
                    return
                }
            }
        }
        benchmark.stopMeasurement()
    } setup: {
        FoundationDecodeState()
    }
}

/// Setup state of `EventDecoder.decodeHeader.generatedStream`: a class, so the decoder (and its
/// symbol table) and the header live across iterations. Each iteration takes them out and puts
/// them back.
final class SluiceDecodeState {
    let batch = DecodeBatch()
    var decoder: EventDecoder? = EventDecoder()
    var header: EventHeader? = EventHeader()
}

/// Setup state of `JSONDecoder.decode.generatedStream`: the decoder and formatter are created once.
final class FoundationDecodeState {
    let batch = DecodeBatch()
    let decoder = FoundationEventDecoder()
}
