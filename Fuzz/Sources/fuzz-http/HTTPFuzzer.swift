import FuzzSupport
import SluiceCore

/// The delivery client's HTTP/1.1 response parser (and, on a mode bit, the sink's request parser):
/// bytes from a receiver, fed whole and in fuzz-chosen pieces.
///
/// Input: byte 0 is the mode (bit 0: parse as requests; bit 1: small limits, which reach the limit
/// errors; bit 2: the first response answers a HEAD request; bit 3: no close at the end), bytes 1–4 the
/// piece sizes (0 first: one piece), the rest the stream.
///
/// Invariants (beyond "no trap, no sanitizer report"): a step never consumes more than it was given,
/// `needMoreBytes` comes only when everything was consumed, a body range lies inside the consumed
/// bytes, an error's stream offset lies inside the stream, and every way of cutting the stream gives
/// the same messages and the same error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let mode = input.byte()
    let sizes = [input.byte(), input.byte(), input.byte(), input.byte()]
    let stream = input.rest()
    let limits =
        mode & 2 != 0
        ? HTTPParserLimits(headByteCountMax: 64, headerFieldCountMax: 4, bodyByteCountMax: 32, trailerByteCountMax: 32)
        : HTTPParserLimits()
    let close = mode & 8 == 0
    let pieces = pieceBoundaries(count: stream.count, sizes: sizes)
    if mode & 1 != 0 {
        let whole = parse(HTTPRequestParser(limits: limits), stream, [0..<stream.count], close: close)
        let cut = parse(HTTPRequestParser(limits: limits), stream, pieces, close: close)
        fuzzRequire(whole == cut, "requests differ between one piece and \(pieces.count):\n\(whole)\n\(cut)")
    } else {
        var parser = HTTPResponseParser(limits: limits)
        if mode & 4 != 0 { parser.expectResponse(to: .head) }
        let whole = parse(parser, stream, [0..<stream.count], close: close)
        let cut = parse(parser, stream, pieces, close: close)
        fuzzRequire(whole == cut, "responses differ between one piece and \(pieces.count):\n\(whole)\n\(cut)")
    }
    return 0
}

/// Both parsers, so one driver feeds either.
protocol IncrementalParser {
    associatedtype Head: Hashable & Sendable
    mutating func next(_ bytes: Span<UInt8>) throws(HTTPParseError) -> HTTPParseStep<Head>
    mutating func finish() throws(HTTPParseError) -> HTTPStreamEnd
    var headerFields: HTTPReceivedFields { get }
    var trailerFields: HTTPReceivedFields { get }
}

extension HTTPResponseParser: IncrementalParser {}
extension HTTPRequestParser: IncrementalParser {}

/// What a caller sees of one message.
struct Message<Head: Hashable & Sendable>: Hashable {
    var head: Head
    var fields: [String] = []
    var body: [UInt8] = []
    var trailers: [String] = []
    var ended = false
}

/// What a whole stream parsed into.
struct Parsed<Head: Hashable & Sendable>: Hashable {
    var messages: [Message<Head>] = []
    var streamEnd: HTTPStreamEnd?
    var error: HTTPParseError?
}

func parse<Parser: IncrementalParser>(
    _ initial: Parser,
    _ stream: [UInt8],
    _ pieces: [Range<Int>],
    close: Bool
) -> Parsed<Parser.Head> {
    var parser = initial
    var result = Parsed<Parser.Head>()
    do {
        for piece in pieces {
            let bytes = Array(stream[piece])
            try feed(&parser, bytes, into: &result)
        }
        if close { result.streamEnd = try parser.finish() }
        if result.streamEnd == .messageEnded, !result.messages.isEmpty {
            result.messages[result.messages.count - 1].ended = true
        }
    } catch {
        fuzzRequire(
            error.streamByteOffset >= 0 && error.streamByteOffset <= stream.count,
            "error offset \(error.streamByteOffset) outside a stream of \(stream.count) bytes: \(error)"
        )
        result.error = error
    }
    return result
}

func feed<Parser: IncrementalParser>(
    _ parser: inout Parser,
    _ bytes: [UInt8],
    into result: inout Parsed<Parser.Head>
) throws(HTTPParseError) {
    let whole = bytes.span
    var start = 0
    while true {
        let rest = whole.extracting(start..<whole.count)
        let step = try parser.next(rest)
        fuzzRequire(step.consumedByteCount >= 0 && step.consumedByteCount <= rest.count, "consumed more than given")
        switch step.event {
        case .needMoreBytes:
            fuzzRequire(step.consumedByteCount == rest.count, "needMoreBytes before consuming everything")
            return
        case .head(let head):
            var message = Message(head: head)
            let fields = parser.headerFields
            for index in 0..<fields.count {
                message.fields.append(fields.name(at: index) + ": " + fields.value(at: index))
            }
            result.messages.append(message)
        case .body(let range):
            fuzzRequire(range.lowerBound >= 0 && range.upperBound <= step.consumedByteCount, "body range \(range)")
            fuzzRequire(!result.messages.isEmpty, "body before a head")
            for index in range { result.messages[result.messages.count - 1].body.append(rest[index]) }
        case .end:
            fuzzRequire(!result.messages.isEmpty, "end before a head")
            result.messages[result.messages.count - 1].ended = true
            let trailers = parser.trailerFields
            for index in 0..<trailers.count {
                result.messages[result.messages.count - 1].trailers.append(
                    trailers.name(at: index) + ": " + trailers.value(at: index)
                )
            }
        }
        start += step.consumedByteCount
    }
}
