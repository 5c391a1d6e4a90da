import Foundation
import SluiceTestSupport
import Testing

/// Runs a program to completion and returns its exit status and standard error.
@discardableResult
func runProgram(
    _ path: String,
    _ arguments: [String],
    directory: String? = nil
) throws -> (status: Int32, errors: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let data = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The path of an installed program, or `nil`.
func installedProgram(_ candidates: [String]) -> String? {
    candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// A test CA and a server certificate for `localhost` and `127.0.0.1`, made with the `openssl` CLI in a
/// temporary directory.
final class TestCertificates {
    let directory = TemporaryDirectory()
    var caFile: String { directory.path + "/ca.pem" }
    var certificateFile: String { directory.path + "/server.pem" }
    var keyFile: String { directory.path + "/server.key" }

    init() throws {
        let openssl = try #require(installedProgram(["/usr/bin/openssl"]), "openssl CLI not installed")
        let path = directory.path
        let steps: [[String]] = [
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "\(path)/ca.key", "-out", "\(path)/ca.pem", "-days", "2", "-subj", "/CN=Sluice Test CA",
            ],
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "\(path)/server.key", "-out", "\(path)/server.csr", "-subj", "/CN=localhost",
            ],
            [
                "x509", "-req", "-in", "\(path)/server.csr", "-CA", "\(path)/ca.pem", "-CAkey", "\(path)/ca.key",
                "-CAcreateserial", "-out", "\(path)/server.pem", "-days", "2", "-extfile", "\(path)/san.ext",
            ],
        ]
        writeFile("\(path)/san.ext", Array("subjectAltName=DNS:localhost,IP:127.0.0.1\n".utf8))
        for step in steps {
            let result = try runProgram(openssl, step, directory: path)
            try #require(result.status == 0, "openssl \(step.joined(separator: " ")): \(result.errors)")
        }
    }
}
