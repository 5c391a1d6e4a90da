import SluiceCore
import Testing

/// Related label patterns (``EventQuery/relatedLabels``) and the URL parameters of `GET /api/events`
/// (``EventQueryParameters``).
@Suite struct EventQueryParametersTests {
    static func specification(_ json: String) throws -> ResourceSpecification {
        try EventQueryParameters.specification("related_labels", json)
    }

    static func labels(_ specifications: [String]) throws -> EventQuery {
        var query = EventQuery()
        query.relatedLabels = try specifications.map(specification)
        return query
    }

    @Test func relatedLabelsFollowPrefectMatchRelated() throws {
        let event = EventQueryTests.eventBytes(branch: "feat-1", relatedNode: ("infrahub.group.member", "peer-7"))
        // Role-aware: the branch label on the branch resource.
        let branch = #"{"prefect.resource.role":"infrahub.branch","infrahub.resource.label":"feat-*"}"#
        #expect(try EventQueryTests.matches(try Self.labels([branch]), event))
        #expect(
            try !EventQueryTests.matches(
                try Self.labels([#"{"prefect.resource.role":"infrahub.account","infrahub.resource.label":"feat-*"}"#]),
                event
            )
        )
        // Labels of one specification hold on the same resource (AND), not across resources.
        #expect(
            try !EventQueryTests.matches(
                try Self.labels([#"{"infrahub.resource.label":"feat-1","infrahub.resource.id":"acct-1"}"#]),
                event
            )
        )
        // Several specifications: each needs some related resource (AND).
        let member = #"{"prefect.resource.role":"infrahub.group.*","prefect.resource.id":"peer-?"}"#
        #expect(try EventQueryTests.matches(try Self.labels([branch, member]), event))
        #expect(
            try !EventQueryTests.matches(try Self.labels([branch, #"{"prefect.resource.id":"nobody"}"#]), event)
        )
        // `!` negates a whole pattern; a missing label never matches, negated or not.
        #expect(
            try EventQueryTests.matches(
                try Self.labels([#"{"prefect.resource.role":"infrahub.branch","infrahub.resource.label":"!main"}"#]),
                event
            )
        )
        #expect(try !EventQueryTests.matches(try Self.labels([#"{"no.such.label":"!x"}"#]), event))
        // A list is OR; an empty specification matches every event.
        #expect(
            try EventQueryTests.matches(
                try Self.labels([#"{"infrahub.resource.label":["main","feat-1"]}"#, "{}"]),
                event
            )
        )
    }

    @Test func relatedLabelsPinningAnIndexedRoleBecomeSummaryProbes() throws {
        let branch = try Self.labels([#"{"prefect.resource.role":"infrahub.branch","infrahub.resource.label":"main"}"#])
        #expect(branch.summaryProbes.map(\.field) == [.branch])
        #expect(branch.summaryProbes.first?.keys == ["main"])
        let nodes = try Self.labels([
            #"{"prefect.resource.role":["infrahub.related.node","infrahub.group.member"],"prefect.resource.id":["a","b"]}"#
        ])
        #expect(nodes.summaryProbes.map(\.field) == [.relatedNodeID])
        // Globs, negations, a missing role, or roles of two fields: no probe (it would hide matches).
        for json in [
            #"{"prefect.resource.role":"infrahub.branch","infrahub.resource.label":"feat-*"}"#,
            #"{"prefect.resource.role":"infrahub.branch","infrahub.resource.label":"!main"}"#,
            #"{"infrahub.resource.label":"main"}"#,
            #"{"prefect.resource.role":["infrahub.branch","infrahub.account"],"infrahub.resource.label":"main"}"#,
        ] {
            #expect(try Self.labels([json]).summaryProbes.isEmpty, "\(json)")
        }
    }

    static func parse(_ query: String, admin: Bool = true) throws(EventQueryError) -> EventQueryParameters {
        try EventQueryParameters(EventQueryParameters.decode(queryString: query), mayReadAccountEvents: admin)
    }

    @Test func everyFilterReadsFromTheQueryString() throws {
        let parsed = try Self.parse(
            "ids=11111111-2222-4333-8444-555555555555&event_type=infrahub.node.updated&event_type=infrahub.x"
                + "&primary_node__ids=n*&related_node__ids=r1&parent__ids=p1&branches=main&branches=feat%2F1"
                + "&account__ids=a1&level=2&has_children=false&since=2025-01-01T00:00:00Z"
                + "&until=2025-12-31T00:00:00Z&order=ASC&limit=5&offset=3&after=42&count=true&name=infrahub.*"
                + "&kind=InfraDevice&related_labels=%7B%22infrahub.resource.label%22%3A+%22main%22%7D"
                + "&event_type_filter.branch_merged.branches=&event_type_filter.group_auto_create.idp=okta"
        )
        var expected = EventQuery()
        expected.ids = [try #require(EventID.parse("11111111-2222-4333-8444-555555555555"))]
        expected.eventTypes = ["infrahub.node.updated", "infrahub.x"]
        expected.primaryNodeIDs = ["n*"]
        expected.relatedNodeIDs = ["r1"]
        expected.parentIDs = ["p1"]
        expected.branches = ["main", "feat/1"]
        expected.accountIDs = ["a1"]
        expected.level = 2
        expected.hasChildren = false
        expected.since = Timestamp.parse("2025-01-01T00:00:00Z")
        expected.until = Timestamp.parse("2025-12-31T00:00:00Z")
        expected.order = .ascending
        expected.limit = 5
        expected.offset = 3
        expected.afterSequence = 42
        expected.names = [Glob("infrahub.*")]
        expected.nodeKinds = ["InfraDevice"]
        expected.relatedLabels = [ResourceSpecification([("infrahub.resource.label", "main")])]
        expected.eventTypeFilter.branchMerged = []
        expected.eventTypeFilter.groupAutoCreate = (["okta"], nil)
        #expect(parsed.query == expected)
        #expect(parsed.count)
    }

    @Test func badParametersNameTheParameterAndTheRange() throws {
        let cases: [(String, String, String)] = [
            ("colour=red", "colour", "unknown parameter"),
            ("limit=1&limit=2", "limit", "may be given once"),
            ("limit=-1", "limit", "from 0 to 2147483647"),
            ("limit=99999999999999999999999", "limit", "from 0 to 2147483647"),
            ("offset=x", "offset", "from 0 to 2147483647"),
            ("level=2147483648", "level", "from 0 to 2147483647"),
            ("after=-3", "after", "from 0 to 18446744073709551615"),
            ("has_children=yes", "has_children", "true or false"),
            ("order=up", "order", "asc or desc"),
            ("since=yesterday", "since", "RFC 3339"),
            ("ids=not-a-uuid", "ids", "UUID"),
            ("branches=%zz", "branches", "two hex digits"),
            ("branches=%ff", "branches", "UTF-8"),
            ("related_labels=%7B", "related_labels", "not JSON"),
            ("related_labels=%7B%22a%22%3A1%7D", "related_labels.a", "string or a list"),
            ("since=2025-02-01T00:00:00Z&until=2025-01-01T00:00:00Z", "since", "after until"),
        ]
        for (text, field, message) in cases {
            do {
                _ = try Self.parse(text)
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.field == field, "\(text): \(error)")
                #expect(error.message.contains(message), "\(text): \(error)")
            }
        }
        // Account events need the permission.
        #expect(throws: EventQueryError.self) { try Self.parse("event_type=infrahub.account.logged_in", admin: false) }
        #expect(try Self.parse("event_type=infrahub.account.logged_in", admin: true).query.eventTypes.count == 1)
    }
}
