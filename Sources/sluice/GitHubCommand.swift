import ArgumentParser
import Sluice

struct GitHub: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "github",
        abstract: "GitHub webhook deliveries.",
        subcommands: [Normalize.self]
    )

    struct Normalize: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn a GitHub delivery (headers + body file) into a Sluice event (Prefect JSON line).",
            discussion: "The event is named github.<event> or github.<event>.<action>; see docs/events.md."
        )

        @Option(help: "The X-GitHub-Event header, e.g. push or pull_request.")
        var event: String

        @Option(help: "The X-GitHub-Delivery header (the idempotency key; becomes the event id).")
        var delivery: String

        @Option(help: "The X-GitHub-Hook-ID header.")
        var hookID: String?

        @Option(help: "When the delivery was received (RFC 3339); default: now.")
        var receivedAt: String?

        @Argument(help: "The raw request body ('-' for standard input).")
        var file: String

        func run() throws {
            let receivedTimestamp: Timestamp
            if let receivedAt {
                guard let parsed = Timestamp.parse(receivedAt) else {
                    throw ValidationError("--received-at '\(receivedAt)' is not an RFC 3339 date-time")
                }
                receivedTimestamp = parsed
            } else {
                receivedTimestamp = Timestamp.now()
            }
            let body: [UInt8]
            do {
                body = try readWholeFile(
                    path: file == "-" ? "/dev/stdin" : file,
                    byteCountMax: GitHubNormalizer.bodyByteCountMax
                )
            } catch {
                throw exitStatus(reporting: error, ExitStatus.ioFailure)
            }
            let delivery = GitHubDelivery(
                event: event,
                deliveryID: delivery,
                hookID: hookID,
                body: body,
                receivedAt: receivedTimestamp
            )
            do {
                let draft = try GitHubNormalizer.draft(for: delivery)
                print(String(decoding: draft.encoded(), as: UTF8.self))
            } catch {
                throw exitStatus(reporting: error, ExitStatus.invalidInput, context: "\(file)")
            }
        }
    }
}
