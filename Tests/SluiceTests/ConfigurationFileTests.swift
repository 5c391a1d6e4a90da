import Sluice
import SluiceTestSupport
import Testing

@Suite struct ConfigurationFileTests {
    static let yaml = """
        default_branch: main
        webhooks:
          - name: devices
            event_type: infrahub.node.updated
            branch_scope: all_branches
            node_kind: InfraDevice
        workflows:
          - {name: page-oncall, command: [page-oncall.sh]}
        triggers:
          # 5 failed deployments of one environment within 10 minutes
          - name: deploy-failures
            enabled: true
            trigger:
              expect: [github.deployment_status]
              match:
                github.state: failure
              posture: Reactive
              threshold: 5
              within: 600
              for_each: [github.environment]
            actions:
              - workflow: page-oncall
                parameters: {severity: high, retries: 3}
          - name: missing-check
            trigger:
              expect: [github.check_suite]
              after: [github.push]
              match_related:
                - prefect.resource.role: github.repository
                  github.repository: ["sluice", "sluice-*"]
              posture: Proactive
              within: 900.5
              for_each: [github.repository]
            actions: [{webhook: devices}]
        """

    static let json = """
        {"default_branch": "main",
         "webhooks": [{"name": "devices", "event_type": "infrahub.node.updated", "branch_scope": "all_branches",
                       "node_kind": "InfraDevice"}],
         "workflows": [{"name": "page-oncall", "command": ["page-oncall.sh"]}],
         "triggers": [
           {"name": "deploy-failures", "enabled": true,
            "trigger": {"expect": ["github.deployment_status"], "match": {"github.state": "failure"},
                        "posture": "Reactive", "threshold": 5, "within": 600, "for_each": ["github.environment"]},
            "actions": [{"workflow": "page-oncall", "parameters": {"severity": "high", "retries": 3}}]},
           {"name": "missing-check",
            "trigger": {"expect": ["github.check_suite"], "after": ["github.push"],
                        "match_related": [{"prefect.resource.role": "github.repository",
                                           "github.repository": ["sluice", "sluice-*"]}],
                        "posture": "Proactive", "within": 900.5, "for_each": ["github.repository"]},
            "actions": [{"webhook": "devices"}]}]}
        """

    @Test func yamlAndJSONGiveTheSameConfiguration() throws {
        let fromYAML = try ConfigurationFile.parseTriggers(Array(Self.yaml.utf8), format: .yaml, file: "c.yaml")
        let fromJSON = try ConfigurationFile.parseTriggers(Array(Self.json.utf8), format: .json, file: "c.json")
        #expect(fromYAML.webhooks == fromJSON.webhooks)
        #expect(fromYAML.triggers == fromJSON.triggers)
        let failures = try #require(fromYAML.triggers.first)
        #expect(failures.threshold == 5)
        #expect(failures.withinSeconds == 600)
        #expect(failures.forEach == ["github.environment"])
        #expect(failures.actions.first?.kind == .workflow)
        #expect(failures.actions.first?.parameters["retries"] == .integer(3))
        let missing = fromYAML.triggers[1]
        #expect(missing.posture == .proactive)
        #expect(missing.withinSeconds == 900.5)
        #expect(missing.events.after == ["github.push"])
        #expect(missing.matchRelated.first?.conditions.last?.patterns.map(\.text) == ["sluice", "sluice-*"])
    }

    @Test func formatIsDetectedFromTheNameOrTheFirstByte() {
        #expect(ConfigurationFile.Format.detect(path: "a.yml", bytes: Array("{}".utf8)) == .yaml)
        #expect(ConfigurationFile.Format.detect(path: "a.json", bytes: Array("x: 1".utf8)) == .json)
        #expect(ConfigurationFile.Format.detect(path: "a.conf", bytes: Array("  {\"a\": 1}".utf8)) == .json)
        #expect(ConfigurationFile.Format.detect(path: "a.conf", bytes: Array("a: 1".utf8)) == .yaml)
    }

    /// A bad field is reported with its line and column and its path.
    @Test(arguments: [
        ("triggers:\n  - name: t\n    trigger:\n      within: -3\n", 4, "triggers[0].trigger.within", "from 0 to"),
        (
            "triggers:\n  - name: t\n    trigger:\n      posture: Sometimes\n", 4, "triggers[0].trigger.posture",
            "Reactive"
        ),
        ("webhooks:\n  - name: w\n  - event_type: all\n", 3, "webhooks[1].name", "required"),
        ("webhooks:\n  - name: w\n    branch_scope: some\n", 3, "webhooks[0].branch_scope", "all_branches"),
        (
            "triggers:\n  - name: t\n    trigger:\n      threshold: 2.5\n", 4, "triggers[0].trigger.threshold",
            "from 1 to"
        ),
        ("triggers:\n  - name: t\n    name: u\n", 3, "triggers[0].name", "duplicate"),
    ])
    func fieldErrorsNameTheLine(text: String, line: Int, field: String, message: String) {
        do {
            _ = try ConfigurationFile.parseTriggers(Array(text.utf8), format: .yaml, file: "bad.yaml")
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.file == "bad.yaml")
            #expect(error.line == line, "\(error)")
            #expect(error.field == field, "\(error)")
            #expect(error.message.contains(message), "\(error)")
            #expect(error.description.hasPrefix("bad.yaml:\(line):"))
        }
    }

    @Test func syntaxErrorsNameTheLine() {
        for (text, format, line) in [
            ("triggers:\n  - name: [unclosed\n", ConfigurationFile.Format.yaml, 3),
            ("{\"triggers\": [\n  {\"name\": }]}", .json, 2),
        ] {
            do {
                _ = try ConfigurationFile.parseTriggers(Array(text.utf8), format: format, file: "s")
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.line == line, "\(error)")
                #expect(error.field.isEmpty)
            }
        }
    }

    @Test func loadsFilesAndAnEmptyDocument() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/triggers.yaml"
        writeFile(path, Array(Self.yaml.utf8))
        let loaded = try ConfigurationFile.loadTriggers(path: path)
        #expect(loaded.allTriggers.count == 3)
        writeFile(path, [])
        #expect(try ConfigurationFile.loadTriggers(path: path).allTriggers.isEmpty)
    }
}
