import SluiceCore
import Testing

@Suite struct ParameterTemplatesTests {
    static let context: JSONObject = [
        "event": [
            "id": "e1",
            "resource": ["infrahub.node.id": "n1", "infrahub.branch.name": "main"],
            "payload": ["data": ["members": [["id": "m1"], ["id": "m2"]], "count": 2, "ratio": .number("0.5")]],
        ],
        "automation": ["name": "t"],
    ]

    static func render(_ parameters: JSONObject) throws(TemplateError) -> JSONObject {
        try ParameterTemplates(parameters, path: "parameters").render(Self.context)
    }

    /// Prefect's rule: one expression keeps its JSON type; text around it (or a jinja kind) gives a string.
    @Test func oneExpressionKeepsItsJSONType() throws {
        let rendered = try Self.render([
            "members": "{{ event.payload['data']['members'] }}",
            "twice": "{{ event.payload['data']['members'] | tojson }}",
            "count": "{{ event.payload.data.count }}",
            "ratio": " {{ event.payload.data.ratio }}\n",
            "label": "n={{ event.payload.data.count }}",
            "kind": ["__prefect_kind": "jinja", "template": "{{ event.payload.data.count }}"],
            "node_ids": ["{{ event.resource['infrahub.node.id'] }}", "fixed"],
            "literal": ["nested": [1, "no template"]],
        ])
        #expect(rendered["members"] == [["id": "m1"], ["id": "m2"]])
        // Prefect appends `| tojson` to the one expression: a `tojson` already there makes a JSON string.
        #expect(rendered["twice"] == #"[{"id": "m1"}, {"id": "m2"}]"#)
        #expect(rendered["count"] == 2)
        #expect(rendered["ratio"] == .number("0.5"))
        #expect(rendered["label"] == "n=2")
        #expect(rendered["kind"] == "2")
        #expect(rendered["node_ids"] == ["n1", "fixed"])
        #expect(rendered["literal"] == ["nested": [1, "no template"]])
        #expect(rendered.keys == ["members", "twice", "count", "ratio", "label", "kind", "node_ids", "literal"])
    }

    /// A syntax error or an unknown filter is a load error with the parameter path and the byte offset.
    @Test func templateErrorsAreLoadErrorsWithPathAndOffset() {
        #expect(throws: TemplateError.self) { try ParameterTemplates(["a": "{{ x | tojsn }}"], path: "p") }
        do {
            _ = try ParameterTemplates(["outer": ["b": ["ok", "{{ x | tojsn }}"]]], path: "parameters")
            Issue.record("no error")
        } catch {
            #expect(error.path == "parameters.outer.b[1]")
            #expect(error.offset == 7, "the filter name's byte offset")
            #expect(error.message == "Invalid jinja: No filter named 'tojsn'.")
        }
        do {
            _ = try ParameterTemplates(["a": "ok {% if x %}"], path: "parameters")
            Issue.record("no error")
        } catch {
            #expect(error.path == "parameters.a")
            #expect(error.message.contains("endif"))
        }
    }

    /// The configuration loader compiles every action's parameters: its error names trigger, action, parameter.
    @Test func theTriggerLoaderReportsTemplateErrors() throws {
        let json = try JSONValue.parse(
            #"""
            {"name": "device-created", "trigger": {"expect": ["infrahub.node.created"]},
             "actions": [{"workflow": "provision", "parameters": {"node": "{{ event.resource['x'] | nope }}"}}]}
            """#
        )
        #expect(
            throws: TriggerDefinitionError(
                path: "triggers[2].actions[0].parameters.node",
                message:
                    "trigger 'device-created', action 0 (workflow 'provision'): template offset 25: Invalid jinja: No filter named 'nope'."
            )
        ) {
            try TriggerDefinition(json: json, path: "triggers[2]")
        }
    }

    @Test func renderErrorsNameTheParameter() {
        do {
            _ = try Self.render(["total": ["__prefect_kind": "jinja", "template": "a{{ event.id + 1 }}"]])
            Issue.record("no error")
        } catch {
            #expect(error.path == "parameters.total")
            #expect(error.offset == 1, "the offset of the failing {{ tag")
        }
    }

    /// Prefect's sandbox limits: at most 10 loops, nested at most 2 deep, `range` at most 100 items.
    @Test func sandboxLimits() throws {
        let eleven = String(repeating: "{% for a in [1] %}{% endfor %}", count: 11)
        #expect(throws: TemplateError.self) { try ParameterTemplates(["a": .string(eleven)], path: "p") }
        let deep = "{% for a in [1] %}{% for b in [1] %}{% for c in [1] %}{% endfor %}{% endfor %}{% endfor %}"
        #expect(throws: TemplateError.self) { try ParameterTemplates(["a": .string(deep)], path: "p") }
        #expect(throws: TemplateError.self) { try Self.render(["a": "x{% for i in range(101) %}{% endfor %}"]) }
        #expect(try Self.render(["a": "x{% for i in range(100) %}{% endfor %}"])["a"] == "x")
        #expect(try Self.render(["a": "[{{ event.__class__ }}]"])["a"] == "[]", "internals are unsafe, printed empty")
    }

    /// Where Python would print a memory address, Sluice refuses (documented difference).
    @Test func valuesWithoutStableTextAreErrors() {
        #expect(throws: TemplateError.self) { try Self.render(["a": "x{{ [1] | map('string') }}"]) }
        #expect(throws: TemplateError.self) { try Self.render(["a": "x{{ event.payload.get }}"]) }
    }

    /// 64-bit integers: an overflow is an error, never a trap.
    @Test func integerOverflowIsAnError() {
        #expect(throws: TemplateError.self) {
            try Self.render(["a": ["__prefect_kind": "jinja", "template": "{{ 9223372036854775807 + 1 }}"]])
        }
        #expect(throws: TemplateError.self) {
            try Self.render(["a": ["__prefect_kind": "jinja", "template": "{{ 2 ** 64 }}"]])
        }
        #expect(throws: TemplateError.self) {
            try Self.render(["a": ["__prefect_kind": "jinja", "template": "{{ (-9223372036854775807 - 1) // -1 }}"]])
        }
    }

    /// Found by review: a negative precision divided by zero and trapped; repetition sizes overflowed.
    @Test func roundingAndRepetitionNeverTrap() throws {
        #expect(try Self.render(["a": "x{{ 1234|round(-1) }}"])["a"] == "x1230")
        #expect(try Self.render(["a": "x{{ 1250|round(-2) }}"])["a"] == "x1200", "ties to even, as Python")
        #expect(try Self.render(["a": "x{{ -1350|round(-2) }}"])["a"] == "x-1400")
        #expect(try Self.render(["a": "x{{ 1234|round(-25) }}"])["a"] == "x0")
        #expect(throws: TemplateError.self) { try Self.render(["a": "x{{ 9000000000000000000|round(-19) }}"]) }
        #expect(throws: TemplateError.self) { try Self.render(["a": "x{{ [1, 2] * 9223372036854775807 }}"]) }
        #expect(throws: TemplateError.self) { try Self.render(["a": "x{{ ('x' * 1000000) * 1000000 }}"]) }
    }
}
