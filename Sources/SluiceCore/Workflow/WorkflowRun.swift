/// What a workflow run knows of the event that fired it (docs/workflows.md "Context"): read from the
/// event's Prefect JSON the way Infrahub's `EventMeta` writes it (spec §a.3).
public struct WorkflowEventContext: Sendable, Equatable {
    public struct Ancestor: Sendable, Equatable {
        public var id: String
        public var name: String
        public init(id: String, name: String) {
            self.id = id
            self.name = name
        }
    }

    public var eventID: String
    public var eventName: String
    /// Related `infrahub.branch` → `infrahub.resource.label`, else `payload.context.branch.name`, else the
    /// primary resource's `infrahub.branch.name` or `github.branch`; empty when none.
    public var branch: String = ""
    /// Related `infrahub.account` → `infrahub.resource.id`, else `payload.context.account_id`.
    public var accountID: String = ""
    /// Related `infrahub.event` → `infrahub.event.level` (0 when absent).
    public var level: Int = 0
    /// Related `infrahub.child_event` → `infrahub.event_parent.id`.
    public var parentID: String = ""
    /// Related `infrahub.ancestor_event`s, nearest first.
    public var ancestors: [Ancestor] = []

    public init(eventID: String, eventName: String) {
        self.eventID = eventID
        self.eventName = eventName
    }

    /// The chain's root: the farthest ancestor, else the event itself. Stable along a chain of child events.
    public var correlationID: String { ancestors.last?.id ?? eventID }

    /// Reads the context of an event (its Prefect JSON).
    public init(event: JSONValue) {
        self.init(eventID: event["id"]?.stringValue ?? "", eventName: event["event"]?.stringValue ?? "")
        var branchLabel: String?
        var account: String?
        for related in event["related"]?.arrayValue ?? [] {
            switch related["prefect.resource.role"]?.stringValue {
            case "infrahub.branch"?: branchLabel = branchLabel ?? related["infrahub.resource.label"]?.stringValue
            case "infrahub.account"?: account = account ?? related["infrahub.resource.id"]?.stringValue
            case "infrahub.event"?:
                if let text = related["infrahub.event.level"]?.stringValue, let value = Int(text), value >= 0,
                    value <= 1_000_000
                {
                    level = value
                }
            case "infrahub.child_event"?: parentID = related["infrahub.event_parent.id"]?.stringValue ?? parentID
            case "infrahub.ancestor_event"?:
                if let id = related["prefect.resource.id"]?.stringValue {
                    ancestors.append(Ancestor(id: id, name: related["infrahub.ancestor_event.name"]?.stringValue ?? ""))
                }
            default: break
            }
        }
        let context = event[path: ["payload", "context"]]
        branch =
            branchLabel ?? context?[path: ["branch", "name"]]?.stringValue
            ?? event[path: ["resource", "infrahub.branch.name"]]?.stringValue
            ?? event[path: ["resource", "github.branch"]]?.stringValue ?? ""
        accountID = account ?? context?["account_id"]?.stringValue ?? ""
    }

    /// The context as JSON (`context` on a run's standard input).
    public var json: JSONValue {
        .object([
            "event_id": .string(eventID), "event_name": .string(eventName), "branch": .string(branch),
            "account_id": .string(accountID), "level": .integer(level), "parent_id": .string(parentID),
            "ancestors": .array(ancestors.map { .object(["id": .string($0.id), "name": .string($0.name)]) }),
            "correlation_id": .string(correlationID),
        ])
    }

    /// The context as the environment variables a run gets (`SLUICE_EVENT_*`, `SLUICE_CORRELATION_ID`),
    /// which `sluice emit --child-of-env` reads back.
    public var environment: [(name: String, value: String)] {
        [
            ("SLUICE_EVENT_ID", eventID), ("SLUICE_EVENT_NAME", eventName), ("SLUICE_EVENT_BRANCH", branch),
            ("SLUICE_EVENT_ACCOUNT", accountID), ("SLUICE_EVENT_LEVEL", String(level)),
            ("SLUICE_EVENT_PARENT", parentID),
            (
                "SLUICE_EVENT_ANCESTORS",
                JSONValue.array(ancestors.map { .object(["id": .string($0.id), "name": .string($0.name)]) })
                    .encodedString()
            ),
            ("SLUICE_CORRELATION_ID", correlationID),
        ]
    }

    /// Reads the context back from the variables of ``environment`` (`sluice emit --child-of-env`).
    /// - Throws: naming the variable that is missing or malformed.
    public init(environment: [String: String]) throws(WorkflowContextError) {
        guard let id = environment["SLUICE_EVENT_ID"], EventID.parse(id) != nil else {
            throw WorkflowContextError(variable: "SLUICE_EVENT_ID", message: "missing or not a UUID")
        }
        self.init(eventID: id, eventName: environment["SLUICE_EVENT_NAME"] ?? "")
        branch = environment["SLUICE_EVENT_BRANCH"] ?? ""
        accountID = environment["SLUICE_EVENT_ACCOUNT"] ?? ""
        parentID = environment["SLUICE_EVENT_PARENT"] ?? ""
        guard let levelText = environment["SLUICE_EVENT_LEVEL"], let value = Int(levelText),
            (0...1_000_000).contains(value)
        else {
            throw WorkflowContextError(
                variable: "SLUICE_EVENT_LEVEL",
                message: "missing or not an integer from 0 to 1000000"
            )
        }
        level = value
        let list: JSONValue
        do {
            list = try JSONValue.parse(environment["SLUICE_EVENT_ANCESTORS"] ?? "[]")
        } catch {
            throw WorkflowContextError(variable: "SLUICE_EVENT_ANCESTORS", message: "not JSON: \(error)")
        }
        guard let entries = list.arrayValue else {
            throw WorkflowContextError(variable: "SLUICE_EVENT_ANCESTORS", message: "must be a JSON list")
        }
        for (position, entry) in entries.enumerated() {
            guard let id = entry["id"]?.stringValue, let name = entry["name"]?.stringValue else {
                throw WorkflowContextError(
                    variable: "SLUICE_EVENT_ANCESTORS",
                    message: "entry \(position) needs string 'id' and 'name'"
                )
            }
            ancestors.append(Ancestor(id: id, name: name))
        }
    }

    /// The related resources that make an event with id `childID` a child of this event (spec §a.3):
    /// `infrahub.event` at level + 1, `infrahub.child_event` naming this event as parent, and one
    /// `infrahub.ancestor_event` per ancestor, nearest (this event) first.
    public func childRelated(childID: String) -> [JSONValue] {
        var related: [JSONValue] = [
            .object([
                "prefect.resource.id": .string(childID), "prefect.resource.role": "infrahub.event",
                "infrahub.event.has_children": "false", "infrahub.event.level": .string(String(level + 1)),
            ]),
            .object([
                "prefect.resource.id": .string(childID), "prefect.resource.role": "infrahub.child_event",
                "infrahub.event_parent.id": .string(eventID),
            ]),
        ]
        for ancestor in [Ancestor(id: eventID, name: eventName)] + ancestors {
            related.append(
                .object([
                    "prefect.resource.id": .string(ancestor.id), "prefect.resource.role": "infrahub.ancestor_event",
                    "infrahub.ancestor_event.name": .string(ancestor.name),
                ])
            )
        }
        return related
    }

    /// `event` (Prefect JSON) made a child of this event: its `infrahub.event`, `infrahub.child_event` and
    /// `infrahub.ancestor_event` related resources replaced by ``childRelated(childID:)``; the branch and
    /// account related resources are added from this context when the event has none.
    public func makingChild(_ event: JSONValue) throws(WorkflowContextError) -> JSONValue {
        guard var object = event.objectValue, let id = event["id"]?.stringValue else {
            throw WorkflowContextError(variable: "", message: "the event must be an object with an 'id'")
        }
        let replaced: Set<String> = ["infrahub.event", "infrahub.child_event", "infrahub.ancestor_event"]
        var related = (event["related"]?.arrayValue ?? []).filter { entry in
            !replaced.contains(entry["prefect.resource.role"]?.stringValue ?? "")
        }
        let roles = Set(related.compactMap { $0["prefect.resource.role"]?.stringValue })
        if !accountID.isEmpty, !roles.contains("infrahub.account") {
            related.append(
                .object([
                    "prefect.resource.id": .string("infrahub.account.\(accountID)"),
                    "prefect.resource.role": "infrahub.account", "infrahub.resource.id": .string(accountID),
                ])
            )
        }
        if !branch.isEmpty, !roles.contains("infrahub.branch") {
            related.append(
                .object([
                    "prefect.resource.id": .string("infrahub.branch.\(branch)"),
                    "prefect.resource.role": "infrahub.branch", "infrahub.resource.label": .string(branch),
                ])
            )
        }
        related.insert(contentsOf: childRelated(childID: id), at: 0)
        if let position = object.members.firstIndex(where: { $0.key == "related" }) {
            object.members[position].value = .array(related)
        } else {
            object.members.append(.init("related", .array(related)))
        }
        return .object(object)
    }
}

/// A workflow context that cannot be read from the environment.
public struct WorkflowContextError: Error, Sendable, Equatable, CustomStringConvertible {
    public var variable: String
    public var message: String
    public init(variable: String, message: String) {
        self.variable = variable
        self.message = message
    }
    public var description: String { variable.isEmpty ? message : "\(variable): \(message)" }
}

/// The identity of a firing's run and what its command is given (pure; docs/workflows.md).
public enum WorkflowRunInput {
    /// `run_` and 32 hex digits derived from (event id, trigger name, action position): the same for every
    /// attempt, and for the duplicates a restart makes, so a command can make its effects idempotent.
    public static func runID(eventID: EventID, trigger: String, action: Int) -> String {
        var high: UInt64 = 0xcbf2_9ce4_8422_2325
        var low: UInt64 = 0x8422_2325_cbf2_9ce4
        func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
            for byte in bytes {
                high = (high ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
                low = (low ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 &+ 1
            }
            high = (high ^ 0xFF) &* 0x0000_0100_0000_01B3  // a separator no UTF-8 text contains
            low = (low ^ 0xFF) &* 0x0000_0100_0000_01B3
        }
        feed("sluice-workflow-run-v1".utf8)
        var text: [UInt8] = []
        eventID.append(to: &text)
        feed(text)
        feed(trigger.utf8)
        feed(String(action).utf8)
        var first = SplitMix64(seed: high)
        var second = SplitMix64(seed: low)
        var out = Array("run_".utf8)
        for word in [first.next(), second.next()] {
            for shift in stride(from: 60, through: 0, by: -4) {
                out.append(Array("0123456789abcdef".utf8)[Int((word >> UInt64(shift)) & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The standard input of an attempt: one compact JSON object, keys in this order —
    /// `run_id`, `attempt`, `workflow`, `trigger`, `action`, `parameters` (the rendered parameters, exactly),
    /// `context` (``WorkflowEventContext/json``), `event` (the triggering event's Prefect JSON).
    public static func standardInput(
        runID: String,
        attempt: Int,
        workflow: String,
        trigger: String,
        action: Int,
        parameters: JSONObject,
        context: WorkflowEventContext,
        event: JSONValue
    ) -> [UInt8] {
        JSONValue.object([
            "run_id": .string(runID), "attempt": .integer(attempt), "workflow": .string(workflow),
            "trigger": .string(trigger), "action": .integer(action), "parameters": .object(parameters),
            "context": context.json, "event": event,
        ]).encoded()
    }

    /// `SLUICE_PARAM_<NAME>` for each top-level parameter: the name upper-cased with every byte other than
    /// a letter, digit or `_` made `_`; the value a string as it is, anything else as compact JSON.
    /// Values holding a NUL byte are left out (an environment cannot carry them; standard input does).
    public static func parameterVariables(_ parameters: JSONObject) -> [(name: String, value: String)] {
        parameters.members.compactMap { member in
            let name = String(
                decoding: member.key.utf8.map { byte -> UInt8 in
                    if byte >= 0x61 && byte <= 0x7A { return byte - 0x20 }
                    if (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5F { return byte }
                    return 0x5F
                },
                as: UTF8.self
            )
            let value = member.value.stringValue ?? member.value.encodedString()
            return value.utf8.contains(0) ? nil : ("SLUICE_PARAM_" + name, value)
        }
    }
}
