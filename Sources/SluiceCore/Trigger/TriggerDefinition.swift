/// What a trigger does when it fires: call a webhook or run a workflow, with parameters.
public struct TriggerAction: Sendable, Equatable {
    public enum Kind: String, Sendable { case webhook, workflow }
    public var kind: Kind
    /// The webhook's or workflow's name in the configuration.
    public var reference: String
    public var parameters: JSONObject

    public init(kind: Kind, reference: String, parameters: JSONObject = JSONObject()) {
        self.kind = kind
        self.reference = reference
        self.parameters = parameters
    }
}

/// A trigger: which events it reacts to and what it does (Prefect's event trigger, spec §b).
public struct TriggerDefinition: Sendable, Equatable {
    public enum Posture: String, Sendable {
        /// Fire when enough matching events occur.
        case reactive = "Reactive"
        /// Fire when too few matching events occur within the window.
        case proactive = "Proactive"
    }

    public var name: String
    public var events: EventNamePatterns
    /// Tested against the primary resource only.
    public var match: ResourceSpecification
    /// Each specification must be satisfied by some related resource (possibly different ones).
    public var matchRelated: [ResourceSpecification]
    public var posture: Posture = .reactive
    public var threshold: Int = 1
    /// Bucket length in seconds (Reactive 0: immediate; Proactive 0 means Prefect's minimum, 10 s).
    public var withinSeconds: Double = 0
    /// Label names whose values key separate buckets (`related:<role>:<label>` reads a related resource).
    public var forEach: [String] = []
    public var enabled: Bool = true
    public var actions: [TriggerAction] = []

    public init(
        name: String,
        events: EventNamePatterns,
        match: ResourceSpecification = ResourceSpecification(),
        matchRelated: [ResourceSpecification] = [],
        posture: Posture = .reactive,
        threshold: Int = 1,
        withinSeconds: Double = 0,
        forEach: [String] = [],
        enabled: Bool = true,
        actions: [TriggerAction] = []
    ) {
        precondition(threshold >= 1, "threshold must be at least 1")
        precondition(withinSeconds >= 0, "within must not be negative")
        precondition(withinSeconds <= Self.withinSecondsMax, "within must be at most 365 days")
        self.name = name
        self.events = events
        self.match = match
        self.matchRelated = matchRelated
        self.posture = posture
        self.threshold = threshold
        self.withinSeconds = withinSeconds
        self.forEach = forEach
        self.enabled = enabled
        self.actions = actions
    }
}

extension TriggerDefinition {
    /// `nil` for a stateless trigger (Reactive, threshold 1, within 0, no `after`: fires on every expected
    /// event), else its state rule, e.g. `Reactive, threshold 5 within 600 s, for_each [github.environment]`.
    public var stateSummary: String? {
        guard !TriggerStateMachine.isStateless(self) else { return nil }
        var text = "\(posture.rawValue), threshold \(threshold) within \(withinSeconds) s"
        if !events.after.isEmpty { text += ", after \(events.after)" }
        if !forEach.isEmpty { text += ", for_each \(forEach)" }
        return text
    }

    /// Reads a trigger from JSON (or YAML already turned into a ``JSONValue``):
    ///
    /// ```json
    /// {"name": "…", "enabled": true,
    ///  "trigger": {"expect": ["…"], "after": [], "match": {…}, "match_related": {…} | [{…}],
    ///              "posture": "Reactive", "threshold": 1, "within": 0, "for_each": []},
    ///  "actions": [{"webhook": "name", "parameters": {…}} | {"workflow": "name", "parameters": {…}}]}
    /// ```
    /// The `trigger` object is Prefect's automation trigger as Infrahub writes it (spec §b.1); its keys may
    /// also stand at the top level. `path` names the definition in errors. Each action's `parameters` are
    /// compiled as ``ParameterTemplates`` here, so a template error is a load error naming the trigger, the
    /// action, the parameter path and the offset in the template.
    public init(json: JSONValue, path: String) throws(TriggerDefinitionError) {
        guard let object = json.objectValue else {
            throw TriggerDefinitionError(path: path, message: "must be an object")
        }
        let nested = object["trigger"] != nil
        try ConfigurationKeys.check(
            object,
            known: Self.definitionKeys + (nested ? [] : Self.triggerKeys),
            path: path
        )
        guard let name = object["name"]?.stringValue, !name.isEmpty else {
            throw TriggerDefinitionError(path: "\(path).name", message: "required, a non-empty string")
        }
        if nested, object["trigger"]?.objectValue == nil {
            throw TriggerDefinitionError(
                path: "\(path).trigger",
                message: "must be a mapping (Prefect's event trigger)"
            )
        }
        let trigger = object["trigger"]?.objectValue ?? object
        let triggerPath = nested ? "\(path).trigger" : path
        if nested { try ConfigurationKeys.check(trigger, known: Self.triggerKeys, path: triggerPath) }
        if let type = trigger["type"], type.stringValue != "event" {
            throw TriggerDefinitionError(
                path: "\(triggerPath).type",
                message: "must be \"event\" (Prefect's event trigger; compound and sequence triggers are not supported)"
            )
        }
        let expect = try Self.strings(trigger["expect"], "\(triggerPath).expect")
        let after = try Self.strings(trigger["after"], "\(triggerPath).after")
        self.init(name: name, events: EventNamePatterns(expect: expect, after: after))
        if let match = trigger["match"] {
            self.match = try ResourceSpecification(json: match, path: "\(triggerPath).match")
        }
        switch trigger["match_related"] {
        case nil: matchRelated = []
        case .array(let specifications)?:
            matchRelated = []
            for (position, specification) in specifications.enumerated() {
                matchRelated.append(
                    try ResourceSpecification(json: specification, path: "\(triggerPath).match_related[\(position)]")
                )
            }
        case let specification?:
            let parsed = try ResourceSpecification(json: specification, path: "\(triggerPath).match_related")
            matchRelated = parsed.matchesEveryResource ? [] : [parsed]
        }
        if let posture = trigger["posture"] {
            guard let text = posture.stringValue, let parsed = Posture(rawValue: text) else {
                throw TriggerDefinitionError(path: "\(triggerPath).posture", message: "must be Reactive or Proactive")
            }
            self.posture = parsed
        }
        if let threshold = trigger["threshold"] {
            guard let value = threshold.int64Value, value >= 1, value <= Int64(Int32.max) else {
                throw TriggerDefinitionError(
                    path: "\(triggerPath).threshold",
                    message: "must be an integer from 1 to \(Int32.max)"
                )
            }
            self.threshold = Int(value)
        }
        if let within = trigger["within"] {
            guard case .number(let text) = within, let seconds = Double(text), seconds >= 0,
                seconds <= Self.withinSecondsMax
            else {
                throw TriggerDefinitionError(
                    path: "\(triggerPath).within",
                    message: "must be a number of seconds from 0 to \(Int(Self.withinSecondsMax)) (365 days)"
                )
            }
            withinSeconds = seconds
        }
        if posture == .proactive && withinSeconds > 0 && withinSeconds < 10 {
            throw TriggerDefinitionError(
                path: "\(triggerPath).within",
                message: "a Proactive trigger needs within ≥ 10 seconds (0 means 10)"
            )
        }
        forEach = try Self.strings(trigger["for_each"], "\(triggerPath).for_each")
        if let enabled = object["enabled"] {
            guard let value = enabled.boolValue else {
                throw TriggerDefinitionError(path: "\(path).enabled", message: "must be true or false")
            }
            self.enabled = value
        }
        actions = try Self.actions(object["actions"], "\(path).actions", trigger: name)
    }

    /// The keys of a trigger entry besides the trigger's own (``triggerKeys``, which may stand here too).
    public static let definitionKeys = ["name", "description", "enabled", "trigger", "actions"]
    /// The keys of Prefect's event trigger as Infrahub writes it (spec §b.1).
    public static let triggerKeys = [
        "type", "expect", "after", "match", "match_related", "posture", "threshold", "within", "for_each",
    ]
    /// The longest `within` window: 365 days.
    public static let withinSecondsMax: Double = 31_536_000

    private static func strings(_ value: JSONValue?, _ path: String) throws(TriggerDefinitionError) -> [String] {
        guard let value else { return [] }
        guard let elements = value.arrayValue else {
            throw TriggerDefinitionError(path: path, message: "must be a list of strings")
        }
        var strings: [String] = []
        for (position, element) in elements.enumerated() {
            guard let text = element.stringValue else {
                throw TriggerDefinitionError(path: "\(path)[\(position)]", message: "must be a string")
            }
            strings.append(text)
        }
        return strings
    }

    private static func actions(
        _ value: JSONValue?,
        _ path: String,
        trigger: String
    ) throws(TriggerDefinitionError) -> [TriggerAction] {
        guard let value else { return [] }
        guard let elements = value.arrayValue else {
            throw TriggerDefinitionError(path: path, message: "must be a list")
        }
        var actions: [TriggerAction] = []
        for (position, element) in elements.enumerated() {
            let elementPath = "\(path)[\(position)]"
            guard let entry = element.objectValue else {
                throw TriggerDefinitionError(path: elementPath, message: "must be {webhook|workflow, parameters}")
            }
            try ConfigurationKeys.check(entry, known: ["webhook", "workflow", "parameters"], path: elementPath)
            if let parameters = element["parameters"], parameters.objectValue == nil {
                throw TriggerDefinitionError(path: "\(elementPath).parameters", message: "must be a mapping")
            }
            let parameters = element["parameters"]?.objectValue ?? JSONObject()
            // Templates compile here, so a bad one is a load error naming the trigger, action and parameter.
            do {
                _ = try ParameterTemplates(parameters, path: "\(elementPath).parameters")
            } catch {
                let action =
                    if let webhook = element["webhook"]?.stringValue { "webhook '\(webhook)'" } else {
                        "workflow '\(element["workflow"]?.stringValue ?? "?")'"
                    }
                throw TriggerDefinitionError(
                    path: error.path,
                    message:
                        "trigger '\(trigger)', action \(position) (\(action)): template offset \(error.offset): \(error.message)"
                )
            }
            if let webhook = element["webhook"]?.stringValue {
                actions.append(TriggerAction(kind: .webhook, reference: webhook, parameters: parameters))
            } else if let workflow = element["workflow"]?.stringValue {
                actions.append(TriggerAction(kind: .workflow, reference: workflow, parameters: parameters))
            } else {
                throw TriggerDefinitionError(
                    path: elementPath,
                    message: "needs \"webhook\" or \"workflow\" naming the action"
                )
            }
        }
        return actions
    }
}
