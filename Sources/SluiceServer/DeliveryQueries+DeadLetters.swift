import Sluice

/// A dead letter as the management API lists and redrives it: the pair's dead-letter outcome record, where
/// that record is in the log (the paging cursor), and its body as written.
struct DeadLetter: Sendable {
    var recordSequence: UInt64
    var record: DeliveryOutcomeRecord
    var body: [UInt8]
}

extension DeliveryQueries {
    /// The most dead letters one page (`GET /api/deadletters?limit=`) or one redrive holds.
    static let deadLetterCountMax = 10_000
    /// The page size when `limit` is not given.
    static let deadLetterPageCountDefault = 100

    /// Every (event, webhook) pair whose last outcome is a dead letter, ordered by the sequence of that
    /// dead-letter record, keeping those after `after` that match `webhook` and `eventID` (`nil`: any); at
    /// most `limit`, and whether more follow. One scan of the log's outcome records.
    static func deadLetters(
        directory: String,
        after: UInt64?,
        webhook: String?,
        eventID: EventID?,
        limit: Int
    ) throws -> (page: [DeadLetter], more: Bool) {
        precondition(limit >= 1, "a page holds at least one dead letter")
        precondition(limit <= deadLetterCountMax, "a page holds at most deadLetterCountMax")
        var last: [String: DeadLetter?] = [:]
        try forEachOutcome(directory: directory) { outcome, body, sequence in
            guard !outcome.outcome.isEndpointState else { return }  // about the webhook, not a delivery
            let key = "\(outcome.eventSequence) \(outcome.webhook)"
            last[key] =
                outcome.outcome == .deadLettered
                ? DeadLetter(recordSequence: sequence, record: outcome, body: body) : nil
        }
        var chosen = last.values.compactMap { $0 }.filter { entry in
            (after.map { entry.recordSequence > $0 } ?? true) && (webhook.map { entry.record.webhook == $0 } ?? true)
                && (eventID.map { entry.record.eventID == $0 } ?? true)
        }
        chosen.sort { $0.recordSequence < $1.recordSequence }
        return (Array(chosen.prefix(limit)), chosen.count > limit)
    }

    /// `{"dead_letters":[{"record_sequence":N,<outcome record keys>}…],"next_after":N|null}`.
    static func deadLetterPage(_ page: [DeadLetter], more: Bool) -> [UInt8] {
        var json = Array("{\"dead_letters\":[".utf8)
        for (position, entry) in page.enumerated() {
            if position > 0 { json.append(UInt8(ascii: ",")) }
            json += Array("{\"record_sequence\":\(entry.recordSequence),".utf8)
            json += entry.body.dropFirst()  // the record is one JSON object: its members follow
        }
        json += Array("],\"next_after\":".utf8)
        json += Array((more ? page.last.map { "\($0.recordSequence)" } ?? "null" : "null").utf8)
        json += Array("}\n".utf8)
        return json
    }
}
