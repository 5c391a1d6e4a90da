/// A workflow: a command Sluice runs when a trigger's `{workflow: NAME, parameters: {…}}` action fires
/// (docs/workflows.md). Read from the configuration's `workflows:` section:
///
/// ```yaml
/// workflows:
///   - name: deploy-preview
///     command: [deploy-preview.sh, --verbose]   # argv; the first word is looked up in PATH
///     timeout_s: 600                             # killed (process group, SIGKILL) after this
///     concurrency: 2                             # runs of this workflow at once
///     retry_delays_s: [5, 60]                    # after a failed attempt; then dead-lettered
///     environment: {REGISTRY: ghcr.io/acme}      # added to the inherited environment
/// ```
public struct WorkflowDefinition: Sendable, Equatable {
    public var name: String
    /// The argv; `command[0]` is looked up in `PATH` (`posix_spawnp`).
    public var command: [String]
    /// An attempt still running after this is killed (its whole process group) and counts as failed.
    public var timeoutNanoseconds: UInt64 = 60_000_000_000
    /// Attempts of this workflow running at once (the rest wait in the dispatcher's queue).
    public var concurrency = 4
    /// The delay before each retry: attempt `n + 1` starts `retryDelayNanoseconds[n - 1]` after attempt
    /// `n` failed; when the list is used up the run is dead-lettered. Its count plus one is the number of attempts.
    public var retryDelayNanoseconds: [UInt64] = [1_000_000_000, 10_000_000_000, 60_000_000_000]
    /// Variables added to the environment the command inherits (in this order; `SLUICE_*` are Sluice's).
    public var environment: [(name: String, value: String)] = []

    public init(name: String, command: [String]) {
        precondition(!command.isEmpty, "a workflow needs a command")
        self.name = name
        self.command = command
    }

    public static func == (left: WorkflowDefinition, right: WorkflowDefinition) -> Bool {
        left.name == right.name && left.command == right.command && left.timeoutNanoseconds == right.timeoutNanoseconds
            && left.concurrency == right.concurrency && left.retryDelayNanoseconds == right.retryDelayNanoseconds
            && left.environment.map(\.name) == right.environment.map(\.name)
            && left.environment.map(\.value) == right.environment.map(\.value)
    }

    /// The number of attempts a run gets before it is dead-lettered.
    public var attemptCountMax: Int { retryDelayNanoseconds.count + 1 }

    /// What to do after attempt `attempt` (1-based) failed: the delay before the next, or `nil` to
    /// dead-letter the run.
    public func retryDelay(afterFailedAttempt attempt: Int) -> UInt64? {
        guard attempt >= 1, attempt <= retryDelayNanoseconds.count else { return nil }
        return retryDelayNanoseconds[attempt - 1]
    }

    /// The keys of a `workflows:` entry.
    public static let keys = [
        "name", "description", "command", "timeout_s", "concurrency", "retry_delays_s", "environment",
    ]
    /// `timeout_s`: 1 ms to 1 day.
    public static let timeoutSecondsRange: ClosedRange<Double> = 0.001...86_400
    /// `concurrency`: 1 to 256.
    public static let concurrencyRange: ClosedRange<Int64> = 1...256
    /// `retry_delays_s`: at most 64 delays of 0 s to 1 day.
    public static let retryDelayCountMax = 64
    public static let retryDelaySecondsMax: Double = 86_400

    /// Reads one `workflows:` entry; errors name the field (`workflows[2].timeout_s`) and the range.
    public init(json: JSONValue, path: String) throws(TriggerDefinitionError) {
        guard let object = json.objectValue else {
            throw TriggerDefinitionError(path: path, message: "must be a mapping")
        }
        try ConfigurationKeys.check(object, known: Self.keys, path: path)
        guard let name = object["name"]?.stringValue, Self.isValidName(name) else {
            throw TriggerDefinitionError(
                path: "\(path).name",
                message: "required: 1 to 100 letters, digits, '-', '_' or '.'"
            )
        }
        guard let words = object["command"]?.arrayValue, !words.isEmpty, words.count <= 1_024 else {
            throw TriggerDefinitionError(
                path: "\(path).command",
                message: "required: a list of 1 to 1024 strings (the program, looked up in PATH, and its arguments)"
            )
        }
        var command: [String] = []
        for (position, word) in words.enumerated() {
            guard let text = word.stringValue, !text.utf8.contains(0), position > 0 || !text.isEmpty else {
                throw TriggerDefinitionError(
                    path: "\(path).command[\(position)]",
                    message: "must be a string without NUL bytes (the first non-empty)"
                )
            }
            command.append(text)
        }
        self.init(name: name, command: command)
        if let value = object["timeout_s"] {
            guard case .number(let text) = value, let seconds = Double(text), Self.timeoutSecondsRange.contains(seconds)
            else {
                throw TriggerDefinitionError(
                    path: "\(path).timeout_s",
                    message: "must be a number of seconds from 0.001 to 86400, not \(value.encodedString())"
                )
            }
            timeoutNanoseconds = UInt64((seconds * 1e9).rounded())  // ≤ 8.64e13: no overflow
        }
        if let value = object["concurrency"] {
            guard let count = value.int64Value, Self.concurrencyRange.contains(count) else {
                throw TriggerDefinitionError(
                    path: "\(path).concurrency",
                    message: "must be an integer from 1 to 256, not \(value.encodedString())"
                )
            }
            concurrency = Int(count)
        }
        if let value = object["retry_delays_s"] {
            retryDelayNanoseconds = try Self.delays(value, path: "\(path).retry_delays_s")
        }
        if let value = object["environment"] {
            environment = try Self.environment(value, path: "\(path).environment")
        }
    }

    /// 1–100 letters, digits, `-`, `_`, `.`.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 100
            && name.utf8.allSatisfy { byte in
                (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            }
    }

    private static func delays(_ value: JSONValue, path: String) throws(TriggerDefinitionError) -> [UInt64] {
        guard let list = value.arrayValue, list.count <= retryDelayCountMax else {
            throw TriggerDefinitionError(path: path, message: "must be a list of at most 64 delays in seconds")
        }
        var delays: [UInt64] = []
        for (position, element) in list.enumerated() {
            guard case .number(let text) = element, let seconds = Double(text), seconds >= 0,
                seconds <= retryDelaySecondsMax
            else {
                throw TriggerDefinitionError(
                    path: "\(path)[\(position)]",
                    message: "must be a number of seconds from 0 to 86400, not \(element.encodedString())"
                )
            }
            delays.append(UInt64((seconds * 1e9).rounded()))  // ≤ 8.64e13: no overflow
        }
        return delays
    }

    private static func environment(
        _ value: JSONValue,
        path: String
    ) throws(TriggerDefinitionError) -> [(name: String, value: String)] {
        guard let object = value.objectValue else {
            throw TriggerDefinitionError(path: path, message: "must be a mapping of variable names to strings")
        }
        var variables: [(name: String, value: String)] = []
        for member in object.members {
            let bytes = Array(member.key.utf8)
            let isName =
                !bytes.isEmpty && !(bytes[0] >= 0x30 && bytes[0] <= 0x39)
                && bytes.allSatisfy {
                    ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F
                }
            guard isName, !member.key.hasPrefix("SLUICE_") else {
                var error = TriggerDefinitionError(
                    path: "\(path).\(member.key)",
                    message: "a variable name is letters, digits and '_', not starting with a digit or SLUICE_"
                )
                error.isKey = true
                throw error
            }
            guard let text = member.value.stringValue, !text.utf8.contains(0) else {
                throw TriggerDefinitionError(
                    path: "\(path).\(member.key)",
                    message: "must be a string without NUL bytes"
                )
            }
            variables.append((member.key, text))
        }
        return variables
    }
}

/// The `workflows:` section and `workflows_depth_max`, with every trigger's workflow actions checked
/// against it: the workflow exists and its parameters' templates compile.
public struct WorkflowConfiguration: Sendable, Equatable {
    public var workflows: [WorkflowDefinition] = []
    /// The deepest event chain a workflow runs for: an event at `level` ≥ this (a child of a child … of a
    /// workflow's events) fires no workflow; the refusal is logged and counted.
    public var depthMax = 8

    public init() {}

    /// `workflows_depth_max`: 1 to 100.
    public static let depthRange: ClosedRange<Int64> = 1...100

    public static func == (left: WorkflowConfiguration, right: WorkflowConfiguration) -> Bool {
        left.workflows == right.workflows && left.depthMax == right.depthMax
    }

    /// Reads `workflows` and `workflows_depth_max` of a configuration file's top level.
    public init(json: JSONValue) throws(TriggerDefinitionError) {
        if let list = json["workflows"] {
            guard let elements = list.arrayValue else {
                throw TriggerDefinitionError(path: "workflows", message: "must be a list")
            }
            for (position, element) in elements.enumerated() {
                let workflow = try WorkflowDefinition(json: element, path: "workflows[\(position)]")
                guard !workflows.contains(where: { $0.name == workflow.name }) else {
                    throw TriggerDefinitionError(
                        path: "workflows[\(position)].name",
                        message: "'\(workflow.name)' is defined twice"
                    )
                }
                workflows.append(workflow)
            }
        }
        if let value = json["workflows_depth_max"] {
            guard let depth = value.int64Value, Self.depthRange.contains(depth) else {
                throw TriggerDefinitionError(
                    path: "workflows_depth_max",
                    message: "must be an integer from 1 to 100, not \(value.encodedString())"
                )
            }
            depthMax = Int(depth)
        }
    }

    /// The number of the workflow called `name`.
    public func number(of name: String) -> Int? { workflows.firstIndex { $0.name == name } }

    /// The compiled parameters of every workflow action of `triggers` (by trigger, then action number).
    /// - Throws: when an action names no configured workflow, or a parameter's template does not compile:
    ///   the error names the trigger, the action and the parameter.
    public func compileActions(
        of triggers: [TriggerDefinition],
        paths: [String]
    ) throws(TriggerDefinitionError) -> [[WorkflowAction]] {
        var result: [[WorkflowAction]] = []
        for (number, trigger) in triggers.enumerated() {
            var actions: [WorkflowAction] = []
            for (position, action) in trigger.actions.enumerated() where action.kind == .workflow {
                let path = "\(paths[number]).actions[\(position)]"
                guard let workflow = self.number(of: action.reference) else {
                    let known = workflows.map(\.name)
                    throw TriggerDefinitionError(
                        path: "\(path).workflow",
                        message: "trigger '\(trigger.name)' names the workflow '\(action.reference)', which is not "
                            + "configured (workflows: \(known.isEmpty ? "none" : known.joined(separator: ", ")))"
                    )
                }
                do throws(TemplateError) {
                    let templates = try ParameterTemplates(action.parameters, path: "\(path).parameters")
                    actions.append(WorkflowAction(workflow: workflow, action: position, parameters: templates))
                } catch {
                    throw TriggerDefinitionError(
                        path: error.path,
                        message: "trigger '\(trigger.name)', action \(position) (workflow '\(action.reference)'): "
                            + "template error at byte \(error.offset): \(error.message)"
                    )
                }
            }
            result.append(actions)
        }
        return result
    }
}

/// One compiled workflow action of a trigger.
public struct WorkflowAction: Sendable {
    /// The workflow's number in ``WorkflowConfiguration/workflows``.
    public var workflow: Int
    /// The action's position in the trigger's `actions` (part of the run id).
    public var action: Int
    public var parameters: ParameterTemplates
}
