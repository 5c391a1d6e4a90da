import Foundation
import Sluice
import SluiceCrypto
import SluiceTestSupport
import Testing

/// The pipeline under `kill -9`: a child `sluice run` ingests events and reports what is durable; the
/// parent SIGKILLs it at random moments (`SLUICE_PIPELINE_CRASH_ROUNDS`, default 20), restarts it on the
/// same log, and at the end checks the record of a `sluice sink` (a separate process): every
/// acknowledged event that matches a webhook was delivered at least once, every duplicate carries the
/// same `webhook-id`, and nothing arrived that no trigger matched.
@Suite(.serialized) struct PipelineCrashTests {
    @Test(.timeLimit(.minutes(5))) func acknowledgedEventsAreDeliveredAtLeastOnceAcrossSIGKILL() throws {
        guard CommandLineTests.available else {
            print("skipping: \(CommandLineTests.executable) not built")
            return
        }
        let rounds = ProcessInfo.processInfo.environment["SLUICE_PIPELINE_CRASH_ROUNDS"].flatMap(Int.init) ?? 20
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }

        // The sink: a real process on loopback that verifies signatures and records every request.
        let recordPath = temporary.path + "/sink.jsonl"
        let sink = Process()
        sink.executableURL = URL(fileURLWithPath: CommandLineTests.executable)
        sink.arguments = [
            "sink", "--port", "0", "--infrahub-key", "crash-key", "--record", recordPath,
            "--faults-json", #"{"faults": [{"rate": 1.0, "delay_ms": 2}]}"#,
        ]
        let sinkOutput = Pipe()
        sink.standardOutput = sinkOutput
        let sinkErrors = Pipe()
        sink.standardError = sinkErrors
        try sink.run()
        defer { if sink.isRunning { sink.terminate() } }
        var port = ""
        var buffered = Data()
        while port.isEmpty {
            let chunk = sinkOutput.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            buffered.append(chunk)
            let text = String(decoding: buffered, as: UTF8.self)
            if let range = text.range(of: "http://127.0.0.1:") {
                port = String(text[range.upperBound...].prefix { $0.isNumber })
            }
        }
        if port.isEmpty {
            let errors = String(decoding: sinkErrors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            Issue.record("the sink did not start: \(errors)")
            return
        }

        let configurationPath = temporary.path + "/config.yaml"
        let configuration = """
            default_branch: main
            webhooks:
              - {name: everything, url: "http://127.0.0.1:\(port)/everything", shared_key: crash-key,
                 event_type: all, branch_scope: all_branches}
              - {name: devices, url: "http://127.0.0.1:\(port)/devices", shared_key: crash-key,
                 event_type: infrahub.node.updated, branch_scope: all_branches, node_kind: "Infra*"}
            log: {directory: log, fsync: always}
            pipeline: {retry_schedule_s: [0, 0.05, 0.1, 0.2, 0.5, 1, 2, 5]}
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
            let child = Process()
            child.executableURL = URL(fileURLWithPath: CommandLineTests.executable)
            child.arguments = [
                "run", "--config", configurationPath, "--input", input, "--report-acknowledged", "--exit-when-done",
                "--status-interval", "0",
            ]
            let output = Pipe()
            child.standardOutput = output
            child.standardError = FileHandle.nullDevice
            try child.run()
            let killAfterAcks = 1 + random.next(below: 4)
            var acks = 0
            var durable = 0
            var lines = Data()
            reading: while true {
                let data = output.fileHandleForReading.availableData
                if data.isEmpty { break }  // finished on its own
                lines.append(data)
                while let newline = lines.firstIndex(of: 0x0A) {
                    let line = String(decoding: lines[lines.startIndex..<newline], as: UTF8.self)
                    lines.removeSubrange(lines.startIndex...newline)
                    if line.hasPrefix("ack "), let count = Int(line.dropFirst(4)) {
                        durable = max(durable, count)
                        acks += 1
                        if acks >= killAfterAcks { break reading }
                    }
                }
            }
            usleep(UInt32(random.next(below: 30_000)))
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            acknowledged.append(contentsOf: chunk.prefix(durable))
        }

        // A last run with no input: recovers and re-sends every delivery without a recorded 2xx.
        let final = try CommandLineTests.run([
            "run", "--config", configurationPath, "--exit-when-done", "--done-timeout", "60", "--status-interval", "0",
        ])
        #expect(final.status == 0, "seed \(seed): the last run settles: \(final.standardError)")
        sink.interrupt()
        sink.waitUntilExit()

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
}
