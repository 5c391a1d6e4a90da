import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

/// The Infrahub webhook body (spec §c.4), byte-exact against the official examples.
@Suite struct WebhookBodyTests {
    static let account = "182c6918-8880-5252-3611-c51ae7e0d6a5"

    /// Official example 1: `infrahub.branch.created` (context branch `-global-` → `"branch":null`).
    static func branchCreatedExample() throws -> Event {
        var meta = InfrahubEventMeta(
            id: EventID.parse("2ece726f-8574-488c-92f7-ee9a56485b46")!,
            occurred: Timestamp.parse("2025-03-13T16:44:32.321142Z")!,
            branchName: "-global-",
            accountID: account
        )
        meta.level = 0
        var decoder = EventDecoder()
        return try InfrahubEvents.branch(
            .branchCreated,
            branchName: "test",
            branchID: "182c6a84-4af4-736b-35a6-c514e640ca8b",
            syncWithGit: false,
            meta: meta
        ).build(with: &decoder)
    }

    /// Official example 2: `infrahub.node.updated` on branch `alter-interface`.
    static func nodeUpdatedExample() throws -> Event {
        let meta = InfrahubEventMeta(
            id: EventID.parse("67acc7ea-93b1-4175-a69b-801c869aea07")!,
            occurred: Timestamp.parse("2025-03-13T16:36:25.688038Z")!,
            branchName: "alter-interface",
            branchID: "18c0f7a2-7b3f-7ee3-1351-1065a393b80c",
            accountID: account
        )
        var mutation = NodeMutation(
            kind: "InfraInterfaceL3",
            nodeID: "182c697c-9915-aa00-39b7-c5181aeb3367",
            action: .updated,
            displayLabel: "Ethernet1"
        )
        mutation.attributes = [
            AttributeChange(
                name: "description",
                value: "Connected to IX",
                valuePrevious: "Connected to atl1-edge2::Ethernet1",
                kind: "Text",
                status: "updated"
            ),
            AttributeChange(name: "role", value: "peering", valuePrevious: "peer", kind: "Dropdown", status: "updated"),
        ]
        var decoder = EventDecoder()
        return try InfrahubEvents.nodeMutated(mutation, meta: meta).build(with: &decoder)
    }

    @Test func branchCreatedBodyIsByteExact() throws {
        let expected =
            #"{"data":{"branch_id":"182c6a84-4af4-736b-35a6-c514e640ca8b","branch_name":"test","sync_with_git":false},"id":"2ece726f-8574-488c-92f7-ee9a56485b46","branch":null,"account_id":"182c6918-8880-5252-3611-c51ae7e0d6a5","occured_at":"2025-03-13 16:44:32.321142+00:00","event":"infrahub.branch.created"}"#
        #expect(try Self.branchCreatedExample().webhookBody().utf8String == expected)
    }

    @Test func nodeUpdatedBodyIsByteExact() throws {
        let expected =
            #"{"data":{"kind":"InfraInterfaceL3","action":"updated","fields":["description","role"],"node_id":"182c697c-9915-aa00-39b7-c5181aeb3367","changelog":{"node_id":"182c697c-9915-aa00-39b7-c5181aeb3367","node_kind":"InfraInterfaceL3","attributes":{"role":{"kind":"Dropdown","name":"role","value":"peering","properties":{},"value_previous":"peer","value_update_status":"updated"},"description":{"kind":"Text","name":"description","value":"Connected to IX","properties":{},"value_previous":"Connected to atl1-edge2::Ethernet1","value_update_status":"updated"}},"display_label":"Ethernet1","relationships":{}}},"id":"67acc7ea-93b1-4175-a69b-801c869aea07","branch":"alter-interface","account_id":"182c6918-8880-5252-3611-c51ae7e0d6a5","occured_at":"2025-03-13 16:36:25.688038+00:00","event":"infrahub.node.updated"}"#
        #expect(try Self.nodeUpdatedExample().webhookBody().utf8String == expected)
    }

    /// `data` is copied from the producer's bytes: whitespace goes, key order, number text and escapes stay;
    /// the header strings are re-escaped the way Python's `ensure_ascii=False` does.
    @Test func dataIsSplicedNotReserialized() throws {
        let event = #"""
            { "event" : "infrahub.node.updated", "occurred": "2025-03-13T16:36:25Z",
              "resource": {"prefect.resource.id": "x"}, "id": "67ACC7EA-93B1-4175-A69B-801C869AEA07",
              "payload": {"context": {"branch": {"name": "caf\u00e9\n", "id": null}, "account_id": null},
                          "data": {"z": 1.50, "a": "\u00e9 \"q\"", "n": [ 1 , 2 ] } } }
            """#
        var decoder = EventDecoder()
        let decoded = try decoder.decode(Array(event.utf8))
        let expected =
            #"{"data":{"z":1.50,"a":"\u00e9 \"q\"","n":[1,2]},"id":"67acc7ea-93b1-4175-a69b-801c869aea07","branch":"café\n","account_id":null,"occured_at":"2025-03-13 16:36:25+00:00","event":"infrahub.node.updated"}"#
        #expect(decoded.webhookBody().utf8String == expected)
    }

    @Test func missingContextGivesNullBranchAndAccount() throws {
        var decoder = EventDecoder()
        let decoded = try decoder.decode(
            Array(
                #"{"event":"e","occurred":"2025-01-01T00:00:00.000001+02:00","resource":{"prefect.resource.id":"r"},"id":"67acc7ea-93b1-4175-a69b-801c869aea07","payload":{"data":{}}}"#
                    .utf8
            )
        )
        #expect(
            decoded.webhookBody().utf8String
                == #"{"data":{},"id":"67acc7ea-93b1-4175-a69b-801c869aea07","branch":null,"account_id":null,"occured_at":"2025-01-01 00:00:00.000001+02:00","event":"e"}"#
        )
    }

    /// `occurred` as producers write it, and `occured_at` as Infrahub sends it: Python's `str()` of the
    /// aware datetime, in the event's own offset (spec §b.1, §c.4). Each pair was printed by
    /// `str(datetime.fromisoformat(occurred))` (Python 3.11); ``occuredAtMatchesPython`` checks them again.
    static let occurredTable: [(occurred: String, occuredAt: String)] = [
        ("2026-11-03T06:05:06.5+02:00", "2026-11-03 06:05:06.500000+02:00"),
        ("2025-03-13T16:44:32.321142Z", "2025-03-13 16:44:32.321142+00:00"),
        ("2025-03-13T16:44:32-00:00", "2025-03-13 16:44:32+00:00"),
        ("2025-03-13T16:44:32+00:00", "2025-03-13 16:44:32+00:00"),
        ("2025-03-13 16:44:32.120Z", "2025-03-13 16:44:32.120000+00:00"),
        ("2025-03-13T16:44:32.1234567+23:59", "2025-03-13 16:44:32.123456+23:59"),
        ("2025-12-31T23:59:59.999999-05:30", "2025-12-31 23:59:59.999999-05:30"),
        ("2025-06-01T12:00:00-00:30", "2025-06-01 12:00:00-00:30"),
        ("2025-06-01T00:10:00+00:30", "2025-06-01 00:10:00+00:30"),
        ("2024-02-29T23:00:00.000001-23:59", "2024-02-29 23:00:00.000001-23:59"),
        ("2025-01-01T00:00:00+14:00", "2025-01-01 00:00:00+14:00"),
        ("0001-01-01T00:00:00Z", "0001-01-01 00:00:00+00:00"),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31 23:59:59.999999+00:00"),
    ]

    static func event(occurred: String) throws -> Event {
        var decoder = EventDecoder()
        return try decoder.decode(
            Array(
                (#"{"event":"e","occurred":""# + occurred
                    + #"","resource":{"prefect.resource.id":"r"},"id":"67acc7ea-93b1-4175-a69b-801c869aea07","payload":{"data":{}}}"#)
                    .utf8
            )
        )
    }

    @Test(arguments: occurredTable) func occuredAtKeepsTheEventsOffset(occurred: String, occuredAt: String) throws {
        let event = try Self.event(occurred: occurred)
        #expect(
            event.webhookBody().utf8String
                == #"{"data":{},"id":"67acc7ea-93b1-4175-a69b-801c869aea07","branch":null,"account_id":null,"occured_at":""#
                + occuredAt + #"","event":"e"}"#
        )
        // The instant itself is unchanged: the Prefect view and matching still see UTC.
        #expect(event.header.occurred == Timestamp.parse(occurred))
    }

    /// Outside Python's `datetime` range (year 0, or a UTC instant before year 1 or after 9999) the event is
    /// rejected with its field named, never formatted with a negative year (which would trap).
    @Test(arguments: ["0000-01-01T00:00:00Z", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"])
    func occurredOutsidePythonsRangeIsRejected(occurred: String) {
        #expect(Timestamp.parse(occurred) == nil)
        #expect(throws: EventDecodingError.self) { try Self.event(occurred: occurred) }
    }

    /// Python itself prints every row of ``occurredTable`` (`str(datetime.fromisoformat(…))`) the way the body
    /// does: the table is not just our own reading of the rules.
    @Test(.enabled(if: pythonPath() != nil, "needs python3 (3.11+, for fromisoformat with Z)"))
    func occuredAtMatchesPython() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(pythonPath()))
        process.arguments = [
            "-c",
            "import sys\nfrom datetime import datetime\nfor line in sys.stdin.read().splitlines():\n"
                + "    print(str(datetime.fromisoformat(line)))",
        ]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let lines = Self.occurredTable.map(\.occurred).joined(separator: "\n") + "\n"
        input.fileHandleForWriting.write(Data(lines.utf8))
        try input.fileHandleForWriting.close()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.reapedStatus() == 0)
        let pythonLines = printed.split(separator: "\n").map(String.init)
        let ours = try Self.occurredTable.map { row in
            try JSONValue.parse(try Self.event(occurred: row.occurred).webhookBody())["occured_at"]?.stringValue ?? ""
        }
        #expect(pythonLines == ours)
        #expect(pythonLines == Self.occurredTable.map(\.occuredAt))
    }

    @Test func graphQLViewDerivesInfrahubFields() throws {
        let event = try Self.nodeUpdatedExample()
        var bytes: [UInt8] = []
        event.appendGraphQLNode(to: &bytes)
        let node = try JSONValue.parse(bytes)
        #expect(node["__typename"] == "NodeMutatedEvent")
        #expect(node["branch"] == "alter-interface")
        #expect(node["account_id"] == .string(Self.account))
        #expect(node["occurred_at"] == "2025-03-13T16:36:25.688038+00:00")
        #expect(node["level"] == 0)
        #expect(node["has_children"] == false)
        #expect(node["parent_id"] == .null)
        #expect(node["primary_node"] == ["id": "182c697c-9915-aa00-39b7-c5181aeb3367", "kind": "InfraInterfaceL3"])
        #expect(node["related_nodes"] == [])  // the node itself is the primary node
        #expect(node[path: ["payload", "context", "branch", "name"]] == "alter-interface")
        var global: [UInt8] = []
        try Self.branchCreatedExample().appendGraphQLNode(to: &global)
        let branchNode = try JSONValue.parse(global)
        #expect(branchNode["branch"] == .null)
        #expect(branchNode["primary_node"] == .null)
        #expect(branchNode["__typename"] == "BranchCreatedEvent")
    }
}

/// `python3` on the `PATH`, if any.
func pythonPath() -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/python3"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}
