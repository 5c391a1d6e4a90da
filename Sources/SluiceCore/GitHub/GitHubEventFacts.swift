/// What one GitHub delivery body says about refs, commits and outcomes, read per `X-GitHub-Event` (spec §f.2).
///
/// Only the fields the branch depends on are required (`push.ref`, `create`/`delete` `ref` and `ref_type`,
/// `pull_request.head.ref`, `deployment.ref`, `release.target_commitish`); a branch field present with the wrong
/// type is an error too. Everything else is read when it is a string, number or boolean and skipped otherwise.
/// Sendable value type.
struct GitHubEventFacts: Sendable {
    var hookID: String?
    /// `github.ref`: the full ref (`refs/heads/…`, `refs/tags/…`) as GitHub gives it or rebuilt from a short one.
    var ref: String?
    /// `branch` or `tag` when known.
    var refType: String?
    var branch: String?
    var tag: String?
    var baseBranch: String?
    var sha: String?
    var state: String?
    var status: String?
    var conclusion: String?
    var environment: String?
    /// The event's own labels, in order.
    var extras: [ResourceDraft.Label] = []

    /// Reads the facts of `body` for event `event`; any event not listed in spec §f.2 is read generically.
    init(event: String, body: JSONValue) throws(GitHubNormalizationError) {
        hookID = Self.text(body["hook_id"])
        switch event {
        case "push": try readPush(body)
        case "create", "delete": try readCreateOrDelete(body)
        case "pull_request": try readPullRequest(body)
        case "deployment": try readDeployment(body)
        case "deployment_status": try readDeploymentStatus(body)
        case "release": try readRelease(body)
        case "check_run": try readCheckRun(body)
        case "check_suite": try readCheckSuite(body)
        case "workflow_run": try readWorkflowRun(body)
        case "status": try readStatus(body)
        case "ping": readPing(body)
        default: readGeneric(body)
        }
        if branch?.isEmpty == true { branch = nil }
        if tag?.isEmpty == true { tag = nil }
    }

    // MARK: - Per event

    private mutating func readPush(_ body: JSONValue) throws(GitHubNormalizationError) {
        readFullRef(try Self.requiredString(body, ["ref"]))
        sha = Self.text(body["after"])
        extra("github.push.created", body["created"])
        extra("github.push.deleted", body["deleted"])
        extra("github.push.forced", body["forced"])
        extra("github.base_ref", body["base_ref"])
    }

    /// `create`/`delete` give a short ref and its type; the label gets the full ref, as `push` has it.
    private mutating func readCreateOrDelete(_ body: JSONValue) throws(GitHubNormalizationError) {
        let shortRef = try Self.requiredString(body, ["ref"])
        let type = try Self.requiredString(body, ["ref_type"])
        refType = type
        switch type {
        case "branch":
            branch = shortRef
            ref = "refs/heads/" + shortRef
        case "tag":
            tag = shortRef
            ref = "refs/tags/" + shortRef
        default:
            ref = shortRef
        }
    }

    private mutating func readPullRequest(_ body: JSONValue) throws(GitHubNormalizationError) {
        branch = try Self.requiredString(body, ["pull_request", "head", "ref"])
        let pullRequest = body["pull_request"]
        baseBranch = Self.text(pullRequest?[path: ["base", "ref"]])
        sha = Self.text(pullRequest?[path: ["head", "sha"]])
        extra("github.pull_request.number", pullRequest?["number"] ?? body["number"])
        extra("github.pull_request.state", pullRequest?["state"])
        extra("github.pull_request.draft", pullRequest?["draft"])
        extra("github.pull_request.merged", pullRequest?["merged"])
        // Only `synchronize` has them: the head SHA before and after the push.
        extra("github.before", body["before"])
        extra("github.after", body["after"])
    }

    private mutating func readDeployment(_ body: JSONValue) throws(GitHubNormalizationError) {
        readCommitish(try Self.requiredString(body, ["deployment", "ref"]))
        let deployment = body["deployment"]
        sha = Self.text(deployment?["sha"]) ?? sha
        environment = Self.text(deployment?["environment"])
        extra("github.deployment.id", deployment?["id"])
        extra("github.deployment.task", deployment?["task"])
    }

    private mutating func readDeploymentStatus(_ body: JSONValue) throws(GitHubNormalizationError) {
        readCommitish(try Self.requiredString(body, ["deployment", "ref"]))
        let status = body["deployment_status"]
        let deployment = body["deployment"]
        sha = Self.text(deployment?["sha"]) ?? sha
        state = Self.text(status?["state"])
        environment = Self.text(status?["environment"]) ?? Self.text(deployment?["environment"])
        extra("github.deployment.id", deployment?["id"])
        extra("github.target_url", status?["target_url"])
    }

    private mutating func readRelease(_ body: JSONValue) throws(GitHubNormalizationError) {
        let release = body["release"]
        tag = Self.text(release?["tag_name"])
        readCommitish(try Self.requiredString(body, ["release", "target_commitish"]))
        extra("github.release.prerelease", release?["prerelease"])
        extra("github.release.draft", release?["draft"])
        extra("github.release.name", release?["name"])
    }

    private mutating func readCheckRun(_ body: JSONValue) throws(GitHubNormalizationError) {
        let checkRun = body["check_run"]
        branch = try Self.optionalString(body, ["check_run", "check_suite", "head_branch"])
        sha = Self.text(checkRun?["head_sha"])
        status = Self.text(checkRun?["status"])
        conclusion = Self.text(checkRun?["conclusion"])
        extra("github.check.name", checkRun?["name"])
    }

    private mutating func readCheckSuite(_ body: JSONValue) throws(GitHubNormalizationError) {
        let checkSuite = body["check_suite"]
        branch = try Self.optionalString(body, ["check_suite", "head_branch"])
        sha = Self.text(checkSuite?["head_sha"])
        status = Self.text(checkSuite?["status"])
        conclusion = Self.text(checkSuite?["conclusion"])
    }

    private mutating func readWorkflowRun(_ body: JSONValue) throws(GitHubNormalizationError) {
        let workflowRun = body["workflow_run"]
        branch = try Self.optionalString(body, ["workflow_run", "head_branch"])
        sha = Self.text(workflowRun?["head_sha"])
        status = Self.text(workflowRun?["status"])
        conclusion = Self.text(workflowRun?["conclusion"])
        extra("github.workflow.name", workflowRun?["name"])
        extra("github.workflow_run.event", workflowRun?["event"])
        extra("github.workflow_run.id", workflowRun?["id"])
    }

    /// `status` lists every branch whose head is the commit; the first is taken as the branch.
    private mutating func readStatus(_ body: JSONValue) throws(GitHubNormalizationError) {
        sha = Self.text(body["sha"])
        state = Self.text(body["state"])
        extra("github.context", body["context"])
        let names = try Self.statusBranchNames(body)
        branch = names.first
        if !names.isEmpty { extras.append(ResourceDraft.Label("github.branches", names.joined(separator: ","))) }
        extra("github.target_url", body["target_url"])
    }

    private mutating func readPing(_ body: JSONValue) {
        extra("github.hook.type", body[path: ["hook", "type"]])
        extra("github.zen", body["zen"])
    }

    private mutating func readGeneric(_ body: JSONValue) {
        if let fullRef = body["ref"]?.stringValue { readFullRef(fullRef) }
    }

    // MARK: - Helpers

    /// A full ref: `refs/heads/X` is branch X, `refs/tags/T` is tag T, anything else only a ref.
    private mutating func readFullRef(_ fullRef: String) {
        ref = fullRef
        if fullRef.hasPrefix("refs/heads/") {
            refType = "branch"
            branch = String(fullRef.dropFirst("refs/heads/".count))
        } else if fullRef.hasPrefix("refs/tags/") {
            refType = "tag"
            tag = String(fullRef.dropFirst("refs/tags/".count))
        }
    }

    /// A ref that names a branch, unless it is a commit SHA (deployments and releases may target a commit).
    private mutating func readCommitish(_ commitish: String) {
        if Self.isCommitSHA(commitish) { sha = commitish } else { branch = commitish }
    }

    private mutating func extra(_ key: String, _ value: JSONValue?) {
        if let text = Self.text(value) { extras.append(ResourceDraft.Label(key, text)) }
    }

    private static func statusBranchNames(_ body: JSONValue) throws(GitHubNormalizationError) -> [String] {
        guard let branches = body["branches"], !branches.isNull else { return [] }
        guard let elements = branches.arrayValue else {
            throw GitHubNormalizationError(
                code: .invalidBody,
                field: "branches",
                message: "must be an array, found \(kind(of: branches))"
            )
        }
        var names: [String] = []
        for (index, element) in elements.enumerated() {
            guard let name = element["name"]?.stringValue else {
                throw GitHubNormalizationError(
                    code: .invalidBody,
                    field: "branches[\(index)].name",
                    message: "must be a string, found \(kind(of: element["name"]))"
                )
            }
            names.append(name)
        }
        return names
    }

    /// 40 hex digits: a full commit SHA-1.
    static func isCommitSHA(_ text: String) -> Bool {
        text.utf8.count == 40
            && text.utf8.allSatisfy { byte in
                (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
                    || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
            }
    }

    /// Label text of a scalar: the string, `true`/`false`, or the number's JSON text; `nil` for anything else.
    static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text)?: return text
        case .number(let text)?: return text
        case .bool(let flag)?: return flag ? "true" : "false"
        case .null?, .array?, .object?, nil: return nil
        }
    }

    /// The string at `path`, which the event's branch depends on.
    static func requiredString(_ body: JSONValue, _ path: [String]) throws(GitHubNormalizationError) -> String {
        guard let text = try optionalString(body, path) else {
            throw GitHubNormalizationError(
                code: .invalidBody,
                field: path.joined(separator: "."),
                message: "is required for this event, found \(kind(of: body[path: path]))"
            )
        }
        return text
    }

    /// The string at `path`, `nil` when absent or `null`; any other type is an error.
    static func optionalString(_ body: JSONValue, _ path: [String]) throws(GitHubNormalizationError) -> String? {
        switch body[path: path] {
        case .string(let text)?: return text
        case .null?, nil: return nil
        case let value?:
            throw GitHubNormalizationError(
                code: .invalidBody,
                field: path.joined(separator: "."),
                message: "must be a string, found \(kind(of: value))"
            )
        }
    }

    /// A JSON type name for messages.
    static func kind(of value: JSONValue?) -> String {
        switch value {
        case nil: return "nothing"
        case .null?: return "null"
        case .bool?: return "a boolean"
        case .number?: return "a number"
        case .string?: return "a string"
        case .array?: return "an array"
        case .object?: return "an object"
        }
    }
}
