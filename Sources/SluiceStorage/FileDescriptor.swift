#if canImport(Glibc)
internal import Glibc
#endif

/// An open file and its path: positioned reads and writes, syncs and truncation, each failing with the
/// path and file offset in the error. Not thread-safe for writes; `pread` may be shared.
final class FileDescriptor {
    let path: String
    let descriptor: Int32

    init(path: String, flags: Int32, mode: mode_t = 0o644) throws(SegmentLogError) {
        self.path = path
        descriptor = try systemCall("open", path: path) { unsafe open(path, flags | O_CLOEXEC, mode) }
    }

    deinit {
        // Closing after the data was synced (or deliberately not) cannot lose more than the sync policy
        // allows; an error here has nothing left to report.
        _ = Glibc.close(descriptor)
    }

    func byteCount() throws(SegmentLogError) -> UInt64 {
        var status = stat()
        _ = try systemCall("fstat", path: path) { unsafe fstat(descriptor, &status) }
        return UInt64(status.st_size)
    }

    /// Reads exactly `count` bytes at `fileOffset` into `target[0..<count]`; returns fewer only at end of file.
    func read(into target: inout [UInt8], count: Int, fileOffset: UInt64) throws(SegmentLogError) -> Int {
        precondition(count <= target.count, "read target too small")
        var done = 0
        while done < count {
            let already = done
            let result = try systemCall("pread", path: path, fileOffset: fileOffset + UInt64(already)) {
                unsafe target.withUnsafeMutableBytes { raw in
                    unsafe pread(
                        descriptor,
                        raw.baseAddress! + already,
                        count - already,
                        off_t(fileOffset) + off_t(already)
                    )
                }
            }
            if result == 0 { break }
            done += result
        }
        return done
    }

    /// Writes all of `bytes` at `fileOffset`.
    func writeAll(_ bytes: [UInt8], fileOffset: UInt64) throws(SegmentLogError) {
        var done = 0
        while done < bytes.count {
            let already = done
            let result = try systemCall("pwrite", path: path, fileOffset: fileOffset + UInt64(already)) {
                unsafe bytes.withUnsafeBytes { raw in
                    unsafe pwrite(
                        descriptor,
                        raw.baseAddress! + already,
                        raw.count - already,
                        off_t(fileOffset) + off_t(already)
                    )
                }
            }
            precondition(result > 0, "pwrite wrote nothing")
            done += result
        }
        assert(done == bytes.count)
    }

    func syncData() throws(SegmentLogError) {
        _ = try systemCall("fdatasync", path: path) { fdatasync(descriptor) }
    }

    func truncate(to byteCount: UInt64) throws(SegmentLogError) {
        _ = try systemCall("ftruncate", path: path, fileOffset: byteCount) { ftruncate(descriptor, off_t(byteCount)) }
    }
}

/// Directory operations of the log.
enum LogDirectory {
    static func create(_ path: String) throws(SegmentLogError) {
        if unsafe mkdir(path, 0o755) == 0 { return }
        let code = Glibc.errno
        guard code == EEXIST else {
            throw SegmentLogError(code: .ioFailed, path: path, message: "mkdir", errno: code)
        }
    }

    /// `fsync` of the directory, so created, renamed and removed entries are durable.
    static func sync(_ path: String) throws(SegmentLogError) {
        let directory = try FileDescriptor(path: path, flags: O_RDONLY | O_DIRECTORY)
        _ = try systemCall("fsync", path: path) { fsync(directory.descriptor) }
    }

    /// The segment files, ordered by first sequence.
    static func segments(in path: String) throws(SegmentLogError) -> [(firstSequence: UInt64, name: String)] {
        try SegmentDirectory.segments(in: path)
    }
}

/// The segment files of a log directory.
public enum SegmentDirectory {
    /// The segment files in `path`, ordered by first sequence.
    public static func segments(in path: String) throws(SegmentLogError) -> [(firstSequence: UInt64, name: String)] {
        guard let directory = unsafe opendir(path) else {
            throw SegmentLogError(code: .ioFailed, path: path, message: "opendir", errno: Glibc.errno)
        }
        defer { unsafe closedir(directory) }
        var segments: [(firstSequence: UInt64, name: String)] = []
        while let entry = unsafe readdir(directory) {
            let name = unsafe withUnsafeBytes(of: entry.pointee.d_name) { raw in
                unsafe String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let first = SegmentFileName.firstSequence(of: name) { segments.append((first, name)) }
        }
        return segments.sorted { $0.firstSequence < $1.firstSequence }
    }
}
