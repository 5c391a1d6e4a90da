// The `sluice serve` process serve-bench measures, and CPU time of processes from /proc.
import CLinuxEvents
import Foundation

/// A `sluice serve --config C --listen 127.0.0.1:0` child process; its port is read from its
/// `listening on 127.0.0.1:PORT` line. Stopped with SIGTERM by ``stop()`` (a clean drain, exit 0).
final class ServeProcess {
    let process = Process()
    let port: UInt16
    let command: String
    private let errorPath: String

    init(executable: String, configurationPath: String, errorPath: String) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw LoadError(
                description:
                    "no sluice executable at \(executable): build it (`swift build -c release --product sluice` in Benchmarks, as scripts/bench does) or pass --sluice PATH"
            )
        }
        let arguments = ["serve", "--config", configurationPath, "--listen", "127.0.0.1:0"]
        command = ([executable] + arguments).joined(separator: " ")
        self.errorPath = errorPath
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: errorPath)
        try process.run()
        var text = ""
        var found: UInt16?
        while found == nil {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty {
                let errors = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
                throw LoadError(description: "sluice serve ended before it listened:\n\(text)\(errors)")
            }
            text += String(decoding: data, as: UTF8.self)
            for line in text.split(separator: "\n") where line.hasPrefix("listening on ") {
                found = line.split(separator: ":").last.flatMap { UInt16($0) }
            }
        }
        port = found!
    }

    /// User + system CPU time of the whole process so far (every thread), nanoseconds.
    func cpuNanoseconds() -> UInt64 { processCPUNanoseconds(pid: process.processIdentifier) }

    /// SIGTERM, then waits for the drain; throws unless it exits 0.
    func stop() throws {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let errors = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
            throw LoadError(description: "sluice serve exited with status \(process.terminationStatus):\n\(errors)")
        }
    }
}

/// User + system CPU time of process `pid` (all its threads, exited ones included), from `/proc/PID/stat`
/// (clock ticks, usually 10 ms); 0 when it cannot be read.
func processCPUNanoseconds(pid: Int32) -> UInt64 {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return 0 }
    // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return 0 }
    let ticksPerSecond = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
    return (user + system) * 1_000_000_000 / ticksPerSecond
}

/// User + system CPU of reaped children so far, nanoseconds (a wrk run is the only child reaped while it runs).
func childrenCPUNanoseconds() -> UInt64 {
    var usage = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    let microseconds =
        (Int64(usage.ru_utime.tv_sec) + Int64(usage.ru_stime.tv_sec)) * 1_000_000 + Int64(usage.ru_utime.tv_usec)
        + Int64(usage.ru_stime.tv_usec)
    return UInt64(microseconds) * 1_000
}
