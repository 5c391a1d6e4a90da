#if canImport(Glibc)
internal import Glibc
#endif

/// Why a transform produced no body (spec §c.5: the delivery fails, with the transform's stderr).
public struct TransformFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// The command could not be started (`errno` of `posix_spawnp`, e.g. ENOENT).
        case spawnFailed(errno: Int32)
        /// It exited with a non-zero status.
        case exited(status: Int32)
        /// A signal ended it.
        case signaled(signal: Int32)
        /// It ran past the timeout and was killed.
        case timedOut
        /// Its standard output is not one JSON value.
        case invalidJSON(JSONError)
        /// Its standard output exceeded ``TransformRunner/outputByteCountMax``.
        case outputTooLarge
        /// A pipe or poll call failed.
        case io(SystemCallError)
    }

    public var reason: Reason
    /// The command, as configured.
    public var command: [String]
    /// What it wrote to standard error (the first ``TransformRunner/errorByteCountMax`` bytes).
    public var standardError: String

    public var description: String {
        let what: String
        switch reason {
        case .spawnFailed(let code):
            what = "cannot start: " + (unsafe strerror(code).map { unsafe String(cString: $0) } ?? "errno \(code)")
        case .exited(let status): what = "exited with status \(status)"
        case .signaled(let signal): what = "killed by signal \(signal)"
        case .timedOut: what = "timed out"
        case .invalidJSON(let error): what = "standard output is not JSON: \(error)"
        case .outputTooLarge: what = "standard output exceeds \(TransformRunner.outputByteCountMax) bytes"
        case .io(let error): what = "\(error)"
        }
        let stderr = standardError.isEmpty ? "" : "; stderr: " + standardError
        return "transform \(command.joined(separator: " ")): \(what)\(stderr)"
    }
}

/// Runs a transform webhook's command once per delivery (spec §c.5): the standard body as JSON on
/// standard input, the new body as JSON on standard output, within the timeout.
///
/// The child is started with `posix_spawnp` (so `command[0]` is looked up in `PATH`), inheriting the
/// environment and working directory (Sluice opens its own descriptors close-on-exec). Standard input,
/// output and error are Unix socket pairs (input written with `MSG_NOSIGNAL`, so a transform that exits
/// without reading cannot raise SIGPIPE here). One `poll` loop writes the input and drains both outputs, so no
/// pipe can fill and deadlock either side. At the deadline the child is killed (SIGKILL) and reaped.
///
/// The body is the output parsed as JSON and written compactly (`separators=(",", ":")`,
/// `ensure_ascii=False`, keys and number text as printed), the bytes httpx would send for the value a
/// Python transform returns.
public enum TransformRunner {
    public static let outputByteCountMax = 16 << 20
    public static let errorByteCountMax = 64 << 10

    public static func run(
        _ transform: WebhookDefinition.Transform,
        input: [UInt8]
    ) -> Result<[UInt8], TransformFailure> {
        var standardError: [UInt8] = []
        func failure(_ reason: TransformFailure.Reason) -> Result<[UInt8], TransformFailure> {
            .failure(
                TransformFailure(
                    reason: reason,
                    command: transform.command,
                    standardError: String(decoding: standardError, as: UTF8.self)
                )
            )
        }
        let output: [UInt8]
        do {
            switch try execute(transform, input: input, standardError: &standardError) {
            case .finished(let bytes): output = bytes
            case .failed(let reason): return failure(reason)
            }
        } catch {
            return failure(.io(error))
        }
        do {
            return .success(try JSONValue.parse(output).encoded())
        } catch {
            return failure(.invalidJSON(error))
        }
    }

    private enum Execution {
        case finished([UInt8])
        case failed(TransformFailure.Reason)
    }

    private static func execute(
        _ transform: WebhookDefinition.Transform,
        input: [UInt8],
        standardError: inout [UInt8]
    ) throws(SystemCallError) -> Execution {
        precondition(!transform.command.isEmpty)
        let name = transform.command[0]
        // [0] parent end, [1] child end.
        var inputPair: [Int32] = [-1, -1]
        var outputPair: [Int32] = [-1, -1]
        var errorPair: [Int32] = [-1, -1]
        defer { for descriptor in inputPair + outputPair + errorPair where descriptor >= 0 { _ = close(descriptor) } }
        // Socket pairs rather than pipes: SOCK_CLOEXEC sets close-on-exec atomically (pipe2 needs
        // _GNU_SOURCE, which the Glibc module does not import), and sends can use MSG_NOSIGNAL.
        for index in 0..<3 {
            var pair: [Int32] = [-1, -1]
            _ = try systemCall("socketpair", path: name) {
                unsafe socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair)
            }
            switch index {
            case 0: inputPair = pair
            case 1: outputPair = pair
            default: errorPair = pair
            }
        }

        var actions = unsafe posix_spawn_file_actions_t()
        unsafe posix_spawn_file_actions_init(&actions)
        defer { unsafe posix_spawn_file_actions_destroy(&actions) }
        unsafe posix_spawn_file_actions_adddup2(&actions, inputPair[1], 0)
        unsafe posix_spawn_file_actions_adddup2(&actions, outputPair[1], 1)
        unsafe posix_spawn_file_actions_adddup2(&actions, errorPair[1], 2)
        let arguments = unsafe transform.command.map { unsafe strdup($0) }
        defer { for index in 0..<transform.command.count { unsafe free(arguments[index]) } }
        var argv: [UnsafeMutablePointer<CChar>?] = unsafe arguments + [nil]
        var pid: pid_t = 0
        let spawned = unsafe posix_spawnp(&pid, name, &actions, nil, &argv, environ)
        guard spawned == 0 else { return .failed(.spawnFailed(errno: spawned)) }
        for index in [1] {
            _ = close(inputPair[index])
            _ = close(outputPair[index])
            _ = close(errorPair[index])
            inputPair[index] = -1
            outputPair[index] = -1
            errorPair[index] = -1
        }
        for descriptor in [inputPair[0], outputPair[0], errorPair[0]] {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        }
        let deadline = ContinuousClock.now.advanced(by: transform.timeout)
        var output: [UInt8] = []
        var written = 0
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var outputOpen = true
        var errorOpen = true
        if input.isEmpty {
            _ = close(inputPair[0])
            inputPair[0] = -1
        }
        while outputOpen || errorOpen {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return killed(pid, reason: .timedOut) }
            var descriptors: [pollfd] = []
            if inputPair[0] >= 0 { descriptors.append(pollfd(fd: inputPair[0], events: Int16(POLLOUT), revents: 0)) }
            if outputOpen { descriptors.append(pollfd(fd: outputPair[0], events: Int16(POLLIN), revents: 0)) }
            if errorOpen { descriptors.append(pollfd(fd: errorPair[0], events: Int16(POLLIN), revents: 0)) }
            let milliseconds = Int32(
                clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
                    + 1
            )
            let ready = unsafe poll(&descriptors, nfds_t(descriptors.count), milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                let code = errno
                _ = killed(pid, reason: .timedOut)
                throw SystemCallError(operation: "poll", path: name, errno: code)
            }
            for entry in descriptors where entry.revents != 0 {
                if entry.fd == inputPair[0] {
                    let count = unsafe input.withUnsafeBytes { raw in
                        unsafe send(entry.fd, raw.baseAddress! + written, raw.count - written, Int32(MSG_NOSIGNAL))
                    }
                    if count > 0 { written += count }
                    // EPIPE / ECONNRESET: the transform stopped reading; its exit status decides.
                    if (count < 0 && errno != EAGAIN && errno != EINTR) || written == input.count {
                        _ = close(inputPair[0])
                        inputPair[0] = -1
                    }
                    continue
                }
                let isOutput = entry.fd == outputPair[0]
                let count = unsafe chunk.withUnsafeMutableBytes { unsafe read(entry.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    if isOutput {
                        output.append(contentsOf: chunk[0..<count])
                        if output.count > outputByteCountMax { return killed(pid, reason: .outputTooLarge) }
                    } else if standardError.count < errorByteCountMax {
                        standardError.append(contentsOf: chunk[0..<min(count, errorByteCountMax - standardError.count)])
                    }
                } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                    if isOutput { outputOpen = false } else { errorOpen = false }
                }
            }
        }
        // Both outputs closed: the child is exiting (or closed them and goes on, bounded by the deadline).
        var status: Int32 = 0
        while true {
            let result = unsafe waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0 && errno != EINTR {
                throw SystemCallError(operation: "waitpid", path: name, errno: errno)
            }
            if ContinuousClock.now >= deadline { return killed(pid, reason: .timedOut) }
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            unsafe nanosleep(&pause, nil)
        }
        if status & 0x7F != 0 { return .failed(.signaled(signal: status & 0x7F)) }
        let exitStatus = (status >> 8) & 0xFF
        guard exitStatus == 0 else { return .failed(.exited(status: exitStatus)) }
        return .finished(output)
    }

    /// Kills and reaps the child; returns `reason` as the failure.
    private static func killed(_ pid: pid_t, reason: TransformFailure.Reason) -> Execution {
        _ = kill(pid, SIGKILL)
        var status: Int32 = 0
        while unsafe waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return .failed(reason)
    }
}

/// The body of one delivery for a webhook definition (spec §c.4/§c.5): the event's standard body for the
/// standard and custom kinds; for the transform kind, the transform's output for that body, computed
/// once per delivery (retries resend the same bytes).
public enum WebhookBodies {
    public static func body(for definition: WebhookDefinition, event: Event) -> Result<[UInt8], TransformFailure> {
        let standard = event.webhookBody()
        guard definition.kind == .transform, let transform = definition.transform else { return .success(standard) }
        return TransformRunner.run(transform, input: standard)
    }
}
