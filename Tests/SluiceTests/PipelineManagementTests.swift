import Sluice
import SluiceIO
import SluiceTestSupport
import SluiceTools
import Testing

/// `Pipeline.reconfigure(document:environment:)` and `ConfigurationRecords`: a change from a document is
/// validated like the file, durable when it returns, and replayable from the log; summaries are not.
@Suite(.serialized) struct PipelineManagementTests {
    @Test(.timeLimit(.minutes(2))) func aDocumentChangeIsValidatedDurableAndReplayable() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll"))
        let directory = temporary.path + "/log"
        #expect(try ConfigurationRecords.newest(directory: directory) == nil, "no log yet: nothing to restore")
        let configuration = try PipelineBehaviourTests.configuration(url: receiver.url("/first"), directory: directory)
        let pipeline = try Pipeline(configuration: configuration)
        let document: JSONValue = [
            "webhooks": [
                [
                    "name": "everything", "url": .string(receiver.url("/second")), "shared_key": "k2",
                    "event_type": "all", "branch_scope": "all_branches",
                ]
            ]
        ]
        #expect(throws: ManagementError.self) { try pipeline.reconfigure(document: document, environment: [:]) }
        try pipeline.start()
        do {
            try pipeline.reconfigure(document: ["webhooks": [["name": "x", "url": "ftp://x/"]]], environment: [:])
            Issue.record("an invalid document was taken")
        } catch {
            #expect(error.code == .invalid)
            #expect(error.field.hasPrefix("webhooks[0]"), "\(error)")
        }
        do {
            try pipeline.reconfigure(document: ["pipeline": ["ring_capacity": 8]], environment: [:])
            Issue.record("a pipeline section was taken")
        } catch {
            #expect(error.field == "pipeline")
        }
        #expect(try pipeline.reconfigure(document: document, environment: [:]) == 1)
        let events = PipelineBehaviourTests.events(20, seed: 9)
        _ = emitAll(events, into: pipeline)
        #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
        // An embedder's change without a document writes a version 1 summary: not replayable, so ignored.
        try pipeline.reconfigure(webhooks: configuration.webhooks, triggers: configuration.triggers)
        pipeline.stop()
        #expect(receiver.requests.map(\.path) == Array(repeating: "/second", count: 20))
        let newest = try #require(try ConfigurationRecords.newest(directory: directory))
        #expect(newest.record.generation == 1)
        #expect(newest.record.configuration == document)
        var restored = configuration
        try ConfigurationRecords.apply(newest.record, sequence: newest.sequence, to: &restored, environment: [:])
        #expect(restored.webhooks.webhooks.map(\.url) == [receiver.url("/second")])
        #expect(restored.configurationGeneration == 1)
    }
}
