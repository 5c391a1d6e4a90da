import Foundation
import Sluice
import SluiceTestSupport
import Testing

/// Configuration that cannot lie: every key of every section is known or an error naming the nearest
/// valid key, every value out of range is refused with its range (never trapped), every error names the
/// key the user wrote with its file, line and column, and hostile YAML (deep nesting, alias bombs) is
/// refused before it can hurt.
@Suite struct ConfigurationValidationTests {
    /// A valid webhook the cases below add to (lines 1–3; a case starts on line 4), so each case has exactly
    /// one problem.
    static let base = """
        # one valid webhook
        webhooks:
          - {name: w, url: "http://127.0.0.1:9/x", shared_key: k}

        """

    func load(_ text: String, name: String = "sluice.yaml") throws -> PipelineConfiguration {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let path = temporary.path + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try PipelineConfiguration.load(path: path, environment: [:])
    }

    func loadError(_ text: String, name: String = "sluice.yaml") -> ConfigurationError? {
        do {
            _ = try load(text, name: name)
            Issue.record("accepted: \(text)")
        } catch let error as ConfigurationError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
        }
        return nil
    }

    /// One bad value (or misspelled key) per key of every section: the field as written, the line, and
    /// what the message must say (the range for numbers, the nearest key for typos).
    @Test(arguments: [
        // Top level.
        ("defualt_branch: main\n", 4, "defualt_branch", "did you mean 'default_branch'?"),
        ("default_branch: \"\"\n", 4, "default_branch", "non-empty"),
        ("triggers: 3\n", 4, "triggers", "must be a list"),
        ("piepline: {}\n", 4, "piepline", "did you mean 'pipeline'?"),
        // A webhook entry.
        (
            "  - {name: v, url: \"http://h/\", brnach_scope: all_branches}\n", 4, "webhooks[1].brnach_scope",
            "did you mean 'branch_scope'?"
        ),
        ("  - {name: \"\", url: \"http://h/\"}\n", 4, "webhooks[1].name", "required"),
        ("  - {name: v, url: \"ftp://h/\"}\n", 4, "webhooks[1].url", "http:// or https://"),
        ("  - {name: v, url: \"http://h/\", description: 3}\n", 4, "webhooks[1].description", "must be a string"),
        ("  - {name: v, url: \"http://h/\", event_type: infrahub.nope}\n", 4, "webhooks[1].event_type", "Infrahub"),
        ("  - {name: v, url: \"http://h/\", branch_scope: some}\n", 4, "webhooks[1].branch_scope", "all_branches"),
        ("  - {name: v, url: \"http://h/\", node_kind: [a]}\n", 4, "webhooks[1].node_kind", "string or null"),
        ("  - {name: v, url: \"http://h/\", active: 3}\n", 4, "webhooks[1].active", "true or false"),
        ("  - {name: v, url: \"http://h/\", kind: fancy}\n", 4, "webhooks[1].kind", "standard, custom or transform"),
        (
            "  - {name: v, url: \"http://h/\", kind: custom, validate_certificates: 3}\n", 4,
            "webhooks[1].validate_certificates", "true or false"
        ),
        ("  - {name: v, url: \"http://h/\", shared_key: 3}\n", 4, "webhooks[1].shared_key", "must be a string"),
        ("  - {name: v, url: \"http://h/\", shared_keys: [3]}\n", 4, "webhooks[1].shared_keys[0]", "must be a string"),
        ("  - {name: v, url: \"http://h/\", signature_key_mode: x}\n", 4, "webhooks[1].signature_key_mode", "infrahub"),
        (
            "  - {name: v, url: \"http://h/\", kind: custom, headers: [{key: X, valu: y}]}\n", 4,
            "webhooks[1].headers[0].valu", "did you mean 'value'?"
        ),
        (
            "  - {name: v, url: \"http://h/\", kind: custom, headers: [{key: \"a b\", value: y}]}\n", 4,
            "webhooks[1].headers[0].key", "HTTP header name"
        ),
        (
            "  - {name: v, url: \"http://h/\", kind: transform, transform: {command: [c], timeout_second: 3}}\n", 4,
            "webhooks[1].transform.timeout_second", "did you mean 'timeout_seconds'?"
        ),
        (
            "  - {name: v, url: \"http://h/\", kind: transform, transform: {command: [c], timeout_seconds: 1e300}}\n",
            4, "webhooks[1].transform.timeout_seconds", "(0, 3600]"
        ),
        // A trigger entry.
        ("triggers:\n  - {nmae: t}\n", 5, "triggers[0].nmae", "did you mean 'name'?"),
        ("triggers:\n  - {name: t, enabled: 3}\n", 5, "triggers[0].enabled", "true or false"),
        ("triggers:\n  - {name: t, trigger: {expct: [a]}}\n", 5, "triggers[0].trigger.expct", "did you mean 'expect'?"),
        ("triggers:\n  - {name: t, trigger: {type: compound}}\n", 5, "triggers[0].trigger.type", "\"event\""),
        ("triggers:\n  - {name: t, trigger: {expect: 3}}\n", 5, "triggers[0].trigger.expect", "list of strings"),
        ("triggers:\n  - {name: t, trigger: {after: [3]}}\n", 5, "triggers[0].trigger.after[0]", "must be a string"),
        ("triggers:\n  - {name: t, trigger: {posture: Sometimes}}\n", 5, "triggers[0].trigger.posture", "Reactive"),
        (
            "triggers:\n  - {name: t, trigger: {threshold: 0}}\n", 5, "triggers[0].trigger.threshold",
            "from 1 to 2147483647"
        ),
        ("triggers:\n  - {name: t, trigger: {threshold: 1e300}}\n", 5, "triggers[0].trigger.threshold", "from 1 to"),
        ("triggers:\n  - {name: t, trigger: {within: 1e300}}\n", 5, "triggers[0].trigger.within", "from 0 to 31536000"),
        ("triggers:\n  - {name: t, trigger: {for_each: 3}}\n", 5, "triggers[0].trigger.for_each", "list of strings"),
        (
            "triggers:\n  - {name: t, actions: [{webhok: w}]}\n", 5, "triggers[0].actions[0].webhok",
            "did you mean 'webhook'?"
        ),
        (
            "triggers:\n  - {name: t, actions: [{webhook: w, parameters: 3}]}\n", 5,
            "triggers[0].actions[0].parameters", "mapping"
        ),
        // The log section.
        ("log: {fsinc: always}\n", 4, "log.fsinc", "did you mean 'fsync'?"),
        ("log: {directory: \"\"}\n", 4, "log.directory", "non-empty"),
        ("log: {fsync: sometimes}\n", 4, "log.fsync", "interval:MILLISECONDS (1 to 3600000)"),
        ("log: {fsync: \"interval:18446744073709551\"}\n", 4, "log.fsync", "interval:MILLISECONDS (1 to 3600000)"),
        ("log: {compression: zip}\n", 4, "log.compression", "lz4 or none"),
        ("log: {segment_bytes: 10}\n", 4, "log.segment_bytes", "from 16384 to 1099511627776"),
        ("log: {segment_bytes: 1e300}\n", 4, "log.segment_bytes", "from 16384 to"),
        ("log: {segment_bytes: 16384}\n", 4, "log.segment_bytes", "at least 4 × log.frame_bytes (8388608 bytes)"),
        ("log: {frame_bytes: 100}\n", 4, "log.frame_bytes", "from 4096 to 1073741824"),
        ("log: {segment_age_s: 18446744073709551}\n", 4, "log.segment_age_s", "from 1 to 31536000"),
        // The pipeline section.
        ("pipeline: {retry_shedule_s: [0]}\n", 4, "pipeline.retry_shedule_s", "did you mean 'retry_schedule_s'?"),
        ("pipeline: {ring_capacity: 1000}\n", 4, "pipeline.ring_capacity", "power of two from 2 to 16777216"),
        ("pipeline: {ring_capacity: 1e300}\n", 4, "pipeline.ring_capacity", "from 2 to 16777216"),
        ("pipeline: {job_queue_capacity: 0}\n", 4, "pipeline.job_queue_capacity", "from 2 to 16777216"),
        ("pipeline: {outcome_queue_capacity: 3}\n", 4, "pipeline.outcome_queue_capacity", "power of two"),
        ("pipeline: {wait: fast}\n", 4, "pipeline.wait", "spin, yield or park"),
        ("pipeline: {delivery_shards: 65}\n", 4, "pipeline.delivery_shards", "from 1 to 64"),
        ("pipeline: {connections: 0}\n", 4, "pipeline.connections", "from 1 to 4096"),
        ("pipeline: {in_flight_max: 1000001}\n", 4, "pipeline.in_flight_max", "from 1 to 1000000"),
        ("pipeline: {pending_deliveries_max: 10}\n", 4, "pipeline.pending_deliveries_max", "at least in_flight_max"),
        ("pipeline: {transform_concurrency: 257}\n", 4, "pipeline.transform_concurrency", "from 1 to 256"),
        ("pipeline: {request_timeout_ms: 18446744073709551}\n", 4, "pipeline.request_timeout_ms", "from 1 to 3600000"),
        ("pipeline: {retry_schedule_s: [0, 2e10]}\n", 4, "pipeline.retry_schedule_s[1]", "from 0 to 2592000"),
        ("pipeline: {retry_schedule_s: []}\n", 4, "pipeline.retry_schedule_s", "1 to 64 delays"),
        ("pipeline: {retry_jitter_percent: 101}\n", 4, "pipeline.retry_jitter_percent", "from 0 to 100"),
        ("pipeline: {io: quantum}\n", 4, "pipeline.io", "uring or epoll"),
        ("pipeline: {ca_file: \"\"}\n", 4, "pipeline.ca_file", "path"),
        (
            "pipeline: {circuit_breaker: {window: 5}}\n", 4, "pipeline.circuit_breaker.window",
            "did you mean 'window_s'?"
        ),
        ("pipeline: {circuit_breaker: {window_s: 0}}\n", 4, "pipeline.circuit_breaker.window_s", "from 1 to 86400"),
        (
            "pipeline: {circuit_breaker: {request_count_min: 0}}\n", 4, "pipeline.circuit_breaker.request_count_min",
            "from 1 to 1000000"
        ),
        (
            "pipeline: {circuit_breaker: {failure_rate_percent: 0}}\n", 4,
            "pipeline.circuit_breaker.failure_rate_percent", "from 1 to 100"
        ),
        ("pipeline: {circuit_breaker: {open_s: 1e300}}\n", 4, "pipeline.circuit_breaker.open_s", "from 0 to 86400"),
        (
            "pipeline: {circuit_breaker: {half_open_probes: 0}}\n", 4, "pipeline.circuit_breaker.half_open_probes",
            "from 1 to 1000"
        ),
    ])
    func badConfigurationNamesFileLineKeyAndRange(text: String, line: Int, field: String, message: String) {
        guard let error = loadError(Self.base + text) else { return }
        #expect(error.field == field, "\(error)")
        #expect(error.line == line, "\(error)")
        #expect(error.message.contains(message), "\(error)")
        #expect(error.file.hasSuffix("sluice.yaml"))
        #expect(error.description.contains("sluice.yaml:\(line):"), "\(error)")
    }

    /// Every integer setting has a range, and one past the range is refused naming the key and the range.
    @Test func everyIntegerSettingIsRangeChecked() {
        let ranges = PipelineConfiguration.integerRanges
        let keys =
            PipelineConfiguration.logKeys.map { "log." + $0 }
            + PipelineConfiguration.pipelineKeys.map { "pipeline." + $0 }
            + PipelineConfiguration.circuitBreakerKeys.map { "pipeline.circuit_breaker." + $0 }
        #expect(Set(ranges.keys).isSubset(of: Set(keys)))
        for (field, range) in ranges {
            let parts = field.split(separator: ".")
            var text = ""
            for (depth, part) in parts.enumerated() {
                text += String(repeating: "  ", count: depth) + part + ":"
                text += depth == parts.count - 1 ? " \(Int64(range.upperBound) + 1)\n" : "\n"
            }
            guard let error = loadError(Self.base + text) else { continue }
            #expect(error.field == field, "\(error)")
            #expect(error.line == 3 + parts.count, "\(error)")
            #expect(error.message.contains("from \(range.lowerBound) to \(range.upperBound)"), "\(error)")
        }
    }

    /// An unknown key is located at the key itself (line and column), in YAML flow and block style.
    @Test func unknownKeysPointAtTheKey() throws {
        let error = try #require(loadError(Self.base + "  - name: v\n    url: \"http://h/\"\n    brnach_scope: all\n"))
        #expect(error.line == 6 && error.column == 5, "\(error)")
        #expect(
            error.description.hasSuffix(
                "webhooks[1].brnach_scope: unknown key 'brnach_scope'; did you mean 'branch_scope'?"
            )
        )
        let flow = try #require(loadError(Self.base + "pipeline: {wait: park, colour: blue}\n"))
        #expect(flow.line == 4 && flow.column == 24, "\(flow)")
    }

    /// The delivery policies' own checks name the file's keys too (not `retry.delays` or
    /// `circuit_breaker.half_open_probe_count_max`).
    @Test func policyErrorsNameTheFileKeys() {
        var configuration = PipelineConfiguration(log: LogConfiguration(directory: "/tmp/x"))
        configuration.retryPolicy.jitterPercent = 101
        #expect(throws: PipelineConfigurationError.self) { try configuration.validate() }
        do {
            try configuration.validate()
        } catch {
            #expect(error.field == "pipeline.retry_jitter_percent", "\(error)")
        }
        configuration.retryPolicy.jitterPercent = 10
        for (change, field) in [
            ({ (c: inout PipelineConfiguration) in c.circuitBreaker.halfOpenProbeCountMax = 0 }, "half_open_probes"),
            ({ (c: inout PipelineConfiguration) in c.circuitBreaker.windowNanoseconds = 0 }, "window_s"),
        ] {
            var changed = configuration
            change(&changed)
            do {
                try changed.validate()
                Issue.record("accepted \(field)")
            } catch {
                #expect(error.field == "pipeline.circuit_breaker." + field, "\(error)")
            }
        }
    }

    /// A configuration nested 10,000 levels deep (which crashed Yams' recursive composer with SIGSEGV) and
    /// a 9×9 alias bomb are refused with their position before they are composed; JSON is bounded too.
    @Test func hostileYAMLIsRefusedBeforeItCanHurt() throws {
        let deep = "pipeline: " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "\n"
        let deepError = try #require(loadError(deep))
        #expect(deepError.line == 1, "\(deepError)")
        #expect(deepError.message.contains("deeper than 128 levels"), "\(deepError)")

        var block = "triggers:\n"  // block style: 1,000 levels of indentation
        for depth in 0..<1_000 { block += String(repeating: " ", count: depth) + "- \n" }
        let blockError = try #require(loadError(block))
        #expect(blockError.message.contains("deeper than 128 levels"), "\(blockError)")

        var bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
        var previous = "a"
        for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            bomb += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
            previous = name
        }
        let bombError = try #require(loadError(bomb))
        #expect(bombError.message.contains("aliases expand to more than 100000 nodes"), "\(bombError)")
        #expect(bombError.line != nil)

        // Deep but within the bound, through an alias: still refused when the expansion nests too deep.
        let nested = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        let aliasDeep =
            "x: &x \(nested)\ntriggers:\n  - {name: t, actions: [{workflow: w, parameters: {p: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*x]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}]}\n"
        let aliasError = try #require(loadError(aliasDeep))
        #expect(aliasError.message.contains("nests deeper than 128 levels when expanded"), "\(aliasError)")

        let jsonDeep =
            "{\"pipeline\": " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}"
        let jsonError = try #require(loadError(jsonDeep, name: "sluice.json"))
        #expect(jsonError.line == 1, "\(jsonError)")
    }

    /// Alias bombs the config fuzzer found are refused at the alias that passes the bound:
    /// - one behind an invalid UTF-8 byte: the bound checked the raw bytes and stopped at the bad byte,
    ///   while Yams read the repaired text and expanded 38 M nodes for minutes;
    /// - aliases of aliases expanding to 672,000 nodes, under the old bound of 1,000,000 (invalid bytes
    ///   turned two anchors into scalars): the loader took 12 s in a debug build and timed out the fuzzer.
    @Test(
        .timeLimit(.minutes(1)),
        arguments: [
            ("yaml-alias-bomb-behind-invalid-utf8", 6, "*e"),
            ("yaml-aliases-expanding-to-672k-nodes", 8, "*g"),
        ]
    )
    func aliasBombsFoundByFuzzingAreRefused(input name: String, line: Int, alias: String) throws {
        let input = try readRepositoryFile("Fuzz/regressions/config/" + name)
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let path = temporary.path + "/sluice.yaml"
        try Data(input.dropFirst()).write(to: URL(fileURLWithPath: path))  // byte 0 picks YAML in the fuzzer
        let error = try #require(throws: ConfigurationError.self) {
            try PipelineConfiguration.load(path: path, environment: [:])
        }
        #expect(error.message.contains("aliases expand to more than 100000 nodes (at alias \(alias))"), "\(error)")
        #expect(error.line == line, "\(error)")
    }

    /// Legitimate nesting and aliases are not refused.
    @Test func ordinaryAliasesAndNestingAreAccepted() throws {
        let nested = String(repeating: "{a: ", count: 100) + "1" + String(repeating: "}", count: 100)
        let text =
            Self.base + """
                workflows: [{name: w, command: ["true"]}]
                triggers:
                  - name: t
                    trigger: {expect: [infrahub.node.created]}
                    actions: [{workflow: w, parameters: &p \(nested)}]
                  - name: u
                    trigger: {expect: [infrahub.node.created]}
                    actions: [{workflow: w, parameters: *p}]
                """
        let configuration = try load(text)
        #expect(configuration.triggers.triggers.count == 2)
        #expect(configuration.triggers.triggers[0].actions == configuration.triggers.triggers[1].actions)
    }

    /// A secret in a URL (user information, a Slack-style path, a query token) never appears in an error.
    @Test func urlSecretsAreRedactedInErrors() throws {
        let error = try #require(
            loadError(
                "webhooks:\n  - {name: w, shared_key: k, url: \"https://user:hunter2@hooks.example.com/services/T0/SECRET?token=abc\"}\n"
            )
        )
        #expect(error.field == "webhooks[0].url")
        for secret in ["hunter2", "SECRET", "T0", "abc"] { #expect(!error.description.contains(secret), "\(error)") }
        #expect(error.description.contains("https://REDACTED@hooks.example.com/REDACTED?token=REDACTED"), "\(error)")
    }

    /// `sluice webhooks request --config` reads YAML like every other `--config`, and names the file in errors.
    @Test func webhookDefinitionsLoadFromYAMLAndJSON() throws {
        let temporary = TemporaryDirectory()
        defer { withExtendedLifetime(temporary) {} }
        let yaml = temporary.path + "/hooks.yaml"
        try (Self.base + "  - {name: v, url: \"http://h/\", kind: custom}\n").write(
            toFile: yaml,
            atomically: true,
            encoding: .utf8
        )
        let fromYAML = try WebhookFiles.loadConfiguration(path: yaml, environment: [:])
        #expect(fromYAML.webhooks.map(\.name) == ["w", "v"])
        let json = temporary.path + "/hooks.json"
        try #"{"webhooks": [{"name": "w", "url": "http://h/", "shared_key": "k"}]}"#.write(
            toFile: json,
            atomically: true,
            encoding: .utf8
        )
        #expect(try WebhookFiles.loadConfiguration(path: json, environment: [:]).webhooks.map(\.name) == ["w"])
        try (Self.base + "  - {name: v, url: \"http://h/\", kind: custom, brnach_scope: x}\n").write(
            toFile: yaml,
            atomically: true,
            encoding: .utf8
        )
        do {
            _ = try WebhookFiles.loadConfiguration(path: yaml, environment: [:])
            Issue.record("accepted a misspelled key")
        } catch let error as ConfigurationError {
            #expect(error.file == yaml)
            #expect(error.line == 4)
            #expect(error.field == "webhooks[1].brnach_scope")
        }
    }
}
