import SluiceCore
import Testing

/// Numbers in stored bytes that readers compute with are bounded when decoded (found by review: a valid
/// checksum over a crafted value trapped recovery and every reader).
@Suite struct RecordBoundsTests {
    /// A frame whose sequences would wrap past `UInt64.max` (readers add its record count to its first
    /// sequence) is refused by the header decoder, with the offset.
    @Test func aFrameWhoseSequencesWrapIsRefused() {
        var header = FrameHeaderTests.header
        header.firstSequence = UInt64.max - 100
        var bytes: [UInt8] = []
        header.encode(into: &bytes)
        #expect {
            _ = try FrameHeader.decode(bytes, fileOffset: 64)
        } throws: { error in
            (error as? FormatError).map { $0.fileOffset == 64 && $0.message.contains("pass the largest sequence") }
                ?? false
        }
        header.firstSequence = UInt64.max - UInt64(header.recordCount)  // the last frame that fits
        bytes.removeAll()
        header.encode(into: &bytes)
        #expect(throws: Never.self) { _ = try FrameHeader.decode(bytes, fileOffset: 64) }
    }

    /// An outcome record's attempt is added to (recovery and read-back continue with the next attempt):
    /// one outside 0…UInt32.max is an error naming the field, not a trap at the next start.
    @Test(arguments: ["9223372036854775807", "-1", "4294967296"])
    func anOutcomeRecordsAttemptIsBounded(attempt: String) throws {
        let record = DeliveryOutcomeRecord(
            eventSequence: 42,
            eventID: EventID.parse("bf569ddc-2a30-4491-82f1-0689f6cdb5e1")!,
            webhook: "w",
            webhookID: "msg_6bb2b106133843c884093d0ba9b890cb",
            attempt: 2,
            outcome: .retrying,
            statusCode: nil,
            failureClass: nil,
            message: nil,
            at: Timestamp(microsecondsSinceEpoch: 1_796_148_000_000_000)
        )
        let text = String(decoding: record.encoded(), as: UTF8.self).replacingAttempt(with: attempt)
        let error = try #require(throws: DeliveryOutcomeRecordError.self) {
            try DeliveryOutcomeRecord(decoding: Array(text.utf8))
        }
        #expect(error.field == "attempt", "\(error)")
        #expect(try DeliveryOutcomeRecord(decoding: record.encoded()).attempt == 2)
    }
}

extension String {
    fileprivate func replacingAttempt(with value: String) -> String {
        var parts = split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for index in parts.indices where parts[index].hasPrefix("\"attempt\":") {
            parts[index] = "\"attempt\":" + value
        }
        return parts.joined(separator: ",")
    }
}
