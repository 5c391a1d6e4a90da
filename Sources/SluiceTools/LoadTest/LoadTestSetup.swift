public import SluiceCore

/// Configurations for load tests and the demo: realistic webhooks and triggers for a generated fixture
/// (``TriggerFixtureGenerator``), with the first `webhookCount` webhooks pointed at one receiver.
public enum LoadTestSetup {
    /// `entryCount` triggers for events of `fixture`: the generator's entries in order; the first
    /// `webhookCount` webhook entries stay webhooks (URL `baseURL` + `/hooks/N`, key `sharedKey`), every
    /// later webhook entry becomes a trigger with no action (matched, not delivered), as do the
    /// generator's own triggers. So the index holds `entryCount` triggers and at most `webhookCount` of
    /// them deliver. With `webhooksOnStreamKinds`, each kept webhook's `node_kind` (when it has one) is
    /// replaced by one of the fixture's own kinds, round robin, so most events are delivered somewhere:
    /// a load where delivery, not matching, dominates.
    public static func configuration(
        fixture: FixtureGenerator.Configuration,
        entryCount: Int,
        webhookCount: Int,
        baseURL: String,
        sharedKey: String,
        webhooksOnStreamKinds: Bool = false
    ) -> JSONValue {
        let streamKinds = FixtureGenerator(fixture).kinds
        var generator = TriggerFixtureGenerator(fixture, count: entryCount)
        var webhooks: [JSONValue] = []
        var triggers: [JSONValue] = []
        for index in 0..<entryCount {
            switch generator.entry(index: index) {
            case .webhook(var webhook):
                guard webhooks.count < webhookCount else {
                    triggers.append([
                        "name": .string(webhook["name"]?.stringValue ?? "webhook-\(index)"),
                        "trigger": webhook["trigger"] ?? .null,
                        "actions": [],
                    ])
                    continue
                }
                if case .object(var object) = webhook {
                    let path =
                        (webhook["url"]?.stringValue ?? "").split(separator: "/").last.map(String.init) ?? "\(index)"
                    object["url"] = .string(baseURL + "/hooks/" + path)
                    object["shared_key"] = .string(sharedKey)
                    if webhooksOnStreamKinds, object["node_kind"]?.stringValue != nil {
                        object["node_kind"] = .string(streamKinds[webhooks.count % streamKinds.count])
                    }
                    webhook = .object(object)
                }
                webhooks.append(webhook)
            case .trigger(let trigger):
                triggers.append(trigger)
            }
        }
        return ["default_branch": "main", "webhooks": .array(webhooks), "triggers": .array(triggers)]
    }
}
