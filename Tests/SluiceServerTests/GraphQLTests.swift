import Foundation
import Sluice
import SluiceServer
import SluiceTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `/graphql` against a real `sluice serve` on 127.0.0.1 with real clients (PyPI `gql[websockets]` and
/// `httpx`, installed by the test into `.build/python-venv-server`, `scripts/graphql_clients.py`): Infrahub's
/// UI query verbatim, every filter, both orders, paging, count, the limit cap; the live `events`
/// subscription over graphql-transport-ws and legacy graphql-ws with 100 subscribers during a load, a
/// client that drops and resumes from its cursor, and a stalled client cut off with close code 4413.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl"),
    .enabled(if: PythonVenv.python != nil, "python3 is not installed")
)
struct GraphQLTests {
    /// Infrahub's UI query as printed in spec §d.1, unchanged.
    static let uiQuery = """
        query GET_INFRAHUB_EVENTS($ids: [String!], $hasChildren: Boolean, $branches: [String!], $eventType: [String!],
          $primaryNodeIds: [String!], $relatedNodeIds: [String!], $parentIds: [String!], $accountIds: [String!],
          $level: Int, $since: DateTime, $until: DateTime, $offset: Int, $limit: Int, $order: EventSortOrder,
          $eventTypeFilter: EventTypeFilter) {
          InfrahubEvent(ids: $ids, has_children: $hasChildren, branches: $branches, event_type: $eventType,
            event_type_filter: $eventTypeFilter, primary_node__ids: $primaryNodeIds, related_node__ids: $relatedNodeIds,
            parent__ids: $parentIds, account__ids: $accountIds, level: $level, since: $since, until: $until,
            offset: $offset, limit: $limit, order: $order) {
            count
            edges { node {
              id event branch occurred_at level account_id has_children __typename
              primary_node { id kind } related_nodes { id kind }
              ... on NodeMutatedEvent { attributes { action kind name value value_previous }
                                        relationships { action name peer { id kind } } payload }
              ... on BranchMergedEvent { source_branch }
              ... on GroupEvent { ancestors { id kind } members { id kind } }
              ... on ArtifactEvent { checksum storage_id artifact_definition_id checksum_previous storage_id_previous }
              ... on StandardEvent { payload }
            } }
          }
        }
        """

    static func id(_ number: Int) -> String { String(format: "5e0c1d2e-0000-4000-8000-%012d", number) }

    /// Now, as RFC 3339 (Infrahub's `since` default is 180 days back: the events must be recent).
    static let now: String = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }()

    /// An Infrahub-shaped event (spec §a.3): the common related resources, then `extra`.
    static func event(
        _ number: Int,
        name: String,
        node: (id: String, kind: String)? = nil,
        branch: String = "main",
        account: String = "acct-1",
        level: Int = 0,
        hasChildren: Bool = false,
        parent: Int? = nil,
        extra: [String] = [],
        data: String = "{}",
        resourceLabels: String = ""
    ) -> String {
        var resource = #""prefect.resource.id":"res-\#(number)""#
        if let node {
            resource =
                #""prefect.resource.id":"infrahub.node.\#(node.id)","infrahub.node.id":"\#(node.id)","infrahub.node.kind":"\#(node.kind)""#
        }
        resource += resourceLabels
        var related = [
            #"{"prefect.resource.id":"infrahub.account.\#(account)","prefect.resource.role":"infrahub.account","infrahub.resource.id":"\#(account)"}"#,
            #"{"prefect.resource.id":"infrahub.branch.\#(branch)","prefect.resource.role":"infrahub.branch","infrahub.resource.label":"\#(branch)"}"#,
            #"{"prefect.resource.id":"infrahub.event.\#(id(number))","prefect.resource.role":"infrahub.event","infrahub.event.level":"\#(level)","infrahub.event.has_children":"\#(hasChildren)"}"#,
        ]
        if let parent {
            related.append(
                #"{"prefect.resource.id":"infrahub.child_event.\#(id(parent))","prefect.resource.role":"infrahub.child_event","infrahub.event_parent.id":"\#(id(parent))"}"#
            )
        }
        related += extra
        return
            #"{"event":"\#(name)","occurred":"\#(now)","id":"\#(id(number))","resource":{\#(resource)},"related":[\#(related.joined(separator: ","))],"payload":{"data":\#(data),"context":{"branch":{"name":"\#(branch)"}}}}"#
    }

    /// The fixture: 8 events, 7 of them `infrahub.*`, one account event.
    static let fixture: [String] = [
        event(
            1,
            name: "infrahub.node.created",
            node: ("node-1", "TestWidget"),
            hasChildren: true,
            extra: [
                #"{"prefect.resource.id":"infrahub.node.node-1","prefect.resource.role":"infrahub.node.attribute_update","infrahub.field.name":"name","infrahub.attribute.name":"name","infrahub.attribute.value":"w1","infrahub.attribute.kind":"Text","infrahub.attribute.value_previous":"NULL","infrahub.attribute.action":"added"}"#,
                #"{"prefect.resource.id":"infrahub.node.node-1","prefect.resource.role":"infrahub.node.relationship_update","infrahub.field.name":"site","infrahub.relationship.name":"site","infrahub.relationship.peer_status":"added","infrahub.relationship.peer_id":"site-1","infrahub.relationship.peer_kind":"TestSite"}"#,
                #"{"prefect.resource.id":"site-1","prefect.resource.role":"infrahub.related.node","infrahub.node.kind":"TestSite"}"#,
            ],
            data: #"{"kind":"TestWidget","node_id":"node-1","action":"created"}"#
        ),
        event(2, name: "infrahub.node.updated", node: ("node-2", "TestWidget"), branch: "feature", level: 1, parent: 1),
        event(
            3,
            name: "infrahub.branch.merged",
            branch: "-global-",
            data: #"{"branch_name":"feature"}"#,
            resourceLabels: #","infrahub.branch.name":"feature""#
        ),
        event(
            4,
            name: "infrahub.group.member_added",
            node: ("group-1", "CoreStandardGroup"),
            extra: [
                #"{"prefect.resource.id":"member-1","prefect.resource.role":"infrahub.group.member","infrahub.node.kind":"TestWidget"}"#
            ],
            data: #"{"members":[{"id":"member-1","kind":"TestWidget"}],"ancestors":[]}"#
        ),
        event(
            5,
            name: "infrahub.artifact.created",
            node: ("artifact-1", "CoreArtifact"),
            data: #"{"checksum":"c1","checksum_previous":null,"storage_id":"s1","artifact_definition_id":"def-1"}"#
        ),
        event(6, name: "infrahub.account.logged_in", account: "acct-2", data: #"{"account_name":"admin"}"#),
        event(7, name: "other.thing"),
        event(8, name: "infrahub.schema.updated", branch: "feature", data: #"{"schema_hash":"h"}"#),
    ]

    /// Posts `lines` (NDJSON) and returns each event's log sequence.
    static func emit(_ server: ServeProcess, _ lines: [String]) throws -> [Int] {
        let body = lines.joined(separator: "\n") + "\n"
        let reply = try server.request(
            "POST",
            "/api/events",
            headers: ["Content-Type": "application/x-ndjson"],
            body: Array(body.utf8)
        )
        #expect(reply.status == 200, "\(reply.text)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any])
        let results = try #require(object["results"] as? [[String: Any]], "\(reply.text)")
        return try results.map { try #require($0["sequence"] as? Int, "\(reply.text)") }
    }

    /// Runs `scripts/graphql_clients.py MODE` and returns its JSON output.
    static func python(_ mode: String, _ server: ServeProcess, _ arguments: [String: Any]) throws -> [String: Any] {
        let process = try pythonProcess(mode, server, arguments)
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let status = process.reapedStatus()
        try #require(status == 0, "graphql_clients.py \(mode) failed (\(status)): \(errorText)")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(errorText)")
    }

    static func pythonProcess(_ mode: String, _ server: ServeProcess, _ arguments: [String: Any]) throws -> Process {
        let python = try PythonVenv.withPackage("gql.transport.websockets", requirement: "gql[websockets,httpx]==4.4.0")
        _ = try PythonVenv.withPackage("httpx", requirement: "httpx")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        let json = String(decoding: try JSONSerialization.data(withJSONObject: arguments), as: UTF8.self)
        process.arguments = [packageRoot + "/scripts/graphql_clients.py", mode, server.baseURL, json]
        return process
    }

    /// `InfrahubEvent.count` of a reply.
    static func countOf(_ reply: HTTPReply) -> Int? {
        page(try? JSONSerialization.jsonObject(with: Data(reply.body))).count
    }

    static func page(_ body: Any?) -> (count: Int?, ids: [String]) {
        let data = (body as? [String: Any])?["data"] as? [String: Any]
        let events = data?["InfrahubEvent"] as? [String: Any]
        let edges = events?["edges"] as? [[String: Any]] ?? []
        return (events?["count"] as? Int, edges.compactMap { ($0["node"] as? [String: Any])?["id"] as? String })
    }

    @Test(.timeLimit(.minutes(5)))
    func infrahubEventQueriesOverHTTPWithHttpxAndGql() throws {
        let server = try ServeProcess(configuration: "default_branch: main\n")
        defer { _ = server.stop() }
        _ = try Self.emit(server, Self.fixture)
        let infrahub = [1, 2, 3, 4, 5, 6, 8].map(Self.id)
        func compact(_ arguments: String) -> [String: Any] {
            ["query": "{ InfrahubEvent(\(arguments)) { count edges { node { id } } } }"]
        }
        let cases: [(request: [String: Any], count: Int?, ids: [String])] = [
            (["query": Self.uiQuery, "variables": [String: Any]()], 7, infrahub.reversed()),
            (
                ["query": Self.uiQuery, "variables": ["order": "ASC", "limit": 2, "offset": 1]], 7, [2, 3].map(Self.id)
            ),
            (compact("order: ASC, ids: [\"\(Self.id(5))\"]"), 1, [Self.id(5)]),
            (compact("order: ASC, event_type: [\"other.thing\"]"), 1, [Self.id(7)]),
            (compact("order: ASC, primary_node__ids: [\"node-*\"]"), 2, [1, 2].map(Self.id)),
            (compact("order: ASC, related_node__ids: [\"member-1\"]"), 1, [Self.id(4)]),
            (compact("order: ASC, parent__ids: [\"\(Self.id(1))\"]"), 1, [Self.id(2)]),
            (compact("order: ASC, branches: [\"feature\"]"), 2, [2, 8].map(Self.id)),
            (compact("order: ASC, account__ids: [\"acct-2\"]"), 1, [Self.id(6)]),
            (compact("order: ASC, level: 1"), 1, [Self.id(2)]),
            (compact("order: ASC, has_children: true"), 1, [Self.id(1)]),
            (
                compact("order: ASC, event_type_filter: {branch_merged: {branches: [\"feature\"]}}"), 1,
                [Self.id(3)]
            ),
            (compact("since: \"2000-01-01T00:00:00Z\", until: \"2001-01-01T00:00:00Z\""), 0, []),
            (compact("since: \"2001-01-01T00:00:00Z\", limit: 0"), 7, []),
        ]
        var requests = cases.map(\.request)
        requests.append(["query": Self.uiQuery, "variables": ["limit": 51]])
        let output = try Self.python("http", server, ["requests": requests])
        let bodies = try #require(output["bodies"] as? [[String: Any]])
        try #require(bodies.count == requests.count)
        for (index, expected) in cases.enumerated() {
            #expect(bodies[index]["status"] as? Int == 200)
            let page = Self.page(bodies[index]["body"])
            #expect(page.count == expected.count, "case \(index): \(bodies[index])")
            #expect(page.ids == expected.ids, "case \(index): \(bodies[index])")
        }
        // The UI query's nodes: concrete types by event name, enums by member name, payload as stored.
        let ui = try #require((bodies[0]["body"] as? [String: Any])?["data"] as? [String: Any])
        let edges = try #require((ui["InfrahubEvent"] as? [String: Any])?["edges"] as? [[String: Any]])
        let nodes = edges.compactMap { $0["node"] as? [String: Any] }
        #expect(
            nodes.map { $0["__typename"] as? String ?? "" } == [
                "StandardEvent", "AccountLoggedInEventType", "ArtifactEvent", "GroupEvent", "BranchMergedEvent",
                "NodeMutatedEvent", "NodeMutatedEvent",
            ]
        )
        let created = try #require(nodes.last)
        let attributes = try #require(created["attributes"] as? [[String: Any]])
        #expect(attributes.first?["action"] as? String == "ADDED")
        #expect(attributes.first?["value"] as? String == "w1")
        #expect(attributes.first.map { $0["value_previous"] is NSNull } == true, "\"NULL\" reads as null")
        let relationships = try #require(created["relationships"] as? [[String: Any]])
        #expect((relationships.first?["peer"] as? [String: Any])?["id"] as? String == "site-1")
        #expect(created["has_children"] as? Bool == true)
        #expect((created["primary_node"] as? [String: Any])?["kind"] as? String == "TestWidget")
        #expect((created["related_nodes"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["site-1"])
        let payload = try #require(created["payload"] as? [String: Any])
        #expect((payload["data"] as? [String: Any])?["node_id"] as? String == "node-1")
        #expect(payload["context"] != nil, "payload is the whole {data, context}")
        #expect(nodes[4]["source_branch"] as? String == "feature")
        #expect(nodes[4]["branch"] is NSNull, "-global- reads as null")
        #expect((nodes[3]["members"] as? [[String: Any]])?.first?["id"] as? String == "member-1")
        #expect(nodes[2]["checksum"] as? String == "c1")
        // limit > 50: Infrahub's message.
        let refused = try #require(bodies.last?["body"] as? [String: Any])
        let errors = try #require(refused["errors"] as? [[String: Any]], "\(refused)")
        #expect(errors.first?["message"] as? String == "The parameter 'limit' can't be above 50")
        // gql's own HTTPX transport ran the UI query.
        let gqlResult = try #require((output["gql"] as? [String: Any])?["InfrahubEvent"] as? [String: Any])
        #expect(gqlResult["count"] as? Int == 7)
    }

    /// The live stream during a load: 100 graphql-transport-ws subscribers (one drops after 150 events and
    /// resumes with its last cursor) and 2 legacy graphql-ws ones all receive exactly the matching events,
    /// in log order.
    @Test(.timeLimit(.minutes(8)))
    func hundredSubscribersReceiveExactlyTheMatchingEventsInLogOrder() throws {
        let server = try ServeProcess(configuration: "default_branch: main\n")
        defer { _ = server.stop() }
        let start = try #require(try Self.emit(server, [Self.event(1, name: "infrahub.node.created")]).first)
        let query = """
            subscription($after: String) {
              events(filter: {branches: ["main"], names: ["infrahub.node.*"]}, after: $after) {
                cursor node { id event __typename }
              }
            }
            """
        let batches = 10
        let perBatch = 100
        let expectedCount = batches * perBatch / 2
        let arguments: [String: Any] = [
            "query": query, "variables": ["after": String(start)], "count": expectedCount, "timeout": 240,
        ]
        var modern = arguments
        modern["clients"] = 100
        modern["disconnect_after"] = 150
        var legacy = arguments
        legacy["clients"] = 2
        legacy["protocol"] = "graphql-ws"
        let modernProcess = try Self.pythonProcess("stream", server, modern)
        let legacyProcess = try Self.pythonProcess("stream", server, legacy)
        let modernOutput = Pipe()
        let legacyOutput = Pipe()
        modernProcess.standardOutput = modernOutput
        legacyProcess.standardOutput = legacyOutput
        try modernProcess.run()
        try legacyProcess.run()
        var expected: [Int] = []
        for batch in 0..<batches {
            var lines: [String] = []
            for index in 0..<perBatch {
                let number = 100 + batch * perBatch + index
                let matching = index % 2 == 0
                lines.append(
                    Self.event(
                        number,
                        name: matching ? "infrahub.node.updated" : "infrahub.branch.created",
                        branch: index % 4 == 0 ? "main" : (matching ? "main" : "other")
                    )
                )
            }
            let sequences = try Self.emit(server, lines)
            for (index, sequence) in sequences.enumerated() where index % 2 == 0 { expected.append(sequence) }
        }
        let modernData = modernOutput.fileHandleForReading.readDataToEndOfFile()
        let legacyData = legacyOutput.fileHandleForReading.readDataToEndOfFile()
        #expect(modernProcess.reapedStatus() == 0)
        #expect(legacyProcess.reapedStatus() == 0)
        let modernCursors = try #require(
            (try JSONSerialization.jsonObject(with: modernData) as? [String: Any])?["cursors"] as? [[Int]]
        )
        let legacyCursors = try #require(
            (try JSONSerialization.jsonObject(with: legacyData) as? [String: Any])?["cursors"] as? [[Int]]
        )
        let modernReconnects = (try JSONSerialization.jsonObject(with: modernData) as? [String: Any])?["reconnects"]
        #expect(
            (modernReconnects as? [String])?.isEmpty == true,
            "no subscriber was cut off: \(modernReconnects ?? "")"
        )
        #expect(modernCursors.count == 100)
        #expect(legacyCursors.count == 2)
        for (client, cursors) in (modernCursors + legacyCursors).enumerated() {
            #expect(cursors == expected, "client \(client): \(cursors.count) of \(expected.count) events")
        }
    }

    /// A client killed (SIGKILL) mid-stream; a new client resumes with the last cursor the first printed and
    /// receives the rest: no gap, no duplicate; the server goes on.
    @Test(.timeLimit(.minutes(5)))
    func aKilledClientResumesFromItsLastCursor() throws {
        let server = try ServeProcess(configuration: "default_branch: main\n")
        defer { _ = server.stop() }
        let start = try #require(try Self.emit(server, [Self.event(1, name: "infrahub.node.created")]).first)
        var expected: [Int] = []
        for batch in 0..<3 {
            expected += try Self.emit(
                server,
                (0..<100).map { Self.event(10 + batch * 100 + $0, name: "infrahub.node.updated") }
            )
        }
        let query = """
            subscription($after: String) { events(filter: {event_type: ["infrahub.node.updated"]}, after: $after) {
              cursor } }
            """
        let first = try Self.pythonProcess(
            "stream",
            server,
            [
                "query": query, "variables": ["after": String(start)], "count": 1_000_000, "timeout": 120,
                "print_each": true,
            ]
        )
        let firstOutput = Pipe()
        first.standardOutput = firstOutput
        try first.run()
        var received: [Int] = []
        var pending = ""
        while received.count < 120 {
            let chunk = firstOutput.fileHandleForReading.availableData
            try #require(!chunk.isEmpty, "the first client ended early")
            pending += String(decoding: chunk, as: UTF8.self)
            while let newline = pending.firstIndex(of: "\n") {
                if let cursor = Int(pending[..<newline]) { received.append(cursor) }
                pending.removeSubrange(...newline)
            }
        }
        kill(first.processIdentifier, SIGKILL)
        _ = first.reapedStatus()
        // More events after the kill: the resumed client gets them too.
        expected += try Self.emit(server, (0..<50).map { Self.event(500 + $0, name: "infrahub.node.updated") })
        let rest = expected.count - received.count
        let resumed = try Self.python(
            "stream",
            server,
            [
                "query": query, "variables": ["after": String(try #require(received.last))], "count": rest,
                "timeout": 120,
            ]
        )
        let cursors = try #require((resumed["cursors"] as? [[Int]])?.first)
        #expect(received + cursors == expected, "\(received.count) before the kill, \(cursors.count) after")
    }

    /// A subscriber that stops reading is cut off with close code 4413 and a reason once its buffer fills,
    /// while another subscriber receives every event.
    @Test(.timeLimit(.minutes(8)))
    func aStalledSubscriberIsCutOffWhileTheOthersGoOn() throws {
        let server = try ServeProcess(configuration: "default_branch: main\ngraphql:\n  subscription_buffer: 1000\n")
        defer { _ = server.stop() }
        let query =
            "subscription { events(filter: {event_type: [\"load.event\"]}) { cursor node { id ... on StandardEvent { payload } } } }"
        let stalled = try Self.pythonProcess("stall", server, ["query": query])
        let stalledInput = Pipe()
        let stalledOutput = Pipe()
        stalled.standardInput = stalledInput
        stalled.standardOutput = stalledOutput
        try stalled.run()
        // Wait for "stalled" (subscribed, not reading).
        var line = Data()
        while !String(decoding: line, as: UTF8.self).contains("stalled") {
            let chunk = stalledOutput.fileHandleForReading.availableData
            try #require(!chunk.isEmpty, "the stalled client ended early")
            line.append(chunk)
        }
        let start = try #require(try Self.emit(server, [Self.event(1, name: "load.event")]).first)
        let padding = String(repeating: "x", count: 4_000)
        let batches = 24
        let perBatch = 250
        let reader = try Self.pythonProcess(
            "stream",
            server,
            [
                "query":
                    "subscription($after: String) { events(filter: {event_type: [\"load.event\"]}, after: $after) { cursor } }",
                "variables": ["after": String(start)], "count": batches * perBatch, "timeout": 300,
            ]
        )
        let readerOutput = Pipe()
        reader.standardOutput = readerOutput
        try reader.run()
        var expected: [Int] = []
        for batch in 0..<batches {
            let lines = (0..<perBatch).map { index in
                Self.event(1_000 + batch * perBatch + index, name: "load.event", data: #"{"pad":"\#(padding)"}"#)
            }
            expected += try Self.emit(server, lines)
        }
        // The load (24 MB for one subscriber) is far more than the socket buffers (the client's is 64 KiB)
        // and the 1000-event buffer hold: the stalled client has been cut off by now. It reads what was sent, then the close frame.
        stalledInput.fileHandleForWriting.write(Data("go\n".utf8))
        let rest = stalledOutput.fileHandleForReading.readDataToEndOfFile()
        #expect(stalled.reapedStatus() == 0)
        let readerData = readerOutput.fileHandleForReading.readDataToEndOfFile()
        #expect(reader.reapedStatus() == 0)
        let cursors = try #require(
            (try JSONSerialization.jsonObject(with: readerData) as? [String: Any])?["cursors"] as? [[Int]]
        )
        #expect(cursors.first == expected, "the reading subscriber got every event")
        let reconnects = (try JSONSerialization.jsonObject(with: readerData) as? [String: Any])?["reconnects"]
        #expect(
            (reconnects as? [String])?.isEmpty == true,
            "the reading subscriber was not cut off: \(reconnects ?? "")"
        )
        let text = String(decoding: rest, as: UTF8.self)
        let resultLine = try #require(text.split(separator: "\n").last.map(String.init), "\(text)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(resultLine.utf8)) as? [String: Any])
        #expect(result["ack"] as? String == "connection_ack")
        #expect(result["code"] as? Int == 4413, "\(result)")
        #expect((result["reason"] as? String)?.contains("fell behind") == true, "\(result)")
        #expect((result["received"] as? Int ?? .max) < expected.count, "\(result)")
    }
}

/// Tokens on `/graphql`: `events:read` to query (401/403 otherwise, WebSocket upgrades included), and
/// Infrahub's account-event rule: only `admin` sees `infrahub.account.*` events or may ask for them.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl"),
    .enabled(if: PythonVenv.python != nil, "python3 is not installed")
)
struct GraphQLTokenTests {
    static let producer = "producer-token-0123456789"
    static let reader = "reader-token-0123456789"
    static let admin = "admin-token-0123456789ab"

    @Test(.timeLimit(.minutes(2)))
    func readersSeeNoAccountEventsAndAdminsDo() throws {
        let server = try ServeProcess(
            configuration: """
                server:
                  tokens:
                    - {name: producer, environment: PRODUCER_TOKEN, scopes: [events:write]}
                    - {name: reader, environment: READER_TOKEN, scopes: [events:read]}
                    - {name: ops, environment: ADMIN_TOKEN, scopes: [admin]}
                """,
            environment: ["PRODUCER_TOKEN": Self.producer, "READER_TOKEN": Self.reader, "ADMIN_TOKEN": Self.admin]
        )
        defer { _ = server.stop() }
        let body = GraphQLTests.fixture.joined(separator: "\n") + "\n"
        let ingest = try server.request(
            "POST",
            "/api/events",
            headers: ["Content-Type": "application/x-ndjson", "Authorization": "Bearer \(Self.producer)"],
            body: Array(body.utf8)
        )
        #expect(ingest.status == 200, "\(ingest.text)")
        func query(_ token: String?, _ text: String) throws -> HTTPReply {
            var headers = ["Content-Type": "application/json"]
            if let token { headers["Authorization"] = "Bearer \(token)" }
            let json = try JSONSerialization.data(withJSONObject: ["query": text])
            return try server.request("POST", "/graphql", headers: headers, body: Array(json))
        }
        let count = "{ InfrahubEvent { count } }"
        #expect(try query(nil, count).status == 401)
        #expect(try query(Self.producer, count).status == 403)
        let asReader = try query(Self.reader, count)
        #expect(asReader.status == 200)
        #expect(GraphQLTests.countOf(asReader) == 6, "the account event is hidden: \(asReader.text)")
        let asAdmin = try query(Self.admin, count)
        #expect(GraphQLTests.countOf(asAdmin) == 7, "\(asAdmin.text)")
        let explicit = try query(
            Self.reader,
            #"{ InfrahubEvent(event_type: ["infrahub.account.logged_in"]) { count } }"#
        )
        #expect(explicit.text.contains("MANAGE_ACCOUNTS"), "\(explicit.text)")
        // GET with the query in the URL, on a branch path.
        let get = try server.request(
            "GET",
            "/graphql/main?query=%7B%20InfrahubEvent%20%7B%20count%20%7D%20%7D",
            headers: ["Authorization": "Bearer \(Self.admin)"]
        )
        #expect(GraphQLTests.countOf(get) == 7, "\(get.text)")
        // A WebSocket upgrade without a token is closed at once with 4401; a reader's token subscribes.
        let refused = try GraphQLTests.python("refused", server, [:])
        #expect(refused["code"] as? Int == 4401, "\(refused)")
        #expect((refused["reason"] as? String)?.hasPrefix("Unauthorized") == true, "\(refused)")
    }
}

/// Infrahub's `query(name:, params:, interval:)` subscription over the legacy graphql-ws protocol (gql's
/// transport, without waiting for the `connection_ack` Infrahub never sends), and the `graphql:` / `queries:`
/// configuration.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl"),
    .enabled(if: PythonVenv.python != nil, "python3 is not installed")
)
struct GraphQLNamedQueryTests {
    @Test(.timeLimit(.minutes(3)))
    func storedQueryRunsEveryInterval() throws {
        let server = try ServeProcess(
            configuration: """
                default_branch: main
                queries:
                  feature_events: |
                    query($branches: [String!]) { InfrahubEvent(branches: $branches) { count } }
                """
        )
        defer { _ = server.stop() }
        _ = try GraphQLTests.emit(server, GraphQLTests.fixture)
        let output = try GraphQLTests.python(
            "named",
            server,
            [
                "query":
                    #"subscription { query(name: "feature_events", params: {branches: ["feature"]}, interval: 1) }"#
            ]
        )
        let results = try #require(output["results"] as? [[String: Any]])
        #expect(results.count == 2)
        for result in results {
            let data = (result["query"] as? [String: Any])?["InfrahubEvent"] as? [String: Any]
            #expect(data?["count"] as? Int == 2, "\(result)")
        }
    }

    func parse(_ yaml: String) throws(ConfigurationError) -> ServerConfiguration {
        try ServerConfiguration(document: ConfigurationDocument.parse(Array(yaml.utf8), format: .yaml, file: "c.yaml"))
    }

    @Test func readsTheSections() throws {
        let configuration = try parse(
            """
            graphql: {limit_max: 500, subscription_buffer: 10, subscriptions_max: 3}
            queries:
              q1: "query { InfrahubEvent { count } }"
            """
        )
        #expect(configuration.graphQL.limitMax == 500)
        #expect(configuration.graphQL.subscriptionBufferLimit == 10)
        #expect(configuration.graphQL.subscriptionCountMax == 3)
        #expect(configuration.graphQL.queries == ["q1": "query { InfrahubEvent { count } }"])
    }

    @Test(arguments: [
        ("graphql: {limit_mx: 5}", "graphql.limit_mx", "unknown key 'limit_mx'; did you mean 'limit_max'?"),
        ("graphql: {limit_max: 0}", "graphql.limit_max", "must be an integer from 1 to 1000000, not 0"),
        (
            "graphql: {subscriptions_max: 99999}", "graphql.subscriptions_max",
            "must be an integer from 1 to 10000, not 99999"
        ),
        ("queries: {q: 5}", "queries.q", "must be the text of a GraphQL query"),
        ("queries: {q: \"query {\"}", "queries.q", "not a GraphQL document"),
        ("queries: {q: \"query { Nope }\"}", "queries.q", "invalid against the schema"),
        ("queries: {q: \"subscription { events { cursor } }\"}", "queries.q", "exactly one query operation"),
    ])
    func badSectionsNameTheField(line: String, field: String, message: String) {
        #expect {
            try parse(line + "\n")
        } throws: { error in
            let error = error as? ConfigurationError
            return error?.field == field && error?.message.contains(message) == true
        }
    }
}
