extension LoadTestReport {
    /// The report as one self-contained HTML page: inline CSS and inline SVG only (no scripts, no
    /// external assets, no links), so it can be archived or mailed as a single file.
    ///
    /// It holds the HDR "latency by percentile" plot (log-scaled x from 0% to 99.99%, log latency)
    /// for emit → 2xx and each stage, throughput over time, p99 over time, and the tables of
    /// ``text(topTriggerCount:)``.
    /// - Precondition: `topTriggerCount >= 0`.
    public func html(topTriggerCount: Int = 20) -> String {
        precondition(topTriggerCount >= 0, "the trigger count is not negative")
        let title = "Sluice load test: " + configuration.fixture
        var page = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        page += "<title>\(ReportFormat.htmlEscaped(title))</title><style>\(Self.htmlStyle)</style></head><body>\n"
        page += "<h1>\(ReportFormat.htmlEscaped(title))</h1>\n"
        page +=
            "<p class=\"summary\">" + textHeader().dropFirst().map(ReportFormat.htmlEscaped).joined(separator: "<br>")
        page += "</p>\n"
        page += percentileChart().render() + "\n"
        page += throughputChart().render() + "\n"
        page += p99Chart().render() + "\n"
        page += "<h2>Throughput</h2>\n" + Self.htmlTable(throughputRows())
        var latencyRows = [Self.latencyHeader("stage"), Self.latencyRow("emit → 2xx", endToEnd)]
        latencyRows += stages.map { Self.latencyRow($0.stage.label, $0.latency) }
        page += "<h2>Latency</h2>\n" + Self.htmlTable(latencyRows)
        page += "<h2>Latency by trigger</h2>\n" + htmlTriggers(topTriggerCount: topTriggerCount)
        page += "<h2>Events and deliveries</h2>\n" + Self.htmlTable([["outcome", "count"]] + outcomeRows())
        return page + "</body></html>\n"
    }

    func percentileChart() -> SVGChart {
        var series = [
            SVGChart.Series(name: "emit → 2xx", color: SVGChart.colors[0], points: Self.points(endToEndDistribution))
        ]
        for (index, stage) in stages.enumerated() {
            series.append(
                SVGChart.Series(
                    name: stage.stage.label,
                    color: SVGChart.colors[(index + 1) % SVGChart.colors.count],
                    points: Self.points(stage.distribution)
                )
            )
        }
        let all = ([endToEndDistribution] + stages.map(\.distribution)).joined().map(\.nanoseconds)
        return SVGChart(
            title: "Latency by percentile",
            xAxis: SVGChart.percentileAxis(),
            yAxis: SVGChart.latencyAxis(lowNanoseconds: all.min() ?? 1, highNanoseconds: all.max() ?? 1_000),
            series: series
        )
    }

    func throughputChart() -> SVGChart {
        let accepted = timeSeries.map { (x: Double($0.second) + 0.5, y: Double($0.eventsAccepted)) }
        let delivered = timeSeries.map { (x: Double($0.second) + 0.5, y: Double($0.deliveriesSucceeded)) }
        let high = (accepted + delivered).map(\.y).max() ?? 1
        return SVGChart(
            title: "Throughput per second",
            xAxis: timeAxis(),
            yAxis: SVGChart.linearAxis(high: high, title: "per second") { ReportFormat.grouped(UInt64($0)) },
            series: [
                SVGChart.Series(name: "events accepted", color: SVGChart.colors[0], points: accepted),
                SVGChart.Series(name: "deliveries (2xx)", color: SVGChart.colors[1], dashed: true, points: delivered),
            ]
        )
    }

    func p99Chart() -> SVGChart {
        let p99 = timeSeries.filter { $0.deliveriesSucceeded > 0 }
            .map { (x: Double($0.second) + 0.5, y: Double($0.p99Nanoseconds)) }
        let high = p99.map(\.y).max() ?? 1_000_000
        return SVGChart(
            title: "Emit → 2xx p99 per second",
            xAxis: timeAxis(),
            yAxis: SVGChart.linearAxis(high: high, title: "p99") { ReportFormat.latencyTick(UInt64($0)) },
            series: [SVGChart.Series(name: "p99", color: SVGChart.colors[1], points: p99)]
        )
    }

    func timeAxis() -> SVGChart.Axis {
        let seconds = Double(max(timeSeries.count, 1))
        var axis = SVGChart.linearAxis(high: seconds, title: "seconds since start") { String(Int($0)) }
        axis.position = { $0 / seconds }
        axis.ticks = axis.ticks.filter { $0.value <= seconds }
        return axis
    }

    func htmlTriggers(topTriggerCount: Int) -> String {
        guard !triggers.isEmpty else { return "<p>No deliveries.</p>\n" }
        let shown = min(topTriggerCount, triggers.count)
        var rows = [Self.latencyHeader("trigger")]
        rows += triggers.prefix(shown).map { Self.latencyRow($0.name, $0.latency) }
        if let others = otherTriggersLatency(after: shown) {
            rows.append(Self.latencyRow("others (\(others.triggerCount) triggers)", others.latency))
        }
        return "<p>Top \(shown) of \(triggers.count) triggers with deliveries, by deliveries.</p>\n"
            + Self.htmlTable(rows)
    }

    static func points(_ distribution: [PercentilePoint]) -> [(x: Double, y: Double)] {
        distribution.map { (x: $0.percentile, y: Double($0.nanoseconds)) }
    }

    /// The first row is the header; the first column is left-aligned, the rest numeric.
    static func htmlTable(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        var table = "<table><thead><tr>"
        table += header.map { "<th>\(ReportFormat.htmlEscaped($0))</th>" }.joined()
        table += "</tr></thead><tbody>"
        for row in rows.dropFirst() {
            // Text tables indent sub-rows with spaces; HTML collapses them, so a class indents instead.
            let cells = row.map { cell in
                cell.hasPrefix("  ")
                    ? "<td class=\"sub\">\(ReportFormat.htmlEscaped(String(cell.drop { $0 == " " })))</td>"
                    : "<td>\(ReportFormat.htmlEscaped(cell))</td>"
            }
            table += "<tr>" + cells.joined() + "</tr>"
        }
        return table + "</tbody></table>\n"
    }

    static let htmlStyle = """
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;padding:0 16px;max-width:1000px;\
        color:#222;background:#fff}
        h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px}
        .summary{color:#444;line-height:1.5}
        svg.chart{display:block;width:100%;height:auto;margin:18px 0}
        .plot{fill:#fafbfc;stroke:#bbb}.grid{stroke:#e3e3e3}
        .tick{font-size:11px;fill:#555}.axis{font-size:12px;fill:#333}
        .legend{font-size:12px;fill:#222}.chart-title{font-size:14px;font-weight:600;fill:#222}
        table{border-collapse:collapse;font-size:13px;margin:6px 0}
        th,td{padding:3px 10px;border-bottom:1px solid #e5e5e5;text-align:right;white-space:nowrap}
        th:first-child,td:first-child{text-align:left}th{background:#f3f4f6}
        td{font-variant-numeric:tabular-nums}td.sub{padding-left:26px}
        """
}
