import Foundation
import SluiceCore
import SluiceCrypto
import SluiceTestSupport
import Testing

/// An independent check: requests Sluice signs (ASCII and non-ASCII bodies, both key modes, rotation)
/// are verified by the Standard Webhooks reference library for Python (`standardwebhooks` from PyPI,
/// installed by this test into `.build/python-venv`), and the library's own signatures equal ours.
///
/// Skips with a message when `python3` is not installed; fails when the package cannot be installed
/// (e.g. PyPI unreachable), so CI cannot pass without the check having run.
@Suite(.serialized) struct StandardWebhooksPythonTests {
    struct Outcome {
        var status: Int32
        var output: String
        var error: String
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        // Read both pipes concurrently enough: stderr of pip is short; read stdout, then stderr.
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        return Outcome(
            status: process.reapedStatus(),
            output: String(decoding: outputData, as: UTF8.self),
            error: String(decoding: errorData, as: UTF8.self)
        )
    }

    static func findPython() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/python3"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The venv's python with `standardwebhooks` importable, creating the venv and installing the package
    /// when needed.
    static func venvPython(_ python: String) throws -> String {
        let venv = packageRoot + "/.build/python-venv"
        let venvPython = venv + "/bin/python"
        if FileManager.default.isExecutableFile(atPath: venvPython),
            try run(venvPython, ["-c", "import standardwebhooks"]).status == 0
        {
            return venvPython
        }
        let created = try run(python, ["-m", "venv", "--clear", venv])
        try #require(
            created.status == 0,
            "python3 -m venv failed (install python3-venv: scripts/ensure-system-packages): \(created.error)"
        )
        let installed = try run(
            venvPython,
            ["-m", "pip", "install", "--disable-pip-version-check", "--quiet", "standardwebhooks==1.1.0"]
        )
        try #require(
            installed.status == 0,
            "pip install standardwebhooks failed (is PyPI reachable?): \(installed.error) \(installed.output)"
        )
        return venvPython
    }

    static let script = """
        import base64, datetime, json, sys
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError
        results = []
        for case in json.load(open(sys.argv[1])):
            webhook = Webhook(case["secret"])
            body = base64.b64decode(case["body"])
            try:
                webhook.verify(body, case["headers"], json_parse=False)
                verified = True
            except WebhookVerificationError:
                verified = False
            moment = datetime.datetime.fromtimestamp(int(case["headers"]["webhook-timestamp"]), tz=datetime.timezone.utc)
            signature = webhook.sign(case["headers"]["webhook-id"], moment, body.decode())
            results.append({"verified": verified, "signature": signature})
        print(json.dumps(results))
        """

    struct Case {
        var name: String
        /// The secret the Python side is given (`whsec_…`).
        var secret: String
        var request: WebhookRequest
        /// The body Python verifies (the request's, or a tampered one).
        var body: [UInt8]
        var verifies: Bool
        /// Our entry for the Python key, which Python's `sign` must reproduce.
        var expectedEntry: String
    }

    @Test(.enabled(if: Self.findPython() != nil, "python3 is not installed"))
    func pythonReferenceLibraryAgrees() throws {
        let python = try #require(Self.findPython())
        let venvPython = try Self.venvPython(python)
        let now = UInt64(Date().timeIntervalSince1970)
        let meta = InfrahubEventMeta(
            id: EventID(high: 7, low: 9),
            occurred: Timestamp(secondsSinceEpoch: Int64(now)),
            branchName: "main",
            branchID: "b"
        )
        var decoder = EventDecoder()
        let event = try InfrahubEvents.nodeMutated(
            NodeMutation(kind: "InfraDevice", nodeID: "n", action: .updated, displayLabel: "Zürich – 東京 🚀"),
            meta: meta
        ).build(with: &decoder)
        let json = try JSONValue.parse(
            #"{"webhooks": [{"name": "std", "url": "https://a.example", "signature_key_mode": "standard","#
                + #" "shared_keys": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]},"#
                + #" {"name": "ih", "url": "https://b.example", "shared_key": "supersecret ключ"}]}"#
        )
        let configuration = try WebhookConfiguration(json: json, environment: [:])
        let signers = WebhookRequestSigner(definitions: configuration.webhooks)
        let bodies: [(String, [UInt8])] = [
            ("ascii", Array(#"{"test": 2432232314}"#.utf8)),
            ("non-ascii", Array(#"{"name":"café ☕ 🚀 Ωmega","del":"\#u{7F}"}"#.utf8)),
            ("event standard body", event.webhookBody()),
            ("empty", []),
        ]
        var cases: [Case] = []
        for (name, body) in bodies {
            for webhookIndex in 0..<2 {
                let definition = configuration.webhooks[webhookIndex]
                let request = signers.request(
                    webhookIndex: webhookIndex,
                    body: body,
                    eventID: event.header.id,
                    timestampSeconds: now
                )
                let entries = try #require(request.header("webhook-signature")).split(separator: " ").map(String.init)
                for (keyIndex, key) in definition.keys.enumerated() {
                    let label = "\(name), webhook \(definition.name), key \(keyIndex)"
                    cases.append(
                        Case(
                            name: label,
                            secret: key.standardSecret,
                            request: request,
                            body: body,
                            verifies: true,
                            expectedEntry: entries[keyIndex]
                        )
                    )
                    cases.append(
                        Case(
                            name: label + ", tampered",
                            secret: key.standardSecret,
                            request: request,
                            body: body + Array(" ".utf8),
                            verifies: false,
                            expectedEntry: ""
                        )
                    )
                }
            }
        }
        let input: [JSONValue] = cases.map { testCase in
            var headers = JSONObject()
            for header in testCase.request.headers { headers[header.name] = .string(header.value) }
            return [
                "secret": .string(testCase.secret), "body": .string(Base64.encodedString(testCase.body)),
                "headers": .object(headers),
            ]
        }
        let directory = TemporaryDirectory()
        let casesPath = directory.path + "/cases.json"
        writeFile(casesPath, JSONValue.array(input).encoded())
        let outcome = try Self.run(venvPython, ["-c", Self.script, casesPath])
        try #require(outcome.status == 0, "python failed: \(outcome.error)")
        let results = try #require(JSONValue.parse(outcome.output).arrayValue)
        try #require(results.count == cases.count)
        for (testCase, result) in zip(cases, results) {
            #expect(result["verified"]?.boolValue == testCase.verifies, "\(testCase.name)")
            if testCase.verifies {
                #expect(
                    result["signature"]?.stringValue == testCase.expectedEntry,
                    "\(testCase.name): python's own signature"
                )
            }
        }
        #expect(cases.count == 24)
    }
}
