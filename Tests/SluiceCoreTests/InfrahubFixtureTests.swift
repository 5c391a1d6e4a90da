import SluiceCore
import SluiceTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One hand-checkable event per Infrahub event type (spec §a.5), built by the builders with fixed ids.
/// `fixtures/infrahub/all-event-types.jsonl` is the golden copy: regenerate only on purpose with
/// `SLUICE_WRITE_FIXTURES=1 swift test --filter InfrahubFixtureTests`, and review the diff by hand.
enum InfrahubFixtureCatalog {
    static let account = "182c6918-8880-5252-3611-c51ae7e0d6a5"
    static let mainBranchID = "18c0f7a2-7b3f-7ee3-1351-1065a393b80c"

    static func meta(_ index: Int, branch: String = "main") -> InfrahubEventMeta {
        let suffix = String(index + 1)
        let id = EventID.parse("00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - suffix.count) + suffix)!
        let global = branch == "-global-"
        return InfrahubEventMeta(
            id: id,
            occurred: Timestamp(secondsSinceEpoch: 1_741_884_272 + Int64(index), microseconds: 321_142),
            branchName: branch,
            branchID: global ? nil : mainBranchID,
            accountID: account
        )
    }

    static func events() -> [EventDraft] {
        let device = NodeReference(id: "182c697c-9915-aa00-39b7-c5181aeb3367", kind: "InfraDevice")
        let change = InfrahubEvents.ProposedChange(
            id: "182c6a90-0000-4000-8000-00000000a001",
            name: "add-peering",
            state: "open"
        )
        let reviewer = (id: account, name: "admin")
        var drafts: [EventDraft] = []
        for (position, action) in [NodeMutation.Action.created, .updated, .deleted].enumerated() {
            var mutation = NodeMutation(
                kind: "InfraInterfaceL3",
                nodeID: "182c697c-9915-aa00-39b7-c5181aeb3368",
                action: action,
                displayLabel: "Ethernet1"
            )
            mutation.attributes = [
                AttributeChange(
                    name: "description",
                    value: action == .deleted ? nil : "Connected to IX",
                    valuePrevious: action == .created ? nil : "Connected to atl1-edge2::Ethernet1",
                    status: action == .created ? "added" : action == .deleted ? "removed" : "updated"
                )
            ]
            mutation.relationships = [
                RelationshipChange(name: "device", cardinality: .one(peer: device, previous: nil, status: "added"))
            ]
            mutation.parent = device
            mutation.rootID = device.id
            drafts.append(InfrahubEvents.nodeMutated(mutation, meta: meta(position)))
        }
        let branchNames: [InfrahubEventName] = [
            .branchCreated, .branchDeleted, .branchMerged, .branchRebased, .branchMigrated,
        ]
        for name in branchNames {
            drafts.append(
                InfrahubEvents.branch(
                    name,
                    branchName: "test",
                    branchID: "182c6a84-4af4-736b-35a6-c514e640ca8b",
                    proposedChangeID: name == .branchMerged ? change.id : nil,
                    meta: meta(drafts.count, branch: name.hasGlobalContextBranch ? "-global-" : "test")
                )
            )
        }
        drafts.append(
            InfrahubEvents.schemaUpdated(
                branchName: "main",
                schemaHash: "a1b2c3d4e5f60718293a4b5c6d7e8f90",
                changedElements: ["added_kinds": ["InfraCircuit"], "removed_kinds": [], "changed_fields": [:]],
                meta: meta(drafts.count)
            )
        )
        drafts.append(
            InfrahubEvents.repositoryUpdateCommit(
                commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                repositoryID: "182c6aa0-0000-4000-8000-00000000b001",
                repositoryName: "infrahub-demo",
                meta: meta(drafts.count)
            )
        )
        for name in [InfrahubEventName.artifactCreated, .artifactUpdated] {
            let updated = name == .artifactUpdated
            drafts.append(
                InfrahubEvents.artifact(
                    name,
                    InfrahubEvents.Artifact(
                        nodeID: "182c6ab0-0000-4000-8000-00000000c001",
                        definitionID: "182c6ab0-0000-4000-8000-00000000c002",
                        definitionName: "startup-config",
                        target: device,
                        checksum: "c0ffee00c0ffee00c0ffee00c0ffee00",
                        storageID: "182c6ab0-0000-4000-8000-00000000c003",
                        checksumPrevious: updated ? "deadbeefdeadbeefdeadbeefdeadbeef" : nil,
                        storageIDPrevious: updated ? "182c6ab0-0000-4000-8000-00000000c004" : nil
                    ),
                    meta: meta(drafts.count)
                )
            )
        }
        for name in [InfrahubEventName.groupMemberAdded, .groupMemberRemoved] {
            drafts.append(
                InfrahubEvents.groupMembers(
                    name,
                    group: NodeReference(id: "182c6ac0-0000-4000-8000-00000000d001", kind: "CoreStandardGroup"),
                    members: [device],
                    ancestors: [NodeReference(id: "182c6ac0-0000-4000-8000-00000000d002", kind: "CoreStandardGroup")],
                    meta: meta(drafts.count)
                )
            )
        }
        let claim = InfrahubEvents.GroupAutoCreateClaim(
            idp: "keycloak",
            protocolName: "oidc",
            userID: account,
            userName: "admin"
        )
        drafts.append(
            InfrahubEvents.groupAutoCreate(
                .groupAutoCreated,
                claim: claim,
                details: [
                    "group_id": "182c6ad0-0000-4000-8000-00000000e001", "group_name": "netops",
                    "source_pattern": "^net.*$", "origin_value": "netops",
                ],
                meta: meta(drafts.count)
            )
        )
        drafts.append(
            InfrahubEvents.groupAutoCreate(
                .groupAutoCreateRejected,
                claim: claim,
                details: ["rejected_claim_value": "contractors"],
                meta: meta(drafts.count)
            )
        )
        drafts.append(
            InfrahubEvents.groupAutoCreate(
                .groupAutoCreateCapped,
                claim: claim,
                details: [
                    "cap_value": 2, "dropped_claims": ["sre", "dba"], "dropped_count": 2,
                ],
                meta: meta(drafts.count)
            )
        )
        drafts.append(
            InfrahubEvents.proposedChange(
                .proposedChangeMerged,
                change,
                details: [
                    "merged_by_account_id": .string(account), "merged_by_account_name": "admin",
                ],
                relatedAccounts: [reviewer],
                accountNameLabel: "infrahub.merged_by.account.name",
                meta: meta(drafts.count)
            )
        )
        drafts.append(
            InfrahubEvents.proposedChange(
                .proposedChangeReviewRequested,
                change,
                details: [
                    "requested_by_account_id": .string(account), "requested_by_account_name": "admin",
                ],
                relatedAccounts: [reviewer],
                accountNameLabel: "infrahub.requested_by.account.name",
                meta: meta(drafts.count)
            )
        )
        for (name, decision) in [
            (InfrahubEventName.proposedChangeApproved, "approve"), (.proposedChangeRejected, "reject"),
        ] {
            drafts.append(
                InfrahubEvents.proposedChange(
                    name,
                    change,
                    details: [
                        "reviewer_account_id": .string(account), "reviewer_account_name": "admin",
                        "reviewer_decision": .string(decision),
                    ],
                    relatedAccounts: [reviewer],
                    meta: meta(drafts.count)
                )
            )
        }
        for (name, decision) in [
            (InfrahubEventName.proposedChangeApprovalRevoked, "approve"), (.proposedChangeRejectionRevoked, "reject"),
        ] {
            drafts.append(
                InfrahubEvents.proposedChange(
                    name,
                    change,
                    details: [
                        "reviewer_account_id": .string(account), "reviewer_account_name": "admin",
                        "reviewer_former_decision": .string(decision),
                    ],
                    relatedAccounts: [reviewer],
                    meta: meta(drafts.count)
                )
            )
        }
        drafts.append(
            InfrahubEvents.proposedChange(
                .proposedChangeApprovalsRevoked,
                change,
                details: [
                    "reviewer_accounts": .object(JSONObject([JSONObject.Member(account, "admin")]))
                ],
                relatedAccounts: [reviewer],
                meta: meta(drafts.count)
            )
        )
        let thread = NodeReference(id: "182c6ae0-0000-4000-8000-00000000f001", kind: "CoreChangeThread")
        for (name, action) in [
            (InfrahubEventName.proposedChangeThreadCreated, "created"), (.proposedChangeThreadUpdated, "updated"),
        ] {
            drafts.append(
                InfrahubEvents.proposedChange(
                    name,
                    change,
                    details: [
                        "thread_id": .string(thread.id), "thread_kind": .string(thread.kind), "action": .string(action),
                    ],
                    thread: thread,
                    meta: meta(drafts.count, branch: "add-peering")
                )
            )
        }
        for name in [InfrahubEventName.validatorStarted, .validatorPassed, .validatorFailed] {
            drafts.append(
                InfrahubEvents.validator(
                    name,
                    validator: NodeReference(id: "182c6af0-0000-4000-8000-00000000a101", kind: "CoreDataValidator"),
                    proposedChangeID: change.id,
                    meta: meta(drafts.count)
                )
            )
        }
        drafts.append(
            InfrahubEvents.account(
                .accountLoggedIn,
                accountID: account,
                accountName: "admin",
                details: [
                    "account_type": "User", "auth_method": "password",
                    "session_id": "182c6b00-0000-4000-8000-00000000a201",
                    "groups": [
                        .object(JSONObject([JSONObject.Member("182c6b00-0000-4000-8000-00000000a202", "operators")]))
                    ],
                    "roles": [
                        .object(JSONObject([JSONObject.Member("182c6b00-0000-4000-8000-00000000a203", "read-write")]))
                    ],
                    "identity_source": "local", "client_ip": "127.0.0.1", "user_agent": "curl/8.0",
                    "timestamp": "2025-03-13T16:44:32.321142+00:00",
                ],
                meta: meta(drafts.count)
            )
        )
        drafts.append(
            InfrahubEvents.account(
                .accountLoggedOut,
                accountID: account,
                accountName: "admin",
                details: [
                    "session_id": "182c6b00-0000-4000-8000-00000000a201", "logout_type": "user_initiated",
                    "client_ip": "127.0.0.1",
                    "user_agent": "curl/8.0", "timestamp": "2025-03-13T17:44:32.321142+00:00",
                ],
                meta: meta(drafts.count)
            )
        )
        return drafts
    }

    static func encodedStream() -> [UInt8] {
        events().flatMap { $0.encoded() + [0x0A] }
    }
}

@Suite struct InfrahubFixtureTests {
    static let path = "fixtures/infrahub/all-event-types.jsonl"

    @Test func catalogueCoversAll31EventNames() {
        #expect(InfrahubEventName.allCases.count == 31)
        let names = Set(InfrahubFixtureCatalog.events().map(\.name))
        #expect(names == Set(InfrahubEventName.allCases.map(\.rawValue)))
    }

    @Test func goldenFixtureMatchesTheBuilders() throws {
        let built = InfrahubFixtureCatalog.encodedStream()
        if getenv("SLUICE_WRITE_FIXTURES") != nil { writeFile(packageRoot + "/" + Self.path, built) }
        let stored = try readRepositoryFile(Self.path)
        #expect(stored == built, "builders changed their output; review and regenerate \(Self.path) on purpose")
    }

    @Test func everyEventDecodesWithTheCommonRelatedResources() throws {
        var decoder = EventDecoder()
        for draft in InfrahubFixtureCatalog.events() {
            let event = try draft.build(with: &decoder)
            let roles = event.header.related.prefix(4).map { decoder.symbols.string($0.role) }
            #expect(
                roles == ["infrahub.version", "infrahub.event", "infrahub.account", "infrahub.branch"],
                "\(draft.name)"
            )
            let name = try #require(InfrahubEventName(rawValue: draft.name))
            let body = try JSONValue.parse(event.webhookBody())
            #expect(body["event"] == .string(draft.name))
            #expect((body["branch"] == .null) == name.hasGlobalContextBranch, "\(draft.name)")
            if name.isNodeKindEvent { #expect(event.header.nodeKind != .none, "\(draft.name)") }
        }
    }

    @Test func nodeMutationCarriesInfrahubLabels() throws {
        var decoder = EventDecoder()
        let event = try InfrahubFixtureCatalog.events()[1].build(with: &decoder)
        let primary = event.header.primary
        #expect(
            event.labelValue(.prefectResourceID, of: primary) == "infrahub.node.182c697c-9915-aa00-39b7-c5181aeb3368"
        )
        #expect(event.labelValue(decoder.symbols.intern("infrahub.node.action")!, of: primary) == "updated")
        #expect(
            event.labelValue(decoder.symbols.intern("infrahub.node.root_id")!, of: primary)
                == "182c697c-9915-aa00-39b7-c5181aeb3367"
        )
        let roles = event.header.related.dropFirst(4).map { decoder.symbols.string($0.role) }
        #expect(
            roles == [
                "infrahub.node.attribute_update", "infrahub.node.parent", "infrahub.related.node",
                "infrahub.node.relationship_update",
            ]
        )
        let created = try InfrahubFixtureCatalog.events()[0].build(with: &decoder)
        let attribute = created.header.resources[5]
        #expect(
            created.labelValue(decoder.symbols.intern("infrahub.attribute.value_previous")!, of: attribute) == "NULL"
        )
        let body = try JSONValue.parse(event.webhookBody())
        #expect(body[path: ["data", "fields"]] == ["device", "description"])
    }

    @Test func childMetaCarriesLineage() throws {
        let parent = InfrahubFixtureCatalog.meta(0)
        let child = parent.child(
            id: InfrahubFixtureCatalog.meta(1).id,
            occurred: parent.occurred,
            parentName: "infrahub.branch.merged"
        )
        var decoder = EventDecoder()
        let event = try InfrahubEvents.branch(.branchRebased, branchName: "b", branchID: "i", meta: child).build(
            with: &decoder
        )
        #expect(event.header.level == 1)
        #expect(event.header.parent == parent.id)
        #expect(event.ancestors().map(\.name) == ["infrahub.branch.merged"])
    }

    @Test func passwordValuesAreMasked() throws {
        var mutation = NodeMutation(kind: "CoreAccount", nodeID: "n", action: .updated, displayLabel: "a")
        mutation.attributes = [
            AttributeChange(name: "password", value: "hunter2", valuePrevious: "old", kind: "HashedPassword")
        ]
        var decoder = EventDecoder()
        let event = try InfrahubEvents.nodeMutated(mutation, meta: InfrahubFixtureCatalog.meta(0)).build(with: &decoder)
        let attribute = event.header.resources[5]
        #expect(event.labelValue(decoder.symbols.intern("infrahub.attribute.value")!, of: attribute) == "***")
    }
}
