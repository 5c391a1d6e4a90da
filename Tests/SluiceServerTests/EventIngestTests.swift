import Foundation
import Sluice
import SluiceTestSupport
import Testing

/// `POST /api/events` against a real `sluice serve` on 127.0.0.1, driven with curl: durable per-line
/// replies, line-precise errors, 413/415, idempotency across a `kill -9`, and every acknowledged event in
/// the log after a crash.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl")
)
struct EventIngestTests {
    static func event(_ number: Int, id: String? = nil) -> String {
        let id = id ?? String(format: "bf569ddc-2a30-4491-82f1-%012d", number)
        return
            #"{"event":"test.created","occurred":"2025-01-01T00:00:00Z","id":"\#(id)","resource":{"prefect.resource.id":"node-\#(number)"}}"#
    }

    static let json = ["Content-Type": "application/json"]
    static let lines = ["Content-Type": "application/x-ndjson"]

    /// The parsed JSON reply.
    static func object(_ reply: HTTPReply) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any], "\(reply.text)")
    }

    static func results(_ reply: HTTPReply) throws -> [[String: Any]] {
        try #require(try object(reply)["results"] as? [[String: Any]], "\(reply.text)")
    }

    /// The ids of the event records in the log (after the server stopped).
    static func loggedIDs(_ directory: String) throws -> [String] {
        var ids: [String] = []
        var decoder = EventDecoder()
        _ = try LogFiles.forEachRecord(directory: directory) { record in
            guard record.type == .event, let event = try? decoder.decode(record.body) else { return }
            ids.append(event.header.id.description)
        }
        return ids
    }

    @Test(.timeLimit(.minutes(2)))
    func oneEventIsAnsweredWhenDurableWithItsSequence() throws {
        let server = try ServeProcess(configuration: "default_branch: main\n")
        let reply = try server.request("POST", "/api/events", headers: Self.json, body: Array(Self.event(1).utf8))
        #expect(reply.status == 200, "\(reply.text)")
        let object = try Self.object(reply)
        #expect(object["accepted"] as? Int == 1)
        #expect(object["durable"] as? Bool == true)
        let result = try #require(try Self.results(reply).first)
        #expect(result["status"] as? String == "accepted")
        #expect(result["line"] as? Int == 1)
        #expect(result["sequence"] as? Int != nil, "a durable reply carries the log sequence: \(reply.text)")
        #expect(server.stop() == 0)
        #expect(try Self.loggedIDs(server.logDirectory.path) == ["bf569ddc-2a30-4491-82f1-000000000001"])
    }

    @Test(.timeLimit(.minutes(2)))
    func malformedLinesGetLinePreciseErrorsAndTheOthersAreTaken() throws {
        let server = try ServeProcess(configuration: "default_branch: main\n")
        let line1 = Self.event(1)
        let line2 =
            #"{"event":"test.created","occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-000000000002"}"#
        let line3 = #"{"event":"test.created",,"id":"x"}"#
        let body = [line1, line2, line3, Self.event(4)].joined(separator: "\n") + "\n"
        let reply = try server.request("POST", "/api/events", headers: Self.lines, body: Array(body.utf8))
        #expect(reply.status == 400, "some lines are invalid: \(reply.text)")
        let object = try Self.object(reply)
        #expect(object["accepted"] as? Int == 2)
        #expect(object["invalid"] as? Int == 2)
        let results = try Self.results(reply)
        #expect(results.map { $0["line"] as? Int } == [1, 2, 3, 4])
        #expect(results.map { $0["status"] as? String } == ["accepted", "invalid", "invalid", "accepted"])
        let missing = try #require(results[1]["error"] as? [String: Any])
        #expect(missing["line"] as? Int == 2)
        #expect(missing["code"] as? String == "missing_field")
        #expect(missing["field"] as? String == "resource", "\(missing)")
        let line2Start = line1.utf8.count + 1
        #expect(
            (missing["byte_offset"] as? Int).map { $0 >= line2Start && $0 <= line2Start + line2.utf8.count } == true
        )
        let syntax = try #require(results[2]["error"] as? [String: Any])
        #expect(syntax["line"] as? Int == 3)
        #expect(syntax["code"] as? String == "invalid_json")
        // The second comma, counted from the start of the body.
        let line3Start = line2Start + line2.utf8.count + 1
        #expect(syntax["byte_offset"] as? Int == line3Start + 24, "\(syntax)")
        #expect(server.stop() == 0)
        #expect(try Self.loggedIDs(server.logDirectory.path).count == 2)
    }

    @Test(.timeLimit(.minutes(2)))
    func wrongContentTypeOversizeAndBadParametersAreRefused() throws {
        let server = try ServeProcess(configuration: "server:\n  body_bytes_max: 1024\n")
        let event = Array(Self.event(1).utf8)
        let plain = try server.request("POST", "/api/events", headers: ["Content-Type": "text/plain"], body: event)
        #expect(plain.status == 415)
        #expect(plain.text.contains("unsupported_media_type"))
        let big = Array(String(repeating: Self.event(2) + "\n", count: 20).utf8)
        let tooLarge = try server.request("POST", "/api/events", headers: Self.lines, body: big)
        #expect(tooLarge.status == 413, "\(tooLarge.text)")
        #expect(tooLarge.text.contains("body_too_large"))
        let wait = try server.request("POST", "/api/events?wait=later", headers: Self.json, body: event)
        #expect(wait.status == 400)
        #expect(wait.text.contains("wait must be durable or accepted"))
        #expect(server.stop() == 0)
        #expect(try Self.loggedIDs(server.logDirectory.path).isEmpty, "nothing refused reached the log")
    }

    @Test(.timeLimit(.minutes(2)))
    func waitAcceptedAnswersBeforeDurability() throws {
        let server = try ServeProcess(configuration: "default_branch: main\n")
        let reply = try server.request(
            "POST",
            "/api/events?wait=accepted",
            headers: Self.json,
            body: Array(Self.event(7).utf8)
        )
        #expect(reply.status == 200, "\(reply.text)")
        #expect(try Self.object(reply)["durable"] as? Bool == false)
        #expect(try Self.results(reply).first?["sequence"] == nil)
        #expect(server.stop() == 0)
        #expect(try Self.loggedIDs(server.logDirectory.path).count == 1, "a clean stop journals accepted events")
    }

    @Test(.timeLimit(.minutes(2)))
    func aBatchLargerThanTheRingIsRefusedWhole() throws {
        let server = try ServeProcess(configuration: "pipeline:\n  ring_capacity: 4\n")
        let body = (1...5).map { Self.event($0) }.joined(separator: "\n")
        let reply = try server.request("POST", "/api/events", headers: Self.lines, body: Array(body.utf8))
        #expect(reply.status == 413, "\(reply.text)")
        #expect(reply.text.contains("batch_exceeds_ring"))
        #expect(server.stop() == 0)
        #expect(try Self.loggedIDs(server.logDirectory.path).isEmpty)
    }

    @Test(.timeLimit(.minutes(3)))
    func duplicatesAreAnsweredAsSuchAlsoAfterKill9() throws {
        let logDirectory = TemporaryDirectory()
        var server = try ServeProcess(configuration: "default_branch: main\n", logDirectory: logDirectory)
        let body = [Self.event(1), Self.event(2), Self.event(1)].joined(separator: "\n")
        let first = try server.request("POST", "/api/events", headers: Self.lines, body: Array(body.utf8))
        #expect(first.status == 200, "\(first.text)")
        #expect(try Self.results(first).map { $0["status"] as? String } == ["accepted", "accepted", "duplicate"])
        let again = try server.request("POST", "/api/events", headers: Self.json, body: Array(Self.event(2).utf8))
        #expect(try Self.results(again).first?["status"] as? String == "duplicate")
        #expect(server.stop(signal: SIGKILL) == SIGKILL)

        server = try ServeProcess(configuration: "default_branch: main\n", logDirectory: logDirectory)
        let afterRestart = try server.request(
            "POST",
            "/api/events",
            headers: Self.lines,
            body: Array((Self.event(1) + "\n" + Self.event(3)).utf8)
        )
        #expect(try Self.results(afterRestart).map { $0["status"] as? String } == ["duplicate", "accepted"])
        #expect(server.stop() == 0)
        #expect(
            try Self.loggedIDs(logDirectory.path).sorted()
                == (1...3).map { String(format: "bf569ddc-2a30-4491-82f1-%012d", $0) }
        )
    }

    @Test(.timeLimit(.minutes(3)))
    func everyAcknowledgedEventSurvivesKill9() throws {
        let logDirectory = TemporaryDirectory()
        var server = try ServeProcess(
            configuration: "log:\n  directory: \(logDirectory.path)\n  fsync: always\n",
            logDirectory: logDirectory
        )
        var acknowledged: Set<String> = []
        for batch in 0..<20 {
            let body = (0..<25).map { Self.event(batch * 25 + $0 + 1) }.joined(separator: "\n")
            let reply = try server.request("POST", "/api/events", headers: Self.lines, body: Array(body.utf8))
            #expect(reply.status == 200)
            for result in try Self.results(reply) where result["status"] as? String == "accepted" {
                acknowledged.insert(result["id"] as? String ?? "")
            }
        }
        #expect(acknowledged.count == 500)
        #expect(server.stop(signal: SIGKILL) == SIGKILL)
        // The restart recovers the log (a torn tail would be truncated); every acknowledged event is there.
        server = try ServeProcess(
            configuration: "log:\n  directory: \(logDirectory.path)\n",
            logDirectory: logDirectory
        )
        #expect(server.stop() == 0)
        #expect(acknowledged.isSubset(of: Set(try Self.loggedIDs(logDirectory.path))))
    }
}
