/// One candidate value of a label in a resource specification (spec §b.3): an fnmatch glob, negated as
/// a whole by a leading `!`. A missing label never matches, negated or not.
public struct LabelPattern: Sendable, Equatable {
    public let glob: Glob
    public let isNegated: Bool
    /// The pattern as written (`!main`, `feat-*`).
    public let text: String

    public init(_ text: String) {
        self.text = text
        isNegated = text.hasPrefix("!")
        glob = Glob(isNegated ? String(text.dropFirst()) : text)
    }

    /// Prefect's `matches(expected, value)`: `false` for an absent label even when negated.
    public func matches(_ value: String?) -> Bool {
        guard let value else { return false }
        return glob.matches(value) != isNegated
    }
}

/// A Prefect `ResourceSpecification` (spec §b.3): `{label: pattern | [pattern, …]}`.
///
/// Every label must be satisfied by the same resource (AND); a label with several patterns is satisfied
/// when any of them matches (OR, so `["!a", "!b"]` is true for every present value — Prefect's quirk, kept);
/// an empty list never matches; an empty specification matches every resource and every event.
public struct ResourceSpecification: Sendable, Equatable {
    public struct Condition: Sendable, Equatable {
        public var label: String
        public var patterns: [LabelPattern]
        public init(label: String, patterns: [LabelPattern]) {
            self.label = label
            self.patterns = patterns
        }
    }

    public var conditions: [Condition]

    public init(_ conditions: [Condition] = []) { self.conditions = conditions }

    /// `{label: pattern}` pairs, each with one pattern.
    public init(_ pairs: [(String, String)]) {
        conditions = pairs.map { Condition(label: $0.0, patterns: [LabelPattern($0.1)]) }
    }

    public var matchesEveryResource: Bool { conditions.isEmpty }

    /// `true` when one resource, read through `label`, satisfies every condition.
    public func matches(_ label: (String) -> String?) -> Bool {
        conditions.allSatisfy { condition in
            let value = label(condition.label)
            return condition.patterns.contains { $0.matches(value) }
        }
    }

    /// Parses a specification from JSON: an object whose values are strings or arrays of strings.
    public init(json: JSONValue, path: String) throws(TriggerDefinitionError) {
        guard case .object(let object) = json else {
            throw TriggerDefinitionError(path: path, message: "must be an object of label patterns")
        }
        var conditions: [Condition] = []
        for member in object.members {
            switch member.value {
            case .string(let pattern):
                conditions.append(Condition(label: member.key, patterns: [LabelPattern(pattern)]))
            case .array(let elements):
                var patterns: [LabelPattern] = []
                for (position, element) in elements.enumerated() {
                    guard let pattern = element.stringValue else {
                        throw TriggerDefinitionError(
                            path: "\(path).\(member.key)[\(position)]",
                            message: "must be a string"
                        )
                    }
                    patterns.append(LabelPattern(pattern))
                }
                conditions.append(Condition(label: member.key, patterns: patterns))
            default:
                throw TriggerDefinitionError(
                    path: "\(path).\(member.key)",
                    message: "must be a string or a list of strings"
                )
            }
        }
        self.conditions = conditions
    }
}

/// A trigger definition that could not be read: where and why.
public struct TriggerDefinitionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where in the configuration, e.g. `triggers[3].match_related[0].infrahub.resource.label`.
    public var path: String
    public var message: String
    /// The error is about the key at `path` itself (an unknown key), not its value: a YAML position then
    /// points at the key.
    public var isKey = false
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}
