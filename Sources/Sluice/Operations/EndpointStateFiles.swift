public import SluiceCore
public import SluiceStorage

/// A webhook that no longer gets deliveries: its endpoint answered `410 Gone` (or it was disabled by hand).
/// Its deliveries dead-letter as `endpoint_disabled` until ``EndpointStateFiles/enable(directory:webhook:)``
/// or ``Pipeline/enableEndpoint(_:)`` lifts it; a restart keeps it.
public struct DisabledEndpoint: Sendable, Equatable {
    /// The webhook's name.
    public var webhook: String
    /// Why, e.g. `410 Gone on event 42 (attempt 1)`.
    public var reason: String
    public var at: Timestamp

    public init(webhook: String, reason: String, at: Timestamp) {
        self.webhook = webhook
        self.reason = reason
        self.at = at
    }
}

/// The disabled endpoints of a log directory: the file `endpoints.disabled` beside the checkpoints
/// (FORMAT.md "Endpoint state"), kept in step with the `endpoint_disabled` / `endpoint_enabled` outcome
/// records that journal each change.
public enum EndpointStateFiles {
    static let fileName = "endpoints.disabled"

    /// The disabled endpoints recorded in `directory` (none when the file does not exist).
    /// - Throws: ``SegmentLogError`` when the file cannot be read or is damaged (named with its path).
    public static func read(directory: String) throws(SegmentLogError) -> [DisabledEndpoint] {
        try read(store: CheckpointStore(directory: directory))
    }

    static func read(store: CheckpointStore) throws(SegmentLogError) -> [DisabledEndpoint] {
        guard let bytes = try store.readFile(named: fileName) else { return [] }
        let path = store.directory + "/" + fileName
        func damaged(_ what: String) -> SegmentLogError {
            SegmentLogError(code: .corrupt, path: path, message: "endpoint state file: \(what)")
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw damaged("\(error)")
        }
        guard let entries = json["disabled"]?.arrayValue else { throw damaged("no \"disabled\" list") }
        var disabled: [DisabledEndpoint] = []
        for (position, entry) in entries.enumerated() {
            guard let webhook = entry["webhook"]?.stringValue, let reason = entry["reason"]?.stringValue,
                let text = entry["at"]?.stringValue, let at = Timestamp.parse(Array(text.utf8))
            else { throw damaged("disabled[\(position)] needs webhook, reason and at") }
            disabled.append(DisabledEndpoint(webhook: webhook, reason: reason, at: at))
        }
        return disabled
    }

    static func write(store: CheckpointStore, _ disabled: [DisabledEndpoint]) throws(SegmentLogError) {
        var out: [UInt8] = Array(#"{"disabled":["#.utf8)
        for (position, endpoint) in disabled.sorted(by: { $0.webhook < $1.webhook }).enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"webhook":"#.utf8)
            JSONString.appendQuoted(endpoint.webhook, to: &out)
            out.append(contentsOf: #","reason":"#.utf8)
            JSONString.appendQuoted(endpoint.reason, to: &out)
            out.append(contentsOf: #","at":""#.utf8)
            endpoint.at.append(.prefect, to: &out)
            out.append(contentsOf: #""}"#.utf8)
        }
        out.append(contentsOf: "]}\n".utf8)
        try store.replaceFile(named: fileName, with: out)
    }

    /// Applies an endpoint-state outcome record to `disabled`; returns whether it changed.
    static func apply(_ record: DeliveryOutcomeRecord, to disabled: inout [String: DisabledEndpoint]) -> Bool {
        switch record.outcome {
        case .endpointDisabled:
            guard disabled[record.webhook] == nil else { return false }
            disabled[record.webhook] = DisabledEndpoint(
                webhook: record.webhook,
                reason: record.message ?? "disabled",
                at: record.at
            )
            return true
        case .endpointEnabled:
            return disabled.removeValue(forKey: record.webhook) != nil
        case .delivered, .retrying, .deadLettered, .redriveRequested:
            return false
        }
    }

    /// The record that journals enabling `webhook` again.
    static func enabledRecord(webhook: String, at: Timestamp) -> DeliveryOutcomeRecord {
        DeliveryOutcomeRecord(
            eventSequence: 0,
            eventID: EventID(high: 0, low: 0),
            webhook: webhook,
            webhookID: "",
            attempt: 0,
            outcome: .endpointEnabled,
            message: "enabled by an operator",
            at: at
        )
    }

    /// Enables the disabled webhook `webhook` of the log in `directory` while no pipeline runs on it: journals
    /// an `endpoint_enabled` record and rewrites the state file. Takes the log's writer lock (it fails with
    /// `locked` while a pipeline runs there: use ``Pipeline/enableEndpoint(_:)`` in that process instead).
    /// - Returns: `false` when `webhook` was not disabled.
    public static func enable(directory: String, webhook: String) throws(SegmentLogError) -> Bool {
        let writer = try SegmentLogWriter(
            configuration: LogConfiguration(directory: directory),
            nowMicroseconds: Timestamp.now().microsecondsSinceEpoch
        )
        let store = try CheckpointStore(directory: directory)
        var disabled = Dictionary(uniqueKeysWithValues: try read(store: store).map { ($0.webhook, $0) })
        guard disabled.removeValue(forKey: webhook) != nil else { return false }
        let now = Timestamp.now()
        let record = enabledRecord(webhook: webhook, at: now)
        _ = try writer.append(
            [
                LogRecord(
                    type: .deliveryOutcome,
                    timestampMicroseconds: now.microsecondsSinceEpoch,
                    body: record.encoded()
                )
            ],
            nowMicroseconds: now.microsecondsSinceEpoch,
            nowMonotonicNanoseconds: 0
        )
        try writer.sync()
        try write(store: store, Array(disabled.values))
        return true
    }
}
