import SluiceCore
import SluiceSystem

#if canImport(Glibc)
internal import Glibc
#endif

/// One attempt of a workflow's command, run to its end or its deadline.
///
/// Started with `posix_spawnp` (the first word looked up in `PATH`) in a process group of its own
/// (`POSIX_SPAWN_SETPGROUP`), with an empty signal mask and default dispositions (the pipeline's process
/// blocks SIGINT/SIGTERM for its own handling; a child must not inherit that). Standard input, output
/// and error are Unix socket pairs, as ``TransformRunner`` uses: one `poll` loop writes the input and
/// drains both outputs, keeping the first ``WorkflowRunRecord/outputByteCountMax`` bytes of each and
/// counting the rest. At the deadline the whole process group is killed (SIGKILL), so a command's own
/// children die with it. Blocks the calling thread (a workflow runner thread, never a pipeline stage).
struct WorkflowProcess {
    /// The most a run may write to descriptor 3 (child events): 16 MiB.
    static let emittedByteCountMax = 16 << 20
    struct Result: Sendable, Equatable {
        var exitStatus: Int?
        var signal: Int?
        var timedOut = false
        /// `errno` of `posix_spawnp` (ENOENT: not found in PATH), or of a failed pipe/poll call.
        var startError: String?
        var durationMicroseconds: Int64 = 0
        var standardOutput: [UInt8] = []
        var standardOutputByteCount = 0
        var standardError: [UInt8] = []
        var standardErrorByteCount = 0
        /// What the command wrote to descriptor 3 (`SLUICE_EMIT_FD`): child events, one JSON per line.
        var emitted: [UInt8] = []
        /// It wrote more than ``WorkflowProcess/emittedByteCountMax`` there (the rest was not kept).
        var emittedOverflow = false

        var succeeded: Bool { exitStatus == 0 && startError == nil && !timedOut }
    }

    let command: [String]
    /// `NAME=value` entries, the whole environment of the child.
    let environment: [String]
    let input: [UInt8]
    let timeoutNanoseconds: UInt64

    /// Runs the command; called on a runner thread. `started` is called once the child runs, with its pid.
    func run(started: (Int32) -> Void = { _ in }) -> Result {
        var result = Result()
        let begin = ContinuousClock.now
        do throws(SystemCallError) {
            try execute(into: &result, started: started)
        } catch {
            result.startError = "\(error)"
        }
        let elapsed = begin.duration(to: .now)
        result.durationMicroseconds =
            elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        return result
    }

    private func socketPair() throws(SystemCallError) -> [Int32] {
        var pair: [Int32] = [-1, -1]
        _ = try systemCall("socketpair", path: command[0]) {
            unsafe socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair)
        }
        return pair
    }

    private func execute(into result: inout Result, started: (Int32) -> Void) throws(SystemCallError) {
        // [0] parent end, [1] child end.
        var descriptors: [Int32] = []
        defer { for descriptor in descriptors where descriptor >= 0 { _ = close(descriptor) } }
        for _ in 0..<4 { descriptors += try socketPair() }
        var actions = unsafe posix_spawn_file_actions_t()
        unsafe posix_spawn_file_actions_init(&actions)
        defer { unsafe posix_spawn_file_actions_destroy(&actions) }
        unsafe posix_spawn_file_actions_adddup2(&actions, descriptors[1], 0)
        unsafe posix_spawn_file_actions_adddup2(&actions, descriptors[3], 1)
        unsafe posix_spawn_file_actions_adddup2(&actions, descriptors[5], 2)
        unsafe posix_spawn_file_actions_adddup2(&actions, descriptors[7], 3)  // SLUICE_EMIT_FD
        var attributes = posix_spawnattr_t()
        unsafe posix_spawnattr_init(&attributes)
        defer { unsafe posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        unsafe sigemptyset(&empty)
        var defaults = sigset_t()
        unsafe sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT] { unsafe sigaddset(&defaults, signal) }
        unsafe posix_spawnattr_setsigmask(&attributes, &empty)
        unsafe posix_spawnattr_setsigdefault(&attributes, &defaults)
        unsafe posix_spawnattr_setpgroup(&attributes, 0)
        unsafe posix_spawnattr_setflags(
            &attributes,
            Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        )
        let arguments = unsafe command.map { unsafe strdup($0) }
        defer { for index in 0..<command.count { unsafe free(arguments[index]) } }
        let variables = unsafe environment.map { unsafe strdup($0) }
        defer { for index in 0..<environment.count { unsafe free(variables[index]) } }
        var argv: [UnsafeMutablePointer<CChar>?] = unsafe arguments + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = unsafe variables + [nil]
        var pid: pid_t = 0
        let spawned = unsafe posix_spawnp(&pid, command[0], &actions, &attributes, &argv, &envp)
        guard spawned == 0 else {
            let reason = unsafe strerror(spawned).map { unsafe String(cString: $0) } ?? "errno \(spawned)"
            result.startError = "cannot start \(command[0]): \(reason)"
            return
        }
        started(pid)
        for index in [1, 3, 5, 7] {
            _ = close(descriptors[index])
            descriptors[index] = -1
        }
        for index in [0, 2, 4, 6] {
            _ = fcntl(descriptors[index], F_SETFL, fcntl(descriptors[index], F_GETFL) | O_NONBLOCK)
        }
        let deadline = ContinuousClock.now.advanced(by: .nanoseconds(Int64(timeoutNanoseconds)))
        if input.isEmpty {
            _ = close(descriptors[0])
            descriptors[0] = -1
        }
        let drained = pump(descriptors: &descriptors, deadline: deadline, into: &result)
        if !drained {
            result.timedOut = true
            _ = kill(-pid, SIGKILL)
        }
        var status: Int32 = 0
        // The outputs closed as the command exited: it is usually reapable within microseconds, so the
        // wait backs off from 20 µs (a fixed 1 ms sleep cost a short command most of its run time).
        var pauseNanoseconds = 20_000
        while true {
            let reaped = unsafe waitpid(pid, &status, drained ? WNOHANG : 0)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR {
                throw SystemCallError(operation: "waitpid", path: command[0], errno: errno)
            }
            if reaped == 0 && ContinuousClock.now >= deadline {
                result.timedOut = true
                _ = kill(-pid, SIGKILL)
                continue
            }
            var pause = timespec(tv_sec: 0, tv_nsec: pauseNanoseconds)
            unsafe nanosleep(&pause, nil)
            pauseNanoseconds = min(pauseNanoseconds * 2, 1_000_000)
        }
        // Whatever the command left running in its group goes with it.
        _ = kill(-pid, SIGKILL)
        if status & 0x7F != 0 {
            result.signal = Int(status & 0x7F)
        } else {
            result.exitStatus = Int((status >> 8) & 0xFF)
        }
    }

    /// Writes the input and reads both outputs until both close (`true`) or the deadline passes (`false`).
    private func pump(
        descriptors: inout [Int32],
        deadline: ContinuousClock.Instant,
        into result: inout Result
    ) -> Bool {
        var written = 0
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var outputOpen = true
        var errorOpen = true
        var emitOpen = true
        let keep = WorkflowRunRecord.outputByteCountMax
        while outputOpen || errorOpen || emitOpen {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return false }
            var polled: [pollfd] = []
            if descriptors[0] >= 0 { polled.append(pollfd(fd: descriptors[0], events: Int16(POLLOUT), revents: 0)) }
            if outputOpen { polled.append(pollfd(fd: descriptors[2], events: Int16(POLLIN), revents: 0)) }
            if errorOpen { polled.append(pollfd(fd: descriptors[4], events: Int16(POLLIN), revents: 0)) }
            if emitOpen { polled.append(pollfd(fd: descriptors[6], events: Int16(POLLIN), revents: 0)) }
            let milliseconds = Int32(
                clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000
                    + 1
            )
            let ready = unsafe poll(&polled, nfds_t(polled.count), milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                result.startError = "poll: errno \(errno)"
                return false
            }
            for entry in polled where entry.revents != 0 {
                if entry.fd == descriptors[0] {
                    let count = unsafe input.withUnsafeBytes { raw in
                        unsafe send(entry.fd, raw.baseAddress! + written, raw.count - written, Int32(MSG_NOSIGNAL))
                    }
                    if count > 0 { written += count }
                    // EPIPE / ECONNRESET: the command stopped reading; its exit status decides.
                    if (count < 0 && errno != EAGAIN && errno != EINTR) || written == input.count {
                        _ = close(descriptors[0])
                        descriptors[0] = -1
                    }
                    continue
                }
                let isOutput = entry.fd == descriptors[2]
                let isEmit = entry.fd == descriptors[6]
                let count = unsafe chunk.withUnsafeMutableBytes { unsafe read(entry.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    if isEmit {
                        let room = max(0, Self.emittedByteCountMax - result.emitted.count)
                        result.emitted.append(contentsOf: chunk[0..<min(count, room)])
                        if count > room { result.emittedOverflow = true }
                    } else if isOutput {
                        let room = max(0, keep - result.standardOutput.count)
                        result.standardOutput.append(contentsOf: chunk[0..<min(count, room)])
                        result.standardOutputByteCount += count
                    } else {
                        let room = max(0, keep - result.standardError.count)
                        result.standardError.append(contentsOf: chunk[0..<min(count, room)])
                        result.standardErrorByteCount += count
                    }
                } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                    if isEmit {
                        emitOpen = false
                    } else if isOutput {
                        outputOpen = false
                    } else {
                        errorOpen = false
                    }
                }
            }
        }
        return true
    }
}
