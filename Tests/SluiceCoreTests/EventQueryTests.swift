import SluiceCore
import Testing

/// Each filter of ``EventQuery`` against events built to sit just inside and just outside it (spec §d.1).
@Suite struct EventQueryTests {
    static let eventID = "11111111-2222-4333-8444-555555555555"
    static let parentID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"

    /// A Prefect event with the related resources Infrahub attaches (account, branch, event, parent, node).
    static func eventBytes(
        name: String = "infrahub.node.updated",
        id: String = eventID,
        occurred: String = "2025-03-13T16:44:32.321142Z",
        nodeID: String = "node-1",
        kind: String = "InfraDevice",
        branch: String = "main",
        account: String = "acct-1",
        level: Int = 1,
        hasChildren: Bool = false,
        parent: String? = parentID,
        relatedNode: (role: String, id: String)? = ("infrahub.related.node", "peer-1"),
        extraPrimaryLabels: String = ""
    ) -> [UInt8] {
        var related = [
            #"{"prefect.resource.id":"infrahub.account.\#(account)","prefect.resource.role":"infrahub.account","infrahub.resource.id":"\#(account)"}"#,
            #"{"prefect.resource.id":"infrahub.branch.x","prefect.resource.role":"infrahub.branch","infrahub.resource.label":"\#(branch)"}"#,
            #"{"prefect.resource.id":"infrahub.event","prefect.resource.role":"infrahub.event","infrahub.event.level":"\#(level)","infrahub.event.has_children":"\#(hasChildren)"}"#,
        ]
        if let parent {
            related.append(
                #"{"prefect.resource.id":"\#(parent)","prefect.resource.role":"infrahub.child_event","infrahub.event_parent.id":"\#(parent)"}"#
            )
        }
        if let relatedNode {
            related.append(
                #"{"prefect.resource.id":"\#(relatedNode.id)","prefect.resource.role":"\#(relatedNode.role)"}"#
            )
        }
        let text =
            #"{"occurred":"\#(occurred)","event":"\#(name)","resource":{"prefect.resource.id":"infrahub.node.\#(nodeID)","infrahub.node.id":"\#(nodeID)","infrahub.node.kind":"\#(kind)"\#(extraPrimaryLabels)},"related":[\#(related.joined(separator: ","))],"payload":{},"id":"\#(id)"}"#
        return Array(text.utf8)
    }

    static func matches(_ query: EventQuery, _ bytes: [UInt8]) throws -> Bool {
        var decoder = EventDecoder()
        let event = try decoder.decode(bytes)
        return query.matches(event, symbols: decoder.symbols)
    }

    static func query(_ change: (inout EventQuery) -> Void) -> EventQuery {
        var query = EventQuery()
        change(&query)
        return query
    }

    @Test func emptyQueryMatchesInfrahubEventsOnly() throws {
        #expect(try Self.matches(EventQuery(), Self.eventBytes()))
        #expect(try !Self.matches(EventQuery(), Self.eventBytes(name: "prefect.flow-run.Completed")))
        // With event_type, the prefix rule does not apply.
        #expect(
            try Self.matches(Self.query { $0.eventTypes = ["custom.thing"] }, Self.eventBytes(name: "custom.thing"))
        )
    }

    @Test func accountEventsNeedThePermission() throws {
        let login = Self.eventBytes(name: "infrahub.account.logged_in")
        #expect(try Self.matches(EventQuery(), login))
        #expect(try !Self.matches(Self.query { $0.mayReadAccountEvents = false }, login))
        let explicit = Self.query {
            $0.mayReadAccountEvents = false
            $0.eventTypes = ["infrahub.account.logged_in"]
        }
        #expect(throws: EventQueryError.self) { try explicit.validate() }
    }

    @Test func ids() throws {
        let query = Self.query { $0.ids = [EventID.parse(Self.eventID)!] }
        #expect(try Self.matches(query, Self.eventBytes()))
        #expect(try !Self.matches(query, Self.eventBytes(id: Self.parentID)))
    }

    @Test func eventTypeIsExact() throws {
        let query = Self.query { $0.eventTypes = ["infrahub.node.updated", "infrahub.node.created"] }
        #expect(try Self.matches(query, Self.eventBytes()))
        #expect(try !Self.matches(query, Self.eventBytes(name: "infrahub.node.deleted")))
        #expect(try !Self.matches(Self.query { $0.eventTypes = ["infrahub.node"] }, Self.eventBytes()))
    }

    @Test func eventTypeFilterAddsNamesAndFiltersPrimaryBranch() throws {
        var filter = EventQuery.EventTypeFilter()
        filter.branchMerged = ["feature"]
        let query = Self.query { $0.eventTypeFilter = filter }
        #expect(query.effectiveEventTypes == ["infrahub.branch.merged"])
        let merged = Self.eventBytes(
            name: "infrahub.branch.merged",
            extraPrimaryLabels: #","infrahub.branch.name":"feature""#
        )
        let otherMerge = Self.eventBytes(
            name: "infrahub.branch.merged",
            extraPrimaryLabels: #","infrahub.branch.name":"x""#
        )
        #expect(try Self.matches(query, merged))
        #expect(try !Self.matches(query, otherMerge))
        #expect(try !Self.matches(query, Self.eventBytes()))
        // `infrahub.branch.created` in event_type stops the names being added (Infrahub's check, sic).
        let withCreated = Self.query {
            $0.eventTypeFilter = filter
            $0.eventTypes = ["infrahub.branch.created"]
        }
        #expect(withCreated.effectiveEventTypes == ["infrahub.branch.created"])
        var auto = EventQuery.EventTypeFilter()
        auto.groupAutoCreate = (idp: ["okta"], protocolNames: nil)
        let autoQuery = Self.query { $0.eventTypeFilter = auto }
        #expect(autoQuery.effectiveEventTypes?.count == 3)
        let created = Self.eventBytes(
            name: "infrahub.group.auto_created",
            extraPrimaryLabels: #","infrahub.security.idp":"okta""#
        )
        #expect(try Self.matches(autoQuery, created))
        #expect(try !Self.matches(autoQuery, Self.eventBytes(name: "infrahub.group.auto_created")))
    }

    @Test func primaryNodeIDsExactOrPrefix() throws {
        #expect(try Self.matches(Self.query { $0.primaryNodeIDs = ["node-1"] }, Self.eventBytes()))
        #expect(try !Self.matches(Self.query { $0.primaryNodeIDs = ["node-"] }, Self.eventBytes()))
        #expect(try Self.matches(Self.query { $0.primaryNodeIDs = ["node-*"] }, Self.eventBytes()))
        #expect(try !Self.matches(Self.query { $0.primaryNodeIDs = ["peer-1"] }, Self.eventBytes()))
    }

    @Test func relatedNodeIDsByRole() throws {
        let query = Self.query { $0.relatedNodeIDs = ["peer-1"] }
        #expect(try Self.matches(query, Self.eventBytes()))
        #expect(try Self.matches(query, Self.eventBytes(relatedNode: ("infrahub.group.member", "peer-1"))))
        #expect(try Self.matches(query, Self.eventBytes(relatedNode: ("infrahub.group.ancestor", "peer-1"))))
        #expect(try !Self.matches(query, Self.eventBytes(relatedNode: ("infrahub.other", "peer-1"))))
        #expect(try !Self.matches(query, Self.eventBytes(relatedNode: nil)))
        // The primary node is not a related node.
        #expect(try !Self.matches(Self.query { $0.relatedNodeIDs = ["node-1"] }, Self.eventBytes()))
    }

    @Test func parentIDs() throws {
        let query = Self.query { $0.parentIDs = [Self.parentID] }
        #expect(try Self.matches(query, Self.eventBytes()))
        #expect(try !Self.matches(query, Self.eventBytes(parent: nil)))
        #expect(try !Self.matches(query, Self.eventBytes(parent: Self.eventID)))
    }

    @Test func branchesAccountsKinds() throws {
        #expect(try Self.matches(Self.query { $0.branches = ["x", "main"] }, Self.eventBytes()))
        #expect(try !Self.matches(Self.query { $0.branches = ["feature"] }, Self.eventBytes()))
        #expect(try Self.matches(Self.query { $0.accountIDs = ["acct-1"] }, Self.eventBytes()))
        #expect(try !Self.matches(Self.query { $0.accountIDs = ["acct-2"] }, Self.eventBytes()))
        #expect(try Self.matches(Self.query { $0.nodeKinds = ["InfraDevice"] }, Self.eventBytes()))
        #expect(try !Self.matches(Self.query { $0.nodeKinds = ["InfraSite"] }, Self.eventBytes()))
    }

    @Test func levelAndHasChildren() throws {
        #expect(try Self.matches(Self.query { $0.level = 1 }, Self.eventBytes()))
        #expect(try !Self.matches(Self.query { $0.level = 0 }, Self.eventBytes()))
        #expect(try Self.matches(Self.query { $0.hasChildren = true }, Self.eventBytes(hasChildren: true)))
        #expect(try !Self.matches(Self.query { $0.hasChildren = true }, Self.eventBytes()))
        #expect(try Self.matches(Self.query { $0.hasChildren = false }, Self.eventBytes()))
    }

    @Test func sinceAndUntilAreInclusive() throws {
        let at = Timestamp.parse("2025-03-13T16:44:32.321142Z")!
        let later = Timestamp(microsecondsSinceEpoch: at.microsecondsSinceEpoch + 1)
        let earlier = Timestamp(microsecondsSinceEpoch: at.microsecondsSinceEpoch - 1)
        #expect(try Self.matches(Self.query { $0.since = at }, Self.eventBytes()))
        #expect(try Self.matches(Self.query { $0.until = at }, Self.eventBytes()))
        #expect(try !Self.matches(Self.query { $0.since = later }, Self.eventBytes()))
        #expect(try !Self.matches(Self.query { $0.until = earlier }, Self.eventBytes()))
        #expect(throws: EventQueryError.self) {
            try Self.query {
                $0.since = later
                $0.until = at
            }.validate()
        }
    }

    @Test func nameGlobs() throws {
        #expect(try Self.matches(Self.query { $0.names = [Glob("infrahub.node.*")] }, Self.eventBytes()))
        #expect(try !Self.matches(Self.query { $0.names = [Glob("infrahub.branch.*")] }, Self.eventBytes()))
    }

    @Test func pagingIsRangeChecked() {
        #expect(throws: EventQueryError.self) { try Self.query { $0.limit = -1 }.validate() }
        #expect(throws: EventQueryError.self) { try Self.query { $0.offset = -1 }.validate() }
        #expect(throws: EventQueryError.self) { try Self.query { $0.level = -1 }.validate() }
        #expect(throws: Never.self) {
            try Self.query {
                $0.limit = 50
                $0.offset = 10
            }.validate()
        }
    }

    @Test func cursorDependsOnOrder() {
        var query = Self.query { $0.afterSequence = 10 }
        #expect(query.isAfterCursor(9) && !query.isAfterCursor(10))
        query.order = .ascending
        #expect(query.isAfterCursor(11) && !query.isAfterCursor(10))
    }

    @Test func bloomFilterHasNoFalseNegativesAndFewFalsePositives() {
        var filter = BloomFilter(keyCount: 1000)
        for key in 0..<1000 { filter.insert("key-\(key)") }
        for key in 0..<1000 { #expect(filter.mayContain("key-\(key)")) }
        let falsePositives = (0..<10_000).filter { filter.mayContain("other-\($0)") }.count
        #expect(falsePositives < 300, "about 1 % expected, got \(falsePositives) of 10000")
    }
}
