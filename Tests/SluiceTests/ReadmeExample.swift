import Sluice

/// The README's embedding example ("Embedding"), compiled with the tests so that it cannot drift from the API;
/// `DocumentationLinkTests.readmeShowsTheCompiledExample` checks that the README shows exactly this body.
/// Never called: it needs a configuration file and receivers.
func readmeEmbeddingExample() throws {
    let configuration = try PipelineConfiguration.load(
        path: "sluice.yaml",
        environment: WebhookFiles.processEnvironment()
    )
    let pipeline = try Pipeline(configuration: configuration)
    pipeline.onDelivered { timing in print(timing.webhook) }  // per delivery: emit → durable → matched → sent → 2xx
    _ = try pipeline.start()  // recovers the log; re-sends what is not final

    // Any producer's bytes in Prefect's wire shape, or an Infrahub event built by Sluice:
    var decoder = EventDecoder()
    let meta = InfrahubEventMeta(
        id: .random(high: .random(in: .min ... .max), low: .random(in: .min ... .max)),
        occurred: .now(),
        branchName: "main"
    )
    var mutation = NodeMutation(
        kind: "InfraDevice",
        nodeID: "187b5f4e-0c44-4d61-a5b5-3c6f1a0e9a27",
        action: .updated,
        displayLabel: "atl1-edge1"
    )
    mutation.attributes = [AttributeChange(name: "description", value: "uplink", valuePrevious: "spare")]
    let event = try InfrahubEvents.nodeMutated(mutation, meta: meta).build(with: &decoder)

    switch pipeline.emit(event.bytes) {  // never blocks
    case .accepted: break  // acknowledged once durable (`acknowledgedCount`)
    case .backpressure: break  // the ring is full: nothing was taken, try again
    case .invalid(let error): print(error)  // what and where: byte offset, field, code
    case .stopped: break
    }
    _ = pipeline.flush(timeoutNanoseconds: 10_000_000_000)
    pipeline.stop()  // drains, journals outcomes, writes the checkpoint
}
