import ArgumentParser
import Sluice

/// `sluice emit`: sends events to a running pipeline, from a workflow (docs/workflows.md "Child events").
struct Emit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send events (JSON, one per line) to a running pipeline: from a workflow, or to a server.",
        discussion: """
            Each line is an event in Prefect's shape; a missing id (a random UUID), occurred (now) or payload \
            ({}) is filled in. --child-of-env makes each a child of the event the running workflow was fired by \
            (read from SLUICE_EVENT_*): infrahub.event at level + 1, infrahub.child_event naming the parent, \
            infrahub.ancestor_event per ancestor, and the branch and account when missing. Destination: \
            --server (or SLUICE_SERVER_URL) posts to /api/events with --token (or SLUICE_TOKEN); else the \
            workflow's SLUICE_EMIT_FD, whose events the pipeline emits when the command ends.
            """
    )

    @Argument(help: "A file of events (JSON Lines), or - for standard input.")
    var input: String = "-"
    @Flag(help: "Make each event a child of the workflow run's triggering event (from SLUICE_EVENT_*).")
    var childOfEnv = false
    @Option(help: "A server to POST to: http://HOST:PORT (default: SLUICE_SERVER_URL).")
    var server: String?
    @Option(help: "The bearer token for the server (default: SLUICE_TOKEN).")
    var token: String?

    func run() throws {
        let environment = WebhookFiles.processEnvironment()
        var parent: WorkflowEventContext?
        do {
            if childOfEnv { parent = try WorkflowEventContext(environment: environment) }
        } catch {
            throw exitStatus(reporting: error, ExitStatus.usage, context: "--child-of-env")
        }
        let destinationServer = server ?? environment["SLUICE_SERVER_URL"]
        let descriptor = environment["SLUICE_EMIT_FD"].flatMap(Int32.init)
        guard destinationServer != nil || descriptor != nil else {
            printError(
                "error: no destination: give --server http://HOST:PORT, or run inside a workflow (SLUICE_EMIT_FD)"
            )
            throw ExitStatus.usage
        }
        let bytes: [UInt8]
        do {
            bytes = try readInput(input)
        } catch {
            throw exitStatus(reporting: error, ExitStatus.ioFailure)
        }
        var random = SystemRandomNumberGenerator()
        var sent = 0
        for (number, line) in bytes.split(separator: 0x0A).enumerated() {
            guard line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { continue }
            do {
                let event = try EventEmitter.prepare(
                    Array(line),
                    parent: parent,
                    now: Timestamp.now(),
                    newID: EventID.random(high: random.next(), low: random.next())
                )
                if let destinationServer {
                    let reply = try EventEmitter.post(
                        event,
                        server: destinationServer,
                        token: token ?? environment["SLUICE_TOKEN"]
                    )
                    guard (200..<300).contains(reply.status) else {
                        throw EventEmitterError(message: "the server answered \(reply.status): \(reply.body)")
                    }
                } else if let descriptor {
                    try EventEmitter.writeLine(event, descriptor: descriptor)
                }
                sent += 1
            } catch {
                throw exitStatus(reporting: error, ExitStatus.invalidInput, context: "\(input) line \(number + 1)")
            }
        }
        printError("\(sent) events sent")
    }

    private func readInput(_ path: String) throws -> [UInt8] {
        if path == "-" { return try readWholeFile(path: "/dev/stdin", byteCountMax: 64 << 20) }
        return try readWholeFile(path: path, byteCountMax: 64 << 20)
    }
}
