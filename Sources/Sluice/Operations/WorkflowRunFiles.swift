public import SluiceCore
import SluiceStorage

/// The workflow runs a log holds (`sluice workflows runs`, `GET /api/workflows/runs`): its run records
/// (FORMAT.md "Workflow run records") folded per run id.
public enum WorkflowRunFiles {
    /// One run: its last record, when it was first started and how many records it has.
    public struct Run: Sendable, Equatable {
        /// The last record of the run (its state: `started` means running, or interrupted by a crash).
        public var last: WorkflowRunRecord
        public var firstAt: Timestamp
        public var recordCount: Int

        /// Its last attempt failed and nothing more will run: dead-lettered, refused, or still retrying.
        public var hasFailed: Bool {
            switch last.outcome {
            case .deadLettered?, .refused?, .retrying?: true
            case .succeeded?, nil: false
            }
        }

        /// The run as one JSON object: the last record's fields plus `first_at` and `records`.
        public var json: JSONValue {
            guard case .object(var object) = last.json else { return last.json }
            object.members.append(
                .init("first_at", .string(String(decoding: firstAt.formatted(.prefect), as: UTF8.self)))
            )
            object.members.append(.init("records", .integer(recordCount)))
            return .object(object)
        }
    }

    /// Every run in the log at `directory`, in the order of their first record. Reading beside a running
    /// writer, a frame still being appended is skipped (the next call sees it).
    public static func runs(directory: String, failedOnly: Bool = false) throws -> [Run] {
        var runs: [String: Run] = [:]
        var order: [String] = []
        var decoder = EventDecoder()
        let prefix = Array(WorkflowRunRecord.eventNamePrefix.utf8)
        let ignoreIncident: (LogIncident) -> Void = { _ in }
        _ = try LogFiles.forEachRecord(directory: directory, skipDamaged: true, onIncident: ignoreIncident) { record in
            // Cheap filter first: the event name is near the start of the record.
            guard record.type == .event, record.body.count > 64,
                record.body[0..<min(record.body.count, 160)].firstRange(of: prefix) != nil,
                let event = try? decoder.decode(record.body),
                event.slice(event.header.nameReference.range).starts(with: prefix),
                let range = event.header.payloadDataRange,
                let data = try? JSONValue.parse(Array(event.bytes[range])),
                let run = try? WorkflowRunRecord(data: data)
            else { return }
            if var known = runs[run.runID] {
                known.last = run
                known.recordCount += 1
                runs[run.runID] = known
            } else {
                order.append(run.runID)
                runs[run.runID] = Run(last: run, firstAt: run.at, recordCount: 1)
            }
        }
        return order.compactMap { runs[$0] }.filter { !failedOnly || $0.hasFailed }
    }

    /// `{"runs":[…]}` (``Run/json`` each), for the management API.
    public static func runsJSON(directory: String, failedOnly: Bool) throws -> [UInt8] {
        JSONValue.object(["runs": .array(try runs(directory: directory, failedOnly: failedOnly).map(\.json))]).encoded()
            + [0x0A]
    }
}
