import ArgumentParser
import Dispatch
import Sluice
import SluiceServer
import Synchronization

/// `sluice serve`: the pipeline and its HTTP API as a daemon (docs/server.md).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the pipeline and its HTTP server (event ingest, health) until SIGTERM/SIGINT.",
        discussion: """
            Reads the configuration (webhooks, triggers, `log`, `pipeline` and `server` sections; YAML or JSON), \
            recovers the log, starts the pipeline and listens on server.listen (default 127.0.0.1:8686). Prints \
            'listening on HOST:PORT' on standard output once it takes connections. SIGTERM or SIGINT stop it \
            cleanly: no new connections, requests in flight finish, the pipeline drains; then it exits 0. \
            Reference: docs/server.md.
            """
    )

    @Option(help: "The configuration file (YAML or JSON).")
    var config: String
    @Option(help: "Listen on HOST:PORT (overrides server.listen; port 0 picks a free port).")
    var listen: String?
    @Option(help: "The log directory (overrides the configuration's log.directory).")
    var log: String?
    @Flag(help: "Listen on a non-loopback address although no server.tokens are configured (every route open).")
    var allowUnauthenticated = false
    @Flag(
        help: """
            Use the file's webhooks and triggers even when the log holds a configuration the management API             changed (by default the newest such change is restored, and the file's are used only when the log has none).
            """
    )
    var configFromFile = false

    func validate() throws {
        if let listen, ListenAddress(parsing: listen) == nil {
            throw ValidationError("--listen must be \(ListenAddress.syntax), not '\(listen)'")
        }
    }

    func run() throws {
        var options = SluiceServer.DaemonOptions(configurationPath: config)
        options.listen = listen.flatMap(ListenAddress.init(parsing:))
        options.logDirectory = log
        options.allowsUnauthenticated = allowUnauthenticated
        options.configurationFromFile = configFromFile
        let outcome = Mutex<(any Error)??>(.none)
        let done = DispatchSemaphore(value: 0)
        Task { [options] in
            do {
                try await SluiceServer.runDaemon(
                    options,
                    outputLine: printUnbuffered,
                    errorLine: printError
                )
                outcome.withLock { $0 = .some(nil) }
            } catch {
                outcome.withLock { $0 = .some(error) }
            }
            done.signal()
        }
        done.wait()
        guard let error = outcome.withLock({ $0 }) ?? nil else { return }
        printError("error: \(error)")
        switch error {
        case is SystemCallError, is SegmentLogError, is SluiceServer.Failure: throw ExitStatus.ioFailure
        default: throw ExitStatus.invalidInput
        }
    }
}
