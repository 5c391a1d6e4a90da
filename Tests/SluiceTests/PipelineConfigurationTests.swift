import Foundation
import Sluice
import SluiceTestSupport
import Testing

/// `sluice run --config` files: every setting read, and bad ones refused with file, line and field.
@Suite struct PipelineConfigurationTests {
    func load(_ text: String) throws -> PipelineConfiguration {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let path = temporary.path + "/sluice.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try PipelineConfiguration.load(path: path, environment: [:])
    }

    @Test func readsEverySetting() throws {
        let configuration = try load(
            """
            webhooks:
              - {name: a, url: "http://127.0.0.1:9/x", shared_key: k}
            log: {directory: /tmp/elsewhere, fsync: "interval:5", compression: none, segment_bytes: 8388608}
            pipeline:
              ring_capacity: 1024
              job_queue_capacity: 512
              wait: yield
              delivery_shards: 2
              connections: 8
              in_flight_max: 100
              pending_deliveries_max: 1000
              request_timeout_ms: 2500
              retry_schedule_s: [0, 1.5, 10]
              retry_jitter_percent: 0
              io: epoll
              allowed_networks: ["10.20.0.0/16", "fd12::/16"]
            """
        )
        #expect(configuration.log.directory == "/tmp/elsewhere")
        #expect(configuration.log.fsync == .interval(milliseconds: 5))
        #expect(configuration.log.compression == .none)
        #expect(configuration.log.segmentByteCountMax == 8_388_608)
        #expect(configuration.ringCapacity == 1024 && configuration.jobQueueCapacity == 512)
        #expect(configuration.waitStrategy == .yield && configuration.deliveryShardCount == 2)
        #expect(configuration.connectionCountMax == 8 && configuration.inFlightMax == 100)
        #expect(configuration.pendingDeliveryCountMax == 1000)
        #expect(configuration.requestTimeoutNanoseconds == 2_500_000_000)
        #expect(configuration.retryPolicy.delayNanoseconds == [0, 1_500_000_000, 10_000_000_000])
        #expect(configuration.retryPolicy.jitterPercent == 0 && configuration.ioBackend == "epoll")
        #expect(configuration.webhooks.webhooks.map(\.name) == ["a"])
        #expect(configuration.allowedNetworks.map(\.description) == ["10.20.0.0/16", "fd12::/16"])
    }

    /// The SSRF guard's allow-lists: the pipeline's and each webhook's, CIDR blocks checked at load.
    @Test func allowedNetworksAreReadAndBadBlocksSayWhy() throws {
        let configuration = try load(
            """
            webhooks:
              - {name: a, url: "http://127.0.0.1:9/x", shared_key: k, allowed_networks: ["127.0.0.1/32"]}
              - {name: b, url: "http://127.0.0.1:9/y", shared_key: k}
            """
        )
        #expect(configuration.allowedNetworks.isEmpty, "the guard is on unless allowed")
        #expect(
            configuration.webhooks.webhooks.map { $0.allowedNetworks.map(\.description) } == [["127.0.0.1/32"], []]
        )
        do {
            _ = try load("pipeline:\n  allowed_networks:\n    - 127.0.0.0/8\n    - 10.0.0.1/8\n")
            Issue.record("accepted a block with host bits")
        } catch let error as ConfigurationError {
            #expect(error.message == "'10.0.0.1/8' has host bits set (the block is 10.0.0.0/8)", "\(error)")
        }
    }

    @Test(arguments: [
        ("pipeline: {ring_capacity: 1000}\n", "pipeline.ring_capacity", 1),
        ("log: {fsync: sometimes}\n", "log.fsync", 1),
        ("pipeline:\n  wait: spin\n  colour: blue\n", "pipeline.colour", 3),
        ("pipeline: {retry_schedule_s: []}\n", "pipeline.retry_schedule_s", 1),
        ("log: {frame_bytes: 1048576}\n", "log.frame_bytes", 1),
        ("pipeline: {transform_concurrency: 0}\n", "pipeline.transform_concurrency", 1),
        ("pipeline:\n  allowed_networks:\n    - 127.0.0.0/8\n    - 10.0.0.1/8\n", "pipeline.allowed_networks[1]", 4),
        ("pipeline:\n  wait: park\n  allowed_networks: 10.0.0.0/8\n", "pipeline.allowed_networks", 3),
        (
            "webhooks:\n  - {name: a, url: \"http://x/\", shared_key: k, allowed_networks: [\"fc00::1/7\"]}\n",
            "webhooks[0].allowed_networks[0]", 2
        ),
        ("webhooks:\n  - {name: a, url: \"ftp://x\", shared_key: k}\n", "webhooks[0].url", 2),
        (
            "triggers:\n  - {name: t, trigger: {expect: [infrahub.node.created]}, actions: [{webhook: nowhere}]}\n",
            "triggers[0].actions[0]", 2
        ),
    ])
    func badSettingsNameFileLineAndField(text: String, field: String, line: Int) {
        do {
            _ = try load(text)
            Issue.record("accepted: \(text)")
        } catch let error as ConfigurationError {
            #expect(error.field == field, "\(error)")
            #expect(error.line == line, "\(error)")
            #expect(error.file.hasSuffix("sluice.yaml"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    /// The internal limits are checked with the rest, and a bad one names itself and its range.
    @Test func pipelineLimitsAreValidatedAtStart() {
        var configuration = PipelineConfiguration(log: LogConfiguration(directory: "/tmp/x"))
        configuration.limits.checkpointIntervalNanoseconds = 0
        do {
            try configuration.validate()
            Issue.record("a zero checkpoint interval was accepted")
        } catch {
            #expect(error.field == "limits.checkpoint_interval_ns")
            #expect(error.message == "must be from 1000000 to 60000000000 ns, not 0")
        }
        #expect(throws: PipelineConfigurationError.self) { _ = try Pipeline(configuration: configuration) }
    }

    @Test func framesHoldTheLargestAcceptedEvent() {
        let configuration = PipelineConfiguration(log: LogConfiguration(directory: "/tmp/x"))
        #expect(configuration.log.frameByteCountMax >= configuration.eventLimits.eventByteCountMax + 16)
        #expect(throws: Never.self) { try configuration.validate() }
    }

    @Test func workDirectoriesAreMadeAndRemovedWholly() throws {
        let directory = try WorkDirectory.make(prefix: "sluice-test-work")
        try FileManager.default.createDirectory(atPath: directory + "/a/b", withIntermediateDirectories: true)
        try "x".write(toFile: directory + "/a/b/file", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: "/etc")
        try WorkDirectory.remove(directory)
        #expect(!FileManager.default.fileExists(atPath: directory))
        #expect(FileManager.default.fileExists(atPath: "/etc/hostname"), "links are not followed")
    }
}
