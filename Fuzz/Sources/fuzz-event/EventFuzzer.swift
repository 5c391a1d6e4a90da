import FuzzSupport
import SluiceCore

/// Event intake: a JSON Lines stream fed to ``JSONLinesSplitter`` in fuzz-chosen pieces, each line
/// decoded by ``EventDecoder``, and each decoded event rendered in its three wire views.
///
/// Input: byte 0 chooses the line limit (small limits reach the oversize path), bytes 1–4 the piece
/// sizes (0 first: one piece), the rest is the stream.
///
/// Invariants (beyond "no trap, no sanitizer report"): the splitter hands out the same lines however the
/// stream is cut, each line is the stream's bytes at its `lineStart`; an event that decodes renders as
/// JSON that parses, and its Prefect JSON decodes again.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let limitSelector = input.byte()
    let sizes = [input.byte(), input.byte(), input.byte(), input.byte()]
    let stream = input.rest()
    // 1...255 bytes, or the default limit (1.5 MB) when 0.
    let lineByteCountMax = limitSelector == 0 ? EventLimits().eventByteCountMax : Int(limitSelector)

    let whole = splitLines(stream, pieces: [0..<stream.count], lineByteCountMax: lineByteCountMax)
    let pieces = pieceBoundaries(count: stream.count, sizes: sizes)
    let cut = splitLines(stream, pieces: pieces, lineByteCountMax: lineByteCountMax)
    fuzzRequire(whole == cut, "lines differ between one piece and \(pieces.count) pieces")

    var decoder = EventDecoder()
    for case .line(_, let lineStart, let bytes) in whole {
        // A trailing CR is trimmed, so a line is exactly the stream's bytes at its start.
        fuzzRequire(lineStart + bytes.count <= stream.count, "line at \(lineStart) runs past the stream")
        fuzzRequire(
            Array(stream[lineStart..<(lineStart + bytes.count)]) == bytes,
            "line at \(lineStart) is not the stream's bytes there"
        )
        guard let event = try? decoder.decode(bytes) else { continue }
        checkWireViews(event)
    }
    return 0
}

/// A line as the splitter handed it out, copied (the splitter's buffer is only lent for the callback).
enum SplitLine: Equatable {
    case line(lineNumber: Int, lineStart: Int, bytes: [UInt8])
    case oversize(lineNumber: Int, lineStart: Int, byteCount: Int)
}

func splitLines(_ stream: [UInt8], pieces: [Range<Int>], lineByteCountMax: Int) -> [SplitLine] {
    var splitter = JSONLinesSplitter(lineByteCountMax: lineByteCountMax)
    var lines: [SplitLine] = []
    func collect(_ line: JSONLinesSplitter.Line) {
        switch line {
        case .line(let lineNumber, let lineStart, let bytes):
            lines.append(.line(lineNumber: lineNumber, lineStart: lineStart, bytes: Array(bytes)))
        case .oversize(let lineNumber, let lineStart, let byteCount):
            lines.append(.oversize(lineNumber: lineNumber, lineStart: lineStart, byteCount: byteCount))
        }
    }
    stream.withUnsafeBytes { raw in
        for piece in pieces {
            splitter.feed(UnsafeRawBufferPointer(rebasing: raw[piece]), collect)
        }
    }
    splitter.finish(collect)
    return lines
}

/// The webhook body and the GraphQL node are JSON; the Prefect JSON decodes to an event again.
func checkWireViews(_ event: Event) {
    let body = event.webhookBody()
    requireJSON(body, "webhook body")
    var node: [UInt8] = []
    event.appendGraphQLNode(to: &node)
    requireJSON(node, "GraphQL node")
    var prefect: [UInt8] = []
    event.appendPrefectJSON(to: &prefect)
    var decoder = EventDecoder()
    do {
        _ = try decoder.decode(prefect)
    } catch {
        fuzzRequire(false, "Prefect JSON of a decoded event does not decode: \(error)")
    }
}

/// `bytes` parse as JSON. Duplicate keys are allowed: the event decoder accepts them inside `payload` (as
/// RFC 8259 and Prefect do), and the wire views copy `payload.data` as it came.
func requireJSON(_ bytes: [UInt8], _ what: String) {
    do {
        _ = try JSONValue.parse(bytes)
    } catch {
        if error.code == .duplicateKey { return }
        fuzzRequire(false, "\(what) is not JSON (\(error)): \(String(decoding: bytes, as: UTF8.self))")
    }
}
