import ArgumentParser
import SluiceTools

struct SinkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sink",
        abstract: "A loopback webhook receiver: verifies signatures, records deliveries, injects faults."
    )

    @Option(help: "Port on 127.0.0.1 (0 picks a free one; the chosen port is printed).")
    var port: UInt16 = 0
    @Option(help: "Verify Standard Webhooks signatures with this secret (whsec_… or base64).")
    var secret: String?
    @Option(help: "Verify Infrahub signatures with this shared key (raw UTF-8, spec §c.6).")
    var infrahubKey: String?
    @Option(help: "Append one JSON line per request to this file.")
    var record: String?
    @Option(help: "Serve HTTPS with this PEM certificate chain (needs --key).")
    var cert: String?
    @Option(help: "The PEM private key for --cert.")
    var key: String?
    @Option(help: "Fault rules: a JSON file ({\"status\": 204, \"faults\": [{\"rate\": 0.1, \"status\": 503}, …]}).")
    var faults: String?
    @Option(help: "Fault rules as JSON text (instead of --faults).")
    var faultsJSON: String?
    @Option(help: "Seed for the fault draws (a run is reproducible).")
    var seed: UInt64 = 1
    @Option(help: "Stop after this many seconds.")
    var duration: Double?
    @Option(help: "Stop after this many delivered (2xx, verified) requests.")
    var count: Int?

    func validate() throws {
        if (cert == nil) != (key == nil) { throw ValidationError("--cert and --key go together") }
        if secret != nil && infrahubKey != nil {
            throw ValidationError("--secret and --infrahub-key exclude each other")
        }
    }

    func run() throws {
        SinkRunner.blockStopSignals()
        var options = SinkOptions()
        options.port = port
        options.standardSecret = secret
        options.infrahubSharedKey = infrahubKey
        options.recordPath = record
        options.certificateFile = cert
        options.privateKeyFile = key
        options.faultsPath = faults
        options.faultsJSON = faultsJSON
        options.seed = seed
        let sink: Sink
        do {
            sink = try Sink(options: options, backendLine: printError)
        } catch {
            throw exitStatus(reporting: error, ExitStatus.invalidInput)
        }
        printUnbuffered("listening on \(cert == nil ? "http" : "https")://\(sink.address)")
        let reason = SinkRunner.wait(for: sink, durationSeconds: duration, deliveredCountMax: count) { statistics in
            printUnbuffered(statistics.summary)
        }
        do {
            try sink.shutdown()
        } catch {
            throw exitStatus(reporting: error, ExitStatus.ioFailure)
        }
        printUnbuffered("stopped (\(reason)): \(sink.statistics.summary)")
    }
}
