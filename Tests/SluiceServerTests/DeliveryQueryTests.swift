import Foundation
import SluiceTestSupport
import Testing

@testable import SluiceServer

/// The read-only management routes over a running pipeline: a webhook whose endpoint refuses connections
/// dead-letters an event; `GET /api/deadletters` lists it and `GET /api/events/{id}/attempts` shows each
/// attempt, read from the log while the server runs.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl")
)
struct DeliveryQueryTests {
    /// An Infrahub event numbered `number` (its id ends with it): webhooks with `event_type: all` take it.
    static func infrahubEvent(_ number: Int) -> String {
        let id = String(format: "bf569ddc-2a30-4491-82f1-%012d", number)
        return
            #"{"event":"infrahub.node.updated","occurred":"2025-01-01T00:00:00Z","id":"\#(id)","resource":{"prefect.resource.id":"n-\#(number)"}}"#
    }

    @Test(.timeLimit(.minutes(2)))
    func deadLettersAndAttemptsAreReadWhileRunning() throws {
        // Port 9 (discard) on loopback: nothing listens there, so every attempt fails to connect.
        let server = try ServeProcess(
            configuration: """
                webhooks:
                  - {name: refused, url: "http://127.0.0.1:9/hook", shared_key: k, event_type: all,
                     branch_scope: all_branches, allowed_networks: ["127.0.0.0/8"]}
                pipeline:
                  retry_schedule_s: [0, 0]
                """
        )
        let id = "bf569ddc-2a30-4491-82f1-000000000001"
        let posted = try server.request(
            "POST",
            "/api/events",
            headers: EventIngestTests.json,
            body: Array(
                #"{"event":"infrahub.node.updated","occurred":"2025-01-01T00:00:00Z","id":"\#(id)","resource":{"prefect.resource.id":"n"}}"#
                    .utf8
            )
        )
        #expect(posted.status == 200)
        var deadLetters: [[String: Any]] = []
        for _ in 0..<200 where deadLetters.isEmpty {
            let reply = try server.request("GET", "/api/deadletters")
            #expect(reply.status == 200)
            let object = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
            deadLetters = object?["dead_letters"] as? [[String: Any]] ?? []
            if deadLetters.isEmpty { usleep(50_000) }
        }
        #expect(deadLetters.count == 1)
        #expect(deadLetters.first?["webhook"] as? String == "refused")
        #expect(deadLetters.first?["event_id"] as? String == id)
        #expect(deadLetters.first?["failure_class"] as? String == "CONNECTION")
        let attempts = try server.request("GET", "/api/events/\(id)/attempts")
        #expect(attempts.status == 200)
        let object = try JSONSerialization.jsonObject(with: Data(attempts.body)) as? [String: Any]
        #expect(object?["event_id"] as? String == id)
        let records = object?["attempts"] as? [[String: Any]] ?? []
        #expect(records.map { $0["outcome"] as? String } == ["retrying", "dead_letter"], "\(attempts.text)")
        #expect(try server.request("GET", "/api/events/not-a-uuid/attempts").status == 400)
        #expect(server.stop() == 0)
    }

    /// `GET /api/deadletters` pages: `limit` dead letters at most, then `next_after` to continue; every dead
    /// letter shows up exactly once across the pages; bad parameters are 400 with the range.
    @Test(.timeLimit(.minutes(2)))
    func deadLettersComeInPages() throws {
        let server = try ServeProcess(
            configuration: """
                webhooks:
                  - {name: refused, url: "http://127.0.0.1:9/hook", shared_key: k, event_type: all,
                     branch_scope: all_branches, allowed_networks: ["127.0.0.0/8"]}
                pipeline:
                  retry_schedule_s: [0, 0]
                  circuit_breaker: {request_count_min: 1000000}
                """
        )
        let body = (1...5).map { Self.infrahubEvent($0) }.joined(separator: "\n")
        let posted = try server.request("POST", "/api/events", headers: EventIngestTests.lines, body: Array(body.utf8))
        #expect(posted.status == 200, "\(posted.text)")
        func page(_ query: String) throws -> (ids: [String], next: Int?) {
            let reply = try server.request("GET", "/api/deadletters" + query)
            #expect(reply.status == 200, "\(reply.text)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any])
            let list = object["dead_letters"] as? [[String: Any]] ?? []
            return (list.compactMap { $0["event_id"] as? String }, object["next_after"] as? Int)
        }
        var all: (ids: [String], next: Int?) = ([], nil)
        for _ in 0..<200 {
            all = try page("?limit=1000")
            if all.ids.count == 5 { break }
            usleep(50_000)
        }
        #expect(all.ids.count == 5)
        #expect(all.next == nil, "no more after the last page")
        let first = try page("?limit=2")
        #expect(first.ids == Array(all.ids.prefix(2)))
        let after = try #require(first.next)
        let second = try page("?limit=2&after=\(after)")
        #expect(second.ids == Array(all.ids[2..<4]))
        let third = try page("?limit=2&after=\(try #require(second.next))")
        #expect(third.ids == [all.ids[4]])
        #expect(third.next == nil)
        for bad in ["?limit=0", "?limit=10001", "?limit=many", "?after=-1"] {
            let reply = try server.request("GET", "/api/deadletters" + bad)
            #expect(reply.status == 400, "\(bad): \(reply.text)")
            #expect(reply.text.contains("invalid_parameter"), "\(reply.text)")
        }
        #expect(try server.request("GET", "/api/deadletters?limit=0").text.contains("from 1 to 10000"))
        #expect(server.stop() == 0)
    }

    /// At most `queryCountMax` log scans at once: the next is refused (its route answers 503 with
    /// `Retry-After`) until one ends.
    @Test func theQueryGateBoundsTheScansRunningAtOnce() {
        let gate = DeliveryQueryGate()
        for _ in 0..<DeliveryQueryGate.queryCountMax { #expect(gate.enter()) }
        #expect(!gate.enter(), "one more than the bound is refused")
        gate.leave()
        #expect(gate.enter(), "a place is free again")
    }
}
