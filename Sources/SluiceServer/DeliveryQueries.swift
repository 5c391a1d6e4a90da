import Sluice
import Synchronization

/// Read-only questions about deliveries, answered from the log while the pipeline runs: the dead letters
/// (DeliveryQueries+DeadLetters.swift), and the delivery attempts of one event (`GET /api/deadletters`,
/// `GET /api/events/{id}/attempts`).
///
/// Each answer is a scan of the log's delivery outcome records (FORMAT.md "Delivery outcome records"),
/// which are already JSON: the reply carries them as written. Reading beside the running writer, a frame
/// still being appended is skipped, not reported (the next call sees it). Stateless; any thread, but call
/// off the concurrency pool (file I/O).
enum DeliveryQueries {
    /// The outcome records of event `id` (every attempt at every webhook, redrives included), in log order,
    /// as `{"event_id":…,"attempts":[<outcome record>…]}`.
    /// The most attempts `GET /api/events/{id}/attempts` lists (the first ones in log order).
    static let attemptCountMax = 1_000

    static func attempts(of id: EventID, directory: String) throws -> [UInt8] {
        var entries: [[UInt8]] = []
        try forEachOutcome(directory: directory) { outcome, body, _ in
            guard entries.count < attemptCountMax else { return }
            if outcome.eventID == id, !outcome.outcome.isEndpointState { entries.append(body) }
        }
        var json = Array("{\"event_id\":".utf8)
        JSONString.appendQuoted(id.description, to: &json)
        json.append(UInt8(ascii: ","))
        json += list("attempts", entries).dropFirst()
        return json
    }

    static func list(_ name: String, _ entries: [[UInt8]]) -> [UInt8] {
        var json = Array("{\"\(name)\":[".utf8)
        for (position, entry) in entries.enumerated() {
            if position > 0 { json.append(UInt8(ascii: ",")) }
            json += entry
        }
        json += Array("]}\n".utf8)
        return json
    }

    static func forEachOutcome(
        directory: String,
        _ body: (DeliveryOutcomeRecord, [UInt8], UInt64) -> Void
    ) throws {
        // A frame being appended reads as damage and is skipped: the incident is not news, so it is dropped.
        let ignoreIncident: (LogIncident) -> Void = { _ in }
        _ = try LogFiles.forEachRecord(directory: directory, skipDamaged: true, onIncident: ignoreIncident) { record in
            guard record.type == .deliveryOutcome else { return }
            do throws(DeliveryOutcomeRecordError) {
                body(try DeliveryOutcomeRecord(decoding: record.body), record.body, record.sequence)
            } catch {
                return  // a record the journaler wrote always decodes; `sluice log verify` reports one that does not
            }
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
