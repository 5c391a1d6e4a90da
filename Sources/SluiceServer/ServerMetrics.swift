import Hummingbird
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
        return text
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
/// small), method and status, with its latency.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

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
            metrics.recordRequest(
                route: context.endpointPath ?? "unmatched",
                method: request.method.rawValue,
                status: status,
                duration: start.duration(to: clock.now)
            )
            throw error
        }
        metrics.recordRequest(
            route: context.endpointPath ?? "unmatched",
            method: request.method.rawValue,
            status: response.status.code,
            duration: start.duration(to: clock.now)
        )
        return response
    }
}
