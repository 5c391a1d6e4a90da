/// Turns GitHub webhook deliveries into Sluice events (spec §f), so GitOps triggers match them like Infrahub events.
///
/// The mapping, for a delivery with `X-GitHub-Event: E` and body `B`:
///
/// - `event`: `github.E`, or `github.E.A` when `B.action` is a string `A` (`github.pull_request.opened`).
/// - `id`: `X-GitHub-Delivery` when it is a UUID, else ``EventID/derived(from:)`` of its bytes. GitHub keeps the
///   delivery id on a redelivery, so a redelivered event has the same id and is deduplicated downstream.
/// - `occurred`: ``GitHubDelivery/receivedAt``.
/// - `payload.data`: the body bytes unchanged (``EventDraft`` drops insignificant whitespace when encoding);
///   `payload.context`: `{"branch": {"name": <branch or null>, "id": null}, "account_id": null, "priority": null,
///   "parent_event": null}`.
/// - `resource`: `github.repository.<repository.full_name>`, else `github.organization.<organization.login>`, else
///   `github.hook.<hook_id or X-GitHub-Hook-ID>`, else `github.delivery.<X-GitHub-Delivery>`; labelled, when known,
///   `github.event`, `github.action`, `github.delivery`, `github.hook.id`, `github.repository`, `github.ref`,
///   `github.ref_type`, `github.branch`, `github.tag`, `github.base_branch`, `github.sha`, `github.state`,
///   `github.status`, `github.conclusion`, `github.environment`, the event's own labels, and
///   `infrahub.branch.name` (the branch). Values are strings: booleans `true`/`false`, numbers as their JSON text.
/// - `related`: when there is a branch, `github.branch.<full_name or ->/<branch>` with role `infrahub.branch` and
///   `infrahub.resource.id` = `infrahub.resource.label` = the branch (so ``EventHeader/branch`` and Infrahub-style
///   branch filters work); the repository (role `github.repository`); the sender (role `github.sender`).
///
/// Where the branch, SHA, tag and state come from, per event (details in `GitHubEventFacts`):
///
/// | event | branch | other |
/// |---|---|---|
/// | `push` | `ref` = `refs/heads/X` → X | `refs/tags/T` → tag T; sha = `after`; created/deleted/forced/base_ref |
/// | `create`, `delete` | `ref` when `ref_type` = `branch` | tag when `ref_type` = `tag`; `github.ref` made full |
/// | `pull_request` | `pull_request.head.ref` | base branch, head sha, number/state/draft/merged, before/after |
/// | `deployment` | `deployment.ref` | sha, environment, deployment id and task |
/// | `deployment_status` | `deployment.ref` | state, environment, sha, deployment id, target URL |
/// | `release` | `release.target_commitish` | tag = `tag_name`; prerelease, draft, name |
/// | `check_run` | `check_run.check_suite.head_branch` | head sha, status, conclusion, check name |
/// | `check_suite`, `workflow_run` | `head_branch` | head sha, status, conclusion (+ workflow name, trigger, id) |
/// | `status` | `branches[0].name` | sha, state, context, all branches, target URL |
/// | `ping` | none | hook id and type, zen |
/// | any other | top-level `ref` = `refs/heads/X` → X | `refs/tags/T` → tag T |
///
/// A `deployment.ref` or `release.target_commitish` that is a 40-digit commit SHA is taken as the SHA, not a
/// branch, and an empty branch name counts as no branch. Stateless and pure (no clock, no I/O); safe to call
/// from any thread.
public enum GitHubNormalizer {
    /// Largest accepted body: GitHub caps webhook payloads at 25 MB and sends nothing bigger.
    ///
    /// The default ``EventLimits/eventByteCountMax`` (1.5 MB) is far smaller, so an event built from a body over
    /// about 1.5 MB is still refused when decoded; raise that limit to accept every GitHub delivery.
    public static let bodyByteCountMax = 25 * 1024 * 1024
    /// Longest accepted `X-GitHub-Event`, `X-GitHub-Delivery` and `X-GitHub-Hook-ID` value, and body `action`.
    public static let headerByteCountMax = 200
    /// Deepest accepted body nesting: the event wraps the body two levels down (`{"payload": {"data": …}}`),
    /// so this keeps the encoded event within the default ``EventLimits/nestingDepthMax``.
    public static let bodyNestingDepthMax = EventLimits().nestingDepthMax - 2

    /// Builds the event for one delivery (mapping in the type's documentation).
    ///
    /// - Parameter delivery: the headers, raw body and receive time.
    /// - Returns: the draft; ``EventDraft/encoded()`` gives the Prefect wire JSON.
    /// - Throws: ``GitHubNormalizationError`` with code `invalidHeader` (event not `[a-z_]+`, delivery id not
    ///   printable ASCII, an empty or over-long header), `bodyTooLarge` (over ``bodyByteCountMax``), or
    ///   `invalidBody` (not JSON — with the byte offset —, not an object, or a field the branch needs, such as
    ///   `pull_request.head.ref`, missing or of the wrong type).
    /// - Complexity: O(n) in the body size (the body is parsed once into a ``JSONValue``).
    public static func draft(for delivery: GitHubDelivery) throws(GitHubNormalizationError) -> EventDraft {
        try validateHeaders(delivery)
        let body = try parseBody(delivery.body)
        let action = try actionName(body)
        let facts = try GitHubEventFacts(event: delivery.event, body: body)
        let repository = body[path: ["repository", "full_name"]]?.stringValue
        let hookID = facts.hookID ?? delivery.hookID
        let resource = ResourceDraft(
            id: primaryResourceID(
                body,
                repository: repository,
                hookID: hookID,
                deliveryID: delivery.deliveryID
            ),
            primaryLabels(delivery, facts, action: action, hookID: hookID, repository: repository)
        )
        let branch: JSONValue = facts.branch.map { .string($0) } ?? .null
        let context: JSONValue = [
            "branch": ["name": branch, "id": nil], "account_id": nil, "priority": nil,
            "parent_event": nil,
        ]
        let id = EventID.parse(delivery.deliveryID) ?? EventID.derived(from: Array(delivery.deliveryID.utf8))
        return EventDraft(
            name: "github." + delivery.event + (action.map { "." + $0 } ?? ""),
            id: id,
            occurred: delivery.receivedAt,
            resource: resource,
            related: relatedResources(body, branch: facts.branch, repository: repository),
            payloadData: delivery.body,
            payloadContext: context
        )
    }

    // MARK: - Validation

    /// Checks the three `X-GitHub-*` headers (the body is checked by ``parseBody(_:)``).
    static func validateHeaders(_ delivery: GitHubDelivery) throws(GitHubNormalizationError) {
        let eventBytes = delivery.event.utf8
        try validateHeaderLength("X-GitHub-Event", eventBytes.count)
        if let position = eventBytes.firstIndex(where: { !isEventNameByte($0) }) {
            let offset = eventBytes.distance(from: eventBytes.startIndex, to: position)
            throw GitHubNormalizationError(
                code: .invalidHeader,
                field: "X-GitHub-Event",
                message: "must be lower-case letters and '_' only, found byte "
                    + "0x\(String(eventBytes[position], radix: 16)) at position \(offset)"
            )
        }
        try validatePrintableHeader("X-GitHub-Delivery", delivery.deliveryID)
        if let hookID = delivery.hookID { try validatePrintableHeader("X-GitHub-Hook-ID", hookID) }
    }

    static func validateBodySize(_ byteCount: Int) throws(GitHubNormalizationError) {
        guard byteCount <= bodyByteCountMax else {
            throw GitHubNormalizationError(
                code: .bodyTooLarge,
                field: "",
                message: "body is \(byteCount) bytes, more than the limit of \(bodyByteCountMax)"
            )
        }
    }

    private static func validateHeaderLength(_ name: String, _ byteCount: Int) throws(GitHubNormalizationError) {
        guard byteCount > 0 else {
            throw GitHubNormalizationError(code: .invalidHeader, field: name, message: "must not be empty")
        }
        guard byteCount <= headerByteCountMax else {
            throw GitHubNormalizationError(
                code: .invalidHeader,
                field: name,
                message: "is \(byteCount) bytes, more than the limit of \(headerByteCountMax)"
            )
        }
    }

    private static func validatePrintableHeader(_ name: String, _ value: String) throws(GitHubNormalizationError) {
        try validateHeaderLength(name, value.utf8.count)
        guard value.utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E }) else {
            throw GitHubNormalizationError(code: .invalidHeader, field: name, message: "must be printable ASCII")
        }
    }

    private static func isEventNameByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || byte == UInt8(ascii: "_")
    }

    /// Checks the size, then parses the body strictly; it must be a JSON object.
    static func parseBody(_ bytes: [UInt8]) throws(GitHubNormalizationError) -> JSONValue {
        try validateBodySize(bytes.count)
        let body: JSONValue
        do {
            body = try JSONValue.parse(bytes, depthMax: bodyNestingDepthMax)
        } catch {
            throw GitHubNormalizationError(
                code: .invalidBody,
                byteOffset: error.byteOffset,
                field: "",
                message: error.message
            )
        }
        guard case .object = body else {
            throw GitHubNormalizationError(
                code: .invalidBody,
                field: "",
                message: "body must be a JSON object, found \(GitHubEventFacts.kind(of: body))"
            )
        }
        return body
    }

    /// The body's `action` when it is a non-empty string (the last part of the event name).
    private static func actionName(_ body: JSONValue) throws(GitHubNormalizationError) -> String? {
        guard let action = body["action"]?.stringValue, !action.isEmpty else { return nil }
        guard action.utf8.count <= headerByteCountMax else {
            throw GitHubNormalizationError(
                code: .invalidBody,
                field: "action",
                message: "is \(action.utf8.count) bytes, more than the limit of \(headerByteCountMax)"
            )
        }
        return action
    }

    // MARK: - Resources

    private static func primaryResourceID(
        _ body: JSONValue,
        repository: String?,
        hookID: String?,
        deliveryID: String
    ) -> String {
        if let repository { return "github.repository." + repository }
        if let organization = body[path: ["organization", "login"]]?.stringValue {
            return "github.organization." + organization
        }
        if let hookID { return "github.hook." + hookID }
        return "github.delivery." + deliveryID
    }

    private static func primaryLabels(
        _ delivery: GitHubDelivery,
        _ facts: GitHubEventFacts,
        action: String?,
        hookID: String?,
        repository: String?
    ) -> [(String, String)] {
        let candidates: [(String, String?)] = [
            ("github.event", delivery.event), ("github.action", action), ("github.delivery", delivery.deliveryID),
            ("github.hook.id", hookID), ("github.repository", repository), ("github.ref", facts.ref),
            ("github.ref_type", facts.refType), ("github.branch", facts.branch), ("github.tag", facts.tag),
            ("github.base_branch", facts.baseBranch), ("github.sha", facts.sha), ("github.state", facts.state),
            ("github.status", facts.status), ("github.conclusion", facts.conclusion),
            ("github.environment", facts.environment),
        ]
        var labels = candidates.compactMap { key, value in value.map { (key, $0) } }
        labels += facts.extras.map { ($0.key, $0.value) }
        if let branch = facts.branch { labels.append(("infrahub.branch.name", branch)) }
        return labels
    }

    /// The branch (role `infrahub.branch`), the repository and the sender, each when the delivery has it.
    private static func relatedResources(_ body: JSONValue, branch: String?, repository: String?) -> [ResourceDraft] {
        var related: [ResourceDraft] = []
        if let branch {
            related.append(
                ResourceDraft(
                    id: "github.branch." + (repository ?? "-") + "/" + branch,
                    role: "infrahub.branch",
                    [("infrahub.resource.id", branch), ("infrahub.resource.label", branch)]
                )
            )
        }
        if let repository, let object = body["repository"] {
            related.append(
                ResourceDraft(
                    id: "github.repository." + repository,
                    role: "github.repository",
                    labels([
                        ("github.repository.id", object["id"]), ("github.repository.name", object["name"]),
                        ("github.repository.owner", object[path: ["owner", "login"]]),
                        ("github.repository.default_branch", object["default_branch"]),
                    ])
                )
            )
        }
        if let sender = body["sender"], let login = sender["login"]?.stringValue {
            related.append(
                ResourceDraft(
                    id: "github.user." + login,
                    role: "github.sender",
                    labels([
                        ("github.user.login", sender["login"]), ("github.user.id", sender["id"]),
                        ("github.user.type", sender["type"]),
                    ])
                )
            )
        }
        return related
    }

    /// The candidates whose value is a string, number or boolean, as label text.
    private static func labels(_ candidates: [(String, JSONValue?)]) -> [(String, String)] {
        candidates.compactMap { key, value in GitHubEventFacts.text(value).map { (key, $0) } }
    }
}
