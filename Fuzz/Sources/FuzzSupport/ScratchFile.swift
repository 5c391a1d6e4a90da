#if canImport(Glibc)
import Glibc
#endif

/// A file per process for the targets whose code under test reads files (segment reader, configuration
/// loader): `/dev/shm` when it exists (no disk writes per execution), else `$TMPDIR` or `/tmp`.
public enum ScratchFile {
    /// The folder, made once per process and removed at a normal exit (a crash leaves it, with the
    /// crashing input's files: a few KiB named by process id).
    public static let directory: String = {
        var base = "/dev/shm"
        if access(base, W_OK) != 0 { base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp" }
        let path = "\(base)/sluice-fuzz-\(getpid())"
        if mkdir(path, 0o700) != 0 && errno != EEXIST { fatalError("cannot create \(path): errno \(errno)") }
        atexit { ScratchFile.remove(ScratchFile.directory) }
        return path
    }()

    /// Removes `path` and, when it is a folder, everything in it.
    static func remove(_ path: String) {
        if let folder = opendir(path) {
            while let entry = readdir(folder) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { remove(path + "/" + name) }
            }
            closedir(folder)
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Writes `bytes` to `name` in ``directory``, replacing it; returns the path.
    public static func write(_ bytes: [UInt8], name: String) -> String {
        let path = directory + "/" + name
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if descriptor < 0 { fatalError("cannot open \(path): errno \(errno)") }
        defer { close(descriptor) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { raw in
                Glibc.write(descriptor, raw.baseAddress! + written, raw.count - written)
            }
            if count < 0 {
                if errno == EINTR { continue }
                fatalError("cannot write \(path): errno \(errno)")
            }
            written += count
        }
        return path
    }
}
