extension LoadTestReport {
    /// The report as terminal tables: run summary, throughput per stage, latency percentiles
    /// (overall, per stage, the `topTriggerCount` triggers with most deliveries plus one "others"
    /// line), then events and delivery outcomes.
    /// - Precondition: `topTriggerCount >= 0`.
    public func text(topTriggerCount: Int = 10) -> String {
        precondition(topTriggerCount >= 0, "the trigger count is not negative")
        var lines = textHeader()
        lines.append("")
        lines.append("Throughput")
        lines += TextTable.render(throughputRows(), leftColumnCount: 1)
        lines.append("")
        lines.append("Latency (emit → 2xx overall and per stage)")
        var latencyRows = [Self.latencyHeader("stage"), Self.latencyRow("emit → 2xx", endToEnd)]
        latencyRows += stages.map { Self.latencyRow($0.stage.label, $0.latency) }
        lines += TextTable.render(latencyRows, leftColumnCount: 1)
        lines.append("")
        lines += textTriggers(topTriggerCount: topTriggerCount)
        lines.append("")
        lines.append("Events and deliveries")
        lines += TextTable.render(outcomeRows(), leftColumnCount: 1)
        if latencyOverflowCount > 0 || timeSeriesOverflowCount > 0 {
            lines.append("")
            lines.append(
                "note: \(latencyOverflowCount) latencies above the tracked maximum were clamped; "
                    + "\(timeSeriesOverflowCount) samples fell after the time series' last second"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func textHeader() -> [String] {
        let rate = configuration.rateTarget.map { ReportFormat.grouped(UInt64($0.rounded())) + " events/s" }
        let duration = configuration.durationTargetSeconds.map { ReportFormat.fixed($0, decimals: 1) + " s" }
        return [
            "Sluice load test: " + configuration.fixture,
            "  events " + ReportFormat.grouped(UInt64(configuration.eventCount)) + " · rate target "
                + (rate ?? "unthrottled") + " · duration target " + (duration ?? "until drained"),
            "  " + ReportFormat.grouped(UInt64(configuration.triggerCount)) + " triggers · "
                + ReportFormat.grouped(UInt64(configuration.webhookCount)) + " webhooks · I/O "
                + configuration.ioBackend,
            "  elapsed " + ReportFormat.fixed(Double(elapsedNanoseconds) / 1e9, decimals: 2) + " s",
        ]
    }

    func throughputRows() -> [[String]] {
        func row(_ name: String, _ count: UInt64, _ perSecond: Double) -> [String] {
            [name, ReportFormat.grouped(count), ReportFormat.grouped(UInt64(perSecond.rounded()))]
        }
        var rows = [["stage", "count", "per second"]]
        rows.append(row("emit (accepted)", counters.eventsAccepted, eventsAcceptedPerSecond))
        rows += stages.map { row($0.stage.label, $0.latency.count, $0.perSecond) }
        rows.append(row("delivered (2xx)", counters.deliveriesSucceeded, deliveriesPerSecond))
        return rows
    }

    func textTriggers(topTriggerCount: Int) -> [String] {
        guard !triggers.isEmpty else { return ["Latency by trigger: no deliveries"] }
        let shown = min(topTriggerCount, triggers.count)
        var lines = [
            "Latency by trigger (emit → 2xx; top \(shown) of \(triggers.count) triggers with deliveries)"
        ]
        var rows = [Self.latencyHeader("trigger")]
        rows += triggers.prefix(shown).map { Self.latencyRow($0.name, $0.latency) }
        if let others = otherTriggersLatency(after: shown) {
            rows.append(Self.latencyRow("others (\(others.triggerCount) triggers)", others.latency))
        }
        lines += TextTable.render(rows, leftColumnCount: 1)
        return lines
    }

    func outcomeRows() -> [[String]] {
        func row(_ name: String, _ count: UInt64) -> [String] { [name, ReportFormat.grouped(count)] }
        var rows = [
            row("events emitted", counters.eventsEmitted),
            row("  accepted", counters.eventsAccepted),
            row("  backpressured", counters.eventsBackpressured),
            row("  invalid", counters.eventsInvalid),
            row("event bytes", counters.eventByteCount),
            row("matched pairs", counters.matchedPairs),
            row("deliveries ok (2xx)", counters.deliveriesSucceeded),
            row("  after retries", counters.deliveriesRetried),
            row("deliveries dead-lettered", counters.deliveriesDeadLettered),
            row("deliveries unfinished", deliveriesUnfinished),
            row("request bytes", counters.requestByteCount),
            row("failed attempts", counters.failedAttemptCount),
        ]
        for failureClass in DeliveryFailureClass.allCases where counters.failedAttempts(failureClass) > 0 {
            rows.append(row("  " + failureClass.rawValue, counters.failedAttempts(failureClass)))
        }
        return rows
    }

    /// Matched pairs that neither got a 2xx nor were dead-lettered by the end of the run.
    public var deliveriesUnfinished: UInt64 {
        let ended = counters.deliveriesSucceeded &+ counters.deliveriesDeadLettered
        return counters.matchedPairs >= ended ? counters.matchedPairs - ended : 0
    }

    static func latencyHeader(_ name: String) -> [String] {
        [name, "count", "min", "p50", "p90", "p99", "p99.9", "max"]
    }

    static func latencyRow(_ name: String, _ latency: LatencySummary) -> [String] {
        guard latency.count > 0 else { return [name, "0", "-", "-", "-", "-", "-", "-"] }
        let values = [
            latency.minNanoseconds, latency.p50Nanoseconds, latency.p90Nanoseconds, latency.p99Nanoseconds,
            latency.p999Nanoseconds, latency.maxNanoseconds,
        ]
        return [name, ReportFormat.grouped(latency.count)] + values.map(ReportFormat.latency)
    }
}

/// Column-aligned plain-text tables: the first `leftColumnCount` columns left-aligned, the rest
/// right-aligned, two spaces between columns, two spaces of indent.
enum TextTable {
    static func render(_ rows: [[String]], leftColumnCount: Int) -> [String] {
        let columnCount = rows.map(\.count).max() ?? 0
        var widths = Array(repeating: 0, count: columnCount)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return rows.map { row in
            let cells = row.enumerated().map { index, cell in
                index < leftColumnCount
                    ? ReportFormat.padRight(cell, widths[index]) : ReportFormat.padLeft(cell, widths[index])
            }
            return "  " + cells.joined(separator: "  ")
        }
    }
}
