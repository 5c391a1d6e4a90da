import Foundation
import SluiceCore
import SluiceIO
import SluiceStorage
import SluiceTestSupport
import Synchronization
import Testing

@testable import Sluice

/// Per-webhook checkpoints (`pipeline.webhooks`): a failing endpoint does not hold back the others and
/// the tracker stays bounded by the pending deliveries; restarts (after `stop` and after SIGKILL) re-send
/// exactly the carried pairs; the file round-trips and a damaged one falls back to `pipeline.checkpoint`;
/// a log with only the old `pipeline.checkpoint` starts as before.
@Suite(.serialized) struct PipelineCheckpointTests {
    /// `good` always answers 204; while `failing` is set, `bad` answers 503 and `gone` 422 (a dead letter
    /// at once in these tests).
    final class Endpoints: Sendable {
        final class Flag: Sendable {
            let value = Atomic<Bool>(true)
            func set(_ value: Bool) { self.value.store(value, ordering: .releasing) }
        }

        let failing = Flag()
        let receiver: RecordingReceiver

        init() throws {
            let failing = self.failing
            receiver = try RecordingReceiver(backend: try IOBackendSelection.detect(override: "epoll")) { request in
                guard failing.value.load(ordering: .relaxed) else { return 204 }
                return request.path == "/bad" ? 503 : request.path == "/gone" ? 422 : 204
            }
        }

        func requests(_ path: String) -> [RecordingReceiver.Received] { receiver.requests.filter { $0.path == path } }

        func webhookIDs(_ path: String) -> [String] {
            requests(path).map { request in request.headers.first { $0.name == "webhook-id" }?.value ?? "" }
        }
    }

    /// `good` and `bad`, and with `names` other webhooks (path `/name`) subscribed to every event too.
    static func configuration(
        _ endpoints: Endpoints,
        directory: String,
        names: [String] = ["good", "bad"]
    ) throws -> PipelineConfiguration {
        let webhooks = names.map { name in
            """
            {"name": "\(name)", "url": "\(endpoints.receiver.url("/" + name))", "shared_key": "k",
             "event_type": "all", "branch_scope": "all_branches"}
            """
        }
        let json = "{\"webhooks\": [" + webhooks.joined(separator: ",") + "]}"
        let value = try JSONValue.parse(Array(json.utf8))
        var configuration = PipelineConfiguration(
            log: LogConfiguration(directory: directory),
            triggers: try TriggerConfiguration(json: value)
        )
        configuration.webhooks = try WebhookConfiguration(json: value, environment: [:])
        configuration.ioBackend = "epoll"
        configuration.allowedNetworks = loopbackNetworks
        // One attempt now, the next in ten minutes: a failed delivery stays pending for the whole test.
        configuration.retryPolicy.delayNanoseconds = [0, 600_000_000_000]
        configuration.retryPolicy.jitterPercent = 0
        configuration.circuitBreaker.requestCountMin = 1_000_000
        return configuration
    }

    static func waitUntil(seconds: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(2_000)
        }
        return try condition()
    }

    static func readCheckpoints(_ directory: String) throws -> WebhookCheckpoints? {
        try CheckpointStore(directory: directory).readFile(named: "pipeline.webhooks").map {
            try WebhookCheckpoints(decoding: $0)
        }
    }

    /// Runs `events` with `bad` failing until every `bad` delivery is carried in the checkpoint file.
    /// Returns the pipeline (running) and the checkpoints read back.
    static func runUntilCarried(
        _ events: [[UInt8]],
        endpoints: Endpoints,
        configuration: PipelineConfiguration,
        carriedBefore: Int = 0
    ) throws -> Pipeline {
        let pipeline = try Pipeline(configuration: configuration)
        try pipeline.start()
        emitAll(events, into: pipeline)
        let expected = carriedBefore + events.count
        #expect(
            Self.waitUntil {
                endpoints.requests("/good").count == expected && endpoints.requests("/bad").count >= events.count
            }
        )
        #expect(
            try Self.waitUntil {
                try readCheckpoints(configuration.log.directory)?.webhooks.first { $0.name == "bad" }?.pending.count
                    == expected
            },
            "every failing delivery ends up carried in pipeline.webhooks"
        )
        return pipeline
    }

    // MARK: (a) a failing endpoint holds back nothing, and the tracker stays bounded

    @Test(.timeLimit(.minutes(2))) func failingEndpointDoesNotHoldBackTheOthersAndTheTrackerStaysBounded() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let endpoints = try Endpoints()
        let directory = temporary.path + "/log"
        let configuration = try Self.configuration(endpoints, directory: directory)
        let events = PipelineBehaviourTests.events(600, seed: 71)
        let pipeline = try Pipeline(configuration: configuration)
        try pipeline.start()
        var logEnd: UInt64 = 0
        for round in 0..<3 {
            let batch = Array(events[(round * 200)..<((round + 1) * 200)])
            emitAll(batch, into: pipeline)
            let delivered = (round + 1) * 200
            #expect(Self.waitUntil { endpoints.requests("/good").count == delivered })
            #expect(Self.waitUntil { endpoints.requests("/bad").count == delivered })
            // Everything the good endpoint got is final and every bad delivery has failed once: once a
            // snapshot has carried them, the queues are empty and only the pending pairs are held.
            #expect(
                Self.waitUntil {
                    let size = pipeline.core.tracker.size
                    return size.carried == delivered && size.queued == 0
                },
                "tracker after round \(round): \(pipeline.core.tracker.size)"
            )
            let size = pipeline.core.tracker.size
            #expect(size.pending == delivered, "each bad delivery still pending")
            #expect(size.queued == 0, "nothing queued: memory follows the pending deliveries, not the events since")

            // The file: both webhooks are checkpointed at the end of what was matched; bad carries its pairs.
            #expect(
                try Self.waitUntil {
                    try Self.readCheckpoints(directory)?.webhooks.first { $0.name == "bad" }?.pending.count == delivered
                }
            )
            let file = try #require(try Self.readCheckpoints(directory))
            let good = try #require(file.webhooks.first { $0.name == "good" })
            let bad = try #require(file.webhooks.first { $0.name == "bad" })
            #expect(good.pending.isEmpty)
            #expect(good.checkpoint == file.matchedEnd, "good is not held back by bad")
            #expect(bad.checkpoint == file.matchedEnd, "bad's own checkpoint moves past its pending pairs too")
            #expect(file.rematchFrom == file.matchedEnd)
            #expect(file.matchedEnd > logEnd)
            logEnd = file.matchedEnd
            #expect(bad.pending.allSatisfy { $0.attempt == 1 }, "one attempt made each")
            // The settled checkpoint (old format, kept for older readers and as the fallback) stays at the
            // oldest pending delivery.
            let settled = try CheckpointStore(directory: directory).read(name: "pipeline")
            #expect(settled == bad.pending.first?.eventSequence)
            #expect(file.settled == settled)
        }
        pipeline.stop(drainTimeoutNanoseconds: 100_000_000)
    }

    // MARK: (b) restarts re-send exactly the carried pairs

    @Test(.timeLimit(.minutes(2))) func restartAfterStopResendsExactlyTheCarriedPairs() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let endpoints = try Endpoints()
        let directory = temporary.path + "/log"
        let configuration = try Self.configuration(endpoints, directory: directory)
        let events = PipelineBehaviourTests.events(150, seed: 72)
        do {
            let first = try Self.runUntilCarried(events, endpoints: endpoints, configuration: configuration)
            first.stop(drainTimeoutNanoseconds: 100_000_000)
        }
        try Self.expectRestartResendsCarried(events.count, endpoints: endpoints, configuration: configuration)
    }

    /// Restarts on the log with `bad` healthy again: exactly the `count` carried pairs are sent, with the
    /// webhook-ids of their first attempts and attempt 2; nothing `good` already got is sent again; the log
    /// after the checkpoint is not re-matched.
    static func expectRestartResendsCarried(
        _ count: Int,
        endpoints: Endpoints,
        configuration: PipelineConfiguration
    ) throws {
        let goodBefore = endpoints.requests("/good").count
        let badIDs = endpoints.webhookIDs("/bad")
        #expect(Set(badIDs).count == count, "one failed attempt per pair so far")
        endpoints.failing.set(false)
        let outcomes = Mutex<[DeliveryOutcomeRecord]>([])
        let pipeline = try Pipeline(configuration: configuration)
        pipeline.onOutcome { record in outcomes.withLock { $0.append(record) } }
        let recovery = try pipeline.start()
        #expect(recovery.checkpointNote == nil)
        #expect(recovery.deliveriesCarried == count)
        #expect(recovery.deliveriesResumed == count)
        #expect(recovery.deliveriesDropped == 0)
        #expect(recovery.eventsRematched == 0, "the checkpoints are past every event")
        #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
        pipeline.stop()
        #expect(endpoints.requests("/good").count == goodBefore, "nothing already delivered is sent again")
        let resent = Array(endpoints.webhookIDs("/bad").dropFirst(badIDs.count))
        #expect(resent.count == count)
        #expect(Set(resent) == Set(badIDs), "the same webhook-id for each pair")
        let recorded = outcomes.withLock { $0 }
        #expect(recorded.count == count)
        #expect(recorded.allSatisfy { $0.webhook == "bad" && $0.attempt == 2 && $0.outcome == .delivered })
        let file = try #require(try readCheckpoints(configuration.log.directory))
        #expect(file.webhooks.allSatisfy { $0.pending.isEmpty && $0.checkpoint == file.matchedEnd })
        #expect(try CheckpointStore(directory: configuration.log.directory).read(name: "pipeline") == file.matchedEnd)
    }

    @Test(.timeLimit(.minutes(2)), .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"))
    func restartAfterSIGKILLResendsExactlyTheCarriedPairs() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let endpoints = try Endpoints()
        let configurationPath = temporary.path + "/config.yaml"
        try """
        webhooks:
          - {name: good, url: "\(endpoints.receiver.url("/good"))", shared_key: k, event_type: all, branch_scope: all_branches}
          - {name: bad, url: "\(endpoints.receiver.url("/bad"))", shared_key: k, event_type: all, branch_scope: all_branches}
        log: {directory: log, fsync: always}
        pipeline: {retry_schedule_s: [0, 600], retry_jitter_percent: 0, io: epoll,
                   circuit_breaker: {request_count_min: 1000000}, \(loopbackAllowedNetworksYAML)}
        """.write(toFile: configurationPath, atomically: true, encoding: .utf8)
        let events = PipelineBehaviourTests.events(120, seed: 73)
        let input = temporary.path + "/events.jsonl"
        try Data(events.map { $0 + [0x0A] }.joined()).write(to: URL(fileURLWithPath: input))
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLineTests.executable)
        child.arguments = ["run", "--config", configurationPath, "--input", input, "--status-interval", "0"]
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        defer { if child.isRunning { kill(child.processIdentifier, SIGKILL) } }
        let directory = temporary.path + "/log"
        #expect(
            try Self.waitUntil {
                guard FileManager.default.fileExists(atPath: directory + "/pipeline.webhooks") else { return false }
                return try Self.readCheckpoints(directory)?.webhooks.first { $0.name == "bad" }?.pending.count
                    == events.count
            },
            "the child carries every failing delivery"
        )
        #expect(endpoints.requests("/good").count == events.count)
        kill(child.processIdentifier, SIGKILL)
        _ = child.reapedStatus()
        let configuration = try PipelineConfiguration.load(path: configurationPath, environment: [:])
        try Self.expectRestartResendsCarried(events.count, endpoints: endpoints, configuration: configuration)
    }

    @Test(.timeLimit(.minutes(2))) func redriveBehindTheWebhookCheckpointsIsDeliveredAfterRestart() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let endpoints = try Endpoints()
        let directory = temporary.path + "/log"
        var configuration = try Self.configuration(endpoints, directory: directory, names: ["good", "bad", "gone"])
        configuration.retryPolicy.deadLetterStatusCodes.insert(422)
        let events = PipelineBehaviourTests.events(60, seed: 76)
        do {
            let first = try Self.runUntilCarried(events, endpoints: endpoints, configuration: configuration)
            #expect(Self.waitUntil { (try? DeadLetterFiles.list(directory: directory).count) == events.count })
            #expect(
                try Self.waitUntil {
                    try Self.readCheckpoints(directory)?.webhooks.first { $0.name == "gone" }?.checkpoint
                        == Self.readCheckpoints(directory)?.matchedEnd
                },
                "gone's dead letters are final: its checkpoint is past them"
            )
            first.stop(drainTimeoutNanoseconds: 100_000_000)
        }
        // The settled checkpoint is already at the oldest pending (bad) delivery, the earliest redriven
        // event: only the lowered per-webhook file makes the next start see the redrive.
        let settled = try CheckpointStore(directory: directory).read(name: "pipeline")
        let redriven = try DeadLetterFiles.redrive(directory: directory, webhook: "gone")
        #expect(redriven.count == events.count)
        #expect(redriven.map(\.record.eventSequence).min() == settled)
        let goodBefore = endpoints.requests("/good").count
        let goneBefore = endpoints.requests("/gone").count
        endpoints.failing.set(false)
        let pipeline = try Pipeline(configuration: configuration)
        let recovery = try pipeline.start()
        #expect(recovery.checkpointNote == nil)
        // Every checkpoint was lowered to the earliest redriven event (bad's oldest pending one too), so
        // bad's pairs are re-matched rather than carried.
        #expect(recovery.checkpoint == settled)
        #expect(recovery.deliveriesCarried == 0)
        #expect(recovery.deliveriesResumed == 2 * events.count, "bad's pending pairs and gone's redriven ones")
        #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
        pipeline.stop()
        #expect(endpoints.requests("/good").count == goodBefore)
        #expect(endpoints.requests("/gone").count == goneBefore + events.count)
        #expect(try DeadLetterFiles.list(directory: directory).isEmpty)
    }

    @Test(.timeLimit(.minutes(2))) func renamedWebhookDropsItsPendingPairsVisiblyAndStartsFromTheCheckpoint() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let endpoints = try Endpoints()
        let directory = temporary.path + "/log"
        let configuration = try Self.configuration(endpoints, directory: directory)
        let events = PipelineBehaviourTests.events(90, seed: 77)
        do {
            let first = try Self.runUntilCarried(
                Array(events[0..<60]),
                endpoints: endpoints,
                configuration: configuration
            )
            first.stop(drainTimeoutNanoseconds: 100_000_000)
        }
        // `bad` renamed `renamed` (a new path too): names are the identity, so bad's pending pairs are dropped
        // and counted, and `renamed` gets only events after the checkpoint.
        endpoints.failing.set(false)
        let renamed = try Self.configuration(endpoints, directory: directory, names: ["good", "renamed"])
        let pipeline = try Pipeline(configuration: renamed)
        let recovery = try pipeline.start()
        #expect(recovery.deliveriesDropped == 60)
        #expect(recovery.deliveriesResumed == 0)
        #expect(PipelineFiles.describe(recovery, directory: directory).contains("60 pending deliveries dropped"))
        emitAll(Array(events[60...]), into: pipeline)
        #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
        pipeline.stop()
        #expect(endpoints.requests("/renamed").count == 30, "only the events after the checkpoint")
        #expect(endpoints.requests("/good").count == 90)
        let file = try #require(try Self.readCheckpoints(directory))
        #expect(file.webhooks.map(\.name).sorted() == ["good", "renamed"], "the removed webhook is gone from the file")
    }

    // MARK: (c) the file format

    static let sample = WebhookCheckpoints(
        settled: 7,
        rematchFrom: 40,
        matchedEnd: 52,
        webhooks: [
            .init(name: "audit", checkpoint: 52, pending: []),
            .init(
                name: "ops-é",
                checkpoint: 40,
                pending: [.init(eventSequence: 7, attempt: 3), .init(eventSequence: 19, attempt: 1)]
            ),
        ]
    )

    @Test func formatRoundTripsAndDamageIsAnErrorWithItsOffset() throws {
        let bytes = Self.sample.encoded()
        #expect(bytes.count == 40 + (2 + 5 + 12) + (2 + 6 + 12 + 24) + 4)
        #expect(Array(bytes[0..<5]) == Array("SLWC".utf8) + [1])
        #expect(try WebhookCheckpoints(decoding: bytes) == Self.sample)
        #expect(
            try WebhookCheckpoints(
                decoding: WebhookCheckpoints(settled: 0, rematchFrom: 0, matchedEnd: 0, webhooks: []).encoded()
            ).webhooks.isEmpty
        )

        func failure(_ bytes: [UInt8]) -> FormatError? {
            do {
                _ = try WebhookCheckpoints(decoding: bytes)
                return nil
            } catch { return error }
        }
        // Torn: any shorter prefix is an error (never a partial result).
        for length in [0, 10, 43, bytes.count - 1] {
            #expect(failure(Array(bytes[0..<length]))?.code == .truncated, "prefix of \(length) bytes")
        }
        // A flipped bit anywhere: the checksum (or the size/magic checked before it).
        for position in stride(from: 0, to: bytes.count, by: 7) {
            var damaged = bytes
            damaged[position] ^= 0x10
            #expect(failure(damaged) != nil, "bit flip at \(position)")
        }
        var flipped = bytes
        flipped[50] ^= 1
        let mismatch = try #require(failure(flipped))
        #expect(mismatch.code == .payloadChecksumMismatch)
        #expect(mismatch.fileOffset == UInt64(bytes.count - 4))

        func resealed(_ edit: (inout [UInt8]) -> Void) -> [UInt8] {
            var edited = Array(bytes.dropLast(4))
            edit(&edited)
            edited.appendLittleEndianForTest(CRC32C.checksum(edited))
            return edited
        }
        #expect(failure(resealed { $0[4] = 2 })?.code == .unsupportedVersion)
        // A pending pair not below its webhook's checkpoint (valid checksum): invalid, at the pair's offset.
        let pairOffset = 40 + 19 + 2 + 6 + 12
        let invalid = try #require(failure(resealed { $0[pairOffset] = 45 }))
        #expect(invalid.code == .invalidField)
        #expect(invalid.fileOffset == UInt64(pairOffset))
    }

    @Test(.timeLimit(.minutes(2))) func damagedFileFallsBackToTheSettledCheckpointAndLosesNothing() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let endpoints = try Endpoints()
        let directory = temporary.path + "/log"
        let configuration = try Self.configuration(endpoints, directory: directory)
        let events = PipelineBehaviourTests.events(80, seed: 74)
        do {
            let first = try Self.runUntilCarried(events, endpoints: endpoints, configuration: configuration)
            first.stop(drainTimeoutNanoseconds: 100_000_000)
        }
        let path = directory + "/pipeline.webhooks"
        var bytes = try #require(try CheckpointStore(directory: directory).readFile(named: "pipeline.webhooks"))
        bytes[60] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let settled = try #require(try CheckpointStore(directory: directory).read(name: "pipeline"))

        let goodBefore = endpoints.requests("/good").count
        let badIDs = Set(endpoints.webhookIDs("/bad"))
        endpoints.failing.set(false)
        let pipeline = try Pipeline(configuration: configuration)
        let recovery = try pipeline.start()
        let note = try #require(recovery.checkpointNote, "a fallback is never silent")
        #expect(note.contains(path) && note.contains("file offset \(bytes.count - 4)"), "\(note)")
        #expect(recovery.checkpoint == settled, "re-matched from pipeline.checkpoint")
        #expect(recovery.eventsRematched == events.count)
        #expect(recovery.deliveriesResumed == events.count, "every pending pair is still found")
        #expect(recovery.deliveriesAlreadyFinal == events.count, "good's deliveries are final in the log")
        #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
        pipeline.stop()
        #expect(endpoints.requests("/good").count == goodBefore)
        let resent = endpoints.webhookIDs("/bad").dropFirst(badIDs.count)
        #expect(resent.count == events.count && Set(resent) == badIDs)
        #expect(try Self.readCheckpoints(directory) != nil, "the stop wrote a valid file again")
    }

    // MARK: (d) a log from before the per-webhook checkpoints

    @Test(.timeLimit(.minutes(2))) func oldFormatCheckpointStillStartsCorrectly() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let endpoints = try Endpoints()
        endpoints.failing.set(false)
        let directory = temporary.path + "/log"
        let configuration = try Self.configuration(endpoints, directory: directory)
        // What an older Sluice left: events in the log and only `pipeline.checkpoint` (20 bytes, format 1),
        // saying the first 30 events are settled.
        let events = PipelineBehaviourTests.events(50, seed: 75)
        do {
            let writer = try SegmentLogWriter(configuration: LogConfiguration(directory: directory), nowMicroseconds: 0)
            let records = events.map { LogRecord(type: .event, timestampMicroseconds: 0, body: $0) }
            #expect(try writer.append(records, nowMicroseconds: 0, nowMonotonicNanoseconds: 0) == 0..<50)
            try writer.sync()
        }
        try CheckpointStore(directory: directory).write(name: "pipeline", sequence: 30)
        let oldBytes = try #require(try CheckpointStore(directory: directory).readFile(named: "pipeline.checkpoint"))
        #expect(oldBytes.count == 20)

        let pipeline = try Pipeline(configuration: configuration)
        let recovery = try pipeline.start()
        #expect(recovery.checkpointNote == nil)
        #expect(recovery.checkpoint == 30)
        #expect(recovery.eventsRematched == 20)
        #expect(recovery.deliveriesResumed == 40)
        #expect(recovery.deliveriesCarried == 0)
        #expect(pipeline.flush(timeoutNanoseconds: 30_000_000_000))
        pipeline.stop()
        var decoder = EventDecoder()
        let expected = Set(try events[30...].map { try decoder.decode($0).header.id.description })
        for path in ["/good", "/bad"] {
            let ids = endpoints.requests(path).map { request in
                (try? JSONValue.parse(request.body))?["id"]?.stringValue ?? ""
            }
            #expect(ids.count == 20 && Set(ids) == expected, "\(path): exactly the events after the old checkpoint")
        }
        let file = try #require(try Self.readCheckpoints(directory), "the new file is written from then on")
        #expect(file.rematchFrom == 50 && file.settled == 50)
        #expect(try CheckpointStore(directory: directory).read(name: "pipeline") == 50)
    }
}

extension Array where Element == UInt8 {
    fileprivate mutating func appendLittleEndianForTest(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { append(UInt8(truncatingIfNeeded: value >> shift)) }
    }
}
