import Foundation
import Sluice
import SluiceServer
import SluiceTestSupport
import Testing

/// The `server:` section: every key read, unknown keys and out-of-range numbers are errors with the file,
/// line and key, and the rest of the file still loads with it.
@Suite struct ServerConfigurationTests {
    func parse(_ yaml: String) throws(ConfigurationError) -> ServerConfiguration {
        try ServerConfiguration(document: ConfigurationDocument.parse(Array(yaml.utf8), format: .yaml, file: "c.yaml"))
    }

    @Test func defaultsWithoutASection() throws {
        let configuration = try parse("default_branch: main\n")
        #expect(configuration == ServerConfiguration())
        #expect(configuration.listen == ListenAddress(host: "127.0.0.1", port: 8686))
    }

    @Test func readsEveryKey() throws {
        let configuration = try parse(
            """
            server:
              listen: "[::1]:9000"
              body_bytes_max: 2048
              connections_max: 7
              idle_timeout_ms: 1500
              request_timeout_ms: 2500
              drain_timeout_ms: 0
            """
        )
        #expect(configuration.listen == ListenAddress(host: "::1", port: 9000))
        #expect(configuration.bodyByteCountMax == 2048)
        #expect(configuration.connectionCountMax == 7)
        #expect(configuration.idleTimeoutMilliseconds == 1500)
        #expect(configuration.requestTimeoutMilliseconds == 2500)
        #expect(configuration.drainTimeoutMilliseconds == 0)
    }

    @Test func unknownKeyNamesFileLineAndKey() {
        #expect {
            try parse("default_branch: main\nserver:\n  listen: 127.0.0.1:1\n  lisen: 127.0.0.1:2\n")
        } throws: { error in
            let error = error as? ConfigurationError
            return error?.file == "c.yaml" && error?.line == 4 && error?.column == 3 && error?.field == "server.lisen"
                && error?.message == "unknown key 'lisen'; did you mean 'listen'?"
        }
    }

    @Test(arguments: [
        ("body_bytes_max: 0", "server.body_bytes_max", "must be an integer from 1024 to 1073741824, not 0"),
        (
            "connections_max: 99999999999999999999999", "server.connections_max",
            "must be an integer from 1 to 100000, not 99999999999999999999999"
        ),
        ("idle_timeout_ms: 1.5", "server.idle_timeout_ms", "must be an integer from 100 to 86400000, not 1.5"),
        ("drain_timeout_ms: -1", "server.drain_timeout_ms", "must be an integer from 0 to 3600000, not -1"),
        ("request_timeout_ms: '100'", "server.request_timeout_ms", "must be an integer from 100 to 3600000, not '100'"),
    ])
    func numbersOutOfRangeNameTheirRange(line: String, field: String, message: String) {
        #expect {
            try parse("server:\n  \(line)\n")
        } throws: { error in
            let error = error as? ConfigurationError
            return error?.line == 2 && error?.field == field && error?.message == message
        }
    }

    @Test(arguments: ["127.0.0.1", "127.0.0.1:65536", "example.com:80", "[::1:80", "1.2.3:4", ":80", "127.0.0.1:-1"])
    func badListenAddresses(text: String) {
        #expect(ListenAddress(parsing: text) == nil)
        #expect(throws: ConfigurationError.self) { try parse("server:\n  listen: '\(text)'\n") }
    }

    @Test func listenAddressesAndLoopback() {
        #expect(ListenAddress(parsing: "127.0.0.1:0")?.isLoopback == true)
        #expect(ListenAddress(parsing: "[::1]:8686")?.isLoopback == true)
        #expect(ListenAddress(parsing: "localhost:80")?.isLoopback == true)
        #expect(ListenAddress(parsing: "0.0.0.0:8686")?.isLoopback == false)
        #expect(ListenAddress(parsing: "[::]:8686")?.description == "[::]:8686")
    }

    @Test func logSettings() throws {
        let configuration = try parse("server:\n  log_format: json\n  log_level: debug\n")
        #expect(configuration.logFormat == .json)
        #expect(configuration.logLevel == "debug")
        #expect {
            try parse("server:\n  log_format: xml\n")
        } throws: { error in
            (error as? ConfigurationError)?.message == "must be text or json, not 'xml'"
        }
        #expect {
            try parse("server:\n  log_level: loud\n")
        } throws: { error in
            (error as? ConfigurationError)?.field == "server.log_level"
        }
    }

    @Test func theSectionIsNotAnUnknownKeyOfTheRestOfTheFile() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/c.yaml"
        writeFile(path, Array("server:\n  listen: 127.0.0.1:1\nlog:\n  directory: \(directory.path)\n".utf8))
        _ = try PipelineConfiguration.load(path: path, environment: [:])
        #expect(try ServerConfiguration.load(path: path, environment: [:]).listen.port == 1)
    }
}

/// `server.github`: sources, their secrets (environment or value), and the per-source choices.
@Suite struct GitHubSourceConfigurationTests {
    func parse(_ yaml: String) throws(ConfigurationError) -> ServerConfiguration {
        try ServerConfiguration(
            document: ConfigurationDocument.parse(Array(yaml.utf8), format: .yaml, file: "c.yaml"),
            environment: ["S1": "first-secret"]
        )
    }

    @Test func readsSources() throws {
        let configuration = try parse(
            """
            server:
              github:
                - {source: repo-a, secrets: [{environment: S1}, {value: second}], allow_sha1: true, other_events: ignore}
                - {source: org.b, secrets: [{value: third}]}
            """
        )
        #expect(configuration.gitHubSources.map(\.name) == ["repo-a", "org.b"])
        #expect(configuration.gitHubSources[0].secrets == ["first-secret", "second"])
        #expect(configuration.gitHubSources[0].allowsSHA1)
        #expect(configuration.gitHubSources[0].otherEvents == .ignore)
        #expect(configuration.gitHubSources[1].otherEvents == .accept)
    }

    @Test(arguments: [
        ("- {source: a, secrets: [{environment: NOPE}]}", "server.github[0].secrets[0].environment", "NOPE is not set"),
        ("- {source: a/b, secrets: [{value: x}]}", "server.github[0].source", "A-Z a-z 0-9"),
        ("- {source: a, secrets: []}", "server.github[0].secrets", "non-empty list"),
        (
            "- {source: a, secrets: [{value: x}], other_events: drop}", "server.github[0].other_events",
            "accept or ignore"
        ),
        ("- {source: a, secrets: [{value: x}], secret: y}", "server.github[0].secret", "did you mean 'secrets'?"),
        ("- {source: a, secrets: [{value: ''}]}", "server.github[0].secrets[0]", "from 1 to 4096 bytes, not 0"),
    ])
    func badEntriesNameTheirField(entry: String, field: String, message: String) {
        #expect {
            try parse("server:\n  github:\n    \(entry)\n")
        } throws: { error in
            let error = error as? ConfigurationError
            return error?.line == 3 && error?.field == field && error?.message.contains(message) == true
        }
    }

    /// `sluice run --config` does not use the `server` section but refuses a mistake in it, as `sluice serve`
    /// would (file, line, key), without needing the environment variables its tokens name.
    @Test(.enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"))
    func sluiceRunRefusesAnUnknownServerKey() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/sluice.yaml"
        func run(_ yaml: String) throws -> (status: Int32, errors: String) {
            writeFile(path, Array(yaml.utf8))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: SluiceExecutable.path)
            process.arguments = ["run", "--config", path, "--input", "/dev/null", "--exit-when-done"]
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            return (process.reapedStatus(), text)
        }
        let log = "log:\n  directory: \(directory.path)/log\n"
        let unknown = try run(log + "server:\n  listen: 127.0.0.1:0\n  body_byte_max: 10\n")
        #expect(unknown.status != 0)
        #expect(unknown.errors.contains("sluice.yaml:5:3"), "\(unknown.errors)")
        #expect(unknown.errors.contains("body_byte_max"), "\(unknown.errors)")
        let range = try run(log + "server:\n  connections_max: 0\n")
        #expect(range.status != 0)
        #expect(range.errors.contains("server.connections_max"), "\(range.errors)")
        let tokens = """
            server:
              tokens:
                - {name: producer, environment: SLUICE_TEST_UNSET_TOKEN_VARIABLE, scopes: [events:write]}

            """
        let valid = try run(log + tokens)
        #expect(valid.status == 0, "a valid section runs; its variables are not read: \(valid.errors)")
    }
}
