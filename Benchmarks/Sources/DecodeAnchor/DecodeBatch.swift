public import Foundation
import SluiceTools

/// The batch both decoders read: the same deterministic Infrahub event stream, generated once.
///
/// 10,000 events from `FixtureGenerator` with seed 42, each one event's JSON in the Prefect wire
/// shape (one line, no newline). Generation is setup, never measured.
public struct DecodeBatch: Sendable {
    public static let eventCountDefault = 10_000
    public static let seedDefault: UInt64 = 42

    /// One event's bytes per element, as Sluice's decoder takes them.
    public let events: [[UInt8]]
    /// The same bytes as `Data`, converted once, as `JSONDecoder` takes them.
    public let eventsData: [Data]
    /// Sum of the event byte counts (the numerator of MB/s).
    public let byteCount: Int

    public init(eventCount: Int = DecodeBatch.eventCountDefault, seed: UInt64 = DecodeBatch.seedDefault) {
        var generator = FixtureGenerator(.init(eventCount: eventCount, seed: seed))
        var events: [[UInt8]] = []
        events.reserveCapacity(eventCount)
        while let event = generator.next() { events.append(event) }
        precondition(events.count == eventCount, "the generator must yield exactly eventCount events")
        self.events = events
        self.eventsData = events.map { Data($0) }
        self.byteCount = events.reduce(0) { $0 + $1.count }
    }
}
