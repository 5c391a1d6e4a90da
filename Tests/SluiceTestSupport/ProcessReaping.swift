public import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Process {
    /// Waits for the child to end and returns what `terminationStatus` would (its exit code, or the number
    /// of the signal that ended it), reaping it with `waitpid`.
    ///
    /// Not `waitUntilExit()`: on Linux, Foundation learns that a child ended when a descriptor the child
    /// holds closes, and a process another test spawns meanwhile can inherit that descriptor, so
    /// `waitUntilExit()` may wait for that other process instead — seen here as a killed `sluice run` left a
    /// zombie while the test waited on a long-lived `sluice sink` (swift-corelibs-foundation issue 4795).
    public func reapedStatus() -> Int32 {
        var status: Int32 = 0
        while true {
            let result = waitpid(processIdentifier, &status, 0)
            if result == processIdentifier { break }
            if result == -1, errno == EINTR { continue }
            // ECHILD: Foundation reaped it first, so it knows it ended.
            waitUntilExit()
            return terminationStatus
        }
        let low = status & 0x7F
        return low == 0 ? (status >> 8) & 0xFF : low  // WIFEXITED → WEXITSTATUS, else WTERMSIG
    }
}
