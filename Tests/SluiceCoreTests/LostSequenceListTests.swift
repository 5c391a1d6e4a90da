import SluiceCore
import Testing

/// `lost-sequences.txt` (FORMAT.md): parsing, encoding and coverage of gaps.
@Suite struct LostSequenceListTests {
    @Test func encodesAndParsesBack() throws {
        let ranges: [(sequences: Range<UInt64>, text: String)] = [
            (5..<9, "2026-12-07T18:00:00Z a.segment at file offset 64: bad\nnews"),
            (20..<21, ""),
        ]
        let bytes = Array((LostSequenceList.headerLine + "\n").utf8) + LostSequenceList.encode(ranges)
        let list = try LostSequenceList(decoding: bytes)
        #expect(list.entries.map(\.sequences) == [5..<9, 20..<21])
        #expect(list.entries.map(\.line) == [2, 3])
        #expect(list.entries[0].text == "2026-12-07T18:00:00Z a.segment at file offset 64: badnews")
    }

    @Test(arguments: ["5\n", "x 9 when\n", "9 5 reversed\n", "5 5 empty\n", "-1 4 negative\n"])
    func rejectsAMalformedLineNamingItsOffset(line: String) {
        let bytes = Array("# comment\n1 2 fine\n".utf8) + Array(line.utf8)
        #expect {
            _ = try LostSequenceList(decoding: bytes)
        } throws: { error in
            guard let error = error as? FormatError else { return false }
            return error.code == .invalidField && error.fileOffset == 19 && error.message.hasPrefix("line 3 ")
        }
    }

    @Test func coversAGapOnlyWhenEveryPartIsRecorded() {
        let list = LostSequenceList(entries: [
            .init(sequences: 10..<20, line: 2, text: ""),
            .init(sequences: 20..<30, line: 3, text: ""),
            .init(sequences: 40..<50, line: 4, text: ""),
        ])
        #expect(list.covering(12..<28)?.map(\.line) == [2, 3])
        #expect(list.covering(10..<30) != nil)
        #expect(list.covering(25..<35) == nil, "30..<35 is not recorded")
        #expect(list.covering(5..<15) == nil)
        #expect(list.covering(40..<50)?.map(\.line) == [4])
    }
}
