import Foundation
import SluiceTestSupport
import Testing

/// A full ring over HTTP: 429 with `Retry-After`, nothing of that request taken, later requests succeed,
/// and every event acknowledged is in the log (and no event of a refused request).
///
/// How the ring is filled: a ring of 2 slots and 8 clients posting 2-event batches at once. The matcher
/// frees a slot only once its event is durable (an `fdatasync` per batch), so while one batch waits for its
/// sync the next finds no room. (A stalled receiver does not fill the ring: per-endpoint isolation leaves
/// a slow webhook's backlog in the log and the matcher goes on — docs/delivery.md.)
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl"),
    .enabled(if: PythonVenv.python != nil, "python3 is not installed")
)
struct BackpressureTests {
    /// argv: port, clients, requests per client. Each request is a 2-event JSON Lines batch with ids of its
    /// own; prints every reply's status, Retry-After, error code, accepted count and ids.
    static let script = """
        import http.client, json, sys, threading
        port, clients, per = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
        replies = []
        lock = threading.Lock()
        def event(n):
            return ('{"event":"test.created","occurred":"2025-01-01T00:00:00Z","id":"bf569ddc-2a30-4491-82f1-%012d",'
                    '"resource":{"prefect.resource.id":"node-%d"}}' % (n, n))
        def client(c):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for r in range(per):
                n = (c * per + r) * 2 + 1
                ids = ["bf569ddc-2a30-4491-82f1-%012d" % k for k in (n, n + 1)]
                conn.request("POST", "/api/events", body=event(n) + "\\n" + event(n + 1),
                             headers={"Content-Type": "application/x-ndjson"})
                resp = conn.getresponse()
                body = json.loads(resp.read())
                with lock:
                    replies.append({"status": resp.status, "retry_after": resp.getheader("Retry-After"),
                                    "code": body.get("error", {}).get("code"), "accepted": body.get("accepted"),
                                    "ids": ids})
        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(json.dumps(replies))
        """

    @Test(.timeLimit(.minutes(3)))
    func aFullRingIsA429WithRetryAfterAndNothingOfItIsTaken() throws {
        let server = try ServeProcess(configuration: "pipeline:\n  ring_capacity: 2\nserver:\n  retry_after_s: 3\n")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(PythonVenv.python))
        process.arguments = ["-c", Self.script, String(server.port), "8", "40"]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try #require(process.reapedStatus() == 0, "the clients failed: \(errorText)")
        let replies = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        #expect(replies.count == 8 * 40)
        let refused = replies.filter { $0["status"] as? Int == 429 }
        let taken = replies.filter { $0["status"] as? Int == 200 }
        #expect(
            refused.count + taken.count == replies.count,
            "only 200 and 429: \(Set(replies.map { $0["status"] as? Int }))"
        )
        #expect(!refused.isEmpty, "8 clients on a ring of 2 must meet a full ring")
        #expect(!taken.isEmpty)
        for reply in refused {
            #expect(reply["retry_after"] as? String == "3")
            #expect(reply["code"] as? String == "backpressure")
        }
        for reply in taken { #expect(reply["accepted"] as? Int == 2, "all or nothing: \(reply)") }
        // The ring has room again: a later request is taken.
        let later = try server.request(
            "POST",
            "/api/events",
            headers: EventIngestTests.json,
            body: Array(EventIngestTests.event(999_999).utf8)
        )
        #expect(later.status == 200, "\(later.text)")
        #expect(server.stop() == 0)
        let logged = try EventIngestTests.loggedIDs(server.logDirectory.path)
        #expect(logged.count == Set(logged).count, "each event once")
        let acknowledged = Set(taken.flatMap { $0["ids"] as? [String] ?? [] })
        let refusedIDs = Set(refused.flatMap { $0["ids"] as? [String] ?? [] })
        #expect(Set(logged) == acknowledged.union(["bf569ddc-2a30-4491-82f1-000000999999"]))
        #expect(refusedIDs.isDisjoint(with: Set(logged)), "nothing of a 429 reached the log")
    }
}
