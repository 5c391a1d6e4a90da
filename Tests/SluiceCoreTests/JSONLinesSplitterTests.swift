import SluiceCore
import SluiceTestSupport
import Testing

@Suite struct JSONLinesSplitterTests {
    /// Any chunking of a stream gives the same lines as splitting it whole (model: `split`).
    @Test func chunkingDoesNotChangeLines() {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        for _ in 0..<300 {
            var stream: [UInt8] = []
            for _ in 0..<random.next(below: 12) {
                stream += (0..<random.next(below: 30)).map { _ in UInt8(ascii: "a") + UInt8(random.next(below: 26)) }
                stream.append(random.chance(10) ? 0x0D : 0x0A)
                if stream.last == 0x0D { stream.append(0x0A) }
            }
            let lineByteCountMax = 20
            var expected: [String] = []
            var offset = 0
            let pieces = stream.split(separator: 0x0A, omittingEmptySubsequences: false)
            for (number, piece) in pieces.enumerated() where !(number == pieces.count - 1 && piece.isEmpty) {
                var line = Array(piece)
                if line.last == 0x0D { line.removeLast() }
                expected.append(
                    piece.count > lineByteCountMax
                        ? "oversize \(number + 1)@\(offset) \(piece.count)"
                        : "\(number + 1)@\(offset) \(line.utf8String)"
                )
                offset += piece.count + 1
            }
            var splitter = JSONLinesSplitter(lineByteCountMax: lineByteCountMax)
            var lines: [String] = []
            func record(_ line: JSONLinesSplitter.Line) {
                switch unsafe line {
                case .line(let number, let start, let bytes):
                    lines.append("\(number)@\(start) " + String(decoding: unsafe bytes, as: UTF8.self))
                case .oversize(let number, let start, let count):
                    lines.append("oversize \(number)@\(start) \(count)")
                }
            }
            var position = 0
            while position < stream.count {
                let size = 1 + random.next(below: 16)
                let end = min(stream.count, position + size)
                stream[position..<end].withUnsafeBytes { raw in splitter.feed(raw) { record($0) } }
                position = end
            }
            splitter.finish { record($0) }
            #expect(lines == expected, "seed \(seed)")
        }
    }
}
