import SluiceCore
import Testing

/// The `workflows:` section, workflow actions checked at load, run ids, run records, the recovery plan,
/// and the event context a run gets (docs/workflows.md).
@Suite struct WorkflowConfigurationTests {
    static func configuration(_ text: String) throws(TriggerDefinitionError) -> TriggerConfiguration {
        // The tests write JSON; a parse failure is a test bug.
        try TriggerConfiguration(json: try! JSONValue.parse(text))
    }

    static func error(_ text: String) -> TriggerDefinitionError? {
        do {
            _ = try configuration(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func readsAWorkflowWithEveryKey() throws {
        let configuration = try Self.configuration(
            #"{"workflows":[{"name":"deploy","command":["deploy.sh","--fast"],"timeout_s":1.5,"concurrency":3,"#
                + #""retry_delays_s":[0,2],"environment":{"REGION":"eu"}}],"workflows_depth_max":4}"#
        )
        let workflow = try #require(configuration.workflows.workflows.first)
        #expect(workflow.name == "deploy")
        #expect(workflow.command == ["deploy.sh", "--fast"])
        #expect(workflow.timeoutNanoseconds == 1_500_000_000)
        #expect(workflow.concurrency == 3)
        #expect(workflow.retryDelayNanoseconds == [0, 2_000_000_000])
        #expect(workflow.attemptCountMax == 3)
        #expect(workflow.retryDelay(afterFailedAttempt: 1) == 0)
        #expect(workflow.retryDelay(afterFailedAttempt: 2) == 2_000_000_000)
        #expect(workflow.retryDelay(afterFailedAttempt: 3) == nil)
        #expect(workflow.environment.map(\.name) == ["REGION"])
        #expect(configuration.workflows.depthMax == 4)
    }

    @Test(arguments: [
        (#"{"workflows":[{"name":"w","command":["x"],"timeout":5}]}"#, "workflows[0].timeout"),
        (#"{"workflows":[{"name":"w","command":["x"],"timeout_s":0}]}"#, "workflows[0].timeout_s"),
        (#"{"workflows":[{"name":"w","command":["x"],"timeout_s":86401}]}"#, "workflows[0].timeout_s"),
        (#"{"workflows":[{"name":"w","command":["x"],"concurrency":0}]}"#, "workflows[0].concurrency"),
        (#"{"workflows":[{"name":"w","command":["x"],"concurrency":257}]}"#, "workflows[0].concurrency"),
        (#"{"workflows":[{"name":"w","command":["x"],"retry_delays_s":[-1]}]}"#, "workflows[0].retry_delays_s[0]"),
        (#"{"workflows":[{"name":"w","command":[]}]}"#, "workflows[0].command"),
        (
            #"{"workflows":[{"name":"w","command":["x"],"environment":{"SLUICE_X":"y"}}]}"#,
            "workflows[0].environment.SLUICE_X"
        ),
        (#"{"workflows":[{"name":"w","command":["x"]},{"name":"w","command":["y"]}]}"#, "workflows[1].name"),
        (#"{"workflows":[],"workflows_depth_max":0}"#, "workflows_depth_max"),
        (#"{"workflows":[],"workflows_depth_max":1e300}"#, "workflows_depth_max"),
    ])
    func refusesBadWorkflowsNamingTheField(text: String, path: String) {
        let error = Self.error(text)
        #expect(error?.path == path, "\(String(describing: error))")
    }

    @Test func aRangeErrorSaysTheRange() {
        let error = Self.error(#"{"workflows":[{"name":"w","command":["x"],"concurrency":1000}]}"#)
        #expect(error?.message.contains("from 1 to 256") == true)
    }

    @Test func anActionNamingNoWorkflowIsALoadError() {
        let error = Self.error(
            #"{"workflows":[{"name":"w","command":["x"]}],"triggers":[{"name":"t","expect":["a"],"#
                + #""actions":[{"workflow":"missing"}]}]}"#
        )
        #expect(error?.path == "triggers[0].actions[0].workflow")
        #expect(error?.message.contains("trigger 't'") == true)
        #expect(error?.message.contains("'missing'") == true)
    }

    @Test func aTemplateErrorNamesTriggerActionAndParameter() {
        let error = Self.error(
            #"{"workflows":[{"name":"w","command":["x"]}],"triggers":[{"name":"t","expect":["a"],"#
                + #""actions":[{"webhook":"h"},{"workflow":"w","parameters":{"node":"{{ event.id "}}]}]}"#
        )
        #expect(error?.path == "triggers[0].actions[1].parameters.node")
        #expect(error?.message.contains("trigger 't', action 1 (workflow 'w')") == true, "\(String(describing: error))")
    }

    @Test func placeholderTemplatesKeepTheTypeOfOneExpression() throws {
        let templates = try ParameterTemplates(
            [
                "id": "{{ event.id }}", "node": "{{ event.resource['infrahub.node.id'] }}",
                "data": "{{ event.payload.data }}", "text": "node {{ event.resource['infrahub.node.id'] }}!",
                "first": "{{ event.related[0]['prefect.resource.role'] }}", "constant": 7,
                "nested": ["{{ automation.name }}"],
            ],
            path: "p"
        )
        let event = try JSONValue.parse(
            #"{"id":"e1","resource":{"infrahub.node.id":"n1"},"payload":{"data":{"a":[1,2]}},"#
                + #""related":[{"prefect.resource.role":"infrahub.branch"}]}"#
        )
        let rendered = try templates.render(["event": event, "automation": ["name": "t"]])
        #expect(rendered["id"] == "e1")
        #expect(rendered["node"] == "n1")
        #expect(rendered["data"] == .object(["a": [1, 2]]))
        #expect(rendered["text"] == "node n1!")
        #expect(rendered["first"] == "infrahub.branch")
        #expect(rendered["constant"] == 7)
        #expect(rendered["nested"] == ["t"])
        #expect(rendered.keys == ["id", "node", "data", "text", "first", "constant", "nested"])
    }

    @Test func runIDsAreStablePerEventTriggerAndAction() throws {
        let event = try #require(EventID.parse("bf569ddc-2a30-4491-82f1-0689f6cdb5e1"))
        let other = try #require(EventID.parse("bf569ddc-2a30-4491-82f1-0689f6cdb5e2"))
        let id = WorkflowRunInput.runID(eventID: event, trigger: "t", action: 0)
        #expect(id == WorkflowRunInput.runID(eventID: event, trigger: "t", action: 0))
        #expect(id.hasPrefix("run_") && id.utf8.count == 36)
        #expect(id != WorkflowRunInput.runID(eventID: event, trigger: "t", action: 1))
        #expect(id != WorkflowRunInput.runID(eventID: event, trigger: "u", action: 0))
        #expect(id != WorkflowRunInput.runID(eventID: other, trigger: "t", action: 0))
    }

    @Test func runRecordsRoundTrip() throws {
        var record = WorkflowRunRecord(
            runID: "run_1",
            workflow: "w",
            trigger: "t",
            action: 2,
            eventSequence: 42,
            eventID: try #require(EventID.parse("bf569ddc-2a30-4491-82f1-0689f6cdb5e1")),
            attempt: 3,
            phase: .finished,
            outcome: .retrying,
            at: try #require(Timestamp.parse("2026-12-07T18:00:00.5Z"))
        )
        record.exitStatus = 2
        record.timedOut = true
        record.durationMicroseconds = 1_234
        record.standardOutput = "out \"quoted\"\n"
        record.standardOutputByteCount = 14
        record.standardError = "err"
        record.standardErrorByteCount = 3
        record.message = "why"
        let decoded = try WorkflowRunRecord(data: try JSONValue.parse(record.json.encoded()))
        #expect(decoded == record)
        var decoder = EventDecoder()
        let event = try decoder.decode(record.event().encoded())
        #expect(event.string(event.header.nameReference) == "sluice.workflow.run.finished")
        #expect(record.recordEventID == decoded.recordEventID)
        // A started record has no outcome; a finished one must have one.
        #expect(throws: WorkflowRunRecordError.self) {
            var data = try JSONValue.parse(record.json.encoded()).objectValue!
            data.members.removeAll { $0.key == "outcome" }
            _ = try WorkflowRunRecord(data: .object(data))
        }
    }

    @Test func recoveryRunsAgainWhatHasNoFinalRecord() throws {
        let event = try #require(EventID.parse("bf569ddc-2a30-4491-82f1-0689f6cdb5e1"))
        func record(
            _ run: String,
            _ attempt: Int,
            _ phase: WorkflowRunRecord.Phase,
            _ outcome: WorkflowRunRecord.Outcome?
        )
            -> WorkflowRunRecord
        {
            WorkflowRunRecord(
                runID: run,
                workflow: "w",
                trigger: "t",
                action: 0,
                eventSequence: 1,
                eventID: event,
                attempt: attempt,
                phase: phase,
                outcome: outcome,
                at: Timestamp(microsecondsSinceEpoch: 0)
            )
        }
        var plan = WorkflowRecoveryPlan()
        for (run, sequence) in [("none", 1), ("started", 2), ("retrying", 3), ("done", 4), ("dead", 5), ("refused", 6)]
        {
            plan.firing(.init(runID: run, eventSequence: UInt64(sequence)))
        }
        plan.firing(.init(runID: "none", eventSequence: 1))  // the same firing twice counts once
        plan.record(record("started", 1, .started, nil))
        plan.record(record("retrying", 1, .started, nil))
        plan.record(record("retrying", 1, .finished, .retrying))
        plan.record(record("done", 1, .started, nil))
        plan.record(record("done", 1, .finished, .succeeded))
        plan.record(record("dead", 2, .finished, .deadLettered))
        plan.record(record("refused", 1, .finished, .refused))
        let (resume, final) = plan.finish()
        #expect(resume.map(\.runID) == ["none", "started", "retrying"])
        #expect(resume.map(\.attempt) == [1, 1, 2])
        #expect(final == 3)
    }

    static let childEvent = #"""
        {"id":"22222222-2a30-4491-82f1-0689f6cdb5e1","event":"infrahub.node.updated",
         "resource":{"prefect.resource.id":"x"},
         "related":[{"prefect.resource.id":"22222222-2a30-4491-82f1-0689f6cdb5e1","prefect.resource.role":"infrahub.event","infrahub.event.level":"1","infrahub.event.has_children":"false"},
          {"prefect.resource.id":"infrahub.account.acc","prefect.resource.role":"infrahub.account","infrahub.resource.id":"acc"},
          {"prefect.resource.id":"infrahub.branch.b","prefect.resource.role":"infrahub.branch","infrahub.resource.label":"feature"},
          {"prefect.resource.id":"22222222-2a30-4491-82f1-0689f6cdb5e1","prefect.resource.role":"infrahub.child_event","infrahub.event_parent.id":"11111111-2a30-4491-82f1-0689f6cdb5e1"},
          {"prefect.resource.id":"11111111-2a30-4491-82f1-0689f6cdb5e1","prefect.resource.role":"infrahub.ancestor_event","infrahub.ancestor_event.name":"infrahub.branch.created"}]}
        """#

    @Test func contextIsReadFromTheInfrahubShape() throws {
        let context = WorkflowEventContext(event: try JSONValue.parse(Self.childEvent))
        #expect(context.eventID == "22222222-2a30-4491-82f1-0689f6cdb5e1")
        #expect(context.branch == "feature")
        #expect(context.accountID == "acc")
        #expect(context.level == 1)
        #expect(context.parentID == "11111111-2a30-4491-82f1-0689f6cdb5e1")
        #expect(
            context.ancestors == [.init(id: "11111111-2a30-4491-82f1-0689f6cdb5e1", name: "infrahub.branch.created")]
        )
        #expect(context.correlationID == "11111111-2a30-4491-82f1-0689f6cdb5e1")
        // Through the environment and back.
        let environment = Dictionary(uniqueKeysWithValues: context.environment.map { ($0.name, $0.value) })
        #expect(try WorkflowEventContext(environment: environment) == context)
    }

    @Test func aChildGetsLevelPlusOneAndEveryAncestor() throws {
        let parent = WorkflowEventContext(event: try JSONValue.parse(Self.childEvent))
        let child = try parent.makingChild(
            try JSONValue.parse(
                #"{"id":"33333333-2a30-4491-82f1-0689f6cdb5e1","event":"acme.deployed","resource":{"prefect.resource.id":"d"}}"#
            )
        )
        var decoder = EventDecoder()
        var bytes = child.encoded()
        bytes.removeLast()  // add what a valid event needs
        bytes += Array(#","occurred":"2026-12-07T18:00:00Z","payload":{}}"#.utf8)
        let event = try decoder.decode(bytes)
        #expect(event.header.level == 2)
        #expect(event.header.parent == EventID.parse("22222222-2a30-4491-82f1-0689f6cdb5e1"))
        let childContext = WorkflowEventContext(event: child)
        #expect(
            childContext.ancestors.map(\.id) == [
                "22222222-2a30-4491-82f1-0689f6cdb5e1", "11111111-2a30-4491-82f1-0689f6cdb5e1",
            ]
        )
        #expect(childContext.branch == "feature")
        #expect(childContext.accountID == "acc")
        #expect(childContext.correlationID == parent.correlationID)
    }

    @Test func parameterVariablesAreNamedAndValued() {
        let variables = WorkflowRunInput.parameterVariables(["node-id": "n1", "count": 3, "list": [1, "a"]])
        #expect(variables.map(\.name) == ["SLUICE_PARAM_NODE_ID", "SLUICE_PARAM_COUNT", "SLUICE_PARAM_LIST"])
        #expect(variables.map(\.value) == ["n1", "3", #"[1,"a"]"#])
    }
}
