/// The 31 event names Infrahub 1.11.9 emits (spec §a.5), identical to its webhook `EventType` choices.
///
/// There is no `infrahub.artifact.deleted`, no generator event and no repository add/update/delete
/// event, whatever the docs say (spec §a.5, §c.11).
public enum InfrahubEventName: String, CaseIterable, Sendable {
    case nodeCreated = "infrahub.node.created"
    case nodeUpdated = "infrahub.node.updated"
    case nodeDeleted = "infrahub.node.deleted"
    case branchCreated = "infrahub.branch.created"
    case branchDeleted = "infrahub.branch.deleted"
    case branchMerged = "infrahub.branch.merged"
    case branchRebased = "infrahub.branch.rebased"
    case branchMigrated = "infrahub.branch.migrated"
    case schemaUpdated = "infrahub.schema.updated"
    case repositoryUpdateCommit = "infrahub.repository.update_commit"
    case artifactCreated = "infrahub.artifact.created"
    case artifactUpdated = "infrahub.artifact.updated"
    case groupMemberAdded = "infrahub.group.member_added"
    case groupMemberRemoved = "infrahub.group.member_removed"
    case groupAutoCreated = "infrahub.group.auto_created"
    case groupAutoCreateRejected = "infrahub.group.auto_create_rejected"
    case groupAutoCreateCapped = "infrahub.group.auto_create_capped"
    case proposedChangeMerged = "infrahub.proposed_change.merged"
    case proposedChangeReviewRequested = "infrahub.proposed_change.review_requested"
    case proposedChangeApproved = "infrahub.proposed_change.approved"
    case proposedChangeRejected = "infrahub.proposed_change.rejected"
    case proposedChangeApprovalRevoked = "infrahub.proposed_change.approval_revoked"
    case proposedChangeRejectionRevoked = "infrahub.proposed_change.rejection_revoked"
    case proposedChangeApprovalsRevoked = "infrahub.proposed_change.approvals_revoked"
    case proposedChangeThreadCreated = "infrahub.proposed_change_thread.created"
    case proposedChangeThreadUpdated = "infrahub.proposed_change_thread.updated"
    case validatorStarted = "infrahub.validator.started"
    case validatorPassed = "infrahub.validator.passed"
    case validatorFailed = "infrahub.validator.failed"
    case accountLoggedIn = "infrahub.account.logged_in"
    case accountLoggedOut = "infrahub.account.logged_out"

    /// `infrahub_node_kind_event`: the webhook `node_kind` filter applies to this event (spec §c.2).
    public var isNodeKindEvent: Bool {
        switch self {
        case .nodeCreated, .nodeUpdated, .nodeDeleted, .artifactCreated, .artifactUpdated, .groupMemberAdded,
            .groupMemberRemoved, .validatorStarted, .validatorPassed, .validatorFailed:
            return true
        default:
            return false
        }
    }

    /// Events Infrahub emits with context branch `-global-` (so webhook bodies carry `branch: null`).
    public var hasGlobalContextBranch: Bool {
        self == .branchCreated || self == .branchDeleted || self == .branchMerged
    }
}
