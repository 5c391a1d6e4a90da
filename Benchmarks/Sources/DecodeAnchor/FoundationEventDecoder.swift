public import Foundation

/// An event in the Prefect wire shape as plain `Codable` structs: what a Swift service would write
/// without Sluice. Decoding it parses the whole document, as Sluice's decoder validates it.
public struct PrefectEvent: Decodable {
    public var occurred: String
    public var event: String
    public var resource: [String: String]
    public var related: [[String: String]]
    public var payload: Payload
    public var id: UUID
    public var follows: UUID?
}

public struct Payload: Decodable {
    public var context: Context?
}

public struct Context: Decodable {
    public var branch: Branch?
    /// The wire name as is: no `CodingKeys` and no key strategy, the cheapest setup for the anchor.
    public var account_id: String?
}

public struct Branch: Decodable {
    public var name: String?
    public var id: String?
}

/// The anchor: Foundation's `JSONDecoder` into ``PrefectEvent``, plus `occurred` parsed to a `Date`
/// (Sluice's decoder parses the timestamp too). Decoder and formatter are created once.
///
/// Not thread-safe (`ISO8601DateFormatter`); one per thread.
public final class FoundationEventDecoder {
    private let decoder = JSONDecoder()
    private let formatter: ISO8601DateFormatter

    public init() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        self.formatter = formatter
    }

    public struct DecodingFailure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Decodes one event and parses its `occurred`.
    public func decode(_ data: Data) throws -> (event: PrefectEvent, occurred: Date) {
        let event = try decoder.decode(PrefectEvent.self, from: data)
        guard let occurred = formatter.date(from: event.occurred) else {
            throw DecodingFailure(description: "occurred is not ISO 8601 with fractional seconds: \(event.occurred)")
        }
        return (event, occurred)
    }
}
