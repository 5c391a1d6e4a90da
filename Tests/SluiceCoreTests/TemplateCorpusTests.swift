import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

/// The Jinja2 cross-check (issue 19): every template of `fixtures/templates/corpus.jsonl` rendered by
/// ``ParameterTemplates`` must equal what Python's Jinja2 3.1.6 renders the way Prefect does
/// (`scripts/jinja-oracle.py`): the same JSON result, or an error in both.
@Suite struct TemplateCorpusTests {
    static let corpusPath = "fixtures/templates/corpus.jsonl"
    static let goldenPath = "fixtures/templates/jinja2-3.1.6.jsonl"
    static let venv = packageRoot + "/.build/jinja-venv"

    struct Case {
        var name: String
        var parameters: JSONObject
        var context: JSONObject
    }

    static func lines(_ relativePath: String) throws -> [JSONValue] {
        let bytes = try readRepositoryFile(relativePath)
        return try bytes.split(separator: UInt8(ascii: "\n")).map { try JSONValue.parse(Array($0)) }
    }

    static func corpus() throws -> [Case] {
        try lines(corpusPath).map { line in
            Case(
                name: try #require(line["name"]?.stringValue),
                parameters: try #require(line["parameters"]?.objectValue),
                context: try #require(line["context"]?.objectValue)
            )
        }
    }

    /// Sluice's answer in the oracle's shape: `{"name", "result"}` or `{"name", "error": true}`.
    static func sluice(_ item: Case) -> (result: JSONObject?, error: TemplateError?) {
        do {
            let templates = try ParameterTemplates(item.parameters, path: "parameters")
            return (try templates.render(item.context), nil)
        } catch {
            return (nil, error)
        }
    }

    static func compare(_ cases: [Case], with answers: [JSONValue]) throws -> [String] {
        try #require(cases.count == answers.count, "one answer per case")
        var mismatches: [String] = []
        for (item, answer) in zip(cases, answers) {
            #expect(answer["name"]?.stringValue == item.name)
            let (result, error) = sluice(item)
            if let expected = answer["result"] {
                if let result, JSONValue.object(result) == expected { continue }
                mismatches.append(
                    "\(item.name): Jinja2 \(expected.encodedString()), Sluice \(result.map { JSONValue.object($0).encodedString() } ?? "error \(error!)")"
                )
            } else if result != nil {
                mismatches.append(
                    "\(item.name): Jinja2 failed (\(answer["error"]?.stringValue ?? "")), Sluice rendered \(JSONValue.object(result!).encodedString())"
                )
            }
        }
        return mismatches
    }

    @Test func corpusHasAtLeastTwoHundredTemplatesIncludingTheSpecOnes() throws {
        let cases = try Self.corpus()
        #expect(cases.count >= 200)
        for name in [
            "spec-b1-webhook-process", "spec-c9-webhook-configure", "spec-c10-run-generator", "spec-c10-group-event",
        ] {
            #expect(cases.contains { $0.name == name }, "\(name) is in the corpus")
        }
    }

    /// Against the committed answers of Jinja2 3.1.6 (runs without Python).
    @Test func rendersLikeTheCommittedJinja2Answers() throws {
        let mismatches = try Self.compare(try Self.corpus(), with: try Self.lines(Self.goldenPath))
        #expect(mismatches.isEmpty, "\(mismatches.count) differences:\n\(mismatches.joined(separator: "\n"))")
    }

    static var python3Available: Bool { access("/usr/bin/python3", X_OK) == 0 }

    /// Against Jinja2 3.1.6 run now (installed from PyPI into .build/jinja-venv on first use).
    @Test(.enabled(if: python3Available, "needs /usr/bin/python3"), .timeLimit(.minutes(5)))
    func rendersLikeJinja2RunNow() throws {
        let directory = TemporaryDirectory()
        let output = directory.path + "/answers.jsonl"
        let script = """
            set -e
            if ! "\(Self.venv)/bin/python" -c 'import jinja2, sys; sys.exit(jinja2.__version__ != "3.1.6")' 2>/dev/null; then
                python3 -m venv "\(Self.venv)"
                "\(Self.venv)/bin/pip" install --quiet jinja2==3.1.6
            fi
            "\(Self.venv)/bin/python" "\(packageRoot)/scripts/jinja-oracle.py" < "\(packageRoot)/\(Self.corpusPath)" > "\(output)"
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        try process.run()
        let status = process.reapedStatus()
        try #require(status == 0, "the Jinja2 oracle (venv \(Self.venv)) exited with \(status)")
        let text = try String(contentsOfFile: output, encoding: .utf8)
        let answers = try text.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        let mismatches = try Self.compare(try Self.corpus(), with: answers)
        #expect(mismatches.isEmpty, "\(mismatches.count) differences:\n\(mismatches.joined(separator: "\n"))")
        // The committed answers are the ones Jinja2 gives today, apart from the error texts.
        let golden = try Self.lines(Self.goldenPath)
        for (fresh, committed) in zip(answers, golden) where fresh["error"] == nil || committed["error"] == nil {
            #expect(fresh == committed, "\(fresh["name"]?.stringValue ?? "?"): the golden file is stale")
        }
    }
}
