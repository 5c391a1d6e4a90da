/// The GraphQL `EventNodeInterface` view (spec §d.1), derived as Infrahub's
/// `PrefectEventData.to_graphql` derives it (spec §a.6).
extension Event {
    /// The concrete GraphQL type Infrahub resolves for an event name (unknown names give `StandardEvent`),
    /// and whether that type exposes `payload`.
    public static func graphQLTypeName(forEventName name: String) -> (typeName: String, hasPayload: Bool) {
        switch name {
        case "infrahub.node.created", "infrahub.node.updated", "infrahub.node.deleted":
            return ("NodeMutatedEvent", true)
        case "infrahub.branch.created": return ("BranchCreatedEvent", true)
        case "infrahub.branch.merged": return ("BranchMergedEvent", false)
        case "infrahub.branch.rebased": return ("BranchRebasedEvent", true)
        case "infrahub.branch.deleted": return ("BranchDeletedEvent", true)
        case "infrahub.artifact.created", "infrahub.artifact.updated": return ("ArtifactEvent", false)
        case "infrahub.group.member_added", "infrahub.group.member_removed": return ("GroupEvent", false)
        case "infrahub.proposed_change.approved", "infrahub.proposed_change.rejected":
            return ("ProposedChangeReviewEvent", true)
        case "infrahub.proposed_change.approval_revoked", "infrahub.proposed_change.rejection_revoked":
            return ("ProposedChangeReviewRevokedEvent", true)
        case "infrahub.proposed_change.approvals_revoked": return ("ProposedChangeApprovalsRevokedEvent", true)
        case "infrahub.proposed_change.review_requested": return ("ProposedChangeReviewRequestedEvent", true)
        case "infrahub.proposed_change.merged": return ("ProposedChangeMergedEvent", true)
        case "infrahub.proposed_change_thread.created", "infrahub.proposed_change_thread.updated":
            return ("ProposedChangeThreadEvent", true)
        case "infrahub.account.logged_in": return ("AccountLoggedInEventType", true)
        case "infrahub.account.logged_out": return ("AccountLoggedOutEventType", true)
        case "infrahub.group.auto_created": return ("GroupAutoCreatedEventType", true)
        case "infrahub.group.auto_create_rejected": return ("GroupAutoCreateRejectedEventType", true)
        case "infrahub.group.auto_create_capped": return ("GroupAutoCreateCappedEventType", true)
        default: return ("StandardEvent", true)
        }
    }

    /// Appends the event as a GraphQL `EventNodeInterface` JSON object:
    /// `{"__typename","id","event","branch","account_id","occurred_at","level","primary_node",
    /// "related_nodes","has_children","parent_id"}` plus `"payload"` when the concrete type has one.
    ///
    /// - `branch`: related `infrahub.branch` → `infrahub.resource.label`, `null` when absent or `-global-`.
    /// - `account_id`: related `infrahub.account` → `infrahub.resource.id`.
    /// - `occurred_at`: ISO 8601 with `T` and `+00:00` (graphene's `DateTime`).
    /// - `primary_node`: `{id, kind}` from the primary `infrahub.node.id` and `infrahub.node.kind`
    ///   (both needed, else `null`).
    /// - `related_nodes`: related resources with role `infrahub.related.node`, `infrahub.group.member` or
    ///   `infrahub.group.ancestor` that have `infrahub.node.kind`, de-duplicated by id, primary excluded.
    public func appendGraphQLNode(to target: inout [UInt8]) {
        let name = string(header.nameReference)
        let (typeName, hasPayload) = Self.graphQLTypeName(forEventName: name)
        target.append(contentsOf: #"{"__typename":"#.utf8)
        JSONString.appendQuoted(typeName, to: &target)
        target.append(contentsOf: #","id":""#.utf8)
        header.id.append(to: &target)
        target.append(contentsOf: #"","event":"#.utf8)
        JSONString.appendQuoted(name, to: &target)
        target.append(contentsOf: #","branch":"#.utf8)
        let branch = header.firstRelated(role: .roleBranch).flatMap { labelValue(.infrahubResourceLabel, of: $0) }
        appendOptionalString(branch == "-global-" ? nil : branch, to: &target)
        target.append(contentsOf: #","account_id":"#.utf8)
        appendOptionalString(
            header.firstRelated(role: .roleAccount).flatMap { labelValue(.infrahubResourceID, of: $0) },
            to: &target
        )
        target.append(contentsOf: #","occurred_at":""#.utf8)
        header.occurred.append(.isoformat, to: &target)
        target.append(contentsOf: #"","level":"#.utf8)
        target.append(contentsOf: String(header.level).utf8)
        target.append(contentsOf: #","primary_node":"#.utf8)
        let primaryID = labelValue(.infrahubNodeID, of: header.primary)
        if let primaryID, let kind = labelValue(.infrahubNodeKind, of: header.primary) {
            appendNode(id: primaryID, kind: kind, to: &target)
        } else {
            target.append(contentsOf: "null".utf8)
        }
        target.append(contentsOf: #","related_nodes":["#.utf8)
        var seen: Set<String> = []
        for resource in header.related
        where resource.role == .roleRelatedNode || resource.role == .roleGroupMember
            || resource.role == .roleGroupAncestor
        {
            guard let kind = labelValue(.infrahubNodeKind, of: resource) else { continue }
            let id = value(header.labels[Int(resource.idLabelIndex)])
            guard id != primaryID, seen.insert(id).inserted else { continue }
            if seen.count > 1 { target.append(UInt8(ascii: ",")) }
            appendNode(id: id, kind: kind, to: &target)
        }
        target.append(contentsOf: #"],"has_children":"#.utf8)
        target.append(contentsOf: (header.hasChildren ? "true" : "false").utf8)
        target.append(contentsOf: #","parent_id":"#.utf8)
        appendOptionalString(header.parent?.description, to: &target)
        if hasPayload {
            target.append(contentsOf: #","payload":"#.utf8)
            appendCompacted(header.payloadRange, orElse: "{}", to: &target)
        }
        target.append(UInt8(ascii: "}"))
    }

    private func appendNode(id: String, kind: String, to target: inout [UInt8]) {
        target.append(contentsOf: #"{"id":"#.utf8)
        JSONString.appendQuoted(id, to: &target)
        target.append(contentsOf: #","kind":"#.utf8)
        JSONString.appendQuoted(kind, to: &target)
        target.append(UInt8(ascii: "}"))
    }

    private func appendOptionalString(_ text: String?, to target: inout [UInt8]) {
        if let text { JSONString.appendQuoted(text, to: &target) } else { target.append(contentsOf: "null".utf8) }
    }
}
