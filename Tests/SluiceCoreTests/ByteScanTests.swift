import Testing

@testable import SluiceCore

/// The word-at-a-time scans against the byte-at-a-time loops they replace, and the compactor against the
/// reference definition (remove whitespace outside strings), on random bytes that are dense in the bytes
/// the scans look for.
@Suite struct ByteScanTests {
    private static let alphabet: [UInt8] =
        [0x22, 0x5C, 0x0A, 0x0D, 0x20, 0x09, 0x1F, 0x7F, 0x80, 0xC3, 0xFF, 0x00]
        + Array("ab{}[]:,0".utf8)

    private static func randomBytes(_ random: inout SplitMix64, count: Int) -> [UInt8] {
        (0..<count).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
    }

    @Test func scansMatchTheByteLoops() {
        var random = SplitMix64(seed: 7)
        for _ in 0..<3_000 {
            let bytes = Self.randomBytes(&random, count: Int(random.next() % 40))
            let start = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count + 1))
            let plain =
                bytes[start...].firstIndex { $0 < 0x20 || $0 >= 0x80 || $0 == 0x22 || $0 == 0x5C } ?? bytes.count
            let quote = bytes[start...].firstIndex { $0 == 0x22 || $0 == 0x5C } ?? bytes.count
            let newline = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            unsafe bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                #expect(unsafe ByteScan.plainStringEnd(base, from: start, to: raw.count) == plain, "\(bytes) \(start)")
                #expect(
                    unsafe ByteScan.quoteOrBackslash(base, from: start, to: raw.count) == quote,
                    "\(bytes) \(start)"
                )
                #expect(unsafe ByteScan.first(0x0A, base, from: start, to: raw.count) == newline, "\(bytes) \(start)")
            }
        }
    }

    /// The definition: outside strings, drop space, tab, CR and LF; inside, copy (escapes included).
    private static func referenceCompacted(_ source: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        var inString = false
        var escaped = false
        for byte in source {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == 0x5C {
                    escaped = true
                } else if byte == 0x22 {
                    inString = false
                }
                output.append(byte)
            } else if byte == 0x22 {
                inString = true
                output.append(byte)
            } else if ![0x20, 0x0A, 0x0D, 0x09].contains(byte) {
                output.append(byte)
            }
        }
        return output
    }

    /// Long runs with at most one newline, anywhere: the 32-byte steps of `first`, and their tail.
    @Test func newlineSearchOnLongRuns() {
        var random = SplitMix64(seed: 11)
        for _ in 0..<2_000 {
            var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: Int(random.next() % 300))
            if !bytes.isEmpty, random.next() % 4 != 0 { bytes[Int(random.next() % UInt64(bytes.count))] = 0x0A }
            let start = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count + 1))
            let newline = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            unsafe bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                let found = unsafe ByteScan.first(0x0A, base, from: start, to: raw.count)
                #expect(found == newline, "\(bytes.count) \(start)")
            }
        }
    }

    @Test func compactorMatchesTheDefinition() {
        var random = SplitMix64(seed: 11)
        let pieces: [String] = [
            " ", "\n", "\t", "\r\n", "{", "}", "[", "]", ":", ",", "1", "true", "\"a b\"", "\"\\\"\"", "\"\\\\\"",
            "\"é \\u00e9\"", "\"long string with spaces and \\n escapes, longer than a word\"", "\"\"",
        ]
        for _ in 0..<3_000 {
            var text: [UInt8] = []
            for _ in 0..<Int(random.next() % 30) {
                text.append(contentsOf: pieces[Int(random.next() % UInt64(pieces.count))].utf8)
            }
            #expect(
                JSONCompactor.compacted(text) == Self.referenceCompacted(text),
                "\(String(decoding: text, as: UTF8.self))"
            )
        }
    }
}
