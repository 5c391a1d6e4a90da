import Foundation
import Sluice
import SluiceTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Changes made through the management API while `sluice serve` runs under load, on loopback with real
/// processes: a webhook added through the API receives without a restart, and after `kill -9` and a restart
/// with the original file the API's configuration is back and nothing acknowledged is lost; dead letters
/// are redriven while running.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)")
)
struct LiveReconfigurationTests {
    static let adminToken = "admin-token-0123456789abcdef"

    static func configuration(original: Int) -> String {
        """
        server:
          tokens:
            - {name: ops, environment: SLUICE_ADMIN_TOKEN, scopes: [admin, events:write]}
        webhooks:
          - {name: original, url: "http://127.0.0.1:\(original)/hook", shared_key: original-key, event_type: all,
             branch_scope: all_branches, allowed_networks: ["127.0.0.0/8"]}
        pipeline:
          retry_schedule_s: [0.05, 0.1, 0.2, 0.5]
          # The breaker opens on the dead endpoint; closed again at once, so a redrive is not refused by it.
          circuit_breaker: {open_s: 0}
        """
    }

    /// An event with a fresh id, and its id.
    static func event(_ number: Int) -> (id: String, json: String) {
        let id = String(format: "bf569ddc-2a30-4491-82f1-%012d", number)
        return (
            id,
            #"{"event":"infrahub.node.updated","occurred":"2025-01-01T00:00:00Z","id":"\#(id)","resource":{"prefect.resource.id":"n\#(number)"}}"#
        )
    }

    @Test(.timeLimit(.minutes(4)))
    func aWebhookAddedUnderLoadReceivesAndSurvivesKillNine() throws {
        let environment = ["SLUICE_ADMIN_TOKEN": Self.adminToken]
        let originalSink = try ReconfigurationSink()
        let addedSink = try ReconfigurationSink()
        let logDirectory = TemporaryDirectory()
        let file = Self.configuration(original: originalSink.port)
        var server = try ServeProcess(configuration: file, logDirectory: logDirectory, environment: environment)
        // A producer thread posts one event per request, as fast as replies come, and keeps the ids acknowledged.
        let producer = Producer(port: server.port, token: Self.adminToken, first: 0)
        producer.start()
        try waitUntil("the producer has 50 events acknowledged") { producer.acknowledgedCount >= 50 }

        let added = try server.call(
            "PUT",
            "/api/webhooks/added",
            token: Self.adminToken,
            json:
                #"{"url":"http://127.0.0.1:\#(addedSink.port)/hook","shared_key":"added-key","branch_scope":"all_branches","allowed_networks":["127.0.0.0/8"]}"#
        )
        #expect(added.status == 201, "\(added.text)")
        let acknowledgedAtAdd = producer.acknowledgedCount
        // Without a restart, the added webhook receives events emitted after its PUT was answered.
        try waitUntil("the added webhook receives 50 events") { addedSink.eventIDs().count >= 50 }
        try waitUntil("the producer has 100 more events acknowledged") {
            producer.acknowledgedCount >= acknowledgedAtAdd + 100
        }
        #expect(server.stop(signal: SIGKILL) == SIGKILL)
        producer.stop()
        let beforeCrash = producer.acknowledged

        // Restarted with the very same file: the API's webhook is back, and it still receives.
        server = try ServeProcess(configuration: file, logDirectory: logDirectory, environment: environment)
        let webhooks = try server.call("GET", "/api/webhooks", token: Self.adminToken)
        let names = (webhooks.object["webhooks"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(names == ["original", "added"], "\(webhooks.text)")
        let after = Producer(port: server.port, token: Self.adminToken, first: 1_000_000)
        after.start()
        try waitUntil("the producer has 20 events acknowledged after the restart") { after.acknowledgedCount >= 20 }
        after.stop()
        let afterRestart = after.acknowledged
        // Nothing acknowledged is lost: every acknowledged event reaches the original webhook, and every one
        // acknowledged after the add was answered (before the crash too) reaches the added one.
        let addedAfterAdd = Set(beforeCrash.dropFirst(acknowledgedAtAdd)).union(afterRestart)
        try waitUntil("every acknowledged event reaches both webhooks", seconds: 60) {
            originalSink.eventIDs().isSuperset(of: beforeCrash + afterRestart)
                && addedSink.eventIDs().isSuperset(of: addedAfterAdd)
        }
        #expect(server.stop() == 0)
        var logged: Set<String> = []
        _ = try LogFiles.forEachRecord(directory: logDirectory.path) { record in
            guard record.type == .event, let json = try? JSONValue.parse(record.body) else { return }
            if let id = json["id"]?.stringValue { logged.insert(id) }
        }
        #expect(logged.isSuperset(of: beforeCrash + afterRestart))

        // `--config-from-file` takes the file's webhooks back, and journals them: a later plain restart keeps them.
        for arguments in [["--config-from-file"], []] {
            let restarted = try ServeProcess(
                configuration: file,
                logDirectory: logDirectory,
                arguments: arguments,
                environment: environment
            )
            let reply = try restarted.call("GET", "/api/webhooks", token: Self.adminToken)
            let names = (reply.object["webhooks"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(names == ["original"], "\(arguments): \(reply.text)")
            #expect(restarted.stop() == 0)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func deadLettersAreRedrivenWhileRunning() throws {
        // A port nothing listens on yet: every attempt fails to connect, and the deliveries dead-letter.
        let port = try ReconfigurationSink.freePort()
        let server = try ServeProcess(
            configuration: Self.configuration(original: port),
            environment: ["SLUICE_ADMIN_TOKEN": Self.adminToken]
        )
        var ids: [String] = []
        for number in 0..<3 {
            let event = Self.event(number)
            let reply = try server.call("POST", "/api/events", token: Self.adminToken, json: event.json)
            #expect(reply.status == 200, "\(reply.text)")
            ids.append(event.id)
        }
        var deadLetters: [[String: Any]] = []
        try waitUntil("three dead letters") {
            let page = try server.call("GET", "/api/deadletters?limit=2", token: Self.adminToken)
            deadLetters = page.object["dead_letters"] as? [[String: Any]] ?? []
            return deadLetters.count == 2 && !(page.object["next_after"] is NSNull)
        }
        let first = try server.call("GET", "/api/deadletters?limit=2", token: Self.adminToken)
        let cursor = try #require(first.object["next_after"] as? Int)
        let rest = try server.call("GET", "/api/deadletters?limit=2&after=\(cursor)", token: Self.adminToken)
        let restLetters = rest.object["dead_letters"] as? [[String: Any]] ?? []
        #expect(restLetters.count == 1, "\(rest.text)")
        #expect(rest.object["next_after"] is NSNull)
        let listed = Set((deadLetters + restLetters).compactMap { $0["event_id"] as? String })
        #expect(listed == Set(ids))

        // The endpoint comes up; a redrive through the API delivers them without a restart.
        let sink = try ReconfigurationSink(port: port)
        let redrive = try server.call(
            "POST",
            "/api/deadletters/redrive",
            token: Self.adminToken,
            json: #"{"webhook":"original"}"#
        )
        #expect(redrive.status == 200, "\(redrive.text)")
        #expect(redrive.object["redriven"] as? Int == 3)
        try waitUntil("the sink receives the redriven events") { sink.eventIDs().isSuperset(of: ids) }
        try waitUntil("no dead letter is left") {
            let page = try server.call("GET", "/api/deadletters", token: Self.adminToken)
            return (page.object["dead_letters"] as? [Any])?.isEmpty == true
        }
        let again = try server.call("POST", "/api/deadletters/redrive", token: Self.adminToken, json: "{}")
        #expect(again.object["redriven"] as? Int == 0, "\(again.text)")
        #expect(server.stop() == 0)
    }
}

/// Polls `condition` every 50 ms until it holds, or fails after `seconds`.
func waitUntil(_ what: String, seconds: Double = 30, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        usleep(50_000)
    }
    Issue.record("timed out waiting until \(what)")
    throw LoopbackHTTPClient.Failure(description: "timed out waiting until \(what)")
}

/// Posts events one per request on its own thread until stopped or refused (the server died), keeping the
/// ids of those acknowledged (200: durable) in order. Bounded: at most 100,000 events.
final class Producer: Sendable {
    let port: Int
    let token: String
    let first: Int
    private let state = Mutex<(acknowledged: [String], stopped: Bool)>(([], false))
    private let done = DispatchSemaphore(value: 0)

    init(port: Int, token: String, first: Int) {
        self.port = port
        self.token = token
        self.first = first
    }

    var acknowledged: [String] { state.withLock { $0.acknowledged } }
    var acknowledgedCount: Int { state.withLock { $0.acknowledged.count } }

    func start() {
        Thread.detachNewThread { [self] in
            defer { done.signal() }
            for number in first..<(first + 100_000) {
                if state.withLock({ $0.stopped }) { return }
                let event = LiveReconfigurationTests.event(number)
                guard
                    let reply = try? LoopbackHTTPClient.request(
                        port: port,
                        "POST",
                        "/api/events",
                        headers: ["Authorization": "Bearer \(token)", "Content-Type": "application/json"],
                        body: Array(event.json.utf8)
                    )
                else { return }  // the server is gone
                if reply.status == 200 { state.withLock { $0.acknowledged.append(event.id) } }
            }
        }
    }

    func stop() {
        state.withLock { $0.stopped = true }
        done.wait()
    }
}

/// `sluice sink` on 127.0.0.1 recording every request to a file; killed at `deinit`.
final class ReconfigurationSink {
    let process = Process()
    let directory = TemporaryDirectory()
    let recordPath: String
    private(set) var port = 0

    init(port: Int = 0) throws {
        recordPath = directory.path + "/deliveries.jsonl"
        process.executableURL = URL(fileURLWithPath: SluiceExecutable.path)
        process.arguments = ["sink", "--port", "\(port)", "--record", recordPath]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var buffered = Data()
        while true {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw LoopbackHTTPClient.Failure(description: "sluice sink exited early") }
            buffered.append(chunk)
            let text = String(decoding: buffered, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }),
                let colon = line.lastIndex(of: ":"), let chosen = Int(line[line.index(after: colon)...])
            {
                self.port = chosen
                break
            }
        }
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        _ = process.reapedStatus()
    }

    /// The ids of the events delivered with a 2xx so far.
    func eventIDs() -> Set<String> {
        guard let data = FileManager.default.contents(atPath: recordPath) else { return [] }
        var ids: Set<String> = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let status = object["status"] as? Int, (200..<300).contains(status),
                let id = object["event_id"] as? String
            else { continue }
            ids.insert(id)
        }
        return ids
    }

    /// A loopback port free at this moment (bound, then released).
    static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                Glibc.bind(socket, raw, length) == 0 && getsockname(socket, raw, &length) == 0
            }
        }
        guard bound else { throw LoopbackHTTPClient.Failure(description: "no free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
