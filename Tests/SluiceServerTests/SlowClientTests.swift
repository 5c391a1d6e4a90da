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

    /// Runs a Python `script` (argv[1] is the port) and returns what it printed as JSON.
    static func python(_ script: String, port: Int) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(PythonVenv.python))
        process.arguments = ["-c", script, String(port)]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try #require(process.reapedStatus() == 0, "the client script failed: \(errorText)")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// A client that trickles the bytes of a request head, one every 200 ms, is closed once `idle_timeout_ms`
    /// passed without a complete head: it cannot hold a connection. (Hummingbird's idle timer counts HTTP
    /// parts, not bytes, so this holds without code of ours: the test keeps it so.)
    @Test(.timeLimit(.minutes(2)))
    func aTrickledHeadIsCutOffAtTheHeadTimeout() throws {
        let server = try ServeProcess(configuration: "server:\n  idle_timeout_ms: 800\n")
        let result = try Self.python(
            """
            import socket, sys, time, json
            s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            start = time.monotonic()
            head = b"POST /api/events HTTP/1.1\\r\\nHost: t\\r\\nX-Slow: " + b"a" * 100
            closed = None
            for byte in head:
                try:
                    s.send(bytes([byte]))
                except OSError:
                    closed = time.monotonic() - start
                    break
                s.settimeout(0.2)
                try:
                    if s.recv(1) == b"":
                        closed = time.monotonic() - start
                        break
                except socket.timeout:
                    pass
                except OSError:
                    closed = time.monotonic() - start
                    break
            print(json.dumps({"closed": closed}))
            """,
            port: server.port
        )
        let closed = try #require(result["closed"] as? Double, "the server never closed a trickling head (20 s)")
        #expect(closed >= 0.7 && closed < 5, "closed after the head timeout: \(closed) s")
        let event = Array(EventIngestTests.event(1).utf8)
        #expect(try server.request("POST", "/api/events", headers: EventIngestTests.json, body: event).status == 200)
        #expect(server.stop() == 0)
    }

    /// With `connections_max: 2` and two connections held open, a third client gets 503 with `Retry-After`
    /// and a close at once — not a wait in the listen backlog, not a reset — and once one of the two closes
    /// the next client is served; every event accepted before and after is in the log.
    @Test(.timeLimit(.minutes(2)))
    func connectionsBeyondTheLimitAreRefusedCleanly() throws {
        let server = try ServeProcess(
            configuration: "server:\n  connections_max: 2\n  idle_timeout_ms: 20000\n  retry_after_s: 7\n"
        )
        let before = Array(EventIngestTests.event(1).utf8)
        #expect(try server.request("POST", "/api/events", headers: EventIngestTests.json, body: before).status == 200)
        let result = try Self.python(
            """
            import socket, sys, time, json
            port = int(sys.argv[1])
            def ask(path, until_close):
                c = socket.create_connection(("127.0.0.1", port))
                c.settimeout(10)
                start = time.monotonic()
                c.sendall(("GET %s HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n" % path).encode())
                data = b""
                reset = False
                try:
                    while until_close or b"\\r\\n\\r\\n" not in data:
                        chunk = c.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except ConnectionResetError:
                    reset = True
                except socket.timeout:
                    pass
                c.close()
                return {"reply": data.decode(errors="replace"), "seconds": time.monotonic() - start, "reset": reset}
            held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
            time.sleep(0.5)
            refused = ask("/healthz", True)
            held[0].close()
            time.sleep(0.5)
            served = ask("/healthz", False)
            print(json.dumps({"refused": refused, "served": served}))
            """,
            port: server.port
        )
        let refused = try #require(result["refused"] as? [String: Any])
        let reply = refused["reply"] as? String ?? ""
        #expect(reply.hasPrefix("HTTP/1.1 503"), "\(refused)")
        #expect(reply.lowercased().contains("retry-after: 7"), "\(reply)")
        #expect(reply.lowercased().contains("connection: close"), "\(reply)")
        #expect(reply.contains("too_many_connections"), "\(reply)")
        #expect(refused["reset"] as? Bool == false)
        #expect((refused["seconds"] as? Double ?? 99) < 3, "refused at once, not after a wait: \(refused)")
        let served = try #require(result["served"] as? [String: Any])
        #expect((served["reply"] as? String ?? "").hasPrefix("HTTP/1.1 200"), "\(served)")
        let after = Array(EventIngestTests.event(2).utf8)
        #expect(try server.request("POST", "/api/events", headers: EventIngestTests.json, body: after).status == 200)
        #expect(server.stop() == 0)
        #expect(try EventIngestTests.loggedIDs(server.logDirectory.path).count == 2, "nothing accepted is lost")
    }
}
