/// What `sluice sink` knows of a delivery's signature.
public enum SinkSignatureCheck: String, Hashable, Sendable, CaseIterable {
    case valid
    case invalid
    /// No `webhook-signature` header, or the sink has no key.
    case unchecked
}

/// One line of the sink's delivery file: one received request (FORMAT.md "Sink delivery records").
///
/// ```
/// {"arrived_at":"2026-12-01T18:19:00.123456Z","event_id":"…","webhook_id":"msg_…","webhook_timestamp":1740656629,"status":204,"signature":"valid"}
/// ```
/// Keys are written in this order; `event_id` (the body's `id`), `webhook_id`,
/// `webhook_timestamp` and `status` are `null` when absent (`status` is `null` when the sink reset
/// the connection instead of answering). Readers accept any key order and ignore unknown keys.
public struct SinkDeliveryRecord: Hashable, Sendable {
    public var arrivedAt: Timestamp
    public var eventID: String?
    public var webhookID: String?
    /// The `webhook-timestamp` header (Unix seconds), for send-to-arrival latency.
    public var webhookTimestamp: Int64?
    public var statusCode: Int?
    public var signature: SinkSignatureCheck

    public init(
        arrivedAt: Timestamp,
        eventID: String?,
        webhookID: String?,
        webhookTimestamp: Int64? = nil,
        statusCode: Int?,
        signature: SinkSignatureCheck = .unchecked
    ) {
        self.arrivedAt = arrivedAt
        self.eventID = eventID
        self.webhookID = webhookID
        self.webhookTimestamp = webhookTimestamp
        self.statusCode = statusCode
        self.signature = signature
    }

    /// Appends the record as one JSON line ending in `\n`.
    public func appendLine(to target: inout [UInt8]) {
        let object: JSONValue = [
            "arrived_at": .string(arrivedAt.string(.prefect)),
            "event_id": eventID.map(JSONValue.string) ?? .null,
            "webhook_id": webhookID.map(JSONValue.string) ?? .null,
            "webhook_timestamp": webhookTimestamp.map(JSONValue.integer) ?? .null,
            "status": statusCode.map(JSONValue.integer) ?? .null,
            "signature": .string(signature.rawValue),
        ]
        object.write(to: &target)
        target.append(UInt8(ascii: "\n"))
    }

    /// Decodes one line (without its `\n`); `lineNumber` (1-based) goes into errors.
    /// - Throws: ``SinkRecordError`` naming the line and field.
    public static func decode(line: ArraySlice<UInt8>, lineNumber: Int) throws(SinkRecordError) -> SinkDeliveryRecord {
        let json: JSONValue
        do {
            json = try JSONValue.parse(Array(line))
        } catch {
            throw SinkRecordError(lineNumber: lineNumber, field: nil, message: error.description)
        }
        guard json.objectValue != nil else {
            throw SinkRecordError(lineNumber: lineNumber, field: nil, message: "not a JSON object")
        }
        func fail(_ field: String, _ message: String) -> SinkRecordError {
            SinkRecordError(lineNumber: lineNumber, field: field, message: message)
        }
        guard let arrivedText = json["arrived_at"]?.stringValue, let arrivedAt = Timestamp.parse(arrivedText) else {
            throw fail("arrived_at", "required, an RFC 3339 time")
        }
        func optionalString(_ key: String) throws(SinkRecordError) -> String? {
            guard let value = json[key], !value.isNull else { return nil }
            guard let text = value.stringValue else { throw fail(key, "must be a string or null") }
            return text
        }
        func optionalInteger(_ key: String) throws(SinkRecordError) -> Int64? {
            guard let value = json[key], !value.isNull else { return nil }
            guard let number = value.int64Value else { throw fail(key, "must be an integer or null") }
            return number
        }
        let status = try optionalInteger("status")
        if let status, !(100...999).contains(status) { throw fail("status", "\(status) is not an HTTP status") }
        let signatureText = json["signature"]?.stringValue ?? SinkSignatureCheck.unchecked.rawValue
        guard let signature = SinkSignatureCheck(rawValue: signatureText) else {
            throw fail("signature", "must be valid, invalid or unchecked")
        }
        return SinkDeliveryRecord(
            arrivedAt: arrivedAt,
            eventID: try optionalString("event_id"),
            webhookID: try optionalString("webhook_id"),
            webhookTimestamp: try optionalInteger("webhook_timestamp"),
            statusCode: status.map { Int($0) },
            signature: signature
        )
    }

    /// Decodes a whole file: one record per non-empty line.
    /// - Throws: ``SinkRecordError`` for the first bad line (a torn last line included: the sink
    ///   writes whole lines, so a partial one means the file was cut).
    public static func decodeLines(_ bytes: [UInt8]) throws(SinkRecordError) -> [SinkDeliveryRecord] {
        var records: [SinkDeliveryRecord] = []
        var lineNumber = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.isEmpty { continue }
            records.append(try decode(line: line, lineNumber: lineNumber))
        }
        return records
    }
}

/// A sink delivery file line could not be read: which line, which field, why.
public struct SinkRecordError: Error, Hashable, Sendable, CustomStringConvertible {
    public var lineNumber: Int
    public var field: String?
    public var message: String

    public init(lineNumber: Int, field: String?, message: String) {
        self.lineNumber = lineNumber
        self.field = field
        self.message = message
    }

    public var description: String {
        "line \(lineNumber)" + (field.map { ", field \($0)" } ?? "") + ": \(message)"
    }
}
