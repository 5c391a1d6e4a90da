import Foundation
import Sluice
import SluiceTestSupport
import Synchronization
import Testing

/// SIGTERM while producers are sending: the server stops taking connections, answers the requests in
/// flight, drains the pipeline and exits 0 — and every event a producer got `accepted` for is in the log.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl")
)
struct DrainTests {
    @Test(.timeLimit(.minutes(2)))
    func sigtermUnderLoadKeepsEveryAcknowledgedEvent() throws {
        let server = try ServeProcess(configuration: "default_branch: main\n")
        let acknowledged = Mutex<Set<String>>([])
        let sent = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let group = DispatchGroup()
        let url = server.baseURL + "/api/events"
        let scratch = server.directory.path
        for producer in 0..<3 {
            DispatchQueue.global().async(group: group) {
                var batch = 0
                while !stop.load(ordering: .relaxed), batch < 200 {
                    let first = producer * 100_000 + batch * 20
                    let body = (0..<20).map { EventIngestTests.event(first + $0) }.joined(separator: "\n")
                    batch += 1
                    sent.add(1, ordering: .relaxed)
                    // After the stop, connections are refused: curl fails, which is expected.
                    guard
                        let reply = try? Curl.request(
                            "POST",
                            url,
                            headers: EventIngestTests.lines,
                            body: Array(body.utf8),
                            scratch: scratch
                        ), reply.status == 200,
                        let results = try? EventIngestTests.results(reply)
                    else { continue }
                    let ids = results.compactMap { $0["status"] as? String == "accepted" ? $0["id"] as? String : nil }
                    acknowledged.withLock { $0.formUnion(ids) }
                }
            }
        }
        while sent.load(ordering: .relaxed) < 30 { usleep(5_000) }
        let status = server.stop()
        stop.store(true, ordering: .relaxed)
        group.wait()
        #expect(status == 0)
        let count = acknowledged.withLock { $0.count }
        #expect(count >= 20 * 20, "some batches were answered before the stop: \(count)")
        let logged = Set(try EventIngestTests.loggedIDs(server.logDirectory.path))
        let lost = acknowledged.withLock { $0.subtracting(logged) }
        #expect(lost.isEmpty, "\(lost.count) acknowledged events are missing from the log")
    }
}
