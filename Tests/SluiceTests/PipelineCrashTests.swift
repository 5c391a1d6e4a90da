import Foundation
import Sluice
import SluiceCrypto
import SluiceTestSupport
import SluiceTools
import Testing

/// The pipeline under `kill -9`: a child `sluice run` ingests events and reports what is durable; the
/// parent SIGKILLs it at random moments (`SLUICE_PIPELINE_CRASH_ROUNDS`, default 20), restarts it on the
/// same log, and at the end checks the record of a `sluice sink` (a separate process): every
/// acknowledged event that matches a webhook was delivered at least once, every duplicate carries the
/// same `webhook-id`, and nothing arrived that no trigger matched.
@Suite(.serialized) struct PipelineCrashTests {
    /// What each crash test runs with: a seed, a temporary directory and a `sluice sink` (key
    /// `crash-key`) recording to `recordPath`. `nil` when the `sluice` executable is not built (skipped).
    struct CrashRig {
        let seed: UInt64
        let temporary: TemporaryDirectory
        let recordPath: String
        let sink: SinkProcess

        static func start() throws -> CrashRig? {
            let temporary = TemporaryDirectory()
            // The sink: a real process on loopback that verifies signatures and records every request.
            let recordPath = temporary.path + "/sink.jsonl"
            guard let sink = try SinkProcess.start(key: "crash-key", record: recordPath) else { return nil }
            return CrashRig(seed: testSeed(), temporary: temporary, recordPath: recordPath, sink: sink)
        }

        func end() {
            if sink.process.isRunning { sink.process.terminate() }
            withExtendedLifetime(temporary) {}
        }
    }

    @Test(.timeLimit(.minutes(5)), .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"))
    func acknowledgedEventsAreDeliveredAtLeastOnceAcrossSIGKILL() throws {
        let rounds = ProcessInfo.processInfo.environment["SLUICE_PIPELINE_CRASH_ROUNDS"].flatMap(Int.init) ?? 20
        guard let rig = try CrashRig.start() else { return }
        defer { rig.end() }
        let (seed, temporary, recordPath, sink) = (rig.seed, rig.temporary, rig.recordPath, rig.sink.process)
        var random = SplitMix64(seed: seed)
        let port = rig.sink.port

        let configurationPath = temporary.path + "/config.yaml"
        let configuration = """
            default_branch: main
            webhooks:
              - {name: everything, url: "http://127.0.0.1:\(port)/everything", shared_key: crash-key,
                 event_type: all, branch_scope: all_branches}
              - {name: devices, url: "http://127.0.0.1:\(port)/devices", shared_key: crash-key,
                 event_type: infrahub.node.updated, branch_scope: all_branches, node_kind: "Infra*"}
            log: {directory: log, fsync: always}
            pipeline: {retry_schedule_s: [0, 0.05, 0.1, 0.2, 0.5, 1, 2, 5], \(loopbackAllowedNetworksYAML)}
            """
        try configuration.write(toFile: configurationPath, atomically: true, encoding: .utf8)

        var generator = FixtureGenerator(.init(eventCount: rounds * 80, seed: seed))
        var all: [[UInt8]] = []
        while let event = generator.next() { all.append(event) }
        var acknowledged: [[UInt8]] = []
        var offered: [[UInt8]] = []
        for round in 0..<rounds {
            let chunk = Array(all[(round * 80)..<((round + 1) * 80)])
            offered.append(contentsOf: chunk)
            let input = temporary.path + "/round-\(round).jsonl"
            try Data(chunk.map { $0 + [0x0A] }.joined()).write(to: URL(fileURLWithPath: input))
            let durable = try runAndKill(
                configuration: configurationPath,
                input: input,
                killAfterAcks: 1 + random.next(below: 4),
                random: &random
            )
            acknowledged.append(contentsOf: chunk.prefix(durable))
        }

        // A last run with no input: recovers and re-sends every delivery without a recorded 2xx.
        let final = try CommandLineTests.run([
            "run", "--config", configurationPath, "--exit-when-done", "--done-timeout", "60", "--status-interval", "0",
        ])
        #expect(final.status == 0, "seed \(seed): the last run settles: \(final.standardError)")
        sink.interrupt()
        _ = sink.reapedStatus()

        // What arrived, by webhook-id (each pair's id is derived from the event id and the webhook name).
        var arrivedIDs: [String: Int] = [:]  // webhook-id → 2xx arrivals
        var eventOfID: [String: String] = [:]  // webhook-id → the body's event id, as received
        var arrivalCount = 0
        var unverified = 0
        for line in try String(contentsOfFile: recordPath, encoding: .utf8).split(separator: "\n") {
            let record = try JSONValue.parse(Array(line.utf8))
            guard record["status"]?.int64Value.map({ (200..<300).contains($0) }) == true else { continue }
            if record["signature"]?.stringValue != "valid" { unverified += 1 }
            let webhookID = record["webhook_id"]?.stringValue ?? "?"
            arrivedIDs[webhookID, default: 0] += 1
            let eventID = record["event_id"]?.stringValue ?? "?"
            #expect(eventOfID[webhookID].map { $0 == eventID } ?? true, "seed \(seed): one webhook-id, one event")
            eventOfID[webhookID] = eventID
            arrivalCount += 1
        }
        #expect(unverified == 0, "seed \(seed): every delivery carried a valid signature")

        // What had to arrive (acknowledged and matched) and what may arrive (offered and matched).
        let webhooks = try WebhookConfiguration(
            json: try JSONValue.parse(
                Array(
                    #"{"webhooks":[{"name":"everything","url":"http://x/","shared_key":"k","event_type":"all","branch_scope":"all_branches"},{"name":"devices","url":"http://x/","shared_key":"k","event_type":"infrahub.node.updated","branch_scope":"all_branches","node_kind":"Infra*"}]}"#
                        .utf8
                )
            ),
            environment: [:]
        )
        var decoder = EventDecoder()
        func pairs(_ events: [[UInt8]]) throws -> [String: String] {
            var result: [String: String] = [:]  // key → expected webhook-id
            for bytes in events {
                let event = try decoder.decode(bytes)
                for webhook in webhooks.webhooks
                where ReferenceMatcher.matches(webhook.trigger(defaultBranch: "main"), event, symbols: decoder.symbols)
                {
                    result["\(webhook.name) \(event.header.id)"] = WebhookMessageID.make(
                        eventID: event.header.id,
                        webhookName: webhook.name
                    )
                }
            }
            return result
        }
        let required = try pairs(acknowledged)
        let allowed = try pairs(offered)
        let allowedIDs = Set(allowed.values)
        var pairOfID: [String: String] = [:]
        for (key, id) in allowed { pairOfID[id] = key }
        for (id, eventID) in eventOfID {
            #expect(
                pairOfID[id].map { $0.hasSuffix(" " + eventID) } ?? true,
                "seed \(seed): \(id) carried event \(eventID)"
            )
        }
        #expect(required.count > 0, "seed \(seed): some events were acknowledged")
        for (key, webhookID) in required {
            #expect(
                arrivedIDs[webhookID] != nil,
                "seed \(seed): acknowledged \(key) was delivered (webhook-id \(webhookID))"
            )
        }
        for id in arrivedIDs.keys {
            // Ids derive from (event id, webhook name): a redelivery under another id would not be in this set.
            #expect(allowedIDs.contains(id), "seed \(seed): webhook-id \(id) arrived but belongs to no matched pair")
        }
        let arrivals = arrivedIDs
        print(
            "pipeline crash test: \(rounds) rounds, \(acknowledged.count) of \(offered.count) events acknowledged, "
                + "\(required.count) required deliveries, \(arrivals.count) pairs arrived, "
                + "\(arrivalCount - arrivals.count) duplicates (seed \(seed))"
        )
    }

    /// Stateful triggers under `kill -9`: each node gets two updates (threshold 2 within 600 s per node);
    /// the child is killed at random moments and restarted on the same log, and what it did not
    /// acknowledge is offered again. Every node whose two events were acknowledged has its firing
    /// delivered, each firing under one `webhook-id`, and the log holds one firing per node.
    @Test(.timeLimit(.minutes(3)), .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"))
    func statefulFiringsOfAcknowledgedEventsSurviveSIGKILL() throws {
        let rounds = 8
        guard let rig = try CrashRig.start() else { return }
        defer { rig.end() }
        let (seed, temporary, recordPath, sink) = (rig.seed, rig.temporary, rig.recordPath, rig.sink.process)
        var random = SplitMix64(seed: seed)
        let configurationPath = temporary.path + "/config.yaml"
        try """
        webhooks:
          - {name: alerts, url: "http://127.0.0.1:\(rig.sink.port)/alerts", shared_key: crash-key, active: false}
        triggers:
          - name: twice
            trigger: {expect: [infrahub.node.updated], threshold: 2, within: 600, for_each: [infrahub.node.id]}
            actions: [{webhook: alerts}]
        log: {directory: log, fsync: always}
        pipeline: {retry_schedule_s: [0, 0.05, 0.1, 0.2, 0.5, 1, 2, 5], \(loopbackAllowedNetworksYAML)}
        """.write(toFile: configurationPath, atomically: true, encoding: .utf8)

        // Like a producer that retries: what a run did not acknowledge is offered again in the next one,
        // so a node's first event may be acknowledged by one run and its second by a later one.
        var nodeOfEvent: [String: String] = [:]  // event id → node
        var acknowledged: Set<String> = []
        var pending: [(id: String, bytes: [UInt8])] = []
        for round in 0..<rounds {
            var chunk = pending
            for node in 0..<50 {
                for _ in 0..<2 {
                    let id = random.nextEventID()
                    let name = "r\(round)n\(node)"
                    let resource = ResourceDraft(id: "infrahub.node.\(name)", [("infrahub.node.id", name)])
                    let draft = EventDraft(
                        name: "infrahub.node.updated",
                        id: id,
                        occurred: Timestamp.now(),
                        resource: resource
                    )
                    chunk.append((id.description, draft.encoded()))
                    nodeOfEvent[id.description] = name
                }
            }
            let input = temporary.path + "/round-\(round).jsonl"
            try Data(chunk.map { $0.bytes + [0x0A] }.joined()).write(to: URL(fileURLWithPath: input))
            let durable = try runAndKill(
                configuration: configurationPath,
                input: input,
                killAfterAcks: 1 + random.next(below: 2),
                random: &random
            )
            for entry in chunk.prefix(durable) { acknowledged.insert(entry.id) }
            pending = Array(chunk.dropFirst(durable))
        }
        let eventsOfNode = Dictionary(grouping: nodeOfEvent.keys) { nodeOfEvent[$0]! }
        let required = Set(eventsOfNode.filter { $0.value.allSatisfy(acknowledged.contains) }.keys)
        let final = try CommandLineTests.run([
            "run", "--config", configurationPath, "--exit-when-done", "--done-timeout", "60", "--status-interval", "0",
        ])
        #expect(final.status == 0, "seed \(seed): the last run settles: \(final.standardError)")
        sink.interrupt()
        _ = sink.reapedStatus()

        var webhookIDsOfEvent: [String: Set<String>] = [:]  // triggering event id → webhook-ids
        var unverified = 0
        for line in try String(contentsOfFile: recordPath, encoding: .utf8).split(separator: "\n") {
            let record = try JSONValue.parse(Array(line.utf8))
            guard record["status"]?.int64Value.map({ (200..<300).contains($0) }) == true else { continue }
            if record["signature"]?.stringValue != "valid" { unverified += 1 }
            webhookIDsOfEvent[record["event_id"]?.stringValue ?? "?", default: []].insert(
                record["webhook_id"]?.stringValue ?? "?"
            )
        }
        #expect(unverified == 0, "seed \(seed): every delivery carried a valid signature")
        #expect(!required.isEmpty, "seed \(seed): some nodes had both events acknowledged")
        let deliveredNodes = Set(webhookIDsOfEvent.keys.compactMap { nodeOfEvent[$0] })
        for node in required.subtracting(deliveredNodes).sorted() {
            Issue.record("seed \(seed): node \(node) had both events acknowledged, its firing was not delivered")
        }
        for (event, ids) in webhookIDsOfEvent {
            #expect(nodeOfEvent[event] != nil, "seed \(seed): \(event) is an event of a node")
            #expect(ids.count == 1, "seed \(seed): the firing at \(event) arrived under one webhook-id")
        }
        #expect(
            Dictionary(grouping: webhookIDsOfEvent.keys) { nodeOfEvent[$0] ?? "?" }.values.allSatisfy { $0.count == 1 },
            "seed \(seed): one firing per node delivered"
        )
        var firings: [String: Int] = [:]
        var decoder = EventDecoder()
        _ = try LogFiles.forEachRecord(directory: temporary.path + "/log") { record in
            guard record.type == .event, let event = try? decoder.decode(record.body),
                event.string(event.header.nameReference) == "sluice.trigger.fired",
                let data = try? JSONValue.parse(Array(event.bytes[event.header.payloadDataRange!])),
                let node = data[path: ["triggering_labels", "infrahub.node.id"]]?.stringValue
            else { return }
            firings[node, default: 0] += 1
        }
        #expect(firings.values.allSatisfy { $0 == 1 }, "seed \(seed): one firing per node in the log")
        print(
            "stateful crash test: \(rounds) rounds, \(acknowledged.count) of \(nodeOfEvent.count) events acknowledged, "
                + "\(required.count) nodes with both, \(webhookIDsOfEvent.count) firings delivered, "
                + "\(firings.count) in the log (seed \(seed))"
        )
    }
}
