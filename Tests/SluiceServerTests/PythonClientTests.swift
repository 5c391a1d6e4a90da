import Foundation
import SluiceTestSupport
import Testing

/// `POST /api/events` from Python's `httpx` (PyPI, installed by the test into `.build/python-venv-server`),
/// the client an Infrahub-style producer uses: one JSON event answered with its sequence once durable, a
/// JSON Lines batch with a malformed line answered line by line (the line, its byte offset, the code), 413
/// over the body limit, 415 for another content type — over one keep-alive connection. (The same with
/// curl: ``EventIngestTests``.)
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: PythonVenv.python != nil, "python3 is not installed")
)
struct PythonClientTests {
    static let script = """
        import json, sys, httpx
        base, events = sys.argv[1], json.loads(sys.argv[2])
        out = {}
        with httpx.Client(base_url=base, timeout=30) as client:
            r = client.post("/api/events", content=events[0], headers={"Content-Type": "application/json"})
            out["single"] = {"status": r.status_code, "body": r.json()}
            batch = "\\n".join([events[1], '{"event":"test.created",,"id":"x"}', events[2]]) + "\\n"
            r = client.post("/api/events", content=batch, headers={"Content-Type": "application/x-ndjson"})
            out["batch"] = {"status": r.status_code, "body": r.json(), "line1": len(events[1]) + 1}
            r = client.post("/api/events", content=events[3], headers={"Content-Type": "text/plain"})
            out["plain"] = {"status": r.status_code, "body": r.json()}
            big = "\\n".join([events[3]] * 20)
            r = client.post("/api/events", content=big, headers={"Content-Type": "application/x-ndjson"})
            out["big"] = {"status": r.status_code, "body": r.json()}
        print(json.dumps(out))
        """

    @Test(.timeLimit(.minutes(3)))
    func httpxIngestsAndGetsLinePreciseErrors() throws {
        let python = try PythonVenv.withPackage("httpx", requirement: "httpx==0.28.1")
        let server = try ServeProcess(configuration: "server:\n  body_bytes_max: 1024\n")
        let events = (1...4).map { EventIngestTests.event($0) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            "-c", Self.script, server.baseURL,
            String(decoding: try JSONSerialization.data(withJSONObject: events), as: UTF8.self),
        ]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try #require(process.reapedStatus() == 0, "the httpx client failed: \(errorText)")
        let replies = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])

        let single = try #require(replies["single"])
        #expect(single["status"] as? Int == 200, "\(single)")
        let singleResult = try #require(((single["body"] as? [String: Any])?["results"] as? [[String: Any]])?.first)
        #expect(singleResult["status"] as? String == "accepted")
        #expect(singleResult["sequence"] as? Int != nil, "durable: the reply carries the log sequence")

        let batch = try #require(replies["batch"])
        #expect(batch["status"] as? Int == 400, "one line is malformed: \(batch)")
        let results = try #require((batch["body"] as? [String: Any])?["results"] as? [[String: Any]])
        #expect(results.map { $0["status"] as? String } == ["accepted", "invalid", "accepted"])
        let error = try #require(results[1]["error"] as? [String: Any])
        #expect(error["line"] as? Int == 2)
        #expect(error["code"] as? String == "invalid_json")
        let line2Start = try #require(batch["line1"] as? Int)
        #expect(error["byte_offset"] as? Int == line2Start + 24, "the second comma, from the body's start: \(error)")

        let plain = try #require(replies["plain"])
        #expect(plain["status"] as? Int == 415)
        #expect(
            ((plain["body"] as? [String: Any])?["error"] as? [String: Any])?["code"] as? String
                == "unsupported_media_type"
        )
        let big = try #require(replies["big"])
        #expect(big["status"] as? Int == 413)
        #expect(((big["body"] as? [String: Any])?["error"] as? [String: Any])?["code"] as? String == "body_too_large")

        #expect(server.stop() == 0)
        #expect(try EventIngestTests.loggedIDs(server.logDirectory.path).count == 3, "1 single + 2 batch lines")
    }
}
