import Foundation
import Glibc
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
    return (process.reapedStatus(), String(decoding: data, as: UTF8.self))
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

/// A free loopback TCP port (bound, read, released; the test binds it again right away).
func freeLoopbackPort() throws -> UInt16 {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(descriptor, raw, length) == 0 && getsockname(descriptor, raw, &length) == 0
        }
    }
    try #require(bound, "cannot bind a loopback port: errno \(errno)")
    return UInt16(bigEndian: address.sin_port)
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func acceptsConnections(port: UInt16) -> Bool {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = port.bigEndian
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            connect(descriptor, raw, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// nginx from Debian, started by a test on a free 127.0.0.1 port with a configuration written into a
/// temporary directory, stopped (SIGTERM, then waited for) when the value goes away.
final class NginxPeer {
    static let path = installedProgram(["/usr/sbin/nginx", "/usr/bin/nginx"])
    static let missingMessage =
        "nginx is not installed (scripts/ensure-system-packages installs it); nginx tests skipped"

    let directory = TemporaryDirectory()
    let port: UInt16
    private let process = Process()

    /// - Parameter serverBlock: directives inside `server { }` after `listen` (locations).
    init(serverBlock: String, httpDirectives: String = "", files: [String: [UInt8]] = [:]) throws {
        let nginx = try #require(Self.path, "\(Self.missingMessage)")
        port = try freeLoopbackPort()
        let path = directory.path
        chmod(path, 0o755)  // workers may run as an unprivileged user and serve files from here
        for (name, bytes) in files {
            writeFile("\(path)/\(name)", bytes)
            chmod("\(path)/\(name)", 0o644)
        }
        let configuration = """
            worker_processes 1;
            error_log \(path)/error.log warn;
            pid \(path)/nginx.pid;
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path \(path)/client_body;
                proxy_temp_path \(path)/proxy;
                fastcgi_temp_path \(path)/fastcgi;
                uwsgi_temp_path \(path)/uwsgi;
                scgi_temp_path \(path)/scgi;
                default_type application/octet-stream;
                \(httpDirectives)
                server {
                    listen 127.0.0.1:\(port);
                    root \(path);
                    \(serverBlock)
                }
            }
            """
        writeFile("\(path)/nginx.conf", Array(configuration.utf8))
        process.executableURL = URL(fileURLWithPath: nginx)
        process.arguments = ["-p", path, "-c", "\(path)/nginx.conf", "-g", "daemon off;"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(5)
        while !acceptsConnections(port: port) {
            guard process.isRunning, Date() < deadline else {
                let log = FileManager.default.contents(atPath: "\(path)/error.log")
                throw NginxStartError(log: log.map { String(decoding: $0, as: UTF8.self) } ?? "no error.log")
            }
            usleep(10_000)
        }
    }

    deinit {
        if process.isRunning {
            process.terminate()
            _ = process.reapedStatus()
        }
    }
}

struct NginxStartError: Error, CustomStringConvertible {
    var log: String
    var description: String { "nginx did not start: \(log)" }
}
