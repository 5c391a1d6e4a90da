/// Writes a deterministic, realistic stream of Infrahub events for load tests and benchmarks.
///
/// The same configuration always yields the same bytes. The stream mixes all 31 Infrahub event types
/// (node mutations dominate, as in a real Infrahub), several node kinds, branches and accounts, and
/// parent chains (a `branch.merged` or node event with children at level 1 and grandchildren at
/// level 2, carrying `infrahub.child_event` / `infrahub.ancestor_event` lineage). `payload.data` is
/// between ~300 bytes and ~4 KiB. Memory is constant: the generator keeps only the current chain.
///
/// Not thread-safe; one generator per stream.
public struct FixtureGenerator {
    public struct Configuration: Sendable, Equatable {
        public var eventCount: Int
        public var seed: UInt64
        /// Distinct node kinds (realistic Infrahub kinds first, then `TestKindNN`).
        public var kindCount: Int
        /// Distinct branches: `main` plus `branch-NN`.
        public var branchCount: Int
        public var accountCount: Int
        /// `occurred` of the first event.
        public var start: Timestamp

        public init(
            eventCount: Int,
            seed: UInt64 = 1,
            kindCount: Int = 8,
            branchCount: Int = 4,
            accountCount: Int = 6,
            start: Timestamp = Timestamp(secondsSinceEpoch: 1_741_824_000)
        ) {
            precondition(eventCount >= 0, "eventCount must not be negative")
            precondition(kindCount >= 1, "at least one node kind")
            precondition(branchCount >= 1, "at least one branch (main)")
            precondition(accountCount >= 1, "at least one account")
            self.eventCount = eventCount
            self.seed = seed
            self.kindCount = kindCount
            self.branchCount = branchCount
            self.accountCount = accountCount
            self.start = start
        }
    }

    public let configuration: Configuration
    public private(set) var producedCount = 0
    private var random: SplitMix64
    private var clockMicroseconds: Int64
    /// The open parent chain: metas of events whose children are still to come, with the count left.
    private var chain: [(meta: InfrahubEventMeta, name: String, childrenLeft: Int)] = []

    public let kinds: [String]
    public let branches: [(name: String, id: String)]
    public let accounts: [String]

    static let realisticKinds = [
        "InfraDevice", "InfraInterfaceL3", "InfraInterfaceL2", "IpamIPAddress", "IpamPrefix", "OrganizationProvider",
        "LocationSite", "InfraCircuit", "InfraBGPSession", "InfraPlatform", "InfraAutonomousSystem", "BuiltinTag",
    ]

    public init(_ configuration: Configuration) {
        self.configuration = configuration
        var random = SplitMix64(seed: configuration.seed)
        self.kinds = (0..<configuration.kindCount).map { position in
            position < Self.realisticKinds.count ? Self.realisticKinds[position] : "TestKind\(position)"
        }
        self.branches = (0..<configuration.branchCount).map { position in
            (position == 0 ? "main" : "branch-\(position)", random.nextEventID().description)
        }
        self.accounts = (0..<configuration.accountCount).map { _ in random.nextEventID().description }
        self.random = random
        self.clockMicroseconds = configuration.start.microsecondsSinceEpoch
    }

    /// The next event's Prefect JSON (one line, no newline), or `nil` after `eventCount` events.
    public mutating func next() -> [UInt8]? {
        guard producedCount < configuration.eventCount else { return nil }
        producedCount += 1
        clockMicroseconds += Int64(random.next(below: 50_000) + 1)
        let meta = nextMeta()
        let draft = nextDraft(meta: meta)
        if meta.hasChildren {
            chain.append((meta, draft.name, 1 + random.next(below: 4)))
        }
        return draft.encoded()
    }

    // MARK: - Lineage

    private mutating func nextMeta() -> InfrahubEventMeta {
        let id = random.nextEventID()
        let occurred = Timestamp(microsecondsSinceEpoch: clockMicroseconds)
        // Continue an open chain most of the time, so children follow their parent closely.
        while let last = chain.last, last.childrenLeft == 0 { chain.removeLast() }
        if !chain.isEmpty && random.chance(85) {
            chain[chain.count - 1].childrenLeft -= 1
            let parent = chain[chain.count - 1]
            var meta = parent.meta.child(id: id, occurred: occurred, parentName: parent.name)
            meta.hasChildren = meta.level < 2 && random.chance(15)
            return meta
        }
        chain.removeAll(keepingCapacity: true)
        let branch = random.chance(55) ? branches[0] : random.pick(branches)
        var meta = InfrahubEventMeta(
            id: id,
            occurred: occurred,
            branchName: branch.name,
            branchID: branch.id,
            accountID: random.pick(accounts)
        )
        meta.hasChildren = random.chance(6)
        meta.priority = random.chance(20) ? random.pick(["high", "medium", "low"]) : nil
        return meta
    }

    // MARK: - Events

    private mutating func nextDraft(meta: InfrahubEventMeta) -> EventDraft {
        let roll = random.next(below: 100)
        switch roll {
        case 0..<70: return nodeMutation(meta: meta)
        case 70..<74: return branchEvent(meta: meta)
        case 74..<77: return artifactEvent(meta: meta)
        case 77..<80: return groupMemberEvent(meta: meta)
        case 80..<86: return proposedChangeEvent(meta: meta)
        case 86..<90: return validatorEvent(meta: meta)
        case 90..<93: return accountEvent(meta: meta)
        case 93..<95: return groupAutoCreateEvent(meta: meta)
        case 95..<97:
            return InfrahubEvents.schemaUpdated(
                branchName: meta.branchName,
                schemaHash: hex(32),
                changedElements: [
                    "added_kinds": .array([.string(random.pick(kinds))]), "removed_kinds": [],
                    "changed_fields": .object(
                        JSONObject([JSONObject.Member(random.pick(kinds), ["name", "description"])])
                    ),
                ],
                meta: meta
            )
        default:
            return InfrahubEvents.repositoryUpdateCommit(
                commit: hex(40),
                repositoryID: uuid(),
                repositoryName: "infrahub-demo-\(random.next(below: 9))",
                meta: meta
            )
        }
    }

    private mutating func nodeMutation(meta: InfrahubEventMeta) -> EventDraft {
        let action = random.pick([NodeMutation.Action.created, .updated, .updated, .updated, .deleted])
        let kind = random.pick(kinds)
        var mutation = NodeMutation(kind: kind, nodeID: uuid(), action: action, displayLabel: words(2))
        let attributeCount = 1 + random.next(below: 12)
        let attributeNames = [
            "name", "description", "role", "status", "mtu", "enabled", "speed", "address", "asn",
            "serial", "comment", "label", "vlan", "color",
        ]
        for position in 0..<attributeCount {
            let name =
                attributeNames[position % attributeNames.count]
                + (position >= attributeNames.count ? "_\(position)" : "")
            let (value, attributeKind) = attributeValue(for: name)
            let previous: JSONValue = action == .created ? .null : attributeValue(for: name).0
            mutation.attributes.append(
                AttributeChange(
                    name: name,
                    value: action == .deleted ? .null : value,
                    valuePrevious: previous,
                    kind: attributeKind,
                    status: action == .created ? "added" : action == .deleted ? "removed" : "updated",
                    properties: random.chance(20)
                        ? [
                            "is_protected": [
                                "name": "is_protected", "value": false,
                                "value_previous": .null, "value_type": "Boolean",
                                "value_update_status": "added",
                            ]
                        ] : JSONObject()
                )
            )
        }
        if random.chance(40) {
            mutation.relationships.append(
                RelationshipChange(
                    name: "site",
                    cardinality: .one(
                        peer: NodeReference(id: uuid(), kind: "LocationSite"),
                        previous: nil,
                        status: "added"
                    )
                )
            )
        }
        if random.chance(25) {
            let peers = (0..<(1 + random.next(below: 3))).map { _ in
                RelationshipPeerChange(
                    peer: NodeReference(id: uuid(), kind: "BuiltinTag"),
                    status: random.pick(["added", "removed"])
                )
            }
            mutation.relationships.append(RelationshipChange(name: "tags", cardinality: .many(peers: peers)))
        }
        if random.chance(30) {
            let parent = NodeReference(id: uuid(), kind: "InfraDevice")
            mutation.parent = parent
            mutation.rootID = parent.id
        }
        var originMeta = meta
        if meta.level > 0 { mutation.origin = random.pick(["merge", "rebase", "recompute"]) }
        originMeta.hasChildren = meta.hasChildren
        return InfrahubEvents.nodeMutated(mutation, meta: originMeta)
    }

    private mutating func attributeValue(for name: String) -> (JSONValue, String) {
        switch name {
        case "mtu", "speed", "asn", "vlan": return (.integer(random.next(below: 9000) + 1), "Number")
        case "enabled": return (.bool(random.chance(50)), "Boolean")
        case "role", "status":
            return (.string(random.pick(["active", "planned", "maintenance", "spine", "leaf", "peering"])), "Dropdown")
        case "description", "comment": return (.string(words(3 + random.next(below: 40))), "TextArea")
        case "address":
            return (
                .string("10.\(random.next(below: 255)).\(random.next(below: 255)).\(random.next(below: 255))/24"),
                "IPHost"
            )
        default: return (.string(words(1 + random.next(below: 3))), "Text")
        }
    }

    private mutating func branchEvent(meta: InfrahubEventMeta) -> EventDraft {
        let name = random.pick([
            InfrahubEventName.branchCreated, .branchDeleted, .branchMerged, .branchRebased, .branchMigrated,
        ])
        let branch = random.pick(branches.count > 1 ? Array(branches.dropFirst()) : branches)
        var eventMeta = meta
        if name.hasGlobalContextBranch {
            eventMeta.branchName = "-global-"
            eventMeta.branchID = nil
        }
        return InfrahubEvents.branch(
            name,
            branchName: branch.name,
            branchID: branch.id,
            syncWithGit: random.chance(30),
            proposedChangeID: name != .branchCreated && random.chance(50) ? uuid() : nil,
            meta: eventMeta
        )
    }

    private mutating func artifactEvent(meta: InfrahubEventMeta) -> EventDraft {
        let updated = random.chance(50)
        let artifact = InfrahubEvents.Artifact(
            nodeID: uuid(),
            definitionID: uuid(),
            definitionName: random.pick(["startup-config", "openconfig-interfaces", "clab-topology"]),
            target: NodeReference(id: uuid(), kind: random.pick(kinds)),
            checksum: hex(32),
            storageID: uuid(),
            checksumPrevious: updated ? hex(32) : nil,
            storageIDPrevious: updated ? uuid() : nil
        )
        return InfrahubEvents.artifact(updated ? .artifactUpdated : .artifactCreated, artifact, meta: meta)
    }

    private mutating func groupMemberEvent(meta: InfrahubEventMeta) -> EventDraft {
        let members = (0..<(1 + random.next(below: 6))).map { _ in NodeReference(id: uuid(), kind: random.pick(kinds)) }
        let ancestors = random.chance(30) ? [NodeReference(id: uuid(), kind: "CoreStandardGroup")] : []
        return InfrahubEvents.groupMembers(
            random.chance(60) ? .groupMemberAdded : .groupMemberRemoved,
            group: NodeReference(id: uuid(), kind: "CoreStandardGroup"),
            members: members,
            ancestors: ancestors,
            meta: meta
        )
    }

    private mutating func proposedChangeEvent(meta: InfrahubEventMeta) -> EventDraft {
        let change = InfrahubEvents.ProposedChange(
            id: uuid(),
            name: "pc-\(words(2).replacingSpaces())",
            state: random.pick(["open", "merged", "closed"])
        )
        let reviewer = (id: random.pick(accounts), name: random.pick(["alice", "bob", "carol", "dave"]))
        let name = random.pick([
            InfrahubEventName.proposedChangeMerged, .proposedChangeReviewRequested, .proposedChangeApproved,
            .proposedChangeRejected, .proposedChangeApprovalRevoked, .proposedChangeRejectionRevoked,
            .proposedChangeApprovalsRevoked, .proposedChangeThreadCreated, .proposedChangeThreadUpdated,
        ])
        switch name {
        case .proposedChangeMerged:
            return InfrahubEvents.proposedChange(
                name,
                change,
                details: [
                    "merged_by_account_id": .string(reviewer.id),
                    "merged_by_account_name": .string(reviewer.name),
                ],
                relatedAccounts: [reviewer],
                accountNameLabel: "infrahub.merged_by.account.name",
                meta: meta
            )
        case .proposedChangeReviewRequested:
            return InfrahubEvents.proposedChange(
                name,
                change,
                details: [
                    "requested_by_account_id": .string(reviewer.id),
                    "requested_by_account_name": .string(reviewer.name),
                ],
                relatedAccounts: [reviewer],
                accountNameLabel: "infrahub.requested_by.account.name",
                meta: meta
            )
        case .proposedChangeApproved, .proposedChangeRejected:
            return InfrahubEvents.proposedChange(
                name,
                change,
                details: [
                    "reviewer_account_id": .string(reviewer.id), "reviewer_account_name": .string(reviewer.name),
                    "reviewer_decision": name == .proposedChangeApproved ? "approve" : "reject",
                ],
                relatedAccounts: [reviewer],
                meta: meta
            )
        case .proposedChangeApprovalRevoked, .proposedChangeRejectionRevoked:
            return InfrahubEvents.proposedChange(
                name,
                change,
                details: [
                    "reviewer_account_id": .string(reviewer.id), "reviewer_account_name": .string(reviewer.name),
                    "reviewer_former_decision": name == .proposedChangeApprovalRevoked ? "approve" : "reject",
                ],
                relatedAccounts: [reviewer],
                meta: meta
            )
        case .proposedChangeApprovalsRevoked:
            return InfrahubEvents.proposedChange(
                name,
                change,
                details: [
                    "reviewer_accounts": .object(JSONObject([JSONObject.Member(reviewer.id, .string(reviewer.name))]))
                ],
                relatedAccounts: [reviewer],
                meta: meta
            )
        default:
            let thread = NodeReference(id: uuid(), kind: "CoreChangeThread")
            return InfrahubEvents.proposedChange(
                name,
                change,
                details: [
                    "thread_id": .string(thread.id), "thread_kind": .string(thread.kind),
                    "action": name == .proposedChangeThreadCreated ? "created" : "updated",
                ],
                thread: thread,
                meta: meta
            )
        }
    }

    private mutating func validatorEvent(meta: InfrahubEventMeta) -> EventDraft {
        let name = random.pick([InfrahubEventName.validatorStarted, .validatorPassed, .validatorFailed])
        return InfrahubEvents.validator(
            name,
            validator: NodeReference(
                id: uuid(),
                kind: random.pick([
                    "CoreDataValidator", "CoreSchemaValidator", "CoreArtifactValidator", "CoreUserValidator",
                ])
            ),
            proposedChangeID: uuid(),
            meta: meta
        )
    }

    private mutating func accountEvent(meta: InfrahubEventMeta) -> EventDraft {
        let accountID = random.pick(accounts)
        let name = random.pick(["alice", "bob", "carol", "dave"])
        let common: JSONObject = [
            "session_id": .string(uuid()), "client_ip": "127.0.0.1",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "timestamp": .string(Timestamp(microsecondsSinceEpoch: clockMicroseconds).string(.isoformat)),
        ]
        if random.chance(70) {
            var details: JSONObject = [
                "account_type": "User", "auth_method": .string(random.pick(["password", "oidc", "ldap", "oauth2"])),
                "groups": [.object(JSONObject([JSONObject.Member(uuid(), "operators")]))],
                "roles": [.object(JSONObject([JSONObject.Member(uuid(), "read-write")]))],
                "identity_source": "local",
            ]
            details.members += common.members
            return InfrahubEvents.account(
                .accountLoggedIn,
                accountID: accountID,
                accountName: name,
                details: details,
                meta: meta
            )
        }
        var details: JSONObject = ["logout_type": "user_initiated"]
        details.members += common.members
        return InfrahubEvents.account(
            .accountLoggedOut,
            accountID: accountID,
            accountName: name,
            details: details,
            meta: meta
        )
    }

    private mutating func groupAutoCreateEvent(meta: InfrahubEventMeta) -> EventDraft {
        let claim = InfrahubEvents.GroupAutoCreateClaim(
            idp: random.pick(["keycloak", "okta"]),
            protocolName: "oidc",
            userID: random.pick(accounts),
            userName: "alice"
        )
        switch random.next(below: 3) {
        case 0:
            return InfrahubEvents.groupAutoCreate(
                .groupAutoCreated,
                claim: claim,
                details: [
                    "group_id": .string(uuid()), "group_name": "netops", "source_pattern": "^net.*$",
                    "origin_value": "netops",
                ],
                meta: meta
            )
        case 1:
            return InfrahubEvents.groupAutoCreate(
                .groupAutoCreateRejected,
                claim: claim,
                details: ["rejected_claim_value": "contractors"],
                meta: meta
            )
        default:
            return InfrahubEvents.groupAutoCreate(
                .groupAutoCreateCapped,
                claim: claim,
                details: [
                    "cap_value": 2, "dropped_claims": ["sre", "dba"], "dropped_count": 2,
                ],
                meta: meta
            )
        }
    }

    // MARK: - Values

    private mutating func uuid() -> String { random.nextEventID().description }

    private mutating func hex(_ count: Int) -> String {
        let digits = Array("0123456789abcdef")
        return String((0..<count).map { _ in digits[random.next(below: 16)] })
    }

    static let vocabulary = [
        "edge", "core", "spine", "leaf", "uplink", "peering", "transit", "backbone", "atlanta", "denver", "paris",
        "frankfurt", "circuit", "router", "switch", "firewall", "maintenance", "upgrade", "link", "port", "vlan",
        "cabinet", "rack", "primary", "secondary", "loopback", "management", "customer", "provider", "fibre",
    ]

    private mutating func words(_ count: Int) -> String {
        (0..<count).map { _ in random.pick(Self.vocabulary) }.joined(separator: " ")
    }
}

extension String {
    fileprivate func replacingSpaces() -> String { String(map { $0 == " " ? "-" : $0 }) }
}
