import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Sluice
import UnixSignals

extension SluiceServer {
    /// `sluice serve` would not start as configured (e.g. a public address without tokens).
    public struct RefusedToStart: Error, CustomStringConvertible {
        public var description: String
    }

    /// What `sluice serve` was asked to do.
    public struct DaemonOptions: Sendable {
        public var configurationPath: String
        /// Overrides `server.listen`.
        public var listen: ListenAddress?
        /// Overrides `log.directory`.
        public var logDirectory: String?
        /// Serve a non-loopback address with no token configured (`--allow-unauthenticated`).
        public var allowsUnauthenticated = false
        /// Use the file's webhooks and triggers even when the log holds a replayable configuration record
        /// (`--config-from-file`); they are then journaled as the newest record.
        public var configurationFromFile = false

        public init(configurationPath: String) {
            self.configurationPath = configurationPath
        }
    }

    /// `sluice serve`: loads the configuration (pipeline and `server` sections), starts the pipeline and the
    /// HTTP server, and serves until SIGTERM or SIGINT, then drains. `outputLine` gets `listening on
    /// HOST:PORT` once connections are taken (the port resolved when 0 was asked); `errorLine` gets the
    /// recovery report and log damage.
    /// - Throws: ``SystemCallError`` when a file cannot be read, ``ConfigurationError`` for an invalid
    ///   configuration, ``PipelineConfigurationError``, a bind error, or ``Failure`` when the log failed.
    public static func runDaemon(
        _ options: DaemonOptions,
        outputLine: @escaping @Sendable (String) -> Void,
        errorLine: @escaping @Sendable (String) -> Void
    ) async throws {
        let environment = WebhookFiles.processEnvironment()
        var serverConfiguration = try ServerConfiguration.load(
            path: options.configurationPath,
            environment: environment
        )
        if let listen = options.listen { serverConfiguration.listen = listen }
        if !serverConfiguration.listen.isLoopback, serverConfiguration.tokens.isEmpty, !options.allowsUnauthenticated {
            throw RefusedToStart(
                description:
                    "refusing to listen on \(serverConfiguration.listen) with no token: anyone who can reach it could write events. Configure server.tokens, listen on a loopback address, or pass --allow-unauthenticated"
            )
        }
        var logger: Logger
        let level = Logger.Level(rawValue: serverConfiguration.logLevel) ?? .notice
        switch serverConfiguration.logFormat {
        case .text: logger = Logger(label: "sluice.serve")
        case .json:
            // Every library's logger of this process writes JSON lines too (one format on standard error),
            // at the configured level.
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            logger = Logger(label: "sluice.serve")
        }
        logger.logLevel = level
        // With JSON logs, the daemon's own report lines are log records too (one format on standard error).
        let jsonLogger = logger
        let report: @Sendable (String) -> Void
        if serverConfiguration.logFormat == .json {
            report = { line in jsonLogger.notice("\(line)") }
        } else {
            report = errorLine
        }
        var configuration = try PipelineConfiguration.load(
            path: options.configurationPath,
            environment: environment,
            logDirectory: options.logDirectory
        )
        let (document, journalsAtStart) = try restoreConfiguration(
            &configuration,
            options: options,
            environment: environment,
            report: report
        )
        let pipeline = try Pipeline(configuration: configuration)
        pipeline.onLogDamage { incident in report(incident.isDamage ? "log damage: \(incident)" : "\(incident)") }
        // The process's swift-metrics go to the registry /metrics shows (bootstrapped once per process).
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let server = SluiceServer(
            pipeline: pipeline,
            configuration: serverConfiguration,
            logger: logger,
            registry: registry,
            configurationDocument: document,
            journalsConfigurationAtStart: journalsAtStart,
            environment: environment
        )
        let directory = configuration.log.directory
        try await server.run(
            signals: [.sigterm, .sigint],
            onStarted: { recovery in
                report("I/O backend: \(recovery.ioBackend)")
                for incident in recovery.incidents { report("recovered: \(incident)") }
                report(PipelineFiles.describe(recovery, directory: directory))
            },
            onListening: { [logger] address in
                outputLine("listening on \(address)")
                logger.notice("listening", metadata: ["address": "\(address)"])
            }
        )
        report("stopped: \(pipeline.statistics.journaled) events journaled")
    }

    /// Which webhooks and triggers the daemon starts with (docs/server.md "Which configuration a restart uses"):
    /// the newest replayable configuration change record of the log — what the management API last
    /// acknowledged — unless the log has none or `--config-from-file` is given; then the file's. Returns the
    /// document the management API starts from, and whether to journal it at start (`--config-from-file` over
    /// a log that has a record).
    /// - Throws: ``SegmentLogError`` when the log cannot be read, ``ConfigurationRecordError`` for an unreadable
    ///   record, ``ManagementError`` when the record's configuration is no longer valid (e.g. a missing
    ///   environment variable).
    static func restoreConfiguration(
        _ configuration: inout PipelineConfiguration,
        options: DaemonOptions,
        environment: [String: String],
        report: (String) -> Void
    ) throws -> (document: JSONValue, journalsAtStart: Bool) {
        let file = ManagementDocument(file: try ConfigurationDocument.load(path: options.configurationPath).json)
        guard let newest = try ConfigurationRecords.newest(directory: configuration.log.directory) else {
            return (file.json, false)
        }
        let record = newest.record
        if options.configurationFromFile {
            report(
                "configuration: the file's webhooks and triggers (--config-from-file) replace generation \(record.generation) of the log (record \(newest.sequence))"
            )
            configuration.configurationGeneration = record.generation
            return (file.json, true)
        }
        try ConfigurationRecords.apply(record, sequence: newest.sequence, to: &configuration, environment: environment)
        let restored = ManagementDocument(json: record.configuration!)  // restored: replayable, so not nil
        report(
            "configuration: generation \(record.generation) restored from the log (record \(newest.sequence), \(record.at)); "
                + (restored == file
                    ? "the file's webhooks and triggers are the same"
                    : "the file's webhooks and triggers differ and are not used (--config-from-file uses them)")
        )
        return (restored.json, false)
    }
}
