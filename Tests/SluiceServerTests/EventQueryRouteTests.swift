import Foundation
import SluiceTestSupport
import Testing

/// `GET /api/events` on a running server: the same events as `sluice events query` for the same filters
/// (read with curl and with Python `httpx` streaming), NDJSON streamed in pages across more than one page,
/// the cursor resumes without gap or duplicate, the scopes, and errors that name the parameter.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl")
)
struct EventQueryRouteTests {
    static let producer = "producer-token-0123456789"
    static let reader = "reader-token-0123456789"
    static let admin = "admin-token-0123456789ab"
    static let configuration = """
        server:
          tokens:
            - {name: producer, environment: PRODUCER_TOKEN, scopes: [events:write]}
            - {name: reader, environment: READER_TOKEN, scopes: [events:read]}
            - {name: admin, environment: ADMIN_TOKEN, scopes: [admin]}
        """
    static let eventCount = 2_400

    /// Infrahub-shaped events: node updates on two branches, account log-ins, and a few non-Infrahub names.
    static func event(_ number: Int) -> String {
        let id = String(format: "bf569ddc-2a30-4491-82f1-%012d", number)
        let name =
            number % 10 == 3
            ? "infrahub.account.logged_in" : number % 10 == 7 ? "custom.thing" : "infrahub.node.updated"
        let branch = number % 3 == 0 ? "main" : "feat-\(number % 4)"
        let occurred = String(format: "2025-01-01T00:%02d:%02dZ", (number / 60) % 60, number % 60)
        return
            #"{"event":"\#(name)","occurred":"\#(occurred)","id":"\#(id)","resource":{"prefect.resource.id":"infrahub.node.n\#(number)","infrahub.node.id":"n\#(number)","infrahub.node.kind":"\#(number % 2 == 0 ? "InfraDevice" : "InfraSite")"},"related":[{"prefect.resource.id":"infrahub.branch.\#(branch)","prefect.resource.role":"infrahub.branch","infrahub.resource.label":"\#(branch)"},{"prefect.resource.id":"acct-\#(number % 5)","prefect.resource.role":"infrahub.account","infrahub.resource.id":"acct-\#(number % 5)"},{"prefect.resource.id":"peer-\#(number % 50)","prefect.resource.role":"infrahub.related.node"}],"payload":{"n":\#(number)}}"#
    }

    static func bearer(_ token: String) -> [String: String] { ["Authorization": "Bearer \(token)"] }

    /// Starts a server and stores ``eventCount`` events through `POST /api/events`.
    static func serverWithEvents() throws -> ServeProcess {
        let server = try ServeProcess(
            configuration: configuration,
            environment: ["PRODUCER_TOKEN": producer, "READER_TOKEN": reader, "ADMIN_TOKEN": admin]
        )
        for batch in stride(from: 0, to: eventCount, by: 400) {
            let body = (batch..<(batch + 400)).map(event).joined(separator: "\n") + "\n"
            let reply = try server.request(
                "POST",
                "/api/events",
                headers: EventIngestTests.lines.merging(bearer(producer)) { $1 },
                body: Array(body.utf8)
            )
            try #require(reply.status == 200, "\(reply.text)")
        }
        return server
    }

    /// The `event` members of the NDJSON reply, re-serialized with sorted keys, and the sequences.
    static func events(_ body: [UInt8]) throws -> (events: [String], sequences: [Int]) {
        var events: [String] = []
        var sequences: [Int] = []
        for line in body.split(separator: UInt8(ascii: "\n")) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            sequences.append(try #require(object["sequence"] as? Int))
            events.append(try canonical(try #require(object["event"])))
        }
        return (events, sequences)
    }

    static func canonical(_ object: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    /// What `sluice events query --log DIR arguments…` prints, canonicalized like ``events(_:)``.
    static func cli(_ directory: String, _ arguments: [String]) throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: SluiceExecutable.path)
        process.arguments = ["events", "query", "--log", directory] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        #expect(process.reapedStatus() == 0, "sluice events query \(arguments)")
        return try data.split(separator: UInt8(ascii: "\n")).map { line in
            try canonical(try JSONSerialization.jsonObject(with: Data(line)))
        }
    }

    @Test(.timeLimit(.minutes(6)))
    func restEqualsTheCommandLineAndResumes() throws {
        let server = try Self.serverWithEvents()
        let directory = server.logDirectory.path
        let relatedLabels = #"{"prefect.resource.role":"infrahub.branch","infrahub.resource.label":"feat-*"}"#
        let encodedLabels = try #require(
            relatedLabels.addingPercentEncoding(withAllowedCharacters: .alphanumerics)
        )
        // (query string, the same filters as CLI flags)
        let cases: [(String, [String])] = [
            ("", []),
            ("order=asc", ["--order", "asc"]),
            // A limit beyond one page (1,000 events) and an offset: the pages join exactly.
            ("order=asc&limit=1500&offset=10", ["--order", "asc", "--limit", "1500", "--offset", "10"]),
            ("limit=1001", ["--limit", "1001"]),
            (
                "branches=main&order=ASC&limit=50&offset=7",
                ["--branch", "main", "--order", "asc", "--limit", "50", "--offset", "7"]
            ),
            ("primary_node__ids=n1*&kind=InfraSite", ["--primary-node", "n1*", "--kind", "InfraSite"]),
            (
                "related_node__ids=peer-7&related_node__ids=peer-8",
                ["--related-node", "peer-7", "--related-node", "peer-8"]
            ),
            ("account__ids=acct-2&name=infrahub.node.*", ["--account", "acct-2", "--name", "infrahub.node.*"]),
            ("related_labels=\(encodedLabels)&order=asc", ["--related-labels", relatedLabels, "--order", "asc"]),
            ("event_type=custom.thing", ["--event-type", "custom.thing"]),
            ("event_type=infrahub.account.logged_in", ["--event-type", "infrahub.account.logged_in"]),
            (
                "since=2025-01-01T00:10:00Z&until=2025-01-01T00:20:00Z&ids=bf569ddc-2a30-4491-82f1-000000000700",
                [
                    "--since", "2025-01-01T00:10:00Z", "--until", "2025-01-01T00:20:00Z", "--id",
                    "bf569ddc-2a30-4491-82f1-000000000700",
                ]
            ),
        ]
        for (queryString, arguments) in cases {
            let reply = try server.request("GET", "/api/events?" + queryString, headers: Self.bearer(Self.admin))
            #expect(reply.status == 200, "\(queryString): \(reply.text.prefix(300))")
            #expect(reply.headers["content-type"] == "application/x-ndjson")
            let rest = try Self.events(reply.body)
            let expected = try Self.cli(directory, arguments)
            #expect(rest.events == expected, "\(queryString): \(rest.events.count) vs \(expected.count) events")
            #expect(!expected.isEmpty || queryString.contains("custom"), "\(queryString) finds events")
        }
        // More than one page (1,000 events): streamed chunked, in order, no duplicate.
        let all = try server.request("GET", "/api/events?order=asc", headers: Self.bearer(Self.admin))
        #expect(all.headers["transfer-encoding"] == "chunked")
        let allSequences = try Self.events(all.body).sequences
        #expect(allSequences.count == Self.eventCount * 9 / 10, "every infrahub.* event (account ones for admin)")
        #expect(allSequences == allSequences.sorted() && Set(allSequences).count == allSequences.count)

        // Count, and the reader's view: account events hidden, asking for them is 403.
        let count = try server.request("GET", "/api/events?count=true", headers: Self.bearer(Self.reader))
        #expect(count.status == 200)
        #expect(count.text == "{\"count\":\(Self.eventCount * 8 / 10)}\n")
        let forbidden = try server.request(
            "GET",
            "/api/events?event_type=infrahub.account.logged_in",
            headers: Self.bearer(Self.reader)
        )
        #expect(forbidden.status == 403, "\(forbidden.text)")
        #expect(try server.request("GET", "/api/events").status == 401)
        #expect(try server.request("GET", "/api/events", headers: Self.bearer(Self.producer)).status == 403)

        // Resume: pages of 250 with after= from the last line's sequence equal one run, both orders.
        for order in ["asc", "desc"] {
            var pages: [Int] = []
            var after = ""
            while true {
                let reply = try server.request(
                    "GET",
                    "/api/events?order=\(order)&branches=main&limit=250\(after)",
                    headers: Self.bearer(Self.reader)
                )
                let page = try Self.events(reply.body).sequences
                pages += page
                guard let last = page.last, page.count == 250 else { break }
                after = "&after=\(last)"
            }
            let whole = try Self.events(
                try server.request("GET", "/api/events?order=\(order)&branches=main", headers: Self.bearer(Self.reader))
                    .body
            ).sequences
            #expect(pages == whole, "\(order)")
            #expect(whole.count > 500)
        }

        // Bad parameters name the parameter and the range.
        for (queryString, fragment) in [
            ("limit=-1", "limit: must be an integer from 0 to 2147483647"),
            ("colour=red", "colour: unknown parameter"),
            ("level=99999999999999999999", "level: must be an integer from 0 to 2147483647"),
            ("related_labels=%7B", "related_labels: not JSON"),
        ] {
            let reply = try server.request("GET", "/api/events?" + queryString, headers: Self.bearer(Self.admin))
            #expect(reply.status == 400, "\(queryString)")
            #expect(reply.text.contains(fragment), "\(queryString): \(reply.text)")
        }
        #expect(server.stop() == 0)
    }

    /// Python `httpx` streams the reply line by line, stops mid-stream, and resumes with the cursor: the
    /// union is the whole answer, without gap or duplicate.
    @Test(
        .timeLimit(.minutes(5)),
        .enabled(if: PythonVenv.python != nil, "python3 is not installed")
    )
    func httpxStreamsAndResumes() throws {
        let python = try PythonVenv.withPackage("httpx", requirement: "httpx")
        let server = try Self.serverWithEvents()
        let script = """
            import json, sys, httpx
            base, token = sys.argv[1], sys.argv[2]
            headers = {"Authorization": "Bearer " + token}
            params = {"order": "desc", "branches": ["main", "feat-1"]}
            seen = []
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                # Read 300 lines of the stream, then drop the connection.
                with client.stream("GET", "/api/events", params=params) as reply:
                    assert reply.status_code == 200, reply.status_code
                    assert reply.headers["content-type"] == "application/x-ndjson"
                    for line in reply.iter_lines():
                        seen.append(json.loads(line)["sequence"])
                        if len(seen) == 300:
                            break
                # Resume after the last sequence received.
                with client.stream("GET", "/api/events", params={**params, "after": seen[-1]}) as reply:
                    for line in reply.iter_lines():
                        seen.append(json.loads(line)["sequence"])
                whole = [json.loads(line)["sequence"]
                         for line in client.get("/api/events", params=params).text.splitlines()]
            assert len(seen) == len(set(seen)), "duplicates"
            assert seen == whole, (len(seen), len(whole))
            print(len(seen))
            """
        let scriptPath = server.directory.path + "/stream.py"
        writeFile(scriptPath, Array(script.utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [scriptPath, server.baseURL, Self.admin]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.reapedStatus() == 0, "\(errorText)")
        #expect(Int(printed.trimmingCharacters(in: .whitespacesAndNewlines)).map { $0 > 600 } == true, "\(printed)")
        #expect(server.stop() == 0)
    }
}
