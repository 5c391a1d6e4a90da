import Dispatch
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
public import Logging
import NIOSSL
public import Prometheus
import ServiceLifecycle
public import Sluice
import Synchronization
public import UnixSignals

/// `sluice serve`: the ``Pipeline`` and its HTTP surfaces in one process (ARCHITECTURE.md §2, issue 17).
///
/// ``run(signals:onStarted:onListening:)`` recovers and starts the pipeline, then serves HTTP until one of
/// `signals` (or cancellation) asks it to stop. Stopping drains in order: the HTTP server stops accepting
/// and finishes the requests in flight (each already holds its reply, or waits for durability), then the
/// pipeline drains its ring, waits up to `drain_timeout_ms` for deliveries in flight, journals their
/// outcomes and writes its checkpoint.
///
/// Routes: `GET /healthz` (the process answers), `GET /readyz` (the pipeline runs and takes events; 503
/// while starting, draining or after a log failure).
///
/// Thread-safe: the state is an atomic and the pipeline's own API.
public final class SluiceServer: Sendable {
    public let pipeline: Pipeline
    public let configuration: ServerConfiguration
    let logger: Logger
    let ingest: EventIngest
    let tokenCheck: TokenCheck
    let gitHub: GitHubReceiver
    let metrics: ServerMetrics
    let management: ManagementAPI
    /// Journal the configuration document as a replayable record right after the start (`--config-from-file`).
    let journalsConfigurationAtStart: Bool
    let graphQL: GraphQLEndpoint
    /// Bounds the log scans of the delivery queries running at once.
    let queryGate = DeliveryQueryGate()
    let phase = Atomic<Int>(Phase.starting.rawValue)
    /// Set by the first ``stopPipeline()``.
    let pipelineStopping = Atomic<Bool>(false)

    enum Phase: Int {
        case starting, ready, draining, stopped
    }

    /// A server for `pipeline` (not started yet: ``run(signals:onStarted:onListening:)`` starts it).
    /// - Parameters:
    ///   - registry: where `/metrics` counts requests and GitHub deliveries (a fresh one by default;
    ///   the daemon passes the one it bootstraps swift-metrics with).
    ///   - configurationDocument: the webhooks and triggers `pipeline` runs, as the JSON the configuration file
    ///     has them (`{"default_branch","webhooks","triggers"}`), for the management API; `nil` makes its routes
    ///     answer 409 until `PUT /api/configuration` sets the whole.
    ///   - journalsConfigurationAtStart: journal `configurationDocument` as a replayable configuration record
    ///     once the pipeline started (so a later restart restores it rather than an older API change).
    ///   - environment: where webhooks' `environment` headers are resolved on a change.
    public init(
        pipeline: Pipeline,
        configuration: ServerConfiguration,
        logger: Logger = Logger(label: "sluice.serve"),
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        configurationDocument: JSONValue? = nil,
        journalsConfigurationAtStart: Bool = false,
        environment: [String: String] = WebhookFiles.processEnvironment()
    ) {
        self.pipeline = pipeline
        self.configuration = configuration
        self.logger = logger
        ingest = EventIngest(pipeline: pipeline, configuration: configuration)
        tokenCheck = TokenCheck(tokens: configuration.tokens)
        metrics = ServerMetrics(registry: registry, pipeline: pipeline)
        management = ManagementAPI(pipeline: pipeline, document: configurationDocument, environment: environment)
        self.journalsConfigurationAtStart = journalsConfigurationAtStart && configurationDocument != nil
        graphQL = GraphQLEndpoint(pipeline: pipeline, configuration: configuration.graphQL)
        gitHub = GitHubReceiver(
            sources: configuration.gitHubSources,
            ingest: ingest,
            metrics: metrics,
            requestTimeoutMilliseconds: configuration.requestTimeoutMilliseconds
        )
    }

    /// Why the server stopped other than by a signal.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Starts the pipeline (recovery runs off the concurrency pool), then listens and serves until a signal
    /// of `signals` arrives or the task is cancelled; then drains (see the type's documentation).
    /// - Parameters:
    ///   - signals: Signals that start a clean stop (`[.sigterm, .sigint]` for the daemon).
    ///   - onStarted: Called with what recovery found, before the server listens.
    ///   - onListening: Called with the address actually bound (port 0 resolved) once connections are taken.
    /// - Throws: the pipeline's start error, a bind error, or ``Failure`` when the log failed while serving
    ///   (the pipeline is stopped in every case).
    public func run(
        signals: [UnixSignal],
        onStarted: @escaping @Sendable (PipelineRecovery) -> Void = { _ in },
        onListening: @escaping @Sendable (ListenAddress) -> Void = { _ in }
    ) async throws {
        let pipeline = self.pipeline
        // The TLS files are read first: a bad certificate refuses the start before recovery runs.
        let tls = try configuration.tls.map { files throws(Failure) in try Self.tlsConfiguration(files) }
        let recovery = try await Self.blocking { try pipeline.start() }
        let ingest = self.ingest
        do {
            try await Self.blocking { try ingest.rebuildIndex(logEnd: recovery.log.nextSequence) }
            if journalsConfigurationAtStart { try await management.journalAtStart() }
        } catch {
            await stopPipeline()
            throw error
        }
        onStarted(recovery)
        let connections = ConnectionGuard(configuration: configuration)
        let http1 = HTTPServerBuilder.http1WebSocketUpgrade(
            idleTimeoutMilliseconds: configuration.idleTimeoutMilliseconds,
            webSocket: GraphQLEndpoint.webSocketConfiguration,
            connections: connections,
            shouldUpgrade: webSocketUpgrade
        )
        let server: HTTPServerBuilder
        do {
            server = try tls.map { try HTTPServerBuilder.tls(http1, tlsConfiguration: $0) } ?? http1
        } catch {
            await stopPipeline()
            throw Failure(description: "server.tls: \(error)")
        }
        let application = Application(
            router: makeRouter(),
            server: server,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.listen.host, port: configuration.listen.port),
                serverName: "sluice",
                availableConnectionsDelegate: MaximumAvailableConnections(connections.acceptedConnectionCountMax)
            ),
            onServerRunning: { channel in
                self.phase.store(Phase.ready.rawValue, ordering: .releasing)
                let port = channel.localAddress?.port ?? self.configuration.listen.port
                onListening(ListenAddress(host: self.configuration.listen.host, port: port))
            },
            logger: logger
        )
        let pipelineService = PipelineService(server: self)
        // Graceful shutdown runs in reverse order: the HTTP server first (no new requests, in-flight ones
        // finish), then the pipeline (drain, journal outcomes, checkpoint).
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: pipelineService), .init(service: application)],
                gracefulShutdownSignals: signals,
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            await stopPipeline()
            throw error
        }
        await stopPipeline()
        if let failure = pipeline.failure { throw Failure(description: "the pipeline failed: \(failure)") }
    }

    /// The server's TLS configuration from the PEM files of `server.tls`; an error names the key and the file.
    static func tlsConfiguration(_ files: ServerConfiguration.TLSFiles) throws(Failure) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificatePath)
        } catch {
            throw Failure(description: "server.tls.certificate: cannot read \(files.certificatePath): \(error)")
        }
        guard !chain.isEmpty else {
            throw Failure(description: "server.tls.certificate: \(files.certificatePath) holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: files.keyPath, format: .pem)
        } catch {
            throw Failure(description: "server.tls.key: cannot read \(files.keyPath): \(error)")
        }
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
    }

    /// Stops the pipeline once (the drain blocks, so it runs off the concurrency pool).
    func stopPipeline() async {
        phase.store(Phase.draining.rawValue, ordering: .releasing)
        guard !pipelineStopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let pipeline = self.pipeline
        let drainNanoseconds = UInt64(configuration.drainTimeoutMilliseconds) * 1_000_000  // ≤ 1 hour
        // `stop` does not throw; `blocking` only rethrows what its body throws.
        _ = try? await Self.blocking { pipeline.stop(drainTimeoutNanoseconds: drainNanoseconds) }
        phase.store(Phase.stopped.rawValue, ordering: .releasing)
    }

    /// Runs `body` on a thread of its own: blocking work (recovery, fsync waits, the drain) never holds a
    /// thread of the Swift concurrency pool.
    static func blocking<Value: Sendable>(
        _ body: @escaping @Sendable () throws -> Value
    ) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }
}

/// Keeps the pipeline's lifetime inside the service group: it watches for a log failure while serving (which
/// ends the group, so the process exits with an error) and marks the server as draining on shutdown.
struct PipelineService: Service {
    let server: SluiceServer

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            if let failure = server.pipeline.failure {
                throw SluiceServer.Failure(description: "the pipeline failed: \(failure)")
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        await server.stopPipeline()
    }
}
