/// What the log records about one delivery attempt (record type 2, FORMAT.md "Delivery outcome records"):
/// enough to rebuild, after a restart, which (event, webhook) pairs are done and where retries stand.
///
/// The body is one compact JSON object, keys in this order:
/// `{"event_sequence":42,"event_id":"…","webhook":"audit","webhook_id":"msg_…","attempt":1,
///   "outcome":"delivered","status":200,"failure_class":null,"message":null,"at":"2026-12-01T18:00:00.000000Z"}`
public struct DeliveryOutcomeRecord: Sendable, Equatable {
    public enum Outcome: String, Sendable, CaseIterable {
        /// A 2xx was received: the pair is done.
        case delivered
        /// The attempt failed and another is scheduled.
        case retrying = "retrying"
        /// No more automatic attempts: the pair is done until an operator redrives it.
        case deadLettered = "dead_letter"
        /// An operator asked for a dead letter to be delivered again (`sluice deadletters redrive`).
        case redriveRequested = "redrive_requested"
        /// Not a delivery's outcome but its webhook's: `410 Gone` (this record's event and attempt are the
        /// delivery that got it) disabled the webhook; its deliveries dead-letter until it is enabled.
        case endpointDisabled = "endpoint_disabled"
        /// An operator enabled the webhook again (`sluice endpoints enable`); event sequence 0, attempt 0.
        case endpointEnabled = "endpoint_enabled"

        /// Whether the pair needs no further attempt.
        public var isFinal: Bool { self == .delivered || self == .deadLettered }
        /// Whether the record is about the webhook's state, not about one delivery.
        public var isEndpointState: Bool { self == .endpointDisabled || self == .endpointEnabled }
    }

    /// The log sequence of the event.
    public var eventSequence: UInt64
    public var eventID: EventID
    /// The webhook's name (its identity in the configuration).
    public var webhook: String
    /// The `webhook-id` header value sent (stable across retries).
    public var webhookID: String
    /// 1-based attempt number (0 for a redrive request).
    public var attempt: Int
    public var outcome: Outcome
    /// The response status, when there was a response.
    public var statusCode: Int?
    public var failureClass: DeliveryFailureClass?
    public var message: String?
    /// When the attempt ended (wall clock).
    public var at: Timestamp

    public init(
        eventSequence: UInt64,
        eventID: EventID,
        webhook: String,
        webhookID: String,
        attempt: Int,
        outcome: Outcome,
        statusCode: Int? = nil,
        failureClass: DeliveryFailureClass? = nil,
        message: String? = nil,
        at: Timestamp
    ) {
        self.eventSequence = eventSequence
        self.eventID = eventID
        self.webhook = webhook
        self.webhookID = webhookID
        self.attempt = attempt
        self.outcome = outcome
        self.statusCode = statusCode
        self.failureClass = failureClass
        self.message = message
        self.at = at
    }

    /// The record body.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(224 + webhook.utf8.count + (message?.utf8.count ?? 0))
        out.append(contentsOf: #"{"event_sequence":"#.utf8)
        HTTPBytes.appendDecimal(eventSequence, to: &out)
        out.append(contentsOf: #","event_id":""#.utf8)
        eventID.append(to: &out)
        out.append(contentsOf: #"","webhook":"#.utf8)
        JSONString.appendQuoted(webhook, to: &out)
        out.append(contentsOf: #","webhook_id":"#.utf8)
        JSONString.appendQuoted(webhookID, to: &out)
        out.append(contentsOf: #","attempt":"#.utf8)
        Self.appendInteger(attempt, to: &out)
        out.append(contentsOf: #","outcome":"#.utf8)
        JSONString.appendQuoted(outcome.rawValue, to: &out)
        out.append(contentsOf: #","status":"#.utf8)
        if let statusCode {
            Self.appendInteger(statusCode, to: &out)
        } else {
            out.append(contentsOf: "null".utf8)
        }
        out.append(contentsOf: #","failure_class":"#.utf8)
        if let failureClass {
            JSONString.appendQuoted(failureClass.rawValue, to: &out)
        } else {
            out.append(contentsOf: "null".utf8)
        }
        out.append(contentsOf: #","message":"#.utf8)
        if let message { JSONString.appendQuoted(message, to: &out) } else { out.append(contentsOf: "null".utf8) }
        out.append(contentsOf: #","at":""#.utf8)
        at.append(.prefect, to: &out)
        out.append(contentsOf: #""}"#.utf8)
        return out
    }

    /// `value` in decimal (what `String(value)` spells), with no string made.
    private static func appendInteger(_ value: Int, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        HTTPBytes.appendDecimal(UInt64(value.magnitude), to: &out)
    }

    /// Reads a record body; the error names the field.
    public init(decoding body: [UInt8]) throws(DeliveryOutcomeRecordError) {
        let json: JSONValue
        do {
            json = try JSONValue.parse(body)
        } catch {
            throw DeliveryOutcomeRecordError(field: "", message: "not JSON: \(error)")
        }
        func require<T>(_ field: String, _ read: (JSONValue) -> T?) throws(DeliveryOutcomeRecordError) -> T {
            guard let value = json[field], let typed = read(value) else {
                throw DeliveryOutcomeRecordError(field: field, message: "missing or of the wrong type")
            }
            return typed
        }
        func optional<T>(_ field: String, _ read: (JSONValue) -> T?) throws(DeliveryOutcomeRecordError) -> T? {
            guard let value = json[field], !value.isNull else { return nil }
            guard let typed = read(value) else {
                throw DeliveryOutcomeRecordError(field: field, message: "of the wrong type")
            }
            return typed
        }
        let sequence = try require("event_sequence") { $0.int64Value }
        guard sequence >= 0 else { throw DeliveryOutcomeRecordError(field: "event_sequence", message: "negative") }
        eventSequence = UInt64(sequence)
        eventID = try require("event_id") { $0.stringValue.flatMap(EventID.parse) }
        webhook = try require("webhook") { $0.stringValue }
        webhookID = try require("webhook_id") { $0.stringValue }
        let attempt = try require("attempt") { $0.int64Value }
        // Recovery and read-back add 1 to it: a record's bytes must not be able to trap them.
        guard (0...Int64(UInt32.max)).contains(attempt) else {
            throw DeliveryOutcomeRecordError(
                field: "attempt",
                message: "must be from 0 to \(UInt32.max), not \(attempt)"
            )
        }
        self.attempt = Int(attempt)
        outcome = try require("outcome") { $0.stringValue.flatMap(Outcome.init(rawValue:)) }
        statusCode = try optional("status") { $0.int64Value.map(Int.init) }
        failureClass = try optional("failure_class") { $0.stringValue.flatMap(DeliveryFailureClass.init(rawValue:)) }
        message = try optional("message") { $0.stringValue }
        at = try require("at") { $0.stringValue.flatMap(Timestamp.parse) }
    }
}

/// A delivery outcome record body that cannot be read, and which field is at fault.
public struct DeliveryOutcomeRecordError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String
    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}
