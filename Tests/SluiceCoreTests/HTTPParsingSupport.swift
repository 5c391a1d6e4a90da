import SluiceCore
import SluiceTestSupport
import Testing

/// Both parsers, so one driver can feed them in arbitrary splits.
protocol IncrementalHTTPParser {
    associatedtype Head: Hashable & Sendable
    mutating func next(_ bytes: Span<UInt8>) throws(HTTPParseError) -> HTTPParseStep<Head>
    mutating func finish() throws(HTTPParseError) -> HTTPStreamEnd
    var headerFields: HTTPReceivedFields { get }
    var trailerFields: HTTPReceivedFields { get }
}

extension HTTPResponseParser: IncrementalHTTPParser {}
extension HTTPRequestParser: IncrementalHTTPParser {}

/// One parsed message as seen by a caller: its head, its header fields, its body and trailers.
struct ParsedMessage<Head: Hashable & Sendable>: Hashable {
    var head: Head
    var fields: [HTTPHeaderField] = []
    var body: [UInt8] = []
    var trailers: [String: String] = [:]
    var ended = false
}

/// What a whole stream parsed into; equal across every way of splitting the same bytes.
struct ParsedStream<Head: Hashable & Sendable>: Hashable {
    var messages: [ParsedMessage<Head>] = []
    var streamEnd: HTTPStreamEnd?
    var error: HTTPParseError?
}

/// Feeds `bytes` to `parser` in pieces cut at `cuts` (sorted offsets), then finishes when `close`.
func parseStream<Parser: IncrementalHTTPParser>(
    _ parser: inout Parser,
    _ bytes: [UInt8],
    cuts: [Int] = [],
    close: Bool = true,
    trailerNames: [String] = []
) -> ParsedStream<Parser.Head> {
    var result = ParsedStream<Parser.Head>()
    var boundaries = [0] + cuts.filter { $0 > 0 && $0 < bytes.count } + [bytes.count]
    boundaries = Array(Set(boundaries)).sorted()
    do {
        for pieceIndex in 0..<(boundaries.count - 1) {
            let piece = Array(bytes[boundaries[pieceIndex]..<boundaries[pieceIndex + 1]])
            try feed(&parser, piece, into: &result, trailerNames: trailerNames)
        }
        if close { result.streamEnd = try parser.finish() }
        if result.streamEnd == .messageEnded, !result.messages.isEmpty {
            result.messages[result.messages.count - 1].ended = true
        }
    } catch {
        result.error = error
    }
    return result
}

private func feed<Parser: IncrementalHTTPParser>(
    _ parser: inout Parser,
    _ piece: [UInt8],
    into result: inout ParsedStream<Parser.Head>,
    trailerNames: [String]
) throws(HTTPParseError) {
    let whole = piece.span
    var start = 0
    while true {
        let rest = whole.extracting(start..<whole.count)
        let step = try parser.next(rest)
        precondition(step.consumedByteCount <= rest.count, "consumed more than given")
        switch step.event {
        case .needMoreBytes:
            precondition(step.consumedByteCount == rest.count, "needMoreBytes before consuming everything")
            return
        case .head(let head):
            var message = ParsedMessage(head: head)
            let fields = parser.headerFields
            for index in 0..<fields.count {
                message.fields.append(HTTPHeaderField(fields.name(at: index), fields.value(at: index)))
            }
            result.messages.append(message)
        case .body(let range):
            precondition(range.upperBound <= step.consumedByteCount, "body range beyond consumed bytes")
            for index in range { result.messages[result.messages.count - 1].body.append(rest[index]) }
        case .end:
            result.messages[result.messages.count - 1].ended = true
            for name in trailerNames {
                if let value = parser.trailerFields.value(named: name) {
                    result.messages[result.messages.count - 1].trailers[name] = value
                }
            }
        }
        start += step.consumedByteCount
    }
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}

/// Parses `bytes` whole, then split at every single point, byte by byte, and at seeded random
/// points, and checks every way gives the same result. The seed is printed on failure.
func expectSameUnderEverySplit<Head: Hashable & Sendable>(
    _ bytes: [UInt8],
    _ parse: ([Int]) -> ParsedStream<Head>,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let reference = parse([])
    for cut in 1..<bytes.count {
        #expect(parse([cut]) == reference, "cut at \(cut)", sourceLocation: sourceLocation)
    }
    #expect(parse(Array(1..<bytes.count)) == reference, "byte by byte", sourceLocation: sourceLocation)
    let seed = testSeed()
    var random = SplitMix64(seed: seed)
    for round in 0..<200 {
        let cuts = (0..<random.next(below: 12)).map { _ in random.next(below: bytes.count) }.sorted()
        #expect(parse(cuts) == reference, "seed \(seed) round \(round) cuts \(cuts)", sourceLocation: sourceLocation)
    }
}
