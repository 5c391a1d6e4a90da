/// The reference matcher: spec §b applied literally, one trigger at a time, over strings.
///
/// Slow on purpose (it reads every label as a `String`); it is the model the compiled index is tested
/// against, and what `sluice triggers explain` reports from. Stateless.
public enum ReferenceMatcher {
    /// Why an event does or does not reach a trigger.
    public enum Verdict: Sendable, Equatable {
        case matches
        case disabled
        /// Rule 1 or 2 of §b.2 failed.
        case eventName(String)
        /// The `match` condition on `label` failed against the primary resource.
        case match(label: String)
        /// No related resource satisfies `match_related[index]`.
        case matchRelated(index: Int)
    }

    /// Whether `event` reaches `trigger` (§b.2 rules 1–3 and §b.3), and the first reason if not.
    public static func evaluate(_ trigger: TriggerDefinition, _ event: Event, symbols: SymbolTable) -> Verdict {
        guard trigger.enabled else { return .disabled }
        let name = symbols.string(event.header.name)
        guard trigger.events.covers(name) else { return .eventName(name) }
        let header = event.header
        for condition in trigger.match.conditions {
            let value = labelValue(condition.label, of: header.primary, event, symbols)
            guard condition.patterns.contains(where: { $0.matches(value) }) else {
                return .match(label: condition.label)
            }
        }
        for (index, specification) in trigger.matchRelated.enumerated() where !specification.matchesEveryResource {
            let satisfied = header.related.contains { resource in
                specification.matches { labelValue($0, of: resource, event, symbols) }
            }
            guard satisfied else { return .matchRelated(index: index) }
        }
        return .matches
    }

    /// `true` when `event` reaches `trigger`.
    public static func matches(_ trigger: TriggerDefinition, _ event: Event, symbols: SymbolTable) -> Bool {
        evaluate(trigger, event, symbols: symbols) == .matches
    }

    private static func labelValue(
        _ key: String,
        of resource: ResourceRecord,
        _ event: Event,
        _ symbols: SymbolTable
    )
        -> String?
    {
        guard let symbol = symbols.lookup(key) else { return nil }
        return event.labelValue(symbol, of: resource)
    }
}
