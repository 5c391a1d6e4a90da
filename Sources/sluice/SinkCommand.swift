import ArgumentParser
import Sluice
import SluiceIO

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
    @Option(name: .customLong("status"), help: "Answer STATUS to PERCENT % of requests, e.g. 503:10 (repeatable).")
    var statusRates: [String] = []
    @Option(help: "Status of answers without a fault.")
    var successStatus: Int = 204
    @Option(help: "Delay answers by this many milliseconds …")
    var delayMs: Int = 0
    @Option(help: "… for this percentage of requests.")
    var delayRate: Double = 100
    @Option(help: "Reset the connection for this percentage of requests.")
    var resetRate: Double = 0
    @Option(help: "Answer 429 with Retry-After for this percentage of requests.")
    var tooManyRate: Double = 0
    @Option(help: "The Retry-After seconds of injected 429s.")
    var retryAfter: Int = 1
    @Option(help: "Send the response body slowly (16-byte pieces, 50 ms apart) for this percentage.")
    var slowBodyRate: Double = 0
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
        let sink: Sink
        do {
            let backend = try IOBackendSelection.detect()
            printError(backend.description)
            var configuration = SinkConfiguration(
                backend: backend,
                address: SocketAddress(numericHost: "127.0.0.1", port: port)!  // a numeric literal host
            )
            configuration.certificateFile = cert
            configuration.privateKeyFile = key
            configuration.recordPath = record
            configuration.seed = seed
            if let secret { configuration.verifier = try WebhookVerifier(standardSecret: secret) }
            if let infrahubKey { configuration.verifier = try WebhookVerifier(infrahubSharedKey: infrahubKey) }
            var faults = SinkFaultPlan()
            faults.statusRates = try statusRates.map { text throws(IOError) in try SinkFaultPlan.parseStatusRate(text) }
            faults.successStatusCode = successStatus
            faults.delayNanoseconds = UInt64(max(0, delayMs)) * 1_000_000
            faults.delayPercent = delayMs > 0 ? delayRate : 0
            faults.resetPercent = resetRate
            faults.tooManyRequestsPercent = tooManyRate
            faults.retryAfterSeconds = retryAfter
            faults.slowBodyPercent = slowBodyRate
            configuration.faults = faults
            sink = try Sink(configuration: configuration)
        } catch {
            printError("error: \(error)")
            throw ExitStatus.invalidInput
        }
        printUnbuffered("listening on \(cert == nil ? "http" : "https")://\(sink.address)")
        let reason = SinkRunner.wait(for: sink, durationSeconds: duration, deliveredCountMax: count) { statistics in
            printUnbuffered(statistics.summary)
        }
        do {
            try sink.shutdown()
        } catch {
            printError("error: \(error)")
            throw ExitStatus.ioFailure
        }
        printUnbuffered("stopped (\(reason)): \(sink.statistics.summary)")
    }
}
