import Foundation
import Sluice
import SluiceTestSupport
import Testing

@testable import SluiceServer

/// The management API's routes on a real `sluice serve` on loopback, through the Swift client (no curl):
/// every route, 401/403/404/422, secrets redacted on every read and kept when sent back as `<redacted>`.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)")
)
struct ManagementAPITests {
    static let adminToken = "admin-token-0123456789abcdef"
    static let producerToken = "producer-token-0123456789abcdef"
    static let environment = ["SLUICE_ADMIN_TOKEN": adminToken, "SLUICE_PRODUCER_TOKEN": producerToken]

    /// A file with one webhook holding a key and a secret header, one explicit trigger, and two tokens.
    static let configuration = """
        server:
          tokens:
            - {name: ops, environment: SLUICE_ADMIN_TOKEN, scopes: [admin]}
            - {name: producer, environment: SLUICE_PRODUCER_TOKEN, scopes: [events:write]}
        webhooks:
          - {name: audit, url: "http://127.0.0.1:9/hook", shared_key: file-secret-1, event_type: all,
             branch_scope: all_branches, allowed_networks: ["127.0.0.0/8"],
             headers: [{key: Authorization, value: "Bearer header-secret-2"}]}
        triggers:
          - {name: audit-too, expect: ["infrahub.node.*"], actions: [{webhook: audit}]}
        pipeline:
          retry_schedule_s: [0]
        """

    @Test(.timeLimit(.minutes(3)))
    func everyRouteAnswersAndSecretsAreWriteOnly() throws {
        let server = try ServeProcess(configuration: Self.configuration, environment: Self.environment)
        let admin = Self.adminToken
        // 401 without a token, 403 with one lacking `admin`, on reads and writes alike.
        #expect(try server.call("GET", "/api/webhooks").status == 401)
        #expect(try server.call("GET", "/api/configuration", token: Self.producerToken).status == 403)
        #expect(try server.call("PUT", "/api/webhooks/x", token: Self.producerToken, json: "{}").status == 403)
        #expect(try server.call("DELETE", "/api/triggers/audit-too").status == 401)
        #expect(
            try server.call("POST", "/api/deadletters/redrive", token: Self.producerToken, json: "{}").status == 403
        )

        // Reads: secrets redacted everywhere.
        let list = try server.call("GET", "/api/webhooks", token: admin)
        #expect(list.status == 200)
        let webhooks = list.object["webhooks"] as? [[String: Any]] ?? []
        #expect(webhooks.map { $0["name"] as? String } == ["audit"])
        #expect(webhooks.first?["shared_key"] as? String == "<redacted>")
        let headers = webhooks.first?["headers"] as? [[String: Any]] ?? []
        #expect(headers.first?["value"] as? String == "<redacted>", "\(list.text)")
        let one = try server.call("GET", "/api/webhooks/audit", token: admin)
        #expect(one.status == 200)
        #expect(one.object["url"] as? String == "http://127.0.0.1:9/hook")
        let whole = try server.call("GET", "/api/configuration", token: admin)
        #expect(whole.status == 200)
        #expect(whole.headers["sluice-configuration-generation"] == "0")
        for reply in [list, one, whole] {
            #expect(!reply.text.contains("file-secret-1"), "a secret was shown: \(reply.text)")
            #expect(!reply.text.contains("header-secret-2"), "a secret was shown: \(reply.text)")
        }
        #expect(try server.call("GET", "/api/webhooks/nope", token: admin).status == 404)
        #expect(try server.call("GET", "/api/triggers/nope", token: admin).status == 404)
        #expect(try server.call("DELETE", "/api/webhooks/nope", token: admin).status == 404)

        // Invalid changes: 422 naming the field (relative to the entry for an entry route), nothing changed.
        let badURL = try server.call(
            "PUT",
            "/api/webhooks/ops",
            token: admin,
            json: #"{"url":"ftp://x","shared_key":"k"}"#
        )
        #expect(badURL.status == 422, "\(badURL.text)")
        #expect((badURL.object["error"] as? [String: Any])?["field"] as? String == "url", "\(badURL.text)")
        let unknownKey = try server.call(
            "PUT",
            "/api/webhooks/ops",
            token: admin,
            json: #"{"url":"http://127.0.0.1:9/","shared_key":"k","colour":1}"#
        )
        #expect(unknownKey.status == 422)
        #expect((unknownKey.object["error"] as? [String: Any])?["field"] as? String == "colour", "\(unknownKey.text)")
        let nameMismatch = try server.call(
            "PUT",
            "/api/webhooks/ops",
            token: admin,
            json: #"{"name":"other","url":"http://127.0.0.1:9/","shared_key":"k"}"#
        )
        #expect(nameMismatch.status == 422)
        #expect((nameMismatch.object["error"] as? [String: Any])?["field"] as? String == "name")
        let noStoredSecret = try server.call(
            "PUT",
            "/api/webhooks/ops",
            token: admin,
            json: #"{"url":"http://127.0.0.1:9/","shared_key":"<redacted>"}"#
        )
        #expect(noStoredSecret.status == 422)
        #expect((noStoredSecret.object["error"] as? [String: Any])?["field"] as? String == "shared_key")
        let logSection = try server.call("PUT", "/api/configuration", token: admin, json: #"{"log":{"fsync":"never"}}"#)
        #expect(logSection.status == 422)
        #expect((logSection.object["error"] as? [String: Any])?["field"] as? String == "log")
        #expect(try server.call("PUT", "/api/webhooks/ops", token: admin, json: "{not json").status == 400)
        // Removing a webhook a trigger still sends to is refused with the trigger's field.
        let referenced = try server.call("DELETE", "/api/webhooks/audit", token: admin)
        #expect(referenced.status == 422, "\(referenced.text)")
        #expect(((referenced.object["error"] as? [String: Any])?["field"] as? String)?.hasPrefix("triggers[0]") == true)

        // Add, replace (sending the redacted read back keeps the stored secrets), delete.
        let added = try server.call(
            "PUT",
            "/api/webhooks/ops",
            token: admin,
            json: #"{"url":"http://127.0.0.1:9/ops","shared_key":"ops-secret-3","allowed_networks":["127.0.0.0/8"]}"#
        )
        #expect(added.status == 201, "\(added.text)")
        #expect(added.object["generation"] as? Int == 1)
        #expect(!added.text.contains("ops-secret-3"))
        var edited = try #require(one.object as [String: Any]?)
        edited["description"] = "edited through the API"
        let editedJSON = String(decoding: try JSONSerialization.data(withJSONObject: edited), as: UTF8.self)
        let replaced = try server.call("PUT", "/api/webhooks/audit", token: admin, json: editedJSON)
        #expect(replaced.status == 200, "\(replaced.text)")
        #expect(replaced.object["generation"] as? Int == 2)
        let trigger = try server.call(
            "PUT",
            "/api/triggers/ops-too",
            token: admin,
            json: #"{"expect":["infrahub.branch.*"],"actions":[{"webhook":"ops"}]}"#
        )
        #expect(trigger.status == 201, "\(trigger.text)")
        #expect(try server.call("GET", "/api/triggers/ops-too", token: admin).status == 200)
        let triggers =
            try server.call("GET", "/api/triggers", token: admin).object["triggers"] as? [[String: Any]] ?? []
        #expect(triggers.map { $0["name"] as? String } == ["audit-too", "ops-too"])
        #expect(try server.call("DELETE", "/api/triggers/ops-too", token: admin).status == 200)
        #expect(try server.call("DELETE", "/api/webhooks/ops", token: admin).status == 200)
        #expect(try server.call("DELETE", "/api/webhooks/ops", token: admin).status == 404)
        let after = try server.call("GET", "/api/configuration", token: admin)
        #expect(after.headers["sluice-configuration-generation"] == "5")
        #expect(try server.call("DELETE", "/api/triggers/nope", token: admin).status == 404)
        // The whole configuration read back (redacted) and written again: the stored secrets are kept.
        let whole2 = try server.call("PUT", "/api/configuration", token: admin, json: after.text)
        #expect(whole2.status == 200, "\(whole2.text)")
        #expect(whole2.object["generation"] as? Int == 6)

        // Dead letters: paging parameters are range-checked; the redrive body is checked key by key.
        #expect(try server.call("GET", "/api/deadletters?limit=0", token: admin).status == 400)
        #expect(try server.call("GET", "/api/deadletters?limit=10001", token: admin).status == 400)
        #expect(try server.call("GET", "/api/deadletters?after=x", token: admin).status == 400)
        #expect(try server.call("GET", "/api/deadletters?event_id=nope", token: admin).status == 400)
        let page = try server.call("GET", "/api/deadletters?limit=10", token: admin)
        #expect(page.status == 200)
        #expect(page.object["next_after"] is NSNull, "\(page.text)")
        let badRedrive = try server.call("POST", "/api/deadletters/redrive", token: admin, json: #"{"bogus":1}"#)
        #expect(badRedrive.status == 422)
        #expect((badRedrive.object["error"] as? [String: Any])?["field"] as? String == "bogus")
        let redrive = try server.call("POST", "/api/deadletters/redrive", token: admin, json: "{}")
        #expect(redrive.status == 200, "\(redrive.text)")
        #expect(redrive.object["redriven"] as? Int == 0)
        #expect(server.stop() == 0)

        // The log holds the secrets the API kept (the record replays them), never the redaction marker.
        let newest = try #require(try ConfigurationRecords.newest(directory: server.logDirectory.path))
        #expect(newest.record.generation == 6)
        let restored = try #require(newest.record.configuration)
        let audit = restored["webhooks"]?.arrayValue?.first
        #expect(audit?["shared_key"]?.stringValue == "file-secret-1")
        #expect(audit?["headers"]?.arrayValue?.first?["value"]?.stringValue == "Bearer header-secret-2")
        #expect(audit?["description"]?.stringValue == "edited through the API")
    }

    /// The management routes from Python's `httpx` (PyPI, installed into `.build/python-venv-server`).
    @Test(
        .timeLimit(.minutes(3)),
        .enabled(if: PythonVenv.python != nil, "python3 is not installed")
    )
    func pythonHTTPXClientManagesWebhooks() throws {
        let server = try ServeProcess(configuration: Self.configuration, environment: Self.environment)
        let python = try PythonVenv.withPackage("httpx", requirement: "httpx==0.28.1")
        let script = """
            import json, sys, httpx
            base, token = sys.argv[1], sys.argv[2]
            results = {}
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
                results["unauthenticated"] = httpx.get(base + "/api/webhooks", timeout=30).status_code
                created = client.put("/api/webhooks/py", json={"url": "http://127.0.0.1:9/py", "shared_key": "py-secret-4",
                                                              "allowed_networks": ["127.0.0.0/8"]})
                results["created"] = created.status_code
                results["generation"] = created.json()["generation"]
                got = client.get("/api/webhooks/py")
                results["read_key"] = got.json()["shared_key"]
                results["secret_shown"] = "py-secret-4" in got.text
                invalid = client.put("/api/webhooks/py", json={"url": "not a url", "shared_key": "k"})
                results["invalid"] = invalid.status_code
                results["invalid_field"] = invalid.json()["error"]["field"]
                results["deleted"] = client.delete("/api/webhooks/py").status_code
                results["missing"] = client.get("/api/webhooks/py").status_code
                results["dead_letters"] = client.get("/api/deadletters", params={"limit": 5}).json()["dead_letters"]
            print(json.dumps(results))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, server.baseURL, Self.adminToken]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try #require(process.reapedStatus() == 0, "the httpx client failed: \(errorText)")
        let results = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(results["unauthenticated"] as? Int == 401)
        #expect(results["created"] as? Int == 201)
        #expect(results["generation"] as? Int == 1)
        #expect(results["read_key"] as? String == "<redacted>")
        #expect(results["secret_shown"] as? Bool == false)
        #expect(results["invalid"] as? Int == 422)
        #expect(results["invalid_field"] as? String == "url")
        #expect(results["deleted"] as? Int == 200)
        #expect(results["missing"] as? Int == 404)
        #expect((results["dead_letters"] as? [Any])?.isEmpty == true)
        #expect(server.stop() == 0)
    }

    /// The pure edits: redaction of every kind of secret, and `<redacted>` sent back keeps the stored value.
    @Test func redactionAndKeepingSecrets() throws {
        let stored: JSONValue = [
            "name": "a", "url": "http://x/", "shared_key": "k1", "shared_keys": ["k2", "k3"],
            "headers": [["key": "X-Token", "value": "v1"], ["key": "X-Env", "environment": "VAR"]],
        ]
        let redacted = ManagementDocument.redact(webhook: stored)
        #expect(redacted["shared_key"] == "<redacted>")
        #expect(redacted["shared_keys"] == ["<redacted>", "<redacted>"])
        #expect(redacted["headers"]?.arrayValue?[0]["value"] == "<redacted>")
        #expect(redacted["headers"]?.arrayValue?[1]["environment"] == "VAR")
        let kept = try ManagementDocument.keepingSecrets(in: redacted, stored: stored, path: "webhooks[0]")
        #expect(kept == stored)
        var rotated = redacted.objectValue!
        rotated["shared_keys"] = ["<redacted>", "<redacted>", "k4"]
        #expect(throws: ManagementError.self) {
            try ManagementDocument.keepingSecrets(in: .object(rotated), stored: nil, path: "webhooks[0]")
        }
        rotated["shared_keys"] = ["<redacted>", "k4"]
        let rotatedKept = try ManagementDocument.keepingSecrets(in: .object(rotated), stored: stored, path: "w")
        #expect(rotatedKept["shared_keys"] == ["k2", "k4"])
    }
}
