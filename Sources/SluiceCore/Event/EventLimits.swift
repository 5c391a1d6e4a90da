/// Bounds on one event, checked by ``EventDecoder``. An event over a bound is an error reported to the
/// producer, never silently dropped or truncated.
///
/// Defaults are Prefect's server settings (spec §a.3) except ``relatedResourceCountMax``: Infrahub
/// deploys Prefect with `PREFECT_SERVER_EVENTS_MAXIMUM_RELATED_RESOURCES=500` and builds node events up
/// to a budget of 450, so 500 is the default here (Prefect's stock default is 100).
public struct EventLimits: Sendable, Equatable {
    /// Largest event in bytes (Prefect `maximum_size_bytes`). Costs one buffer of this size per reader.
    public var eventByteCountMax: Int = 1_500_000
    /// Longest event name in bytes (Prefect `maximum_event_name_length`).
    public var eventNameByteCountMax: Int = 1024
    /// Most labels on one resource (Prefect `maximum_labels_per_resource`).
    public var labelsPerResourceCountMax: Int = 500
    /// Most related resources (Infrahub's `_DEFAULT_MAX_RELATED_RESOURCES`).
    public var relatedResourceCountMax: Int = 500
    /// Deepest JSON nesting accepted anywhere in the event (keeps parsing iterative-depth bounded).
    public var nestingDepthMax: Int = 128

    public init() {}

    /// Prefect's stock server defaults (100 related resources).
    public static var prefectDefaults: EventLimits {
        var limits = EventLimits()
        limits.relatedResourceCountMax = 100
        return limits
    }

    public func validate() {
        precondition(eventByteCountMax > 0 && eventByteCountMax < Int(UInt32.max), "eventByteCountMax out of range")
        precondition(eventNameByteCountMax > 0, "eventNameByteCountMax must be positive")
        precondition(labelsPerResourceCountMax >= 1, "a resource needs at least its id label")
        precondition(relatedResourceCountMax >= 0, "relatedResourceCountMax must not be negative")
        precondition(nestingDepthMax >= 4, "events nest at least 4 levels")
    }
}
