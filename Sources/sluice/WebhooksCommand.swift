import ArgumentParser
import Sluice

struct Webhooks: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Webhook signing: sign a body, verify a signature, show the request a webhook sends.",
        subcommands: [Sign.self, Verify.self, Request.self]
    )

    struct KeyOptions: ParsableArguments {
        @Option(name: .customLong("secret"), help: "A signing key; repeat for rotation (one signature each).")
        var secrets: [String] = []

        @Option(help: "infrahub (the key's UTF-8 bytes, Infrahub's) or standard (whsec_ + base64).")
        var keyMode: String = "infrahub"

        func keys() throws -> [WebhookSigningKey] {
            guard let mode = WebhookSigningKey.Mode(rawValue: keyMode) else {
                throw ValidationError("--key-mode must be infrahub or standard")
            }
            guard !secrets.isEmpty else { throw ValidationError("at least one --secret is required") }
            do {
                return try secrets.map { secret throws(WebhookSigningKeyError) in
                    try WebhookSigningKey(mode: mode, secret: secret)
                }
            } catch {
                throw ValidationError("--secret: \(error)")
            }
        }
    }

    static func readBody(_ path: String) throws -> [UInt8] {
        do {
            return try readWholeFile(path: path == "-" ? "/dev/stdin" : path, byteCountMax: 1 << 30)
        } catch {
            throw exitStatus(reporting: error, ExitStatus.ioFailure)
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print webhook-id, webhook-timestamp and webhook-signature for a body (the exact bytes sent)."
        )
        @OptionGroup var keyOptions: KeyOptions
        @Option(help: "The webhook-id (msg_…).")
        var id: String
        @Option(help: "The webhook-timestamp, Unix seconds; default: now.")
        var timestamp: UInt64?
        @Argument(help: "The body file ('-' for standard input).")
        var file: String

        func run() throws {
            let keys = try keyOptions.keys()
            guard !id.isEmpty, !id.contains(".") else { throw ValidationError("--id must be non-empty without '.'") }
            let body = try Webhooks.readBody(file)
            let seconds = timestamp ?? UInt64(Timestamp.now().microsecondsSinceEpoch / 1_000_000)
            let header = HMACBatchSigner(keys: keys).signatureHeader(
                keyIndices: 0..<keys.count,
                webhookID: id,
                timestampSeconds: seconds,
                body: body
            )
            print("webhook-id: \(id)")
            print("webhook-timestamp: \(seconds)")
            print("webhook-signature: \(header)")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a webhook-signature over a body; exit 0 if valid, 1 if not (with the reason)."
        )
        @OptionGroup var keyOptions: KeyOptions
        @Flag(help: "Verify GitHub's X-Hub-Signature-256 (sha256=<hex>, key = the secret's UTF-8) instead.")
        var github = false
        @Option(help: "The webhook-id header (not with --github).")
        var id: String?
        @Option(help: "The webhook-timestamp header (not with --github).")
        var timestamp: String?
        @Option(help: "The webhook-signature header (space-separated v1,… entries), or X-Hub-Signature-256.")
        var signature: String
        @Option(help: "The time to check the timestamp against, Unix seconds; default: now.")
        var now: Int64?
        @Option(help: "Timestamp tolerance in seconds.")
        var toleranceSeconds: Int64 = WebhookVerifier.defaultToleranceSeconds

        func validate() throws {
            try checkRange(now, 0...253_402_300_799, "--now")  // to the end of year 9999
            try checkRange(toleranceSeconds, 0...31_536_000, "--tolerance-seconds")
        }
        @Argument(help: "The body file ('-' for standard input).")
        var file: String

        func run() throws {
            if github {
                guard keyOptions.secrets.count == 1, id == nil, timestamp == nil else {
                    throw ValidationError("--github takes one --secret and no --id or --timestamp")
                }
            }
            let keys = github ? [] : try keyOptions.keys()
            let body = try Webhooks.readBody(file)
            do {
                if github {
                    try GitHubSignatureVerifier(secret: keyOptions.secrets[0]).verify(
                        signature256: signature,
                        body: body
                    )
                } else {
                    try WebhookVerifier(
                        keys: keys,
                        toleranceSeconds: toleranceSeconds,
                        acceptsInfrahubASCIIEscapedBody: keys.contains { $0.mode == .infrahub }
                    ).verify(
                        webhookID: id,
                        timestamp: timestamp,
                        signature: signature,
                        body: body,
                        nowSeconds: now ?? Timestamp.now().microsecondsSinceEpoch / 1_000_000
                    )
                }
                print("valid")
            } catch {
                print("invalid: \(error)")
                throw ExitStatus.invalidInput
            }
        }
    }

    struct Request: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the request a configured webhook sends for an event (runs its transform if any)."
        )
        @Option(help: "The configuration, YAML or JSON (default_branch, webhooks, triggers).")
        var config: String
        @Option(help: "The webhook's name.")
        var webhook: String
        @Option(help: "The webhook-timestamp, Unix seconds; default: now.")
        var timestamp: UInt64?
        @Flag(
            help:
                "Print the whole URL and the signature, credential and environment-sourced header values instead of redacting them."
        )
        var showSecrets = false
        @Argument(help: "A file holding one event (Prefect JSON).")
        var event: String

        func run() throws {
            let request: WebhookRequest
            let definition: WebhookDefinition?
            do {
                let configuration = try WebhookFiles.loadConfiguration(
                    path: config,
                    environment: WebhookFiles.processEnvironment()
                )
                definition = configuration.webhook(named: webhook)
                request = try WebhookFiles.request(
                    configuration: configuration,
                    webhook: webhook,
                    eventPath: event,
                    timestampSeconds: timestamp ?? UInt64(Timestamp.now().microsecondsSinceEpoch / 1_000_000)
                )
            } catch {
                throw exitStatus(reporting: error)
            }
            print("POST \(showSecrets ? request.url : HTTPURL.redacted(request.url))")
            let headers = showSecrets ? request.headers : definition?.redactedHeaders(of: request) ?? []
            for header in headers { print("\(header.name): \(header.value)") }
            print("")
            print(String(decoding: request.body, as: UTF8.self))
        }
    }
}
