import SluiceCore
import SluiceCrypto
import SluiceIO

/// One configuration compiled for the data plane: the trigger index, and for every trigger the webhooks
/// it delivers to, each with its endpoint, signer and shard. Immutable; the pipeline swaps it as a whole
/// on reconfiguration, and every job carries the routing it was matched with.
final class PipelineRouting: Sendable {
    let generation: Int
    let index: TriggerIndex
    let definitions: [WebhookDefinition]
    let origins: [HTTPOrigin]
    /// Per webhook: the request line, `Host` and static headers (spec §c.6 order up to the signature
    /// headers) encoded once; each request adds `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    let templates: [HTTPRequestTemplate]
    /// Per trigger (``TriggerIndex/triggers`` order): the webhook numbers of its webhook actions.
    let webhooksOfTrigger: [[Int]]
    /// Per webhook: the delivery shard that owns its endpoint.
    let shardOfWebhook: [Int]
    let signer: WebhookRequestSigner
    let defaultBranch: String
    /// Per trigger: it needs the ``TriggerStateMachine`` (enabled and not
    /// ``TriggerStateMachine/isStateless(_:)``); its hits never deliver per event.
    let isStatefulTrigger: [Bool]
    /// Some trigger is stateful: only then does the matcher do any stateful work per event.
    let hasStatefulTriggers: Bool
    /// Stateful triggers by name, to find the trigger a `sluice.trigger.fired` event comes from.
    let statefulTriggerOfName: [String: Int]
    /// The longest window of a stateful trigger (Proactive `within: 0` counts 10 s), in microseconds.
    let longestWindowMicroseconds: Int64
    /// The configured workflows (``WorkflowConfiguration``) and, per trigger, its compiled workflow actions.
    let workflows: [WorkflowDefinition]
    let workflowActionsOfTrigger: [[WorkflowAction]]
    /// Some enabled trigger has a workflow action: only then does the matcher look for workflow firings.
    let hasWorkflowActions: Bool
    let workflowDepthMax: Int
    /// Per webhook: its counters (by name, so they outlive this routing).
    let webhookCounters: [WebhookCounters]

    /// Compiles `configuration`; `symbols` must be the ingest decoder's table, used by no other thread
    /// during the call.
    init(
        configuration: PipelineConfiguration,
        symbols: SymbolTable,
        generation: Int,
        webhookCounters: WebhookCounterRegistry
    ) throws(PipelineConfigurationError) {
        self.generation = generation
        let triggers = configuration.triggers.allTriggers
        index = TriggerIndex.compile(triggers, symbols: symbols)
        definitions = configuration.webhooks.webhooks
        defaultBranch = configuration.triggers.defaultBranch
        var origins: [HTTPOrigin] = []
        var templates: [HTTPRequestTemplate] = []
        var numberOfName: [String: Int] = [:]
        for (position, definition) in definitions.enumerated() {
            let url: HTTPURL
            do {
                url = try HTTPURL(definition.url)
            } catch {
                throw PipelineConfigurationError(field: "webhooks[\(position)].url", message: error.description)
            }
            let placeholder =
                definition.signs
                ? WebhookSignatureHeaders(webhookID: "", timestampSeconds: 0, signature: "") : nil
            let staticHeaders = definition.request(body: [], signature: placeholder).headers
                .filter { !WebhookDefinition.signatureHeaderNames.contains($0.name) }
                .map { HTTPHeaderField($0.name, $0.value) }
            do {
                templates.append(
                    try HTTPRequestTemplate(
                        HTTPRequestHead(
                            method: .post,
                            target: url.target,
                            host: url.authority,
                            headerFields: staticHeaders
                        )
                    )
                )
            } catch {
                throw PipelineConfigurationError(field: "webhooks[\(position)].headers", message: "\(error)")
            }
            let tls =
                url.isTLS
                ? TLSClientOptions(validateCertificates: definition.validateCertificates, caFile: configuration.caFile)
                : nil
            let addressPolicy = AddressPolicy(allowedNetworks: configuration.allowedNetworks)
                .allowing(definition.allowedNetworks)
            origins.append(HTTPOrigin(host: url.host, port: url.port, tls: tls, addressPolicy: addressPolicy))
            numberOfName[definition.name] = position
        }
        self.origins = origins
        self.templates = templates
        webhooksOfTrigger = index.triggers.map { trigger in
            var numbers: [Int] = []
            for action in trigger.actions where action.kind == .webhook {
                if let number = numberOfName[action.reference], !numbers.contains(number) { numbers.append(number) }
            }
            return numbers
        }
        // Endpoints, not webhooks, are sharded: every webhook of one origin shares one keep-alive pool.
        var shardOfOrigin: [HTTPOrigin: Int] = [:]
        shardOfWebhook = origins.map { origin in
            if let shard = shardOfOrigin[origin] { return shard }
            let shard = shardOfOrigin.count % configuration.deliveryShardCount
            shardOfOrigin[origin] = shard
            return shard
        }
        signer = WebhookRequestSigner(definitions: definitions)
        self.webhookCounters = definitions.map { webhookCounters.counters(for: $0.name) }
        isStatefulTrigger = index.triggers.map { $0.enabled && !TriggerStateMachine.isStateless($0) }
        hasStatefulTriggers = isStatefulTrigger.contains(true)
        var statefulTriggerOfName: [String: Int] = [:]
        var longest: Double = 0
        for (number, trigger) in index.triggers.enumerated() where isStatefulTrigger[number] {
            statefulTriggerOfName[trigger.name] = number
            longest = max(
                longest,
                trigger.posture == .proactive ? max(trigger.withinSeconds, 10) : trigger.withinSeconds
            )
        }
        self.statefulTriggerOfName = statefulTriggerOfName
        longestWindowMicroseconds = Int64((longest * 1e6).rounded())
        let workflowConfiguration = configuration.triggers.workflows
        workflows = workflowConfiguration.workflows
        workflowDepthMax = workflowConfiguration.depthMax
        do {
            workflowActionsOfTrigger = try workflowConfiguration.compileActions(
                of: index.triggers,
                paths: index.triggers.map { "trigger '\($0.name)'" }
            )
        } catch {
            throw PipelineConfigurationError(field: error.path, message: error.message)
        }
        hasWorkflowActions = zip(index.triggers, workflowActionsOfTrigger).contains { $0.enabled && !$1.isEmpty }
    }
}
