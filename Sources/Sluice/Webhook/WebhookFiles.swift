#if canImport(Glibc)
internal import Glibc
#endif

/// File-level webhook plumbing for the CLI: configurations with the process environment, and the
/// request a webhook would send for an event file.
public enum WebhookFiles {
    /// The process environment (for environment-sourced header values).
    public static func processEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        var entry = unsafe environ
        while let pointer = unsafe entry.pointee {
            let text = unsafe String(cString: pointer)
            if let equals = text.firstIndex(of: "=") {
                environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            unsafe entry += 1
        }
        return environment
    }

    /// Reads the webhooks of a configuration file (YAML or JSON, as every `--config`), resolving
    /// environment-sourced headers from `environment`. Errors name the file, line and field.
    public static func loadConfiguration(path: String, environment: [String: String]) throws -> WebhookConfiguration {
        try ConfigurationFile.loadWebhooks(path: path, environment: environment)
    }

    /// The request webhook `name` of `configuration` sends for the event in `eventPath`, at
    /// `timestampSeconds`: its body (running the transform for the transform kind) and signed headers.
    public static func request(
        configuration: WebhookConfiguration,
        webhook name: String,
        eventPath: String,
        timestampSeconds: UInt64
    ) throws -> WebhookRequest {
        guard let webhookIndex = configuration.webhooks.firstIndex(where: { $0.name == name }) else {
            throw TriggerDefinitionError(path: "webhooks", message: "no webhook named '\(name)'")
        }
        var decoder = EventDecoder()
        let event = try decoder.decode(
            try readWholeFile(path: eventPath, byteCountMax: EventLimits().eventByteCountMax)
        )
        let body = try WebhookBodies.body(for: configuration.webhooks[webhookIndex], event: event).get()
        return WebhookRequestSigner(definitions: configuration.webhooks).request(
            webhookIndex: webhookIndex,
            body: body,
            eventID: event.header.id,
            timestampSeconds: timestampSeconds
        )
    }
}
