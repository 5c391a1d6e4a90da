// Real peers on 127.0.0.1 for the benchmarks: nginx from Debian answering `return 204` (and what a
// benchmark adds, e.g. a path answering 500).
import Foundation

/// An nginx (one worker, `return 204` on every path, keep-alive without a request limit) on a free
/// 127.0.0.1 port, in its own temporary directory; stopped by ``stop()``.
public final class Nginx {
    public let port: UInt16
    public let directory: String
    private let process: Process

    /// `locations`: extra `location` blocks before the catch-all `return 204` (e.g.
    /// `location /dead { return 500; }`).
    public init(locations: String = "") throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "sluice-nginx-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = freeLoopbackPort()
        let configuration = """
            worker_processes 1;
            error_log \(directory)/error.log warn;
            pid \(directory)/nginx.pid;
            events { worker_connections 4096; }
            http {
                access_log off;
                client_body_temp_path \(directory)/client_body;
                proxy_temp_path \(directory)/proxy;
                fastcgi_temp_path \(directory)/fastcgi;
                uwsgi_temp_path \(directory)/uwsgi;
                scgi_temp_path \(directory)/scgi;
                keepalive_requests 100000000;
                server {
                    listen 127.0.0.1:\(port);
                    \(locations)
                    location / { return 204; }
                }
            }
            """
        try configuration.write(toFile: "\(directory)/nginx.conf", atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: try program(["/usr/sbin/nginx"]))
        process.arguments = ["-p", directory, "-c", "\(directory)/nginx.conf", "-g", "daemon off;"]
        try process.run()
        usleep(300_000)
    }

    /// CPU time (user + system, nanoseconds) nginx's master and worker processes have used so far, from
    /// `/proc/<pid>/schedstat`; 0 when it cannot be read.
    public func cpuNanoseconds() -> UInt64 {
        let master = process.processIdentifier
        let children =
            (try? String(contentsOfFile: "/proc/\(master)/task/\(master)/children", encoding: .utf8))?
            .split(separator: " ").compactMap { Int32($0) } ?? []
        return ([master] + children).reduce(0) { total, pid in
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/schedstat", encoding: .utf8)) ?? ""
            return total + (stat.split(separator: " ").first.flatMap { UInt64($0) } ?? 0)
        }
    }

    public func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// The first of `candidates` that is an executable file.
public func program(_ candidates: [String]) throws -> String {
    guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw PeerError(message: "missing \(candidates[0]); run scripts/ensure-system-packages")
    }
    return path
}

public struct PeerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A port on 127.0.0.1 that was free a moment ago.
public func freeLoopbackPort() -> UInt16 {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(descriptor, raw, length) == 0 && getsockname(descriptor, raw, &length) == 0
        }
    }
    return UInt16(bigEndian: address.sin_port)
}
