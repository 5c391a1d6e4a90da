import SluiceIO
public import SluiceStorage
import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// A scrub of a log's sealed segments (``LogCheck/run(directory:sealedOnly:shouldStop:pace:onIncident:)``)
/// on a thread of its own: every frame's checksums, decompression and records, and gap-free sequences,
/// so damage in a segment nothing reads any more is noticed. It never blocks the caller: the thread runs
/// at the lowest scheduling class (`SCHED_IDLE`, when the kernel allows it) and is paced to at most
/// `bytesPerSecondMax`; it reads one frame at a time (memory: two buffers of a frame's size).
///
/// Each incident goes to `onIncident` on the scrub's thread, as it is found. Thread-safe.
public final class BackgroundScrub: Sendable {
    /// The default pace, 64 MiB/s: a 128 MiB segment in about two seconds, a small share of a disk.
    public static let bytesPerSecondMaxDefault = 64 << 20

    /// What the scrub's thread and its owner share.
    private final class Shared: Sendable {
        let stopRequested = Atomic<Bool>(false)
        let result = Mutex<Result<LogCheckReport, SegmentLogError>?>(nil)
    }
    private let shared = Shared()
    private let thread: Mutex<LoopThread?>

    /// Starts scrubbing the sealed segments of `directory`.
    /// - Precondition: `bytesPerSecondMax > 0`.
    public init(
        directory: String,
        bytesPerSecondMax: Int = bytesPerSecondMaxDefault,
        onIncident: @escaping @Sendable (LogIncident) -> Void
    ) throws {
        precondition(bytesPerSecondMax > 0, "the scrub's pace must be positive")
        let shared = self.shared
        thread = Mutex(nil)
        let started = try LoopThread(name: "sluice-scrub") {
            Self.lowerPriority()
            var pacer = Pacer(bytesPerSecondMax: bytesPerSecondMax)
            let outcome: Result<LogCheckReport, SegmentLogError>
            do throws(SegmentLogError) {
                outcome = .success(
                    try LogCheck.run(
                        directory: directory,
                        sealedOnly: true,
                        shouldStop: { shared.stopRequested.load(ordering: .relaxed) },
                        pace: { byteCount in
                            pacer.pace(byteCount) { shared.stopRequested.load(ordering: .relaxed) }
                        },
                        onIncident: onIncident
                    )
                )
            } catch {
                outcome = .failure(error)
            }
            shared.result.withLock { $0 = outcome }
        }
        thread.withLock { $0 = started }
    }

    /// The scrub's report once it has finished (or its error: a file it could not read); `nil` while it runs.
    public var report: Result<LogCheckReport, SegmentLogError>? { shared.result.withLock { $0 } }

    /// Asks the scrub to stop (it does between frames) and waits for its thread. Idempotent.
    public func stop() {
        shared.stopRequested.store(true, ordering: .relaxed)
        let running = thread.withLock { thread in
            defer { thread = nil }
            return thread
        }
        running?.join()
    }

    /// `SCHED_IDLE` for the calling thread: it runs only when a core has nothing else to do.
    private static func lowerPriority() {
        var parameters = sched_param()
        parameters.sched_priority = 0
        // 5 is Linux's SCHED_IDLE (<sched.h> with _GNU_SOURCE, not exported to Swift). Failing to lower the
        // priority only costs fairness, and the pace still bounds the scrub, so the result is not checked.
        _ = unsafe pthread_setschedparam(pthread_self(), 5, &parameters)
    }

    /// Sleeps so that the bytes read so far take at least `bytes / bytesPerSecondMax` seconds.
    private struct Pacer {
        let bytesPerSecondMax: Int
        var started = monotonicNanoseconds()
        var byteCount: UInt64 = 0

        mutating func pace(_ bytes: UInt64, shouldStop: () -> Bool) {
            byteCount += bytes
            let due = started + UInt64(Double(byteCount) / Double(bytesPerSecondMax) * 1e9)
            while !shouldStop() {
                let now = monotonicNanoseconds()
                guard now < due else { return }
                usleep(UInt32(min(due - now, 50_000_000) / 1000))
            }
        }
    }
}
