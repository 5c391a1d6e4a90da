import Logging
import ServiceLifecycle
import Sluice
import UnixSignals

extension SluiceServer {
    /// What `sluice serve` was asked to do.
    public struct DaemonOptions: Sendable {
        public var configurationPath: String
        /// Overrides `server.listen`.
        public var listen: ListenAddress?
        /// Overrides `log.directory`.
        public var logDirectory: String?

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
        var serverConfiguration = try ServerConfiguration.load(path: options.configurationPath)
        if let listen = options.listen { serverConfiguration.listen = listen }
        let configuration = try PipelineConfiguration.load(
            path: options.configurationPath,
            environment: WebhookFiles.processEnvironment(),
            logDirectory: options.logDirectory
        )
        let pipeline = try Pipeline(configuration: configuration)
        pipeline.onLogDamage { incident in errorLine(incident.isDamage ? "log damage: \(incident)" : "\(incident)") }
        var logger = Logger(label: "sluice.serve")
        logger.logLevel = .notice
        let server = SluiceServer(pipeline: pipeline, configuration: serverConfiguration, logger: logger)
        try await server.run(
            signals: [.sigterm, .sigint],
            onStarted: { recovery in
                errorLine("I/O backend: \(recovery.ioBackend)")
                for incident in recovery.incidents { errorLine("recovered: \(incident)") }
                errorLine(PipelineFiles.describe(recovery, directory: configuration.log.directory))
            },
            onListening: { address in outputLine("listening on \(address)") }
        )
        errorLine("stopped: \(pipeline.statistics.journaled) events journaled")
    }
}
