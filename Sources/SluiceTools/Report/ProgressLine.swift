/// The live one-line status of a load test, for `\r` updates on a terminal.
///
/// ```
/// [  12.0s] events 48,210/s  deliveries 47,905/s  p99 2.41 ms  ok 571,220  retried 12  dead 0
/// ```
/// Rates are over the interval since the previous ``render(_:)``, or since the start for the
/// first. The line has no line break; the caller writes `"\r" + line` (and pads when it shrinks,
/// see ``render(_:)``).
///
/// Not thread-safe: owned by the thread that prints.
public struct ProgressLine: Sendable {
    /// What one progress update shows; ``LatencyRecorder/progressSnapshot(atNanoseconds:)`` makes one.
    public struct Snapshot: Sendable, Equatable {
        public var elapsedNanoseconds: UInt64
        public var eventsAccepted: UInt64
        public var deliveriesSucceeded: UInt64
        public var deliveriesRetried: UInt64
        public var deliveriesDeadLettered: UInt64
        /// Emit → 2xx p99 so far; `nil` before the first delivery.
        public var p99Nanoseconds: UInt64?

        public init(
            elapsedNanoseconds: UInt64,
            eventsAccepted: UInt64,
            deliveriesSucceeded: UInt64,
            deliveriesRetried: UInt64,
            deliveriesDeadLettered: UInt64,
            p99Nanoseconds: UInt64?
        ) {
            self.elapsedNanoseconds = elapsedNanoseconds
            self.eventsAccepted = eventsAccepted
            self.deliveriesSucceeded = deliveriesSucceeded
            self.deliveriesRetried = deliveriesRetried
            self.deliveriesDeadLettered = deliveriesDeadLettered
            self.p99Nanoseconds = p99Nanoseconds
        }
    }

    var previous: Snapshot?
    var previousLineCount = 0

    public init() {}

    /// The line for `snapshot`, padded with spaces to cover a longer previous line.
    public mutating func render(_ snapshot: Snapshot) -> String {
        let line = Self.format(snapshot, since: previous)
        previous = snapshot
        let count = line.count
        defer { previousLineCount = count }
        guard count < previousLineCount else { return line }
        return line + String(repeating: " ", count: previousLineCount - count)
    }

    /// The line for `snapshot` with rates measured since `earlier` (or since the start).
    public static func format(_ snapshot: Snapshot, since earlier: Snapshot?) -> String {
        let base =
            earlier
            ?? Snapshot(
                elapsedNanoseconds: 0,
                eventsAccepted: 0,
                deliveriesSucceeded: 0,
                deliveriesRetried: 0,
                deliveriesDeadLettered: 0,
                p99Nanoseconds: nil
            )
        let intervalNanoseconds =
            snapshot.elapsedNanoseconds &- min(snapshot.elapsedNanoseconds, base.elapsedNanoseconds)
        let eventRate = ReportFormat.rate(snapshot.eventsAccepted &- base.eventsAccepted, intervalNanoseconds)
        let deliveryRate = ReportFormat.rate(
            snapshot.deliveriesSucceeded &- base.deliveriesSucceeded,
            intervalNanoseconds
        )
        let elapsed = ReportFormat.fixed(Double(snapshot.elapsedNanoseconds) / 1e9, decimals: 1) + "s"
        let p99 = snapshot.p99Nanoseconds.map(ReportFormat.latency) ?? "-"
        return "[" + ReportFormat.padLeft(elapsed, 7) + "] events " + ReportFormat.grouped(eventRate) + "/s"
            + "  deliveries " + ReportFormat.grouped(deliveryRate) + "/s  p99 " + p99
            + "  ok " + ReportFormat.grouped(snapshot.deliveriesSucceeded)
            + "  retried " + ReportFormat.grouped(snapshot.deliveriesRetried)
            + "  dead " + ReportFormat.grouped(snapshot.deliveriesDeadLettered)
    }
}
