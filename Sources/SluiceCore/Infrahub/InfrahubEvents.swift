/// Builders for correct Infrahub events: the primary resource, the common related resources (§a.3),
/// the event-specific related resources and labels (§a.4, §a.5), `payload.data` and `payload.context`.
///
/// `payload.data` is written in `keyOrder`: `.jsonb` (the default) reproduces the bytes Infrahub's
/// webhooks deliver when Prefect runs on PostgreSQL, as in the official examples of spec §c.4.
public enum InfrahubEvents {
    /// Infrahub's related-resource budget: `max - max(20, max / 10)` for its assumed maximum of 500.
    public static let relatedResourceBudget = 450

    /// Any Infrahub event from its parts. `related` is appended after the common related resources and
    /// the whole list is cut to ``relatedResourceBudget``.
    public static func draft(
        _ name: InfrahubEventName,
        meta: InfrahubEventMeta,
        resource: ResourceDraft,
        related: [ResourceDraft] = [],
        data: JSONObject,
        keyOrder: JSONKeyOrder = .jsonb
    ) -> EventDraft {
        let allRelated = meta.commonRelated() + related
        return EventDraft(
            name: name.rawValue,
            id: meta.id,
            occurred: meta.occurred,
            resource: resource,
            related: Array(allRelated.prefix(relatedResourceBudget)),
            payloadData: JSONValue.object(data).encoded(keyOrder: keyOrder),
            payloadContext: meta.context()
        )
    }

    // MARK: - Nodes

    /// `infrahub.node.created | updated | deleted` (spec §a.4).
    public static func nodeMutated(
        _ mutation: NodeMutation,
        meta: InfrahubEventMeta,
        keyOrder: JSONKeyOrder = .jsonb
    )
        -> EventDraft
    {
        let resource = ResourceDraft(
            id: "infrahub.node.\(mutation.nodeID)",
            [
                ("infrahub.node.kind", mutation.kind), ("infrahub.node.id", mutation.nodeID),
                ("infrahub.node.action", mutation.action.rawValue),
                ("infrahub.node.root_id", mutation.rootID ?? mutation.nodeID),
                ("infrahub.branch.name", meta.branchName), ("infrahub.node.origin", mutation.origin),
            ]
        )
        var related: [ResourceDraft] = []
        if !NodeMutation.kindsWithoutExtraRelated.contains(mutation.kind) {
            related = nodeRelated(mutation)
        }
        let fields =
            mutation.relationships.map { JSONValue.string($0.name) } + mutation.attributes.map { .string($0.name) }
        let data: JSONObject = [
            "kind": .string(mutation.kind), "node_id": .string(mutation.nodeID),
            "action": .string(mutation.action.rawValue),
            "changelog": .object(changelog(mutation)), "fields": .array(fields),
        ]
        return draft(
            mutation.eventName,
            meta: meta,
            resource: resource,
            related: related,
            data: data,
            keyOrder: keyOrder
        )
    }

    private static func nodeRelated(_ mutation: NodeMutation) -> [ResourceDraft] {
        var related: [ResourceDraft] = mutation.attributes.map { attribute in
            let hidden = attribute.kind == "Password" || attribute.kind == "HashedPassword"
            return ResourceDraft(
                id: "infrahub.node.\(mutation.nodeID)",
                role: "infrahub.node.attribute_update",
                [
                    ("infrahub.field.name", attribute.name), ("infrahub.attribute.name", attribute.name),
                    ("infrahub.attribute.value", hidden ? "***" : attribute.value.pythonLabelText()),
                    ("infrahub.attribute.kind", attribute.kind),
                    ("infrahub.attribute.value_previous", hidden ? "***" : attribute.valuePrevious.pythonLabelText()),
                    ("infrahub.attribute.action", attribute.status),
                ]
            )
        }
        if let parent = mutation.parent {
            related.append(
                ResourceDraft(
                    id: parent.id,
                    role: "infrahub.node.parent",
                    [("infrahub.parent.kind", parent.kind), ("infrahub.parent.id", parent.id)]
                )
            )
        }
        related.append(
            ResourceDraft(id: mutation.nodeID, role: "infrahub.related.node", [("infrahub.node.kind", mutation.kind)])
        )
        for relationship in mutation.relationships {
            for change in relationship.peerChanges {
                related.append(
                    ResourceDraft(
                        id: "infrahub.node.\(mutation.nodeID)",
                        role: "infrahub.node.relationship_update",
                        [
                            ("infrahub.field.name", relationship.name),
                            ("infrahub.relationship.name", relationship.name),
                            ("infrahub.relationship.peer_status", change.status),
                            ("infrahub.relationship.peer_id", change.peer.id),
                            ("infrahub.relationship.peer_kind", change.peer.kind),
                        ]
                    )
                )
            }
        }
        for node in mutation.relatedNodes {
            related.append(
                ResourceDraft(id: node.id, role: "infrahub.related.node", [("infrahub.node.kind", node.kind)])
            )
        }
        return related
    }

    /// `NodeChangelog` (spec §a.4).
    private static func changelog(_ mutation: NodeMutation) -> JSONObject {
        var attributes = JSONObject()
        for attribute in mutation.attributes {
            attributes[attribute.name] = [
                "name": .string(attribute.name), "value": attribute.value, "value_previous": attribute.valuePrevious,
                "properties": .object(attribute.properties), "kind": .string(attribute.kind),
                "value_update_status": .string(attribute.status),
            ]
        }
        var relationships = JSONObject()
        for relationship in mutation.relationships {
            switch relationship.cardinality {
            case .one(let peer, let previous, let status):
                relationships[relationship.name] = [
                    "name": .string(relationship.name),
                    "peer_id_previous": previous.map { .string($0.id) } ?? .null,
                    "peer_kind_previous": previous.map { .string($0.kind) } ?? .null,
                    "peer_id": peer.map { .string($0.id) } ?? .null,
                    "peer_kind": peer.map { .string($0.kind) } ?? .null,
                    "properties": [:], "cardinality": "one", "peer_status": .string(status),
                ]
            case .many(let peers):
                relationships[relationship.name] = [
                    "name": .string(relationship.name),
                    "peers": .array(
                        peers.map {
                            [
                                "peer_id": .string($0.peer.id), "peer_kind": .string($0.peer.kind),
                                "peer_status": .string($0.status),
                                "properties": [:],
                            ]
                        }
                    ),
                    "cardinality": "many",
                ]
            }
        }
        return [
            "node_id": .string(mutation.nodeID), "node_kind": .string(mutation.kind),
            "display_label": .string(mutation.displayLabel), "attributes": .object(attributes),
            "relationships": .object(relationships),
        ]
    }

    // MARK: - Branches

    /// `infrahub.branch.created | deleted | merged | rebased | migrated` (spec §a.5). For created, deleted
    /// and merged, Infrahub's context branch is `-global-`; pass such a `meta`.
    public static func branch(
        _ name: InfrahubEventName,
        branchName: String,
        branchID: String,
        syncWithGit: Bool = false,
        proposedChangeID: String? = nil,
        meta: InfrahubEventMeta,
        keyOrder: JSONKeyOrder = .jsonb
    ) -> EventDraft {
        precondition([.branchCreated, .branchDeleted, .branchMerged, .branchRebased, .branchMigrated].contains(name))
        var resource = ResourceDraft(
            id: "infrahub.branch.\(branchName)",
            [("infrahub.branch.id", branchID), ("infrahub.branch.name", branchName)]
        )
        var data: JSONObject = ["branch_name": .string(branchName), "branch_id": .string(branchID)]
        switch name {
        case .branchCreated:
            data["sync_with_git"] = .bool(syncWithGit)
        case .branchDeleted:
            data["sync_with_git"] = .bool(syncWithGit)
            data["proposed_change_id"] = proposedChangeID.map(JSONValue.string) ?? .null
            if let proposedChangeID {
                resource["infrahub.branch.proposed_change_id"] = proposedChangeID
                resource["infrahub.node.id"] = proposedChangeID
                resource["infrahub.node.kind"] = "CoreProposedChange"
            }
        case .branchMerged:
            data["proposed_change_id"] = proposedChangeID.map(JSONValue.string) ?? .null
            if let proposedChangeID {
                resource["infrahub.node.id"] = proposedChangeID
                resource["infrahub.node.kind"] = "CoreProposedChange"
            }
        default:
            data = ["branch_id": .string(branchID), "branch_name": .string(branchName)]
        }
        return draft(name, meta: meta, resource: resource, data: data, keyOrder: keyOrder)
    }

    // MARK: - Schema, repository, artifacts

    /// `infrahub.schema.updated`.
    public static func schemaUpdated(
        branchName: String,
        schemaHash: String,
        changedElements: JSONValue = .null,
        meta: InfrahubEventMeta,
        keyOrder: JSONKeyOrder = .jsonb
    ) -> EventDraft {
        draft(
            .schemaUpdated,
            meta: meta,
            resource: ResourceDraft(
                id: "infrahub.schema_branch.\(branchName)",
                [("infrahub.branch.name", branchName), ("infrahub.branch.schema_hash", schemaHash)]
            ),
            data: [
                "branch_name": .string(branchName), "schema_hash": .string(schemaHash),
                "changed_elements": changedElements,
            ],
            keyOrder: keyOrder
        )
    }

    /// `infrahub.repository.update_commit`.
    public static func repositoryUpdateCommit(
        commit: String,
        repositoryID: String,
        repositoryName: String,
        meta: InfrahubEventMeta,
        keyOrder: JSONKeyOrder = .jsonb
    ) -> EventDraft {
        draft(
            .repositoryUpdateCommit,
            meta: meta,
            resource: ResourceDraft(
                id: "infrahub.repository.\(repositoryID)",
                [
                    ("infrahub.repository.name", repositoryName), ("infrahub.repository.id", repositoryID),
                    ("infrahub.branch.name", meta.branchName),
                ]
            ),
            data: [
                "commit": .string(commit), "repository_id": .string(repositoryID),
                "repository_name": .string(repositoryName),
            ],
            keyOrder: keyOrder
        )
    }

    /// An artifact's identity and checksums for `infrahub.artifact.created | updated`.
    public struct Artifact: Sendable, Equatable {
        public var nodeID, definitionID, definitionName: String
        public var target: NodeReference
        public var checksum, storageID: String
        public var checksumPrevious, storageIDPrevious: String?
        public init(
            nodeID: String,
            definitionID: String,
            definitionName: String,
            target: NodeReference,
            checksum: String,
            storageID: String,
            checksumPrevious: String? = nil,
            storageIDPrevious: String? = nil
        ) {
            self.nodeID = nodeID
            self.definitionID = definitionID
            self.definitionName = definitionName
            self.target = target
            self.checksum = checksum
            self.storageID = storageID
            self.checksumPrevious = checksumPrevious
            self.storageIDPrevious = storageIDPrevious
        }
    }

    /// `infrahub.artifact.created | updated`.
    public static func artifact(
        _ name: InfrahubEventName,
        _ artifact: Artifact,
        meta: InfrahubEventMeta,
        keyOrder: JSONKeyOrder = .jsonb
    ) -> EventDraft {
        precondition(name == .artifactCreated || name == .artifactUpdated)
        let related = [
            ResourceDraft(
                id: artifact.target.id,
                role: "infrahub.related.node",
                [("infrahub.node.kind", artifact.target.kind)]
            ),
            ResourceDraft(
                id: artifact.target.id,
                role: "infrahub.artifact",
                [
                    ("infrahub.artifact.checksum", artifact.checksum),
                    ("infrahub.artifact.checksum_previous", artifact.checksumPrevious ?? ""),
                    ("infrahub.artifact.storage_id", artifact.storageID),
                    ("infrahub.artifact.storage_id_previous", artifact.storageIDPrevious ?? ""),
                    ("infrahub.artifact.artifact_definition_id", artifact.definitionID),
                    ("infrahub.artifact.artifact_definition_name", artifact.definitionName),
                ]
            ),
        ]
        let data: JSONObject = [
            "node_id": .string(artifact.nodeID), "artifact_definition_id": .string(artifact.definitionID),
            "artifact_definition_name": .string(artifact.definitionName), "target_id": .string(artifact.target.id),
            "target_kind": .string(artifact.target.kind), "checksum": .string(artifact.checksum),
            "checksum_previous": artifact.checksumPrevious.map(JSONValue.string) ?? .null,
            "storage_id": .string(artifact.storageID),
            "storage_id_previous": artifact.storageIDPrevious.map(JSONValue.string) ?? .null,
        ]
        return draft(
            name,
            meta: meta,
            resource: ResourceDraft(
                id: artifact.nodeID,
                [
                    ("infrahub.node.kind", "CoreArtifact"), ("infrahub.node.id", artifact.nodeID),
                    ("infrahub.branch.name", meta.branchName),
                ]
            ),
            related: related,
            data: data,
            keyOrder: keyOrder
        )
    }

    // MARK: - Groups

    /// `infrahub.group.member_added | member_removed`.
    public static func groupMembers(
        _ name: InfrahubEventName,
        group: NodeReference,
        members: [NodeReference],
        ancestors: [NodeReference] = [],
        meta: InfrahubEventMeta,
        keyOrder: JSONKeyOrder = .jsonb
    ) -> EventDraft {
        precondition(name == .groupMemberAdded || name == .groupMemberRemoved)
        let action = name == .groupMemberAdded ? "created" : "deleted"
        var related: [ResourceDraft] = []
        if !NodeMutation.kindsWithoutExtraRelated.contains(group.kind) {
            related.append(
                ResourceDraft(id: group.id, role: "infrahub.related.node", [("infrahub.node.kind", group.kind)])
            )
            related += members.map {
                ResourceDraft(id: $0.id, role: "infrahub.group.member", [("infrahub.node.kind", $0.kind)])
            }
            related += ancestors.map {
                ResourceDraft(id: $0.id, role: "infrahub.group.ancestor", [("infrahub.node.kind", $0.kind)])
            }
        }
        func references(_ nodes: [NodeReference]) -> JSONValue {
            .array(nodes.map { ["id": .string($0.id), "kind": .string($0.kind)] })
        }
        return draft(
            name,
            meta: meta,
            resource: ResourceDraft(
                id: "infrahub.node.\(group.id)",
                [
                    ("infrahub.node.kind", group.kind), ("infrahub.node.id", group.id),
                    ("infrahub.node.action", action),
                    ("infrahub.node.root_id", group.id), ("infrahub.branch.name", meta.branchName),
                ]
            ),
            related: related,
            data: [
                "kind": .string(group.kind), "node_id": .string(group.id), "action": .string(action),
                "members": references(members), "ancestors": references(ancestors),
            ],
            keyOrder: keyOrder
        )
    }

    /// The identity-provider login that triggers `infrahub.group.auto_*` events.
    public struct GroupAutoCreateClaim: Sendable, Equatable {
        public var idp, protocolName, userID, userName: String
        public init(idp: String, protocolName: String, userID: String, userName: String) {
            self.idp = idp
            self.protocolName = protocolName
            self.userID = userID
            self.userName = userName
        }
    }

    /// `infrahub.group.auto_created | auto_create_rejected | auto_create_capped`. `details` holds the
    /// event-specific data fields (`group_id`, `group_name`, `source_pattern`, `origin_value`;
    /// `rejected_claim_value`; `cap_value`, `dropped_claims`, `dropped_count`).
    public static func groupAutoCreate(
        _ name: InfrahubEventName,
        claim: GroupAutoCreateClaim,
        details: JSONObject,
        meta: InfrahubEventMeta,
        keyOrder: JSONKeyOrder = .jsonb
    ) -> EventDraft {
        precondition([.groupAutoCreated, .groupAutoCreateRejected, .groupAutoCreateCapped].contains(name))
        var resource = ResourceDraft(
            id: "infrahub.account.\(claim.userID)",
            [
                ("infrahub.account.account_id", claim.userID), ("infrahub.account.account_name", claim.userName),
                ("infrahub.security.idp", claim.idp), ("infrahub.security.protocol", claim.protocolName),
                ("infrahub.branch.name", meta.branchName),
            ]
        )
        var related: [ResourceDraft] = []
        switch name {
        case .groupAutoCreated:
            let groupID = details["group_id"]?.stringValue ?? ""
            resource["infrahub.node.id"] = groupID
            resource["infrahub.node.kind"] = "CoreAccountGroup"
            resource["infrahub.group.name"] = details["group_name"]?.stringValue ?? ""
            resource["infrahub.security.source_pattern"] = details["source_pattern"]?.stringValue ?? ""
            resource["infrahub.security.origin_value"] = details["origin_value"]?.stringValue ?? ""
            related.append(
                ResourceDraft(id: groupID, role: "infrahub.related.node", [("infrahub.node.kind", "CoreAccountGroup")])
            )
        case .groupAutoCreateRejected:
            resource["infrahub.security.rejected_claim_value"] =
                details["rejected_claim_value"]?.pythonLabelText() ?? ""
        default:
            resource["infrahub.security.cap_value"] = details["cap_value"]?.pythonLabelText() ?? ""
            resource["infrahub.security.dropped_count"] = details["dropped_count"]?.pythonLabelText() ?? ""
            for (position, claimValue) in (details["dropped_claims"]?.arrayValue ?? []).enumerated() {
                related.append(
                    ResourceDraft(
                        id: "infrahub.security.dropped_claim.\(position)",
                        role: "infrahub.security.dropped_claim",
                        [("infrahub.security.dropped_claim.value", claimValue.pythonLabelText())]
                    )
                )
            }
        }
        var data: JSONObject = [
            "idp": .string(claim.idp), "triggering_user_id": .string(claim.userID),
            "triggering_user_name": .string(claim.userName), "protocol": .string(claim.protocolName),
        ]
        data.members += details.members
        return draft(name, meta: meta, resource: resource, related: related, data: data, keyOrder: keyOrder)
    }

    // MARK: - Proposed changes and validators

    /// A proposed change's identity.
    public struct ProposedChange: Sendable, Equatable {
        public var id, name, state: String
        public init(id: String, name: String, state: String) {
            self.id = id
            self.name = name
            self.state = state
        }
    }

    /// `infrahub.proposed_change.*` and `infrahub.proposed_change_thread.*`. `details` holds the
    /// event-specific data fields (e.g. `reviewer_account_id`, `reviewer_account_name`,
    /// `reviewer_decision`; `thread_id`, `thread_kind`, `action`), written after the PC fields.
    /// `relatedAccounts` become related nodes (`CoreGenericAccount`) labelled with `accountNameLabel`;
    /// `thread` becomes a related node for thread events.
    public static func proposedChange(
        _ name: InfrahubEventName,
        _ change: ProposedChange,
        details: JSONObject,
        relatedAccounts: [(id: String, name: String)] = [],
        accountNameLabel: String = "infrahub.reviewer.account.name",
        thread: NodeReference? = nil,
        meta: InfrahubEventMeta,
        keyOrder: JSONKeyOrder = .jsonb
    ) -> EventDraft {
        var resource = ResourceDraft(
            id: "infrahub.proposed_change.\(change.id)",
            [
                ("infrahub.node.kind", "CoreProposedChange"), ("infrahub.node.id", change.id),
                ("infrahub.proposed_change.name", change.name), ("infrahub.proposed_change.state", change.state),
                ("infrahub.branch.name", meta.branchName),
            ]
        )
        for label in [
            "merged_by_account_id", "merged_by_account_name", "reviewer_decision", "reviewer_former_decision",
        ] {
            if let value = details[label]?.stringValue { resource["infrahub.proposed_change.\(label)"] = value }
        }
        var related = relatedAccounts.map {
            ResourceDraft(
                id: $0.id,
                role: "infrahub.related.node",
                [("infrahub.node.kind", "CoreGenericAccount"), (accountNameLabel, $0.name)]
            )
        }
        if let thread {
            related.append(
                ResourceDraft(id: thread.id, role: "infrahub.related.node", [("infrahub.node.kind", thread.kind)])
            )
        }
        var data: JSONObject = [
            "proposed_change_id": .string(change.id), "proposed_change_name": .string(change.name),
            "proposed_change_state": .string(change.state),
        ]
        data.members += details.members
        return draft(name, meta: meta, resource: resource, related: related, data: data, keyOrder: keyOrder)
    }

    /// `infrahub.validator.started | passed | failed`.
    public static func validator(
        _ name: InfrahubEventName,
        validator: NodeReference,
        proposedChangeID: String,
        meta: InfrahubEventMeta,
        keyOrder: JSONKeyOrder = .jsonb
    ) -> EventDraft {
        precondition([.validatorStarted, .validatorPassed, .validatorFailed].contains(name))
        return draft(
            name,
            meta: meta,
            resource: ResourceDraft(
                id: validator.id,
                [
                    ("infrahub.node.kind", validator.kind), ("infrahub.node.id", validator.id),
                    ("infrahub.branch.name", meta.branchName),
                ]
            ),
            related: [
                ResourceDraft(
                    id: proposedChangeID,
                    role: "infrahub.related.node",
                    [("infrahub.node.kind", "CoreProposedChange")]
                )
            ],
            data: [
                "node_id": .string(validator.id), "kind": .string(validator.kind),
                "proposed_change_id": .string(proposedChangeID),
            ],
            keyOrder: keyOrder
        )
    }

    // MARK: - Accounts

    /// `infrahub.account.logged_in | logged_out`. `details` holds the data fields after `kind`,
    /// `account_id`, `account_name` (e.g. `account_type`, `auth_method`, `session_id`, `groups`, `roles`,
    /// `identity_source`, `client_ip`, `user_agent`, `timestamp`; `logout_type` for logged_out). Groups
    /// and roles (`[{id: name}]`) become related nodes.
    public static func account(
        _ name: InfrahubEventName,
        accountID: String,
        accountName: String,
        kind: String = "CoreAccount",
        details: JSONObject,
        meta: InfrahubEventMeta,
        keyOrder: JSONKeyOrder = .jsonb
    ) -> EventDraft {
        precondition(name == .accountLoggedIn || name == .accountLoggedOut)
        var resource = ResourceDraft(
            id: "infrahub.account.\(accountID)",
            [
                ("infrahub.account.account_id", accountID), ("infrahub.account.account_name", accountName),
            ]
        )
        for key in ["account_type", "auth_method", "session_id", "identity_source", "logout_type"] {
            if let value = details[key]?.stringValue { resource["infrahub.account.\(key)"] = value }
        }
        resource["infrahub.node.id"] = accountID
        resource["infrahub.node.kind"] = kind
        var related: [ResourceDraft] = []
        for (field, nodeKind) in [("groups", "CoreAccountGroup"), ("roles", "CoreAccountRole")] {
            for entry in details[field]?.arrayValue ?? [] {
                for member in entry.objectValue?.members ?? [] {
                    related.append(
                        ResourceDraft(
                            id: member.key,
                            role: "infrahub.related.node",
                            [
                                ("infrahub.node.kind", nodeKind),
                                ("infrahub.node.name", member.value.pythonLabelText()),
                            ]
                        )
                    )
                }
            }
        }
        var data: JSONObject = [
            "kind": .string(kind), "account_id": .string(accountID), "account_name": .string(accountName),
        ]
        data.members += details.members
        return draft(name, meta: meta, resource: resource, related: related, data: data, keyOrder: keyOrder)
    }
}
