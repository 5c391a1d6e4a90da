import Sluice
import Synchronization

/// Read-only questions about deliveries, answered from the log while the pipeline runs: the dead letters,
/// and the delivery attempts of one event (`GET /api/deadletters`, `GET /api/events/{id}/attempts`).
///
/// Each answer is a scan of the log's delivery outcome records (FORMAT.md "Delivery outcome records"),
/// which are already JSON: the reply carries them as written. The scan streams record by record; what it
/// keeps is bounded by the page (below). Reading beside the running writer, a frame still being appended
/// is skipped, not reported (the next call sees it). Stateless; any thread, but call off the concurrency
/// pool (file I/O), through a ``DeliveryQueryGate``.
enum DeliveryQueries {
    /// The default and the largest `limit` of a dead-letter page.
    static let pageCountDefault = 100
    static let pageCountMax = 1_000

    /// One page of dead letters: the (event, webhook) pairs whose last outcome is a dead letter written at a
    /// log sequence above `after`, in log order, at most `limit` of them, as
    /// `{"dead_letters":[<outcome record>…],"next_after":N}` (`next_after` is the sequence of the last one
    /// listed when more follow, else `null`; pass it as `after` for the next page).
    ///
    /// Two passes: the first streams every outcome record after `after` and keeps, per pair whose latest
    /// outcome is a dead letter, only its log sequence (no body); the second reads the bodies of the page's
    /// records alone. Memory: about 100 bytes per dead letter after `after`, plus the page.
    static func deadLetters(directory: String, after: UInt64?, limit: Int) throws -> [UInt8] {
        precondition(limit >= 1 && limit <= pageCountMax, "limit is range-checked by the route")
        let from = after.map { $0 &+ 1 } ?? 0
        var deadLetterOfPair: [PairKey: UInt64] = [:]
        try forEachOutcome(directory: directory, fromSequence: from) { outcome, sequence in
            guard !outcome.outcome.isEndpointState else { return }  // about the webhook, not a delivery
            let key = PairKey(eventSequence: outcome.eventSequence, webhook: outcome.webhook)
            if outcome.outcome == .deadLettered {
                deadLetterOfPair[key] = sequence
            } else {
                deadLetterOfPair[key] = nil  // redriven or delivered since: no longer a dead letter
            }
        }
        let sequences = deadLetterOfPair.values.sorted()
        let page = sequences.prefix(limit)
        var bodies: [UInt64: [UInt8]] = [:]
        if let first = page.first, let last = page.last {
            let wanted = Set(page)
            try forEachOutcomeBody(directory: directory, fromSequence: first, toSequence: last + 1) { sequence, body in
                if wanted.contains(sequence) { bodies[sequence] = body }
            }
        }
        var json = list("dead_letters", page.compactMap { bodies[$0] }, closing: false)
        json += Array(",\"next_after\":".utf8)
        json += Array((sequences.count > page.count ? String(page.last!) : "null").utf8)  // page non-empty here
        json += Array("}\n".utf8)
        return json
    }

    /// The outcome records of event `id` (every attempt at every webhook, redrives included), in log order,
    /// as `{"event_id":…,"attempts":[<outcome record>…]}`; at most ``pageCountMax`` (the first ones).
    static func attempts(of id: EventID, directory: String) throws -> [UInt8] {
        var entries: [[UInt8]] = []
        try forEachOutcomeBody(directory: directory) { _, body in
            guard entries.count < pageCountMax,
                let outcome = try? DeliveryOutcomeRecord(decoding: body),  // see forEachOutcome
                outcome.eventID == id, !outcome.outcome.isEndpointState
            else { return }
            entries.append(body)
        }
        var json = Array("{\"event_id\":".utf8)
        JSONString.appendQuoted(id.description, to: &json)
        json.append(UInt8(ascii: ","))
        json += list("attempts", entries, closing: true).dropFirst()
        return json
    }

    /// A query parameter out of range or not a number.
    struct PageRefusal: Error, CustomStringConvertible {
        var description: String
    }

    /// `?limit=` (1–``pageCountMax``, default ``pageCountDefault``) and `?after=` (a log sequence,
    /// 0–18446744073709551615) of `GET /api/deadletters`.
    static func page(limit: Substring?, after: Substring?) -> Result<(after: UInt64?, limit: Int), PageRefusal> {
        var count = pageCountDefault
        if let limit {
            guard let value = Int(limit), value >= 1, value <= pageCountMax else {
                return .failure(
                    PageRefusal(description: "limit: must be an integer in 1–\(pageCountMax), got '\(limit)'")
                )
            }
            count = value
        }
        var sequence: UInt64?
        if let after {
            guard let value = UInt64(after) else {
                return .failure(
                    PageRefusal(
                        description: "after: must be a log sequence, an integer in 0–\(UInt64.max), got '\(after)'"
                    )
                )
            }
            sequence = value
        }
        return .success((sequence, count))
    }

    private struct PairKey: Hashable {
        var eventSequence: UInt64
        var webhook: String
    }

    private static func list(_ name: String, _ entries: [[UInt8]], closing: Bool) -> [UInt8] {
        var json = Array("{\"\(name)\":[".utf8)
        for (position, entry) in entries.enumerated() {
            if position > 0 { json.append(UInt8(ascii: ",")) }
            json += entry
        }
        json += Array((closing ? "]}\n" : "]").utf8)
        return json
    }

    /// Every decodable outcome record from `fromSequence` on, with its log sequence.
    private static func forEachOutcome(
        directory: String,
        fromSequence: UInt64,
        _ body: (DeliveryOutcomeRecord, UInt64) -> Void
    ) throws {
        try forEachOutcomeBody(directory: directory, fromSequence: fromSequence) { sequence, bytes in
            do throws(DeliveryOutcomeRecordError) {
                body(try DeliveryOutcomeRecord(decoding: bytes), sequence)
            } catch {
                return  // a record the journaler wrote always decodes; `sluice log verify` reports one that does not
            }
        }
    }

    private static func forEachOutcomeBody(
        directory: String,
        fromSequence: UInt64 = 0,
        toSequence: UInt64 = .max,
        _ body: (UInt64, [UInt8]) -> Void
    ) throws {
        // A frame being appended reads as damage and is skipped: the incident is not news, so it is dropped.
        let ignoreIncident: (LogIncident) -> Void = { _ in }
        _ = try LogFiles.forEachRecord(
            directory: directory,
            fromSequence: fromSequence,
            toSequence: toSequence,
            skipDamaged: true,
            onIncident: ignoreIncident
        ) { record in
            guard record.type == .deliveryOutcome else { return }
            body(record.sequence, record.body)
        }
    }
}

/// At most ``queryCountMax`` log scans at once (each reads the log from disk and takes a core): a request
/// beyond it is answered 503 with `Retry-After` at once instead of queueing behind the others.
final class DeliveryQueryGate: Sendable {
    /// The machine this was sized on has 2 cores; the pipeline keeps one busy under load.
    static let queryCountMax = 2
    private let running = Atomic<Int>(0)

    /// Takes a place; `false` when ``queryCountMax`` scans run already (then nothing was taken).
    func enter() -> Bool {
        var current = running.load(ordering: .relaxed)
        while current < Self.queryCountMax {
            let (exchanged, original) = running.compareExchange(
                expected: current,
                desired: current + 1,
                ordering: .acquiringAndReleasing
            )
            if exchanged { return true }
            current = original
        }
        return false
    }

    func leave() {
        running.wrappingSubtract(1, ordering: .acquiringAndReleasing)
    }
}
