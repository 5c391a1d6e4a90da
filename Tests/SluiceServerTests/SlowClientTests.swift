import Foundation
import SluiceTestSupport
import Testing

/// Slow and idle clients cannot hold the server: a body that trickles in is answered 408 after
/// `request_timeout_ms`, a connection that sends nothing is closed after `idle_timeout_ms`, and the server
/// goes on serving. Driven by a raw socket client (Python's `socket`, loopback only).
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl"),
    .enabled(if: PythonVenv.python != nil, "python3 is not installed")
)
struct SlowClientTests {
    /// Connects to 127.0.0.1:PORT, sends argv[2] (may be empty), then reads until the server closes or
    /// 10 s pass; prints the seconds waited and the first line received.
    static let script = """
        import socket, sys, time, json
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        s.settimeout(10)
        if sys.argv[2]:
            s.sendall(sys.argv[2].encode())
        start = time.monotonic()
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        print(json.dumps({"seconds": time.monotonic() - start, "first": data.split(b"\\r\\n")[0].decode()}))
        """

    static func raw(port: Int, send: String) throws -> (seconds: Double, first: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(PythonVenv.python))
        process.arguments = ["-c", script, String(port), send]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        #expect(process.reapedStatus() == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return (object["seconds"] as? Double ?? -1, object["first"] as? String ?? "")
    }

    @Test(.timeLimit(.minutes(2)))
    func slowBodiesAndIdleConnectionsAreCutOff() throws {
        let server = try ServeProcess(configuration: "server:\n  request_timeout_ms: 400\n  idle_timeout_ms: 600\n")
        let slow = try Self.raw(
            port: server.port,
            send:
                "POST /api/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        #expect(slow.first == "HTTP/1.1 408 Request Timeout", "\(slow)")
        #expect(slow.seconds >= 0.35 && slow.seconds < 5, "\(slow)")
        let idle = try Self.raw(port: server.port, send: "")
        #expect(idle.first.isEmpty, "nothing is sent to a client that sent nothing: \(idle)")
        #expect(idle.seconds >= 0.5 && idle.seconds < 5, "closed after the idle timeout: \(idle)")
        let event = Array(EventIngestTests.event(1).utf8)
        #expect(try server.request("POST", "/api/events", headers: EventIngestTests.json, body: event).status == 200)
        #expect(server.stop() == 0)
        #expect(try EventIngestTests.loggedIDs(server.logDirectory.path).count == 1)
    }
}
