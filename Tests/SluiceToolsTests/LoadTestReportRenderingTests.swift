import Foundation
import Sluice
import SluiceTestSupport
import SluiceTools
import Testing

/// The report's three renderings and the live progress line.
@Suite struct LoadTestReportRenderingTests {
    static let report = LoadTestReportTests.sampleReport()

    static func integer(_ value: JSONValue?) -> UInt64? {
        guard case .number(let text) = value else { return nil }
        return UInt64(text)
    }

    @Test func jsonHasStableKeysAndNumbersThatRoundTrip() throws {
        let report = Self.report
        let text = report.json()
        let parsed = try JSONValue.parse(text.trimmingCharacters(in: .newlines))
        #expect(parsed.encodedString() + "\n" == text, "re-encoding the parsed report gives the same bytes")
        let root = try #require(parsed.objectValue)
        #expect(
            root.keys == [
                "format", "version", "configuration", "elapsed_ns", "counters", "events_accepted_per_second",
                "deliveries_per_second", "end_to_end", "stages", "triggers", "time_series",
                "latency_overflow_count", "time_series_overflow_count",
            ]
        )
        #expect(parsed["format"]?.stringValue == "sluice-load-test-report")
        #expect(Self.integer(parsed["version"]) == 1)
        #expect(
            parsed["configuration"]?.objectValue?.keys == [
                "fixture", "event_count", "rate_target", "duration_target_seconds", "trigger_count",
                "webhook_count", "io_backend",
            ]
        )
        #expect(parsed[path: ["configuration", "rate_target"]] == .number("2000.0"))
        #expect(parsed[path: ["configuration", "duration_target_seconds"]] == .number("30.0"))
        let counters = try #require(parsed["counters"])
        #expect(Self.integer(counters["events_accepted"]) == report.counters.eventsAccepted)
        #expect(Self.integer(counters["events_backpressured"]) == 25)
        #expect(Self.integer(counters["deliveries_dead_lettered"]) == 1)
        #expect(counters["failed_attempts"]?.objectValue?.keys == DeliveryFailureClass.allCases.map(\.rawValue))
        #expect(Self.integer(counters[path: ["failed_attempts", "TIMEOUT"]]) == 2)
        let latencyKeys = ["count", "min_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns", "mean_ns"]
        let endToEnd = try #require(parsed["end_to_end"])
        #expect(endToEnd.objectValue?.keys == latencyKeys + ["distribution"])
        #expect(Self.integer(endToEnd["p99_ns"]) == report.endToEnd.p99Nanoseconds)
        #expect(Self.integer(endToEnd["p999_ns"]) == report.endToEnd.p999Nanoseconds)
        #expect(endToEnd["distribution"]?.arrayValue?.count == report.endToEndDistribution.count)
        let stages = try #require(parsed["stages"]?.arrayValue)
        #expect(stages.compactMap { $0["name"]?.stringValue } == ["journal", "match", "send", "response"])
        #expect(Self.integer(stages[3][path: ["latency", "p50_ns"]]) == report.stages[3].latency.p50Nanoseconds)
        let triggers = try #require(parsed["triggers"]?.arrayValue)
        #expect(triggers.count == report.triggers.count)
        #expect(triggers.first?["latency"]?.objectValue?.keys == latencyKeys)
        let series = try #require(parsed["time_series"]?.arrayValue)
        #expect(series.count == 30)
        #expect(series.first?.objectValue?.keys == ["second", "events_accepted", "deliveries_succeeded", "p99_ns"])
        // Every figure is a number, never a string (only names and labels are strings).
        #expect(!text.contains("\"p99_ns\":\""))
        #expect(!text.contains("\"per_second\":\""))
    }

    @Test func htmlIsSelfContainedWithThePlots() {
        let page = Self.report.html()
        // For a look at the page in a browser (docs/load-testing.md, "Load-test report").
        if let path = ProcessInfo.processInfo.environment["SLUICE_REPORT_HTML_OUT"] {
            writeFile(path, Array(page.utf8))
            writeFile(path + ".txt", Array(Self.report.text().utf8))
        }
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        #expect(page.components(separatedBy: "<svg").count - 1 == 3)
        #expect(page.contains("Latency by percentile"))
        #expect(page.contains("Throughput per second"))
        #expect(page.contains("99.99%"))
        // One curve per stage and the overall one, plus the throughput and p99 lines.
        #expect(page.components(separatedBy: "<polyline").count - 1 == 5 + 2 + 1)
        for external in ["http://", "https://", "<script", "<link", "src=", "url(", "@import"] {
            #expect(!page.contains(external), "no external reference or script: \(external)")
        }
        #expect(page.contains("<style>"))
        #expect(page.contains("others (20 triggers)"))
        #expect(page.hasSuffix("</html>\n"))
    }

    @Test func textReportHasEveryTableAndAnOthersLine() throws {
        let text = Self.report.text(topTriggerCount: 5)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "Sluice load test: fixtures/generated-10k.jsonl")
        #expect(lines[1] == "  events 60,000 · rate target 2,000 events/s · duration target 30.0 s")
        #expect(lines[2] == "  40 triggers · 12 webhooks · I/O io_uring")
        #expect(lines[3] == "  elapsed 30.00 s")
        for heading in ["Throughput", "Latency (emit → 2xx overall and per stage)", "Events and deliveries"] {
            #expect(lines.contains(heading))
        }
        let triggerHeading = try #require(lines.firstIndex { $0.hasPrefix("Latency by trigger") })
        #expect(lines[triggerHeading] == "Latency by trigger (emit → 2xx; top 5 of 40 triggers with deliveries)")
        // Header, 5 triggers, one "others" line, then the blank line before the next section.
        let tableStart = triggerHeading + 1
        #expect(lines[tableStart].hasPrefix("  trigger"))
        #expect(lines[tableStart + 6].hasPrefix("  others (35 triggers)"))
        #expect(lines[tableStart + 7].isEmpty)
        // Right-aligned columns: every row of the trigger table ends at the same column.
        let widths = Set(lines[tableStart...(tableStart + 6)].map(\.count))
        #expect(widths.count == 1)
        #expect(lines.contains { $0.hasPrefix("  emit → journaled") })
        #expect(lines.contains { $0.hasPrefix("  sent → 2xx") })
        #expect(lines.contains { $0.hasPrefix("  deliveries dead-lettered ") && $0.hasSuffix(" 1") })
        #expect(lines.contains { $0.hasPrefix("    TIMEOUT") && $0.hasSuffix(" 2") })
        #expect(lines.contains { $0.hasPrefix("    HTTP_SERVER_ERROR") })
        #expect(!lines.contains { $0.hasPrefix("    TLS") }, "classes without failures are left out")
    }

    @Test func anEmptyRunRendersZerosNotGarbage() throws {
        let layout = LatencyRecorder.Layout(triggerNames: ["only"], startNanoseconds: 0, timeSeriesSecondCountMax: 4)
        let report = LoadTestReport(
            configuration: LoadTestReportTests.configuration,
            recorders: [LatencyRecorder(layout: layout)],
            endNanoseconds: 0
        )
        #expect(report.endToEnd.count == 0)
        #expect(report.triggers.isEmpty)
        #expect(report.timeSeries.isEmpty)
        #expect(report.deliveriesPerSecond == 0)
        let text = report.text()
        #expect(text.contains("Latency by trigger: no deliveries"))
        let overall = text.split(separator: "\n").first { $0.hasPrefix("  emit → 2xx ") }
        #expect(overall?.split(separator: " ") == ["emit", "→", "2xx", "0", "-", "-", "-", "-", "-", "-"])
        let parsed = try JSONValue.parse(report.json().trimmingCharacters(in: .newlines))
        #expect(parsed[path: ["end_to_end", "p99_ns"]] == .number("0"))
        #expect(parsed["deliveries_per_second"] == .number("0.0"))
        #expect(parsed[path: ["end_to_end", "distribution"]] == .array([]))
        let page = report.html()
        #expect(page.contains("No deliveries."))
        // No non-finite coordinate leaked into the SVG ("dominant-baseline" is the one honest "nan").
        let words = page.replacingOccurrences(of: "dominant", with: "")
        #expect(!words.contains("nan"))
        #expect(!words.contains("inf"))
    }

    @Test func progressLineShowsRatesSinceTheLastUpdate() {
        var line = ProgressLine()
        var snapshot = ProgressLine.Snapshot(
            elapsedNanoseconds: 2_000_000_000,
            eventsAccepted: 10_000,
            deliveriesSucceeded: 9_000,
            deliveriesRetried: 3,
            deliveriesDeadLettered: 1,
            p99Nanoseconds: 2_412_000
        )
        let first = line.render(snapshot)
        #expect(
            first
                == "[   2.0s] events 5,000/s  deliveries 4,500/s  p99 2.41 ms  ok 9,000  retried 3  dead 1"
        )
        snapshot.elapsedNanoseconds = 3_000_000_000
        snapshot.eventsAccepted = 10_010
        snapshot.deliveriesSucceeded = 9_005
        snapshot.p99Nanoseconds = nil
        let shorter = line.render(snapshot)
        #expect(shorter.hasPrefix("[   3.0s] events 10/s  deliveries 5/s  p99 -  ok 9,005  retried 3  dead 1"))
        #expect(shorter.count == first.count, "padded to cover the longer previous line")
        #expect(!shorter.contains("\n"))
        var recorder = LatencyRecorder(
            layout: LatencyRecorder.Layout(triggerNames: [], startNanoseconds: 5_000, timeSeriesSecondCountMax: 0)
        )
        recorder.recordDelivered(triggerIndex: nil, emitNanoseconds: 5_000, responseNanoseconds: 105_000, attempt: 1)
        let fromRecorder = recorder.progressSnapshot(atNanoseconds: 1_000_005_000)
        #expect(fromRecorder.elapsedNanoseconds == 1_000_000_000)
        #expect(fromRecorder.deliveriesSucceeded == 1)
        #expect(fromRecorder.p99Nanoseconds == 100_000)
    }
}
