import SluiceCore
import SluiceTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The four GitOps use cases of the GitHub seed as event streams built from `fixtures/github` bodies.
///
/// `fixtures/gitops/*.jsonl` are the golden copies (one encoded event per line, `\n`-terminated); regenerate them
/// only on purpose with `SLUICE_WRITE_FIXTURES=1 swift test --filter GitHubGitOpsFixtureTests` and review the diff.
/// `fixtures/gitops/README.md` says which fixture each line comes from and what was edited.
enum GitOpsStreams {
    /// One line: a fixture body, optionally with some fields replaced, delivered as `event`.
    struct Line: Sendable {
        var fixture: String
        var event: String
        var edits: [Edit] = []
        /// The event name and branch the line must decode to.
        var name: String
        var branch: String?
    }

    /// Replaces the value at `path` (object keys) with `value`.
    struct Edit: Sendable {
        var path: [String]
        var value: JSONValue
    }

    struct Stream: Sendable {
        var file: String
        var lines: [Line]
    }

    static let streams: [Stream] = [
        Stream(
            file: "preview-environments.jsonl",
            lines: [
                Line(
                    fixture: "pull_request.opened.json",
                    event: "pull_request",
                    name: "github.pull_request.opened",
                    branch: "changes"
                ),
                Line(
                    fixture: "pull_request.synchronize.json",
                    event: "pull_request",
                    name: "github.pull_request.synchronize",
                    branch: "changes"
                ),
                Line(
                    fixture: "pull_request.closed.json",
                    event: "pull_request",
                    name: "github.pull_request.closed",
                    branch: "changes"
                ),
            ]
        ),
        Stream(
            file: "branch-deploy.jsonl",
            lines: [
                Line(
                    fixture: "push.json",
                    event: "push",
                    edits: [Edit(path: ["ref"], value: "refs/heads/main")],
                    name: "github.push",
                    branch: "main"
                ),
                Line(
                    fixture: "release.published.json",
                    event: "release",
                    name: "github.release.published",
                    branch: "master"
                ),
                Line(
                    fixture: "delete.json",
                    event: "delete",
                    edits: [Edit(path: ["ref"], value: "changes"), Edit(path: ["ref_type"], value: "branch")],
                    name: "github.delete",
                    branch: "changes"
                ),
            ]
        ),
        Stream(
            file: "ci-gated-deploy.jsonl",
            lines: [
                Line(
                    fixture: "push.json",
                    event: "push",
                    edits: [Edit(path: ["ref"], value: "refs/heads/develop")],
                    name: "github.push",
                    branch: "develop"
                ),
                Line(
                    fixture: "check_suite.completed.json",
                    event: "check_suite",
                    edits: [Edit(path: ["check_suite", "head_branch"], value: "develop")],
                    name: "github.check_suite.completed",
                    branch: "develop"
                ),
                Line(
                    fixture: "workflow_run.completed.json",
                    event: "workflow_run",
                    edits: [Edit(path: ["workflow_run", "head_branch"], value: "develop")],
                    name: "github.workflow_run.completed",
                    branch: "develop"
                ),
            ]
        ),
        Stream(
            file: "deployment-status.jsonl",
            lines: [
                Line(
                    fixture: "deployment.created.json",
                    event: "deployment",
                    name: "github.deployment.created",
                    branch: "master"
                ),
                Line(
                    fixture: "deployment_status.created.json",
                    event: "deployment_status",
                    edits: [Edit(path: ["deployment_status", "state"], value: "in_progress")],
                    name: "github.deployment_status.created",
                    branch: "master"
                ),
                Line(
                    fixture: "deployment_status.created.json",
                    event: "deployment_status",
                    name: "github.deployment_status.created",
                    branch: "master"
                ),
                Line(
                    fixture: "deployment_status.created.json",
                    event: "deployment_status",
                    edits: [Edit(path: ["deployment_status", "state"], value: "failure")],
                    name: "github.deployment_status.created",
                    branch: "master"
                ),
            ]
        ),
    ]

    /// Line `line` (0-based) of stream `stream` (0-based) has delivery id `…-0000000000SL`, S and L 1-based.
    static func deliveryID(stream: Int, line: Int) -> String {
        "6c1f0a00-5a1c-4e00-8000-00000000" + "0\(stream + 1)0\(line + 1)"
    }

    /// 2026-06-01T09:00:00Z, plus an hour per stream and 90 seconds per line.
    static func receivedAt(stream: Int, line: Int) -> Timestamp {
        let day = Timestamp.days(fromCivilYear: 2026, month: 6, day: 1)
        return Timestamp(secondsSinceEpoch: day * 86_400 + 9 * 3600 + Int64(stream) * 3600 + Int64(line) * 90)
    }

    /// The body of `line`: the fixture bytes as they are, or parsed, edited and re-encoded compactly.
    static func body(_ line: Line) throws -> [UInt8] {
        let original = try readRepositoryFile(FixturePaths.github + "/" + line.fixture)
        if line.edits.isEmpty { return original }
        var value = try JSONValue.parse(original)
        for edit in line.edits { value = setting(edit.value, at: edit.path[...], in: value) }
        return value.encoded()
    }

    private static func setting(_ value: JSONValue, at path: ArraySlice<String>, in root: JSONValue) -> JSONValue {
        guard let key = path.first else { return value }
        guard case .object(var object) = root else { preconditionFailure("edit path \(path) crosses a non-object") }
        precondition(object[key] != nil, "edits replace existing fields only: \(key)")
        object[key] = setting(value, at: path.dropFirst(), in: object[key] ?? .null)
        return .object(object)
    }

    static func encodedStream(_ index: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for (lineIndex, line) in streams[index].lines.enumerated() {
            let delivery = GitHubDelivery(
                event: line.event,
                deliveryID: deliveryID(stream: index, line: lineIndex),
                body: try body(line),
                receivedAt: receivedAt(stream: index, line: lineIndex)
            )
            bytes += try GitHubNormalizer.draft(for: delivery).encoded() + [0x0A]
        }
        return bytes
    }
}

/// Serialized so that, when writing, no test reads a stream while another rewrites it.
@Suite(.serialized) struct GitHubGitOpsFixtureTests {
    static var writing: Bool { getenv("SLUICE_WRITE_FIXTURES").map { String(cString: $0) } == "1" }

    /// Writes the golden streams; runs only with `SLUICE_WRITE_FIXTURES=1`.
    @Test(.enabled(if: writing)) func writeStreams() throws {
        for index in GitOpsStreams.streams.indices { try Self.writeStream(index) }
    }

    private static func writeStream(_ index: Int) throws {
        let path = FixturePaths.absolute(FixturePaths.gitops + "/" + GitOpsStreams.streams[index].file)
        writeFile(path, try GitOpsStreams.encodedStream(index))
    }

    /// The stored stream, written first when `SLUICE_WRITE_FIXTURES=1` (whatever order the tests run in).
    private static func storedStream(_ index: Int) throws -> [UInt8] {
        if writing { try writeStream(index) }
        return try readRepositoryFile(FixturePaths.gitops + "/" + GitOpsStreams.streams[index].file)
    }

    @Test(arguments: 0..<GitOpsStreams.streams.count)
    func storedStreamMatchesTheNormalizer(_ index: Int) throws {
        let stream = GitOpsStreams.streams[index]
        let stored = try Self.storedStream(index)
        #expect(
            stored == (try GitOpsStreams.encodedStream(index)),
            "the normalizer changed its output; review and regenerate \(stream.file) on purpose"
        )
    }

    @Test(arguments: 0..<GitOpsStreams.streams.count)
    func storedStreamDecodesToTheUseCase(_ index: Int) throws {
        let stream = GitOpsStreams.streams[index]
        let stored = try Self.storedStream(index)
        #expect(stored.last == 0x0A)
        let lines = stored.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == stream.lines.count)
        var decoder = EventDecoder()
        var events: [Event] = []
        for line in lines { events.append(try decoder.decode(Array(line))) }
        #expect(events.map { decoder.symbols.string($0.header.name) } == stream.lines.map(\.name))
        #expect(events.map { decoder.symbols.string($0.header.branch) } == stream.lines.map { $0.branch ?? "" })
        #expect(
            events.map(\.header.id.description)
                == stream.lines.indices.map { GitOpsStreams.deliveryID(stream: index, line: $0) }
        )
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.header.occurred < $1.header.occurred })
    }

    @Test func deploymentStreamWalksTheStates() throws {
        let index = try #require(GitOpsStreams.streams.firstIndex { $0.file == "deployment-status.jsonl" })
        let stored = try Self.storedStream(index)
        var decoder = EventDecoder()
        let state = try #require(decoder.symbols.intern("github.state"))
        let environment = try #require(decoder.symbols.intern("github.environment"))
        var states: [String?] = []
        for line in stored.split(separator: 0x0A) {
            let event = try decoder.decode(Array(line))
            states.append(event.labelValue(state, of: event.header.primary))
            #expect(event.labelValue(environment, of: event.header.primary) == "production")
        }
        #expect(states == [nil, "in_progress", "success", "failure"])
    }
}
