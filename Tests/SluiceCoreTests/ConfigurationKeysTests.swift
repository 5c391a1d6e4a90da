import SluiceCore
import Testing

/// Unknown configuration keys name the nearest valid key, in every section of a webhook or trigger entry.
@Suite struct ConfigurationKeysTests {
    @Test(arguments: [
        ("brnach_scope", "branch_scope", 1), ("branch_scop", "branch_scope", 1), ("kitten", "sitting", 3),
        ("", "url", 3), ("url", "url", 0), ("ab", "ba", 1),
    ])
    func editDistance(source: String, target: String, distance: Int) {
        #expect(ConfigurationKeys.editDistance(source, target) == distance)
        #expect(ConfigurationKeys.editDistance(target, source) == distance)
    }

    @Test func nearestKeyIsSuggestedOnlyWhenClose() {
        let keys = WebhookSubscription.jsonKeys
        #expect(ConfigurationKeys.nearest(to: "brnach_scope", in: keys) == "branch_scope")
        #expect(ConfigurationKeys.nearest(to: "Shared-Key", in: keys) == "shared_key")
        #expect(ConfigurationKeys.nearest(to: "urll", in: keys) == "url")
        #expect(ConfigurationKeys.nearest(to: "completely_unrelated", in: keys) == nil)
        #expect(
            ConfigurationKeys.unknownKeyMessage("brnach_scope", known: keys)
                == "unknown key 'brnach_scope'; did you mean 'branch_scope'?"
        )
        #expect(
            ConfigurationKeys.unknownKeyMessage("zzz", known: ["b", "a"]) == "unknown key 'zzz' (valid keys: a, b)"
        )
    }

    /// One misspelled key per kind of object: the error names the path of the key the user wrote, is marked
    /// as a key error (YAML points at the key), and suggests the valid key.
    @Test(arguments: [
        (#"{"defualt_branch": "main"}"#, "defualt_branch", "default_branch"),
        (#"{"webhooks": [{"name": "w", "brnach_scope": "all_branches"}]}"#, "webhooks[0].brnach_scope", "branch_scope"),
        (
            #"{"webhooks": [{"name": "w", "url": "http://h/", "headers": [{"key": "X", "valeu": "y"}]}]}"#,
            "webhooks[0].headers[0].valeu",
            "value"
        ),
        (
            #"{"webhooks": [{"name": "w", "url": "http://h/", "transform": {"command": ["c"], "timeout_second": 3}}]}"#,
            "webhooks[0].transform.timeout_second", "timeout_seconds"
        ),
        (#"{"triggers": [{"nmae": "t"}]}"#, "triggers[0].nmae", "name"),
        (#"{"triggers": [{"name": "t", "trigger": {"expct": ["x"]}}]}"#, "triggers[0].trigger.expct", "expect"),
        (#"{"triggers": [{"name": "t", "expect": ["x"], "treshold": 2}]}"#, "triggers[0].treshold", "threshold"),
        (#"{"triggers": [{"name": "t", "actions": [{"webhok": "w"}]}]}"#, "triggers[0].actions[0].webhok", "webhook"),
    ])
    func misspelledKeysAreErrors(json: String, path: String, suggestion: String) throws {
        let value = try JSONValue.parse(Array(json.utf8))
        do {
            _ = try TriggerConfiguration(json: value)
            _ = try WebhookConfiguration(json: value, environment: [:])
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.path == path, "\(error)")
            #expect(error.isKey)
            #expect(error.message.contains("did you mean '\(suggestion)'?"), "\(error)")
        }
    }

    @Test func webhookEntriesWithEveryDocumentedKeyAreAccepted() throws {
        let json = #"""
            {"default_branch": "main", "log": {}, "pipeline": {},
             "webhooks": [{"name": "w", "url": "https://example.com/h", "description": "d", "event_type": "all",
                           "branch_scope": "all_branches", "node_kind": null, "active": true, "kind": "custom",
                           "validate_certificates": true, "shared_key": "k", "shared_keys": ["k2"],
                           "signature_key_mode": "infrahub", "headers": [{"key": "X-A", "value": "1"}],
                           "trigger": {"type": "event"}}],
             "workflows": [{"name": "x", "description": "d", "command": ["true"], "timeout_s": 1, "concurrency": 1,
                            "retry_delays_s": [], "environment": {"A": "b"}}],
             "workflows_depth_max": 3,
             "triggers": [{"name": "t", "description": "d", "enabled": true,
                           "trigger": {"type": "event", "expect": ["a"], "after": [], "match": {}, "match_related": [],
                                       "posture": "Reactive", "threshold": 1, "within": 0, "for_each": []},
                           "actions": [{"workflow": "x", "parameters": {"any": {"key": "allowed"}}}]}]}
            """#
        let value = try JSONValue.parse(Array(json.utf8))
        #expect(try WebhookConfiguration(json: value, environment: [:]).webhooks.count == 1)
        #expect(try TriggerConfiguration(json: value).triggers.count == 1)
    }

    @Test func outOfRangeTriggerNumbersNameTheirRange() throws {
        for (json, path, message) in [
            (#"{"triggers": [{"name": "t", "within": 1e300}]}"#, "triggers[0].within", "from 0 to 31536000"),
            (#"{"triggers": [{"name": "t", "threshold": 1e300}]}"#, "triggers[0].threshold", "from 1 to 2147483647"),
            (#"{"triggers": [{"name": "t", "type": "compound"}]}"#, "triggers[0].type", "must be \"event\""),
        ] {
            let value = try JSONValue.parse(Array(json.utf8))
            do {
                _ = try TriggerConfiguration(json: value)
                Issue.record("accepted \(json)")
            } catch {
                #expect(error.path == path, "\(error)")
                #expect(error.message.contains(message), "\(error)")
            }
        }
    }
}

/// URLs carry secrets (Slack-style paths, `?token=`): everything printed or logged shows them redacted.
@Suite struct URLRedactionTests {
    @Test(arguments: [
        ("https://hooks.slack.com/services/T0/B0/XXXX", "https://hooks.slack.com/REDACTED"),
        (
            "http://user:pw@127.0.0.1:8080/hook?token=abc&x=1",
            "http://REDACTED@127.0.0.1:8080/REDACTED?token=REDACTED&x=REDACTED"
        ),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com", "https://example.com"),
        ("https://example.com?token=abc", "https://example.com?token=REDACTED"),
        ("http://[::1]:9/a#frag", "http://[::1]:9/REDACTED#REDACTED"),
        ("https://example.com/?flag&k=", "https://example.com/?REDACTED&k=REDACTED"),
        ("not a url with a secret", "REDACTED"),
        ("", ""),
    ])
    func redactsUserInformationPathAndQueryValues(url: String, redacted: String) {
        #expect(HTTPURL.redacted(url) == redacted)
    }

    @Test func urlErrorsAndDescriptionsAreRedacted() throws {
        do {
            _ = try HTTPURL("https://user:hunter2@hooks.example.com/services/SECRET?token=abc")
            Issue.record("accepted user information")
        } catch {
            #expect(!error.description.contains("hunter2"))
            #expect(!error.description.contains("SECRET"))
            #expect(!error.description.contains("abc"))
            #expect(error.description.contains("hooks.example.com"))
        }
        let url = try HTTPURL("https://hooks.example.com:8443/services/SECRET?token=abc")
        #expect(url.redactedDescription == "https://hooks.example.com:8443/REDACTED?token=REDACTED")
    }

    @Test func invalidUTF8LeadByteIsNamedOnce() {
        do {
            _ = try JSONValue.parse([0x22, 0xFF, 0x22])
            Issue.record("accepted 0xFF")
        } catch {
            #expect(error.message == "invalid UTF-8 lead byte 0xFF")
        }
    }
}
