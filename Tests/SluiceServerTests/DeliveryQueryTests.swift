import Foundation
import SluiceTestSupport
import Testing

/// The read-only management routes over a running pipeline: a webhook whose endpoint refuses connections
/// dead-letters an event; `GET /api/deadletters` lists it and `GET /api/events/{id}/attempts` shows each
/// attempt, read from the log while the server runs.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl")
)
struct DeliveryQueryTests {
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
}
