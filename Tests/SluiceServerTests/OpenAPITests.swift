import Foundation
import Sluice
import SluiceServer
import SluiceTestSupport
import Testing

/// `GET /openapi.json` is a valid OpenAPI 3.1 document (openapi-spec-validator from PyPI, installed into
/// `.build/python-venv-server`) and describes every route the router registers.
@Suite(
    .serialized,
    .enabled(if: SluiceExecutable.isBuilt, "\(SluiceExecutable.notBuiltReason)"),
    .enabled(if: Curl.isInstalled, "curl is not installed at /usr/bin/curl"),
    .enabled(if: PythonVenv.python != nil, "python3 is not installed")
)
struct OpenAPITests {
    @Test(.timeLimit(.minutes(3)))
    func theDocumentIsValidAndCoversEveryRoute() throws {
        let server = try ServeProcess(configuration: "default_branch: main\n")
        let reply = try server.request("GET", "/openapi.json")
        #expect(server.stop() == 0)
        #expect(reply.status == 200)
        let path = server.directory.path + "/openapi.json"
        writeFile(path, reply.body)
        let python = try PythonVenv.withPackage("openapi_spec_validator", requirement: "openapi-spec-validator==0.9.0")
        let validate = Process()
        validate.executableURL = URL(fileURLWithPath: python)
        validate.arguments = [
            "-c", "import sys; from openapi_spec_validator import validate_url; validate_url('file://' + sys.argv[1])",
            path,
        ]
        let errors = Pipe()
        validate.standardError = errors
        try validate.run()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(validate.reapedStatus() == 0, "openapi-spec-validator: \(errorText)")

        let document = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let directory = TemporaryDirectory()
        let pipeline = try Pipeline(
            configuration: PipelineConfiguration(log: LogConfiguration(directory: directory.path))
        )
        let routes = SluiceServer(pipeline: pipeline, configuration: ServerConfiguration()).routeDescriptions
        #expect(routes.count >= 6)
        for route in routes {
            let parts = route.split(separator: " ", maxSplits: 1)
            let method = parts[0].lowercased()
            let routePath = String(parts[1])
            #expect(paths[routePath]?[method] != nil, "\(route) is not in /openapi.json")
        }
    }
}
