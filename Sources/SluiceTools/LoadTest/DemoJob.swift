import SluiceCore
import SluiceCrypto
import SluiceIO

/// The main job on the embedded default (`sluice demo`, `./scripts/run`): generate a fixture, start a
/// signature-verifying sink on loopback in this process, replay the fixture through the full pipeline
/// with a generated configuration (realistic triggers, some webhooks pointed at the sink), and report.
public enum DemoJob {
    public struct Options: Sendable {
        public var fixture = FixtureGenerator.Configuration(eventCount: 20_000, seed: 1)
        /// Triggers in the index (webhooks included).
        public var triggerCount = 1_000
        /// Webhooks delivering to the sink (the rest of the triggers match without delivering).
        public var webhookCount = 100
        /// Events per second; `nil` saturates.
        public var rate: Double?
        public var fsync: FsyncPolicy = .interval(milliseconds: 5)
        /// Where the fixture, the log and the reports go (`nil`: a new directory under /tmp).
        public var directory: String?

        public init() {}
    }

    public struct Outcome: Sendable {
        public var report: LoadTestReport
        /// The sink's own count, as a cross-check: requests received and signatures verified.
        public var sinkSummary: String
        public var sinkDelivered: Int
        public var sinkRejected: Int
        public var directory: String
    }

    /// Runs the demo; `step` gets a line per step, `progress` the live progress line.
    public static func run(_ options: Options, step: (String) -> Void, progress: (String) -> Void) throws -> Outcome {
        let directory = try options.directory ?? WorkDirectory.make(prefix: "sluice-demo")
        let fixturePath = directory + "/events.jsonl"
        let bytes = try FixtureFiles.generateEvents(options.fixture, path: fixturePath)
        step(
            "generated \(options.fixture.eventCount) events (\(bytes / 1_000_000) MB, seed \(options.fixture.seed)) → \(fixturePath)"
        )

        let sharedKey = "sluice-demo-secret"
        let backend = try IOBackendSelection.detect()
        var sinkConfiguration = SinkConfiguration(
            backend: backend,
            address: SocketAddress(numericHost: "127.0.0.1", port: 0)!  // a numeric literal host
        )
        sinkConfiguration.verifier = try WebhookVerifier(infrahubSharedKey: sharedKey)
        let sink = try Sink(configuration: sinkConfiguration)
        defer { try? sink.shutdown() }
        step("sink listening on http://\(sink.address), verifying signatures")

        let json = LoadTestSetup.configuration(
            fixture: options.fixture,
            entryCount: options.triggerCount,
            webhookCount: options.webhookCount,
            baseURL: "http://\(sink.address)",
            sharedKey: sharedKey
        )
        var configuration = PipelineConfiguration(
            log: LogConfiguration(directory: directory + "/log"),
            triggers: try TriggerConfiguration(json: json)
        )
        configuration.webhooks = try WebhookConfiguration(json: json, environment: [:])
        // The demo delivers to its own sink on loopback on purpose: allow exactly that address (the SSRF
        // guard refuses loopback otherwise).
        configuration.allowedNetworks = [IPNetwork(IPAddress(ipv4: 0x7F00_0001), prefixLength: 32)]
        configuration.log.fsync = options.fsync
        step(
            "pipeline: \(configuration.triggers.allTriggers.count) triggers, \(configuration.webhooks.webhooks.count) webhooks, log \(configuration.log.directory)"
        )
        var replay = Replayer.Options(fixturePath: fixturePath)
        replay.rate = options.rate
        let report = try Replayer.run(replay, configuration: configuration, progress: progress)
        let statistics = sink.statistics
        return Outcome(
            report: report,
            sinkSummary: statistics.summary,
            sinkDelivered: statistics.delivered,
            sinkRejected: statistics.rejected,
            directory: directory
        )
    }
}
