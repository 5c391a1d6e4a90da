/// What the log records about one attempt of a workflow run (FORMAT.md "Workflow run records"): an
/// ordinary event record named `sluice.workflow.run.started` or `sluice.workflow.run.finished` whose
/// `payload.data` is this record, so recovery can tell which firings are final and where retries stand.
public struct WorkflowRunRecord: Sendable, Equatable {
    public enum Phase: String, Sendable, CaseIterable {
        case started
        case finished
    }

    public enum Outcome: String, Sendable, CaseIterable {
        /// Exit status 0: the run is done.
        case succeeded
        /// The attempt failed and another is scheduled.
        case retrying
        /// The last attempt failed: no more automatic attempts.
        case deadLettered = "dead_letter"
        /// Not run: the triggering event is at or beyond `workflows_depth_max`.
        case refused

        /// Whether the run needs no further attempt.
        public var isFinal: Bool { self != .retrying }
    }

    /// The byte count kept of each of standard output and standard error: the first 64 KiB.
    public static let outputByteCountMax = 64 << 10
    /// The event names of the records.
    public static let startedEventName = "sluice.workflow.run.started"
    public static let finishedEventName = "sluice.workflow.run.finished"
    public static let eventNamePrefix = "sluice.workflow.run."

    public var runID: String
    public var workflow: String
    public var trigger: String
    /// The action's position in the trigger.
    public var action: Int
    /// The log sequence of the triggering event.
    public var eventSequence: UInt64
    public var eventID: EventID
    /// 1-based.
    public var attempt: Int
    public var phase: Phase
    /// `nil` when `phase` is `started`.
    public var outcome: Outcome?
    /// The exit status, when the command exited.
    public var exitStatus: Int?
    /// The signal that ended it (9 when it was killed at its timeout).
    public var signal: Int?
    public var timedOut = false
    /// From spawn to exit, in microseconds (0 when it did not start).
    public var durationMicroseconds: Int64 = 0
    /// The first ``outputByteCountMax`` bytes of standard output (invalid UTF-8 replaced).
    public var standardOutput = ""
    /// The byte count it wrote in all.
    public var standardOutputByteCount = 0
    public var standardError = ""
    public var standardErrorByteCount = 0
    /// Child events the attempt emitted through `SLUICE_EMIT_FD` that the pipeline accepted.
    public var childEventCount = 0
    /// Why it failed when there is no exit status to say it (cannot start, refused), for people.
    public var message: String?
    public var at: Timestamp

    public init(
        runID: String,
        workflow: String,
        trigger: String,
        action: Int,
        eventSequence: UInt64,
        eventID: EventID,
        attempt: Int,
        phase: Phase,
        outcome: Outcome? = nil,
        at: Timestamp
    ) {
        self.runID = runID
        self.workflow = workflow
        self.trigger = trigger
        self.action = action
        self.eventSequence = eventSequence
        self.eventID = eventID
        self.attempt = attempt
        self.phase = phase
        self.outcome = outcome
        self.at = at
    }

    /// The record's `payload.data`: compact JSON, keys in the order of FORMAT.md.
    public var json: JSONValue {
        func optional(_ value: Int?) -> JSONValue { value.map { .integer($0) } ?? .null }
        return .object([
            "run_id": .string(runID), "workflow": .string(workflow), "trigger": .string(trigger),
            "action": .integer(action), "event_sequence": .integer(eventSequence),
            "event_id": .string(eventID.description),
            "attempt": .integer(attempt), "phase": .string(phase.rawValue),
            "outcome": outcome.map { .string($0.rawValue) } ?? .null, "exit_status": optional(exitStatus),
            "signal": optional(signal), "timed_out": .bool(timedOut), "duration_us": .integer(durationMicroseconds),
            "stdout": .string(standardOutput), "stdout_bytes": .integer(standardOutputByteCount),
            "stderr": .string(standardError), "stderr_bytes": .integer(standardErrorByteCount),
            "child_events": .integer(childEventCount), "message": message.map { .string($0) } ?? .null,
            "at": .string(String(decoding: at.formatted(.prefect), as: UTF8.self)),
        ])
    }

    /// The event id of the record: derived from (run id, attempt, phase), so the same record written
    /// again after a restart has the same id.
    public var recordEventID: EventID {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in runID.utf8 + Array(String(attempt).utf8) + Array(phase.rawValue.utf8) {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        var random = SplitMix64(seed: hash)
        return random.nextEventID()
    }

    /// The record as an event (Prefect wire JSON): primary resource `sluice.workflow.run.<run id>` with the
    /// labels `sluice.workflow.name`, `sluice.workflow.run_id`, `sluice.trigger.name` (and
    /// `sluice.workflow.outcome` when finished); related `prefect.event.<triggering event id>` in the role
    /// `triggering-event`.
    public func event() -> EventDraft {
        var labels: [(String, String)] = [
            ("sluice.workflow.name", workflow), ("sluice.workflow.run_id", runID), ("sluice.trigger.name", trigger),
        ]
        if let outcome { labels.append(("sluice.workflow.outcome", outcome.rawValue)) }
        return EventDraft(
            name: phase == .started ? Self.startedEventName : Self.finishedEventName,
            id: recordEventID,
            occurred: at,
            resource: ResourceDraft(id: "sluice.workflow.run.\(runID)", labels),
            related: [ResourceDraft(id: "prefect.event.\(eventID)", role: "triggering-event")],
            payloadData: json.encoded()
        )
    }

    /// Reads a record from its event's `payload.data`; the error names the field.
    public init(data json: JSONValue) throws(WorkflowRunRecordError) {
        func require<T>(_ field: String, _ read: (JSONValue) -> T?) throws(WorkflowRunRecordError) -> T {
            guard let value = json[field], let typed = read(value) else {
                throw WorkflowRunRecordError(field: field, message: "missing or of the wrong type")
            }
            return typed
        }
        func optional<T>(_ field: String, _ read: (JSONValue) -> T?) throws(WorkflowRunRecordError) -> T? {
            guard let value = json[field], !value.isNull else { return nil }
            guard let typed = read(value) else {
                throw WorkflowRunRecordError(field: field, message: "of the wrong type")
            }
            return typed
        }
        func bounded(_ field: String, _ range: ClosedRange<Int64>) throws(WorkflowRunRecordError) -> Int64 {
            let value = try require(field) { $0.int64Value }
            guard range.contains(value) else {
                throw WorkflowRunRecordError(
                    field: field,
                    message: "must be from \(range.lowerBound) to \(range.upperBound)"
                )
            }
            return value
        }
        let sequence = try bounded("event_sequence", 0...Int64.max)
        self.init(
            runID: try require("run_id") { $0.stringValue },
            workflow: try require("workflow") { $0.stringValue },
            trigger: try require("trigger") { $0.stringValue },
            action: Int(try bounded("action", 0...1_000_000)),
            eventSequence: UInt64(sequence),
            eventID: try require("event_id") { $0.stringValue.flatMap(EventID.parse) },
            attempt: Int(try bounded("attempt", 1...Int64(UInt32.max))),
            phase: try require("phase") { $0.stringValue.flatMap(Phase.init(rawValue:)) },
            outcome: try optional("outcome") { $0.stringValue.flatMap(Outcome.init(rawValue:)) },
            at: try require("at") { $0.stringValue.flatMap(Timestamp.parse) }
        )
        exitStatus = try optional("exit_status") {
            $0.int64Value.flatMap { (-1_000...1_000).contains($0) ? Int($0) : nil }
        }
        signal = try optional("signal") { $0.int64Value.flatMap { (0...1_000).contains($0) ? Int($0) : nil } }
        timedOut = try optional("timed_out") { $0.boolValue } ?? false
        durationMicroseconds = try optional("duration_us") { $0.int64Value } ?? 0
        standardOutput = try optional("stdout") { $0.stringValue } ?? ""
        standardOutputByteCount =
            try optional("stdout_bytes") { $0.int64Value.flatMap { $0 >= 0 ? Int($0) : nil } } ?? 0
        standardError = try optional("stderr") { $0.stringValue } ?? ""
        standardErrorByteCount = try optional("stderr_bytes") { $0.int64Value.flatMap { $0 >= 0 ? Int($0) : nil } } ?? 0
        childEventCount = try optional("child_events") { $0.int64Value.flatMap { $0 >= 0 ? Int($0) : nil } } ?? 0
        message = try optional("message") { $0.stringValue }
        guard (phase == .started) == (outcome == nil) else {
            throw WorkflowRunRecordError(field: "outcome", message: "null exactly when phase is started")
        }
    }
}

/// A workflow run record body that cannot be read, and which field is at fault.
public struct WorkflowRunRecordError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String
    public var description: String { "\(field): \(message)" }
}

/// Recovery's decision for workflow runs (pure): fed the firings the re-match finds and the run records
/// after the workflow checkpoint, in log order, it says which runs to start again and at which attempt.
public struct WorkflowRecoveryPlan: Sendable {
    public struct Firing: Sendable, Equatable {
        public var runID: String
        public var eventSequence: UInt64
        public init(runID: String, eventSequence: UInt64) {
            self.runID = runID
            self.eventSequence = eventSequence
        }
    }

    public struct Resume: Sendable, Equatable {
        public var runID: String
        public var eventSequence: UInt64
        /// The attempt to make: the one a crash interrupted (its `started` has no `finished`), or the one
        /// after the last `retrying`.
        public var attempt: Int
    }

    private var last: [String: WorkflowRunRecord] = [:]
    private var firings: [Firing] = []
    private var seen: Set<String> = []

    public init() {}

    public mutating func firing(_ firing: Firing) {
        guard seen.insert(firing.runID).inserted else { return }
        firings.append(firing)
    }

    public mutating func record(_ record: WorkflowRunRecord) { last[record.runID] = record }

    /// The runs to start, in firing order, and how many firings were already final.
    public func finish() -> (resume: [Resume], alreadyFinal: Int) {
        var resume: [Resume] = []
        var final = 0
        for firing in firings {
            guard let record = last[firing.runID] else {
                resume.append(Resume(runID: firing.runID, eventSequence: firing.eventSequence, attempt: 1))
                continue
            }
            switch (record.phase, record.outcome) {
            case (.finished, let outcome?) where outcome.isFinal: final += 1
            case (.finished, _):
                resume.append(
                    Resume(runID: firing.runID, eventSequence: firing.eventSequence, attempt: record.attempt + 1)
                )
            case (.started, _):
                resume.append(Resume(runID: firing.runID, eventSequence: firing.eventSequence, attempt: record.attempt))
            }
        }
        return (resume, final)
    }
}
