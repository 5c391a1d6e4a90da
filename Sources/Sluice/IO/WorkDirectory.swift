#if canImport(Glibc)
internal import Glibc
#endif

/// Scratch directories for commands that make files (the demo, replays): created with `mkdtemp`,
/// removed with everything in them.
public enum WorkDirectory {
    /// A new directory `/tmp/<prefix>-XXXXXX`.
    public static func make(prefix: String) throws(SystemCallError) -> String {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let pointer = unsafe template.withUnsafeMutableBufferPointer({ unsafe mkdtemp($0.baseAddress!) }) else {
            throw SystemCallError(operation: "mkdtemp", path: "/tmp/\(prefix)-XXXXXX", errno: errno)
        }
        return unsafe String(cString: pointer)
    }

    /// Creates the directory `path` and any missing parents (`mkdir -p`); an existing directory is fine.
    public static func create(_ path: String) throws(SystemCallError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if unsafe mkdir(prefix, 0o755) != 0, errno != EEXIST {
                throw SystemCallError(operation: "mkdir", path: prefix, errno: errno)
            }
        }
        // An existing file of that name is EEXIST too: the directory must open as one.
        guard let directory = unsafe opendir(path) else {
            throw SystemCallError(operation: "opendir", path: path, errno: errno)
        }
        unsafe closedir(directory)
    }

    /// Removes `path` and everything below it (symbolic links are removed, not followed).
    public static func remove(_ path: String) throws(SystemCallError) {
        if unsafe unlink(path) == 0 { return }  // a file or a symbolic link
        guard errno == EISDIR || errno == EPERM else {
            throw SystemCallError(operation: "unlink", path: path, errno: errno)
        }
        guard let directory = unsafe opendir(path) else {
            throw SystemCallError(operation: "opendir", path: path, errno: errno)
        }
        var names: [String] = []
        while let entry = unsafe readdir(directory) {
            let name = unsafe withUnsafeBytes(of: entry.pointee.d_name) { raw in
                unsafe String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        unsafe closedir(directory)
        for name in names { try remove(path + "/" + name) }
        guard unsafe rmdir(path) == 0 else { throw SystemCallError(operation: "rmdir", path: path, errno: errno) }
    }
}
