/// The body of a configuration change record (record type 3, FORMAT.md "Configuration change records").
///
/// Two versions are in logs:
///
/// - **Version 2, replayable** (written by a reconfiguration that has the configuration as a document, such as
///   the management API): one compact JSON object, keys in this order,
///   `{"version":2,"generation":3,"at":"2026-12-07T18:00:00.500000Z","configuration":{"default_branch":"main",
///   "webhooks":[…],"triggers":[…]}}`. `configuration` is the whole webhooks-and-triggers part of a
///   configuration file, as JSON, secrets included (the log is as private as the configuration file): read
///   with the same decoders as the file (``TriggerConfiguration/init(json:)``,
///   ``WebhookConfiguration/init(json:environment:)``), it gives back the configuration that was acknowledged.
/// - **Version 1, a summary** (every older log, and ``Pipeline``'s `reconfigure(webhooks:triggers:)`): no
///   `version` key, `{"generation":1,"webhooks":["audit","ops"],"triggers":3,"at":"…"}`. It names what changed
///   but cannot be replayed; readers keep it readable and ignore it for restore.
///
/// A plain value; encode and decode are pure.
public struct ConfigurationRecord: Sendable, Equatable {
    /// The version this code writes.
    public static let currentVersion = 2
    /// The keys `configuration` may hold: the part of a configuration file that can change while running.
    public static let configurationKeys = ["default_branch", "webhooks", "triggers"]

    /// 1 (a summary, not replayable) or 2.
    public var version: Int
    /// The pipeline's configuration generation this record made current (counts changes; 0 is the file's).
    public var generation: Int
    /// When the change was made (wall clock).
    public var at: Timestamp
    /// The webhooks and triggers (keys of ``configurationKeys`` only); `nil` for a version 1 summary.
    public var configuration: JSONValue?

    /// A replayable (version 2) record.
    public init(generation: Int, at: Timestamp, configuration: JSONValue) {
        precondition(generation >= 0, "a generation is never negative")
        version = Self.currentVersion
        self.generation = generation
        self.at = at
        self.configuration = configuration
    }

    /// Whether a restart can rebuild the configuration from this record.
    public var isReplayable: Bool { version >= 2 && configuration != nil }

    /// The compact JSON body (version 2; FORMAT.md).
    public func encoded() -> [UInt8] {
        precondition(isReplayable, "only replayable records are written by this code")
        var body: [UInt8] = Array("{\"version\":\(version),\"generation\":\(generation),\"at\":\"".utf8)
        at.append(.prefect, to: &body)
        body.append(contentsOf: "\",\"configuration\":".utf8)
        configuration!.write(to: &body)  // `isReplayable` checked above: not nil
        body.append(UInt8(ascii: "}"))
        return body
    }

    /// Reads a body of either version.
    /// - Throws: ``ConfigurationRecordError`` naming the field when the body is not a configuration record of a
    ///   known version.
    public init(decoding body: [UInt8]) throws(ConfigurationRecordError) {
        let json: JSONValue
        do {
            json = try JSONValue.parse(body)
        } catch {
            throw ConfigurationRecordError(field: "", message: "not JSON: \(error)")
        }
        guard json.objectValue != nil else { throw ConfigurationRecordError(field: "", message: "not an object") }
        guard let generation = json["generation"]?.int64Value, generation >= 0, generation <= Int64(Int32.max) else {
            throw ConfigurationRecordError(field: "generation", message: "must be an integer from 0 to \(Int32.max)")
        }
        self.generation = Int(generation)
        guard let text = json["at"]?.stringValue, let at = Timestamp.parse(text) else {
            throw ConfigurationRecordError(field: "at", message: "must be an RFC 3339 timestamp")
        }
        self.at = at
        guard let versionValue = json["version"] else {
            version = 1  // the summary written before version 2 existed
            configuration = nil
            return
        }
        guard let version = versionValue.int64Value, version == 2 else {
            throw ConfigurationRecordError(
                field: "version",
                message: "version \(versionValue.encodedString()) is not known (this build reads 1 and 2)"
            )
        }
        self.version = Int(version)
        guard let configuration = json["configuration"], let object = configuration.objectValue else {
            throw ConfigurationRecordError(field: "configuration", message: "must be an object")
        }
        if let key = object.keys.first(where: { !Self.configurationKeys.contains($0) }) {
            throw ConfigurationRecordError(
                field: "configuration.\(key)",
                message: "is not a key of a configuration record"
            )
        }
        self.configuration = configuration
    }
}

/// A configuration change record that cannot be read: which field, and why.
public struct ConfigurationRecordError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}
