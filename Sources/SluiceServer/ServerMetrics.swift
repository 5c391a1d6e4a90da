import Hummingbird
import Logging
import Prometheus
import Sluice

/// What `GET /metrics` shows (docs/server.md "Metrics"), in the Prometheus text format.
///
/// HTTP requests and GitHub deliveries are counted as they happen in a swift-prometheus registry (the
/// daemon also bootstraps swift-metrics with it, so other libraries' metrics land there too); the
/// pipeline's counters are read from ``Pipeline/statistics`` at each scrape, so they equal the pipeline's
/// own counts exactly. Thread-safe (the registry is).
final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let pipeline: Pipeline

    init(registry: PrometheusCollectorRegistry, pipeline: Pipeline) {
        self.registry = registry
        self.pipeline = pipeline
    }

    /// Latency buckets of the HTTP histogram: 0.5 ms to 10 s.
    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(10),
    ]

    // Computed: MetricNameDescriptor is not Sendable, so it cannot be a stored static.
    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "sluice",
            subsystem: "http",
            metricName: "requests",
            unitName: "total",
            helpText: "HTTP requests by route template, method and status."
        )
    }
    // Computed: MetricNameDescriptor is not Sendable, so it cannot be a stored static.
    static var requestDuration: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "sluice",
            subsystem: "http",
            metricName: "request_duration",
            unitName: "seconds",
            helpText: "From the request head to the response handed to the connection, by route template."
        )
    }
    // Computed: MetricNameDescriptor is not Sendable, so it cannot be a stored static.
    static var gitHubDeliveries: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "sluice",
            subsystem: "github",
            metricName: "deliveries",
            unitName: "total",
            helpText:
                "GitHub deliveries by source and verdict (accepted, duplicate, ignored, invalid, unauthenticated)."
        )
    }

    func recordRequest(route: String, method: String, status: Int, duration: Duration) {
        registry.makeCounter(
            descriptor: Self.requests,
            labels: [("route", route), ("method", method), ("status", String(status))]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: Self.requestDuration,
            labels: [("route", route)],
            buckets: Self.durationBuckets
        ).record(duration)
    }

    func recordGitHub(source: String, verdict: String) {
        registry.makeCounter(descriptor: Self.gitHubDeliveries, labels: [("source", source), ("verdict", verdict)])
            .increment()
    }

    /// The whole exposition: the registry's metrics, then the pipeline's.
    func render() -> [UInt8] {
        var text = registry.emitToBuffer()
        let statistics = pipeline.statistics
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Int)]) {
            text += Array("# HELP \(name) \(help)\n# TYPE \(name) \(type)\n".utf8)
            for sample in samples { text += Array("\(name)\(sample.labels) \(sample.value)\n".utf8) }
        }
        family(
            "sluice_pipeline_events_total",
            "counter",
            "Events by what the pipeline did with them.",
            [
                ("{outcome=\"accepted\"}", statistics.accepted),
                ("{outcome=\"backpressured\"}", statistics.backpressured),
                ("{outcome=\"invalid\"}", statistics.invalid), ("{outcome=\"journaled\"}", statistics.journaled),
                ("{outcome=\"matched\"}", statistics.matched),
            ]
        )
        family(
            "sluice_pipeline_deliveries_total",
            "counter",
            "Webhook deliveries by outcome (attempts_failed counts failed attempts, each retried or dead-lettered).",
            [
                ("{outcome=\"queued\"}", statistics.deliveriesQueued),
                ("{outcome=\"delivered\"}", statistics.delivered),
                ("{outcome=\"attempts_failed\"}", statistics.failedAttempts),
                ("{outcome=\"dead_lettered\"}", statistics.deadLettered),
                ("{outcome=\"recovered\"}", statistics.recoveredDeliveries),
            ]
        )
        family(
            "sluice_pipeline_outcomes_journaled_total",
            "counter",
            "Delivery outcome records written to the log.",
            [("", statistics.outcomesJournaled)]
        )
        family(
            "sluice_pipeline_ring_pending_events",
            "gauge",
            "Events accepted and not yet durable (in the ring ahead of the journaler).",
            [("", max(0, statistics.accepted - statistics.journaled))]
        )
        family(
            "sluice_pipeline_deliveries_pending",
            "gauge",
            "Deliveries matched and not yet final (queued, in flight, or waiting for a retry).",
            [("", statistics.pendingDeliveries)]
        )
        family(
            "sluice_pipeline_deliveries_in_flight",
            "gauge",
            "Requests sent, response not yet handled.",
            [("", statistics.inFlight)]
        )
        family(
            "sluice_pipeline_webhooks_disabled",
            "gauge",
            "Webhooks disabled by 410 Gone (or by hand).",
            [("", statistics.disabledEndpoints.count)]
        )
        if !statistics.disabledEndpoints.isEmpty {
            family(
                "sluice_pipeline_webhook_disabled",
                "gauge",
                "1 for each webhook disabled by 410 Gone, by name, until `sluice endpoints enable NAME`.",
                statistics.disabledEndpoints.map { ("{webhook=\"\(Self.labelValue($0))\"}", 1) }
            )
        }
        family(
            "sluice_pipeline_failed",
            "gauge",
            "1 when the log failed and the pipeline stopped taking events.",
            [("", pipeline.failure == nil ? 0 : 1)]
        )
        Self.renderStages(pipeline.metrics, into: &text)
        return text
    }

    /// The ``PipelineMetrics`` families: stage and fsync latency histograms, ring, queue and log figures,
    /// and per webhook the deliveries by outcome, failed attempts by class and the breaker state.
    static func renderStages(_ metrics: PipelineMetrics, into text: inout [UInt8]) {
        func header(_ name: String, _ type: String, _ help: String) {
            text += Array("# HELP \(name) \(help)\n# TYPE \(name) \(type)\n".utf8)
        }
        func sample(_ name: String, _ labels: String, _ value: String) {
            text += Array((labels.isEmpty ? "\(name) \(value)\n" : "\(name){\(labels)} \(value)\n").utf8)
        }
        func histogram(_ name: String, _ labels: String, _ histogram: LatencyHistogram) {
            let prefix = labels.isEmpty ? "" : labels + ","
            var cumulative = 0
            for (index, bound) in LatencyHistogram.upperBoundsNanoseconds.enumerated() {
                cumulative += histogram.counts[index]
                sample(name + "_bucket", prefix + "le=\"\(seconds(bound))\"", String(cumulative))
            }
            cumulative += histogram.counts[LatencyHistogram.upperBoundsNanoseconds.count]
            sample(name + "_bucket", prefix + "le=\"+Inf\"", String(cumulative))
            sample(name + "_sum", labels, seconds(histogram.sumNanoseconds))
            sample(name + "_count", labels, String(cumulative))
        }
        header(
            "sluice_stage_latency_seconds",
            "histogram",
            "Latency of each leg of an event's way: emit_to_journaled and journaled_to_matched per event, "
                + "matched_to_sent and sent_to_final per final delivery (of its last attempt)."
        )
        for stage in PipelineMetrics.Stage.allCases {
            histogram(
                "sluice_stage_latency_seconds",
                "stage=\"\(stage.rawValue)\"",
                metrics.stageLatency[stage] ?? LatencyHistogram()
            )
        }
        header("sluice_log_fsync_duration_seconds", "histogram", "Each fdatasync of a log segment.")
        histogram("sluice_log_fsync_duration_seconds", "", metrics.syncLatency)
        header("sluice_log_written_bytes_total", "counter", "Bytes written to log segment files since start.")
        sample("sluice_log_written_bytes_total", "", String(metrics.logWrittenBytes))
        header("sluice_log_segments_started_total", "counter", "Log segments started (rolled to) since start.")
        sample("sluice_log_segments_started_total", "", String(metrics.logSegmentsStarted))
        if let segments = metrics.logSegmentCount {
            header("sluice_log_segments", "gauge", "Segment files in the log directory.")
            sample("sluice_log_segments", "", String(segments))
        }
        header("sluice_ring_occupied_slots", "gauge", "Event ring slots in use (accepted, not yet matched).")
        sample("sluice_ring_occupied_slots", "", String(metrics.ringOccupied))
        header("sluice_ring_capacity_slots", "gauge", "Event ring slots in all (pipeline.ring_capacity).")
        sample("sluice_ring_capacity_slots", "", String(metrics.ringCapacity))
        header(
            "sluice_delivery_jobs_queued",
            "gauge",
            "Deliveries the matcher queued for the delivery loops, not yet taken."
        )
        sample("sluice_delivery_jobs_queued", "", String(metrics.deliveryJobsQueued))
        header("sluice_outcomes_queued", "gauge", "Delivery outcome records waiting for the journaler.")
        sample("sluice_outcomes_queued", "", String(metrics.outcomesQueued))
        guard !metrics.webhooks.isEmpty else { return }
        header(
            "sluice_webhook_deliveries_total",
            "counter",
            "Per webhook: final deliveries (delivered, dead_lettered) and failed attempts that were retried (retried)."
        )
        for webhook in metrics.webhooks {
            let name = "webhook=\"\(labelValue(webhook.name))\""
            sample("sluice_webhook_deliveries_total", name + ",outcome=\"delivered\"", String(webhook.delivered))
            sample("sluice_webhook_deliveries_total", name + ",outcome=\"retried\"", String(webhook.retried))
            sample(
                "sluice_webhook_deliveries_total",
                name + ",outcome=\"dead_lettered\"",
                String(webhook.deadLettered)
            )
        }
        header(
            "sluice_webhook_failed_attempts_total",
            "counter",
            "Per webhook: failed attempts by failure class (FORMAT.md failure_class)."
        )
        for webhook in metrics.webhooks {
            for failureClass in DeliveryFailureClass.allCases {
                sample(
                    "sluice_webhook_failed_attempts_total",
                    "webhook=\"\(labelValue(webhook.name))\",failure_class=\"\(failureClass.rawValue)\"",
                    String(webhook.failures[failureClass] ?? 0)
                )
            }
        }
        header(
            "sluice_webhook_breaker_state",
            "gauge",
            "Per webhook: 1 for the state its circuit breaker was in at its last attempt (closed, open, half_open)."
        )
        for webhook in metrics.webhooks {
            for (kind, label) in [
                (CircuitBreaker.State.Kind.closed, "closed"), (.open, "open"), (.halfOpen, "half_open"),
            ] {
                sample(
                    "sluice_webhook_breaker_state",
                    "webhook=\"\(labelValue(webhook.name))\",state=\"\(label)\"",
                    webhook.breaker == kind ? "1" : "0"
                )
            }
        }
    }

    /// `nanoseconds` as seconds in the text format (`0.00005`, `2.5`, `60`).
    static func seconds(_ nanoseconds: UInt64) -> String {
        let whole = nanoseconds / 1_000_000_000
        var fraction = String(nanoseconds % 1_000_000_000)
        guard fraction != "0" else { return String(whole) }
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }
}

extension ServerMetrics {
    /// A label value in the text format: backslash, double quote and line feed escaped.
    static func labelValue(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

/// Counts every request by its route template (`/github/{source}`, not the raw path: the label set stays
/// small), method and status, with its latency; and logs it at `info` (`request` with `method`, `route`,
/// `status`, `duration_ms` — never a header, a query or a body, so no token or secret reaches the log).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    let logger: Logger

    private func finished(_ request: Request, _ context: Context, status: Int, duration: Duration) {
        let route = context.endpointPath ?? "unmatched"
        metrics.recordRequest(route: route, method: request.method.rawValue, status: status, duration: duration)
        let (seconds, attoseconds) = duration.components
        let milliseconds = Double(seconds) * 1_000 + Double(attoseconds) / 1e15
        logger.info(
            "request",
            metadata: [
                "method": "\(request.method.rawValue)", "route": "\(route)", "status": "\(status)",
                "duration_ms": "\((milliseconds * 1_000).rounded() / 1_000)",
            ]
        )
    }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let clock = ContinuousClock()
        let start = clock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            finished(request, context, status: status, duration: start.duration(to: clock.now))
            throw error
        }
        finished(request, context, status: response.status.code, duration: start.duration(to: clock.now))
        return response
    }
}
