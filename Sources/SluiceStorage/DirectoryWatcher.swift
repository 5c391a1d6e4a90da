#if canImport(Glibc)
internal import Glibc
#endif

/// Wakes a reader when files in a directory change: an inotify instance watching one directory for
/// appends (`IN_MODIFY`), new files (`IN_CREATE`, `IN_MOVED_TO`) and truncation by recovery
/// (`IN_CLOSE_WRITE`, `IN_ATTRIB`), for followers of a log another process writes.
///
/// Only a hint: the reader re-reads file sizes after every wake-up, and ``wait(timeoutNanoseconds:)``
/// is bounded, so a missed or coalesced notification costs at most one timeout, never a record.
final class DirectoryWatcher {
    let directory: String
    private let descriptor: Int32
    private var drain = [UInt8](repeating: 0, count: 4096)

    init(directory: String) throws(SegmentLogError) {
        self.directory = directory
        descriptor = try systemCall("inotify_init1", path: directory) { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
        let mask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB)
        do {
            _ = try systemCall("inotify_add_watch", path: directory) {
                unsafe inotify_add_watch(descriptor, directory, mask)
            }
        } catch {
            _ = Glibc.close(descriptor)
            throw error
        }
    }

    deinit { _ = Glibc.close(descriptor) }

    /// Sleeps until something in the directory changed or `timeoutNanoseconds` passed; returns whether
    /// a change was seen. Pending notifications are consumed.
    @discardableResult
    func wait(timeoutNanoseconds: UInt64) throws(SegmentLogError) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(clamping: (timeoutNanoseconds + 999_999) / 1_000_000)
        let ready = try systemCall("poll", path: directory) { unsafe poll(&entry, 1, milliseconds) }
        guard ready > 0 else { return false }
        while true {
            let count = unsafe drain.withUnsafeMutableBytes { unsafe read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }  // EAGAIN: drained
        }
        return true
    }
}
