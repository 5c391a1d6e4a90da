/// The content of a log's repair marker, `lost-sequences.txt` (FORMAT.md, "Damage, repair and
/// quarantine"): the sequence ranges repairs recorded as lost. Pure: parsing, encoding and the coverage
/// question a read asks at a gap; the file itself is read and replaced by `SluiceStorage`. A value.
///
/// One line per range, `FIRST END WHEN WHAT…` (`END` exclusive); lines starting with `#` are comments.
public struct LostSequenceList: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var sequences: Range<UInt64>
        /// 1-based line in the file.
        public var line: Int
        /// The rest of the line: when and what.
        public var text: String

        public init(sequences: Range<UInt64>, line: Int, text: String) {
            self.sequences = sequences
            self.line = line
            self.text = text
        }
    }

    /// The comment a new file starts with.
    public static let headerLine = "# Sequences lost in repairs ('sluice log repair'): FIRST END(exclusive) WHEN WHAT"

    public var entries: [Entry]

    public init(entries: [Entry] = []) { self.entries = entries }

    /// Parses the file's bytes.
    /// - Throws: `invalidField` at the byte offset of the first line that is not `FIRST END …` with
    ///   `FIRST < END`, naming the line.
    public init(decoding bytes: [UInt8]) throws(FormatError) {
        entries = []
        var lineStart = 0
        var lineNumber = 0
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: 0x0A) ?? bytes.count
            lineNumber += 1
            let line = String(decoding: bytes[lineStart..<lineEnd], as: UTF8.self)
            if !line.isEmpty && !line.hasPrefix("#") {
                let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
                guard fields.count >= 2, let first = UInt64(fields[0]), let end = UInt64(fields[1]), first < end else {
                    throw FormatError(
                        code: .invalidField,
                        fileOffset: UInt64(lineStart),
                        message: "line \(lineNumber) is not 'FIRST END WHEN WHAT' with FIRST < END"
                    )
                }
                let text = fields.count > 2 ? String(fields[2]) : ""
                entries.append(Entry(sequences: first..<end, line: lineNumber, text: text))
            }
            lineStart = lineEnd + 1
        }
    }

    /// The lines recording `ranges` (newlines in the text are dropped), to append to the file.
    public static func encode(_ ranges: [(sequences: Range<UInt64>, text: String)]) -> [UInt8] {
        var bytes: [UInt8] = []
        for range in ranges {
            let text = range.text.filter { $0 != "\n" }
            bytes += Array("\(range.sequences.lowerBound) \(range.sequences.upperBound) \(text)\n".utf8)
        }
        return bytes
    }

    /// The recorded entries that overlap `range`, when together they cover all of it; else `nil`.
    /// - Complexity: O(n log n) in the number of entries.
    public func covering(_ range: Range<UInt64>) -> [Entry]? {
        let overlapping = entries.filter { $0.sequences.overlaps(range) }.sorted {
            $0.sequences.lowerBound < $1.sequences.lowerBound
        }
        var next = range.lowerBound
        for entry in overlapping where entry.sequences.lowerBound <= next {
            next = max(next, entry.sequences.upperBound)
        }
        return next >= range.upperBound ? overlapping : nil
    }
}
