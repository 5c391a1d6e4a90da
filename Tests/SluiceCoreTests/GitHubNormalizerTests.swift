import SluiceTestSupport
import Testing

@testable import SluiceCore

/// What one file of `fixtures/github` must normalize to (values read from the fixture by hand).
struct GitHubFixtureCase: Sendable, CustomTestStringConvertible {
    var file: String
    var name: String
    /// `prefect.resource.id` of the primary resource.
    var resource: String
    var branch: String?
    var sha: String?
    var tag: String? = nil
    var state: String? = nil
    var status: String? = nil
    var conclusion: String? = nil
    var environment: String? = nil

    /// `X-GitHub-Event`: the file name up to the first `.`.
    var event: String { String(file.prefix { $0 != "." }) }
    var testDescription: String { file }
}

enum GitHubFixtureTable {
    static let deliveryID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    static let receivedAt = Timestamp(secondsSinceEpoch: 1_750_000_000, microseconds: 123_456)

    static let helloWorld = "github.repository.Codertocat/Hello-World"
    static let octocodersHelloWorld = "github.repository.Octocoders/Hello-World"
    static let octoRepo = "github.repository.octo-org/octo-repo"
    /// `pull_request.head.sha`, `check_run.head_sha` and `check_suite.head_sha` of most samples.
    static let changesSHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    static let deploymentSHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    static let initialCommitSHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    static let workflowSHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"
    static let zeroSHA = "0000000000000000000000000000000000000000"

    static let cases: [GitHubFixtureCase] =
        checkRuns + checkSuites + refs + deployments + pings + pullRequests
        + pushes + releases + statuses + workflowRuns

    static let checkRuns: [GitHubFixtureCase] = [
        GitHubFixtureCase(
            file: "check_run.completed.failure.json",
            name: "github.check_run.completed",
            resource: helloWorld,
            branch: "changes",
            sha: changesSHA,
            status: "completed",
            conclusion: "failure"
        ),
        GitHubFixtureCase(
            file: "check_run.completed.json",
            name: "github.check_run.completed",
            resource: helloWorld,
            branch: "changes",
            sha: changesSHA,
            status: "completed",
            conclusion: "success"
        ),
        GitHubFixtureCase(
            file: "check_run.created.json",
            name: "github.check_run.created",
            resource: helloWorld,
            branch: "changes",
            sha: changesSHA,
            status: "queued"
        ),
        GitHubFixtureCase(
            file: "check_run.requested_action.json",
            name: "github.check_run.requested_action",
            resource: "github.repository.electron/electron",
            branch: "miniak/event-process-id",
            sha: "5bd5f196a46b8222fb7484f05faba41a73cf34bd",
            status: "in_progress"
        ),
        GitHubFixtureCase(
            file: "check_run.rerequested.json",
            name: "github.check_run.rerequested",
            resource: "github.repository.github/hello-world",
            branch: "master",
            sha: "d6fde92930d4715a2b49857d24b940956b26d2d3",
            status: "completed",
            conclusion: "neutral"
        ),
    ]

    static let checkSuites: [GitHubFixtureCase] = [
        GitHubFixtureCase(
            file: "check_suite.completed.json",
            name: "github.check_suite.completed",
            resource: helloWorld,
            branch: "changes",
            sha: changesSHA,
            status: "completed",
            conclusion: "success"
        ),
        GitHubFixtureCase(
            file: "check_suite.completed.main-branch.json",
            name: "github.check_suite.completed",
            resource: helloWorld,
            branch: "main",
            sha: changesSHA,
            status: "completed",
            conclusion: "success"
        ),
        GitHubFixtureCase(
            file: "check_suite.requested.json",
            name: "github.check_suite.requested",
            resource: helloWorld,
            branch: "master",
            sha: deploymentSHA,
            status: "queued"
        ),
        GitHubFixtureCase(
            file: "check_suite.rerequested.json",
            name: "github.check_suite.rerequested",
            resource: helloWorld,
            branch: "changes",
            sha: changesSHA,
            status: "completed",
            conclusion: "success"
        ),
    ]

    /// `create` and `delete`: every sample is a tag.
    static let refs: [GitHubFixtureCase] = [
        GitHubFixtureCase(
            file: "create.json",
            name: "github.create",
            resource: helloWorld,
            branch: nil,
            sha: nil,
            tag: "simple-tag"
        ),
        GitHubFixtureCase(
            file: "create.with-description.json",
            name: "github.create",
            resource: helloWorld,
            branch: nil,
            sha: nil,
            tag: "simple-tag"
        ),
        GitHubFixtureCase(
            file: "delete.json",
            name: "github.delete",
            resource: helloWorld,
            branch: nil,
            sha: nil,
            tag: "simple-tag"
        ),
    ]

    static let deployments: [GitHubFixtureCase] = [
        GitHubFixtureCase(
            file: "deployment.created.gh-pages.json",
            name: "github.deployment.created",
            resource: helloWorld,
            branch: "gh-pages",
            sha: deploymentSHA,
            environment: "github-pages"
        ),
        GitHubFixtureCase(
            file: "deployment.created.json",
            name: "github.deployment.created",
            resource: helloWorld,
            branch: "master",
            sha: deploymentSHA,
            environment: "production"
        ),
        GitHubFixtureCase(
            file: "deployment_status.created.gh-pages-in_progress.json",
            name: "github.deployment_status.created",
            resource: helloWorld,
            branch: "master",
            sha: deploymentSHA,
            state: "in_progress",
            environment: "github-pages"
        ),
        GitHubFixtureCase(
            file: "deployment_status.created.json",
            name: "github.deployment_status.created",
            resource: helloWorld,
            branch: "master",
            sha: deploymentSHA,
            state: "success",
            environment: "production"
        ),
    ]

    static let pings: [GitHubFixtureCase] = [
        GitHubFixtureCase(
            file: "ping.json",
            name: "github.ping",
            resource: octocodersHelloWorld,
            branch: nil,
            sha: nil
        ),
        GitHubFixtureCase(
            file: "ping.with-app_id.json",
            name: "github.ping",
            resource: octocodersHelloWorld,
            branch: nil,
            sha: nil
        ),
        GitHubFixtureCase(
            file: "ping.with-organization.json",
            name: "github.ping",
            resource: "github.organization.Octocoders",
            branch: nil,
            sha: nil
        ),
    ]

    static let pullRequests: [GitHubFixtureCase] = [
        "closed", "converted_to_draft", "labeled", "opened", "opened.with-null-body", "ready_for_review", "reopened",
        "synchronize",
    ].map { variant in
        let action = String(variant.prefix { $0 != "." })
        return GitHubFixtureCase(
            file: "pull_request.\(variant).json",
            name: "github.pull_request.\(action)",
            resource: helloWorld,
            branch: "changes",
            sha: changesSHA
        )
    }

    static let pushes: [GitHubFixtureCase] = [
        GitHubFixtureCase(
            file: "push.json",
            name: "github.push",
            resource: helloWorld,
            branch: "master",
            sha: initialCommitSHA
        ),
        GitHubFixtureCase(
            file: "push.no-username-committer.json",
            name: "github.push",
            resource: helloWorld,
            branch: "master",
            sha: initialCommitSHA
        ),
        GitHubFixtureCase(
            file: "push.tag-deleted.json",
            name: "github.push",
            resource: helloWorld,
            branch: nil,
            sha: zeroSHA,
            tag: "simple-tag"
        ),
    ]

    static let releases: [GitHubFixtureCase] = ["created", "deleted", "edited", "prereleased", "published", "released"]
        .map {
            GitHubFixtureCase(
                file: "release.\($0).json",
                name: "github.release.\($0)",
                resource: helloWorld,
                branch: "master",
                sha: nil,
                tag: "0.0.1"
            )
        }

    static let statuses: [GitHubFixtureCase] = [
        GitHubFixtureCase(
            file: "status.json",
            name: "github.status",
            resource: helloWorld,
            branch: "master",
            sha: initialCommitSHA,
            state: "success"
        ),
        GitHubFixtureCase(
            file: "status.with-author-committer-null.json",
            name: "github.status",
            resource: helloWorld,
            branch: "master",
            sha: initialCommitSHA,
            state: "success"
        ),
    ]

    static let workflowRuns: [GitHubFixtureCase] = [
        GitHubFixtureCase(
            file: "workflow_run.completed.json",
            name: "github.workflow_run.completed",
            resource: octoRepo,
            branch: "master",
            sha: workflowSHA,
            status: "completed",
            conclusion: "success"
        ),
        GitHubFixtureCase(
            file: "workflow_run.completed.with-pull-requests.json",
            name: "github.workflow_run.completed",
            resource: octoRepo,
            branch: "master",
            sha: workflowSHA,
            status: "completed",
            conclusion: "success"
        ),
        GitHubFixtureCase(
            file: "workflow_run.requested.json",
            name: "github.workflow_run.requested",
            resource: octoRepo,
            branch: "master",
            sha: workflowSHA,
            status: "queued"
        ),
    ]

    static func delivery(
        _ event: String,
        _ body: [UInt8],
        deliveryID: String = deliveryID,
        hookID: String? = nil
    )
        -> GitHubDelivery
    {
        GitHubDelivery(event: event, deliveryID: deliveryID, hookID: hookID, body: body, receivedAt: receivedAt)
    }

    static func delivery(
        _ event: String,
        _ body: String,
        deliveryID: String = deliveryID,
        hookID: String? = nil
    )
        -> GitHubDelivery
    {
        delivery(event, Array(body.utf8), deliveryID: deliveryID, hookID: hookID)
    }

    static func fixture(_ file: String) throws -> [UInt8] {
        try readRepositoryFile(FixturePaths.github + "/" + file)
    }
}

@Suite struct GitHubNormalizerFixtureTests {
    @Test func tableCoversEveryFixtureFile() {
        let files = FixturePaths.fileNames(in: FixturePaths.github, suffix: ".json")
        #expect(files.count == 41)
        #expect(GitHubFixtureTable.cases.map(\.file).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } == files)
    }

    @Test(arguments: GitHubFixtureTable.cases)
    func fixtureNormalizes(_ expected: GitHubFixtureCase) throws {
        let body = try GitHubFixtureTable.fixture(expected.file)
        let draft = try GitHubNormalizer.draft(for: GitHubFixtureTable.delivery(expected.event, body))
        let deliveryID = try #require(EventID.parse(GitHubFixtureTable.deliveryID))
        #expect(draft.name == expected.name)
        #expect(draft.id == deliveryID)
        #expect(draft.occurred == GitHubFixtureTable.receivedAt)
        #expect(draft.payloadData == body)
        #expect(draft.payloadContext?[path: ["branch", "name"]] == (expected.branch.map { .string($0) } ?? .null))
        let resource = draft.resource
        #expect(resource["prefect.resource.id"] == expected.resource)
        #expect(resource["github.event"] == expected.event)
        #expect(resource["github.delivery"] == GitHubFixtureTable.deliveryID)
        #expect(resource["github.branch"] == expected.branch)
        #expect(resource["infrahub.branch.name"] == expected.branch)
        #expect(resource["github.sha"] == expected.sha)
        #expect(resource["github.tag"] == expected.tag)
        #expect(resource["github.state"] == expected.state)
        #expect(resource["github.status"] == expected.status)
        #expect(resource["github.conclusion"] == expected.conclusion)
        #expect(resource["github.environment"] == expected.environment)

        var decoder = EventDecoder()
        let event = try draft.build(with: &decoder)
        #expect(decoder.symbols.string(event.header.name) == expected.name)
        #expect(decoder.symbols.string(event.header.branch) == (expected.branch ?? ""))
        #expect(event.header.branch.isNone == (expected.branch == nil))
        #expect(event.header.id == deliveryID)
        #expect(event.header.occurred == GitHubFixtureTable.receivedAt)
        let dataRange = try #require(event.header.payloadDataRange)
        #expect(Array(event.bytes[dataRange]) == JSONCompactor.compacted(body))
        let branchResources = event.header.related.filter { $0.role == .roleBranch }
        #expect(branchResources.count == (expected.branch == nil ? 0 : 1))
        if let branch = expected.branch, let related = branchResources.first {
            #expect(event.labelValue(.infrahubResourceLabel, of: related) == branch)
        }
        try expectDecodedLabels(event, draft, decoder)
    }

    /// Every label of every resource of `draft` reads back from the decoded event.
    private func expectDecodedLabels(_ event: Event, _ draft: EventDraft, _ decoder: EventDecoder) throws {
        let resources = [draft.resource] + draft.related
        #expect(event.header.resources.count == resources.count)
        for (resource, record) in zip(resources, event.header.resources) {
            #expect(Int(record.labelCount) == resource.labels.count)
            for label in resource.labels {
                let key = try #require(decoder.symbols.intern(label.key))
                #expect(event.labelValue(key, of: record) == label.value, "\(label.key)")
            }
        }
    }
}

@Suite struct GitHubNormalizerMappingTests {
    private func labels(_ resource: ResourceDraft) -> [String] { resource.labels.map { "\($0.key)=\($0.value)" } }

    @Test func pushLabelsAndRelatedResources() throws {
        let delivery = GitHubFixtureTable.delivery(
            "push",
            try GitHubFixtureTable.fixture("push.json"),
            hookID: "109948940"
        )
        let draft = try GitHubNormalizer.draft(for: delivery)
        #expect(
            labels(draft.resource) == [
                "prefect.resource.id=github.repository.Codertocat/Hello-World", "github.event=push",
                "github.delivery=72d3162e-cc78-11e3-81ab-4c9367dc0958", "github.hook.id=109948940",
                "github.repository=Codertocat/Hello-World", "github.ref=refs/heads/master", "github.ref_type=branch",
                "github.branch=master", "github.sha=6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                "github.push.created=true",
                "github.push.deleted=false", "github.push.forced=false", "infrahub.branch.name=master",
            ]
        )
        #expect(
            draft.related.map(labels) == [
                [
                    "prefect.resource.id=github.branch.Codertocat/Hello-World/master",
                    "prefect.resource.role=infrahub.branch",
                    "infrahub.resource.id=master", "infrahub.resource.label=master",
                ],
                [
                    "prefect.resource.id=github.repository.Codertocat/Hello-World",
                    "prefect.resource.role=github.repository",
                    "github.repository.id=186853002", "github.repository.name=Hello-World",
                    "github.repository.owner=Codertocat",
                    "github.repository.default_branch=master",
                ],
                [
                    "prefect.resource.id=github.user.Codertocat", "prefect.resource.role=github.sender",
                    "github.user.login=Codertocat", "github.user.id=21031067", "github.user.type=User",
                ],
            ]
        )
        #expect(
            draft.payloadContext?.encodedString()
                == #"{"branch":{"name":"master","id":null},"account_id":null,"priority":null,"parent_event":null}"#
        )
    }

    @Test func pushOfDeletedTag() throws {
        let body = try GitHubFixtureTable.fixture("push.tag-deleted.json")
        let draft = try GitHubNormalizer.draft(for: GitHubFixtureTable.delivery("push", body))
        #expect(draft.resource["github.ref"] == "refs/tags/simple-tag")
        #expect(draft.resource["github.ref_type"] == "tag")
        #expect(draft.resource["github.push.deleted"] == "true")
        #expect(draft.related.map { $0["prefect.resource.role"] } == ["github.repository", "github.sender"])
        #expect(
            draft.payloadContext?.encodedString()
                == #"{"branch":{"name":null,"id":null},"account_id":null,"priority":null,"parent_event":null}"#
        )
    }

    @Test func pullRequestSynchronize() throws {
        let body = try GitHubFixtureTable.fixture("pull_request.synchronize.json")
        let draft = try GitHubNormalizer.draft(for: GitHubFixtureTable.delivery("pull_request", body))
        #expect(
            labels(draft.resource).dropFirst(4) == [
                "github.repository=Codertocat/Hello-World", "github.branch=changes", "github.base_branch=master",
                "github.sha=ec26c3e57ca3a959ca5aad62de7213c562f8c821", "github.pull_request.number=2",
                "github.pull_request.state=open", "github.pull_request.draft=false", "github.pull_request.merged=false",
                "github.before=f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
                "github.after=ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                "infrahub.branch.name=changes",
            ]
        )
        #expect(draft.resource["github.action"] == "synchronize")
    }

    @Test func createAndDeleteRebuildTheFullRef() throws {
        let tag = try GitHubNormalizer.draft(
            for: GitHubFixtureTable.delivery("create", try GitHubFixtureTable.fixture("create.json"))
        )
        #expect(tag.resource["github.ref"] == "refs/tags/simple-tag")
        #expect(tag.resource["github.ref_type"] == "tag")
        let branch = try GitHubNormalizer.draft(
            for: GitHubFixtureTable.delivery(
                "delete",
                #"{"ref":"feature/x","ref_type":"branch","repository":{"full_name":"o/r"}}"#
            )
        )
        #expect(branch.name == "github.delete")
        #expect(branch.resource["github.ref"] == "refs/heads/feature/x")
        #expect(branch.resource["github.branch"] == "feature/x")
        #expect(branch.related.first?["prefect.resource.id"] == "github.branch.o/r/feature/x")
    }

    @Test func eventSpecificLabels() throws {
        func draft(_ file: String) throws -> EventDraft {
            try GitHubNormalizer.draft(
                for: GitHubFixtureTable.delivery(
                    String(file.prefix { $0 != "." }),
                    try GitHubFixtureTable.fixture(file)
                )
            )
        }
        let deployment = try draft("deployment.created.json")
        #expect(deployment.resource["github.deployment.id"] == "145988746")
        #expect(deployment.resource["github.deployment.task"] == "deploy")
        let inProgress = try draft("deployment_status.created.gh-pages-in_progress.json")
        #expect(
            inProgress.resource["github.target_url"]
                == "https://github.com/Codertocat/Hello-World/runs/145988746?check_suite_focus=true"
        )
        #expect(inProgress.resource["github.deployment.id"] == "145988746")
        let prerelease = try draft("release.prereleased.json")
        #expect(prerelease.resource["github.release.prerelease"] == "true")
        #expect(prerelease.resource["github.release.draft"] == "false")
        let checkRun = try draft("check_run.completed.json")
        #expect(checkRun.resource["github.check.name"] == "Octocoders-linter")
        let workflowRun = try draft("workflow_run.completed.json")
        #expect(workflowRun.resource["github.workflow_run.event"] == "repository_dispatch")
        #expect(workflowRun.resource["github.workflow_run.id"] == "289782451")
        #expect(workflowRun.resource["github.workflow.name"] == "")
        let status = try draft("status.json")
        #expect(status.resource["github.context"] == "default")
        #expect(status.resource["github.branches"] == "master,changes,gh-pages")
        #expect(status.resource["github.target_url"] == nil)
        let ping = try draft("ping.with-organization.json")
        #expect(ping.resource["github.hook.id"] == "109948940")
        #expect(ping.resource["github.hook.type"] == "Organization")
        #expect(ping.resource["github.zen"] == "Anything added dilutes everything else.")
        #expect(ping.related.map { $0["prefect.resource.role"] } == ["github.sender"])
    }

    @Test func releaseOrDeploymentOfACommitHasNoBranch() throws {
        let sha = GitHubFixtureTable.deploymentSHA
        let draft = try GitHubNormalizer.draft(
            for: GitHubFixtureTable.delivery(
                "release",
                #"{"action":"published","release":{"tag_name":"v1","target_commitish":"\#(sha)"}}"#
            )
        )
        #expect(draft.resource["github.branch"] == nil)
        #expect(draft.resource["github.sha"] == sha)
        #expect(draft.resource["github.tag"] == "v1")
        let deployment = try GitHubNormalizer.draft(
            for: GitHubFixtureTable.delivery("deployment", #"{"action":"created","deployment":{"ref":"\#(sha)"}}"#)
        )
        #expect(deployment.resource["github.branch"] == nil)
        #expect(deployment.resource["github.sha"] == sha)
        #expect(deployment.related.isEmpty)
    }

    @Test func genericEventKeepsRepositoryActionAndSender() throws {
        let body =
            #"{"action":"opened","issue":{"number":1},"repository":{"full_name":"o/r","id":7},"sender":{"login":"u"}}"#
        let draft = try GitHubNormalizer.draft(for: GitHubFixtureTable.delivery("issues", body))
        #expect(draft.name == "github.issues.opened")
        #expect(draft.resource["prefect.resource.id"] == "github.repository.o/r")
        #expect(draft.resource["github.action"] == "opened")
        #expect(draft.resource["github.branch"] == nil)
        #expect(draft.related.map { $0["prefect.resource.id"] } == ["github.repository.o/r", "github.user.u"])
        var decoder = EventDecoder()
        let event = try draft.build(with: &decoder)
        #expect(decoder.symbols.string(event.header.name) == "github.issues.opened")
        #expect(event.header.branch.isNone)
    }

    @Test func genericEventTakesItsBranchFromAFullRef() throws {
        let draft = try GitHubNormalizer.draft(
            for: GitHubFixtureTable.delivery(
                "registry_package",
                #"{"action":"published","ref":"refs/heads/feature-1"}"#
            )
        )
        #expect(draft.resource["github.branch"] == "feature-1")
        #expect(draft.resource["prefect.resource.id"] == "github.delivery." + GitHubFixtureTable.deliveryID)
        #expect(draft.related.first?["prefect.resource.id"] == "github.branch.-/feature-1")
    }

    @Test func resourceFallsBackToHookThenDelivery() throws {
        let hook = try GitHubNormalizer.draft(
            for: GitHubFixtureTable.delivery("meta", #"{"action":"deleted"}"#, hookID: "42")
        )
        #expect(hook.resource["prefect.resource.id"] == "github.hook.42")
        #expect(hook.resource["github.hook.id"] == "42")
        let delivery = try GitHubNormalizer.draft(for: GitHubFixtureTable.delivery("meta", "{}"))
        #expect(delivery.resource["prefect.resource.id"] == "github.delivery." + GitHubFixtureTable.deliveryID)
        #expect(delivery.name == "github.meta")
    }

    @Test func redeliveryGivesTheSameEvent() throws {
        let body = try GitHubFixtureTable.fixture("pull_request.opened.json")
        let first = try GitHubNormalizer.draft(for: GitHubFixtureTable.delivery("pull_request", body))
        let second = try GitHubNormalizer.draft(for: GitHubFixtureTable.delivery("pull_request", body))
        #expect(first.encoded() == second.encoded())
        let upper = try GitHubNormalizer.draft(
            for: GitHubFixtureTable.delivery(
                "pull_request",
                body,
                deliveryID: GitHubFixtureTable.deliveryID.uppercased()
            )
        )
        #expect(upper.id == first.id)
    }

    @Test func nonUUIDDeliveryIDGivesAStableDerivedID() throws {
        func id(_ deliveryID: String) throws -> EventID {
            try GitHubNormalizer.draft(for: GitHubFixtureTable.delivery("ping", "{}", deliveryID: deliveryID)).id
        }
        let first = try id("delivery-0001")
        #expect(try id("delivery-0001") == first)
        #expect(try id("delivery-0002") != first)
        #expect(first == EventID.derived(from: Array("delivery-0001".utf8)))
        #expect(first.high >> 12 & 0xF == 8, "version-8 UUID")
        var decoder = EventDecoder()
        let event = try GitHubNormalizer.draft(
            for: GitHubFixtureTable.delivery("ping", "{}", deliveryID: "delivery-0001")
        )
        .build(with: &decoder)
        #expect(event.header.id == first)
    }

    @Test func deepestAcceptedBodyStillDecodes() throws {
        let depth = GitHubNormalizer.bodyNestingDepthMax
        let deepest =
            "{\"a\":" + String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1) + "}"
        var decoder = EventDecoder()
        let event = try GitHubNormalizer.draft(for: GitHubFixtureTable.delivery("meta", deepest)).build(with: &decoder)
        #expect(event.header.payloadDataRange != nil)
        let tooDeep = "{\"a\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        #expect(throws: GitHubNormalizationError.self) {
            try GitHubNormalizer.draft(for: GitHubFixtureTable.delivery("meta", tooDeep))
        }
    }
}

@Suite struct GitHubNormalizerErrorTests {
    private func error(_ delivery: GitHubDelivery) -> GitHubNormalizationError? {
        do {
            _ = try GitHubNormalizer.draft(for: delivery)
            return nil
        } catch {
            return error
        }
    }

    @Test func invalidJSONReportsTheByteOffset() throws {
        let body = #"{"ref": "refs/heads/main",}"#
        let failure = try #require(error(GitHubFixtureTable.delivery("push", body)))
        #expect(failure.code == .invalidBody)
        #expect(failure.byteOffset == 26)
        #expect(failure.field == "")
        do {
            _ = try JSONValue.parse(body)
        } catch {
            #expect(failure.byteOffset == error.byteOffset)
            #expect(failure.message == error.message)
        }
        #expect(failure.description.contains("at byte offset 26"))
    }

    @Test func bodyMustBeAnObject() throws {
        let failure = try #require(error(GitHubFixtureTable.delivery("push", "[1,2]")))
        #expect(failure.code == .invalidBody)
        #expect(failure.byteOffset == nil)
        #expect(failure.message.contains("an array"))
        #expect(error(GitHubFixtureTable.delivery("push", ""))?.code == .invalidBody)
    }

    @Test func eventHeaderMustBeLowerCaseLettersAndUnderscores() throws {
        for event in ["", "Push", "pull-request", "push ", "pùsh", String(repeating: "a", count: 201)] {
            let failure = try #require(error(GitHubFixtureTable.delivery(event, "{}")), "\(event)")
            #expect(failure.code == .invalidHeader, "\(event)")
            #expect(failure.field == "X-GitHub-Event", "\(event)")
        }
        #expect(error(GitHubFixtureTable.delivery("check_suite", #"{"check_suite":{}}"#)) == nil)
    }

    @Test func deliveryAndHookIDMustBePrintableASCII() throws {
        for deliveryID in ["", "tab\tinside", "é", String(repeating: "d", count: 201)] {
            let failure = try #require(error(GitHubFixtureTable.delivery("ping", "{}", deliveryID: deliveryID)))
            #expect(failure.code == .invalidHeader)
            #expect(failure.field == "X-GitHub-Delivery")
        }
        #expect(error(GitHubFixtureTable.delivery("ping", "{}", deliveryID: String(repeating: "d", count: 200))) == nil)
        let hook = try #require(error(GitHubFixtureTable.delivery("ping", "{}", hookID: "")))
        #expect(hook.field == "X-GitHub-Hook-ID")
    }

    @Test func oversizeBodyIsRefusedBeforeParsing() throws {
        let body = [UInt8](repeating: UInt8(ascii: " "), count: GitHubNormalizer.bodyByteCountMax + 1)
        let failure = try #require(error(GitHubFixtureTable.delivery("push", body)))
        #expect(failure.code == .bodyTooLarge)
        #expect(throws: Never.self) { try GitHubNormalizer.validateBodySize(GitHubNormalizer.bodyByteCountMax) }
        #expect(GitHubNormalizer.bodyByteCountMax == 26_214_400)
    }

    @Test func missingBranchFieldsNameTheirPath() throws {
        let cases: [(event: String, body: String, field: String)] = [
            ("push", "{}", "ref"),
            ("push", #"{"ref":7}"#, "ref"),
            ("create", #"{"ref":"x"}"#, "ref_type"),
            ("pull_request", #"{"action":"opened","pull_request":{"head":{}}}"#, "pull_request.head.ref"),
            ("deployment", #"{"action":"created"}"#, "deployment.ref"),
            ("deployment_status", #"{"deployment_status":{"state":"success"}}"#, "deployment.ref"),
            ("release", #"{"release":{"tag_name":"v1"}}"#, "release.target_commitish"),
            ("check_suite", #"{"check_suite":{"head_branch":1}}"#, "check_suite.head_branch"),
            ("status", #"{"branches":[{"name":null}]}"#, "branches[0].name"),
        ]
        for (event, body, field) in cases {
            let failure = try #require(error(GitHubFixtureTable.delivery(event, body)), "\(event) \(body)")
            #expect(failure.code == .invalidBody, "\(event) \(body)")
            #expect(failure.field == field, "\(event) \(body)")
        }
    }

    @Test func optionalFieldsStayOptional() throws {
        let draft = try GitHubNormalizer.draft(
            for: GitHubFixtureTable.delivery(
                "check_run",
                #"{"action":"created","check_run":{"check_suite":{"head_branch":null}}}"#
            )
        )
        #expect(draft.resource["github.branch"] == nil)
        #expect(draft.resource["prefect.resource.id"] == "github.delivery." + GitHubFixtureTable.deliveryID)
        let status = try GitHubNormalizer.draft(
            for: GitHubFixtureTable.delivery("status", #"{"sha":"abc","branches":[]}"#)
        )
        #expect(status.resource["github.branch"] == nil)
        #expect(status.resource["github.sha"] == "abc")
        let emptyBranch = try GitHubNormalizer.draft(
            for: GitHubFixtureTable.delivery("check_suite", #"{"check_suite":{"head_branch":""}}"#)
        )
        #expect(emptyBranch.resource["github.branch"] == nil)
        #expect(emptyBranch.payloadContext?[path: ["branch", "name"]] == .null)
    }
}
