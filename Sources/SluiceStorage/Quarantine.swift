import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

/// The quarantine folder of a log, `DIR/quarantine/<UTC time>/` (FORMAT.md): damaged or dropped bytes are
/// moved or copied here instead of being deleted, and nothing in Sluice ever deletes them. One folder per
/// recovery or repair (the time it started); files keep their names (`.1`, `.2`, … when a name is taken).
/// Not thread-safe; one per recovery or repair.
struct Quarantine {
    static let folderName = "quarantine"
    let logDirectory: String
    let nowMicroseconds: Int64
    private var created: String?

    init(logDirectory: String, nowMicroseconds: Int64) {
        self.logDirectory = logDirectory
        self.nowMicroseconds = nowMicroseconds
    }

    /// `20261207T180000.123456Z`: the start time, without the separators a file name does not need.
    static func folderStamp(_ nowMicroseconds: Int64) -> String {
        let text = Timestamp(microsecondsSinceEpoch: nowMicroseconds).string(.prefect)
        return String(text.filter { $0 != "-" && $0 != ":" })
    }

    /// The folder, created (and its parent synced) on first use.
    mutating func folder() throws(SegmentLogError) -> String {
        if let created { return created }
        let parent = logDirectory + "/" + Self.folderName
        try LogDirectory.create(parent)
        let path = parent + "/" + Self.folderStamp(nowMicroseconds)
        try LogDirectory.create(path)
        try LogDirectory.sync(parent)
        try LogDirectory.sync(logDirectory)
        created = path
        return path
    }

    /// A path in the folder for `name` that no file holds yet.
    private mutating func freePath(for name: String) throws(SegmentLogError) -> String {
        let folder = try folder()
        var candidate = folder + "/" + name
        var suffix = 0
        while unsafe access(candidate, F_OK) == 0 {
            suffix += 1
            candidate = folder + "/" + name + ".\(suffix)"
        }
        return candidate
    }

    /// Moves the file at `path` (in the log directory) into the folder; returns where it went. The rename
    /// is atomic; both directories are synced.
    mutating func moveAside(_ path: String) throws(SegmentLogError) -> String {
        let name = String(path.split(separator: "/").last ?? Substring(path))
        let target = try freePath(for: name)
        _ = try systemCall("rename", path: path) { unsafe rename(path, target) }
        try LogDirectory.sync(try folder())
        try LogDirectory.sync(logDirectory)
        return target
    }

    /// Copies `byteCount` bytes of `path` from `fileOffset` into a file of the folder named
    /// `<name>.from-<fileOffset>` and syncs it; returns its path.
    mutating func copyAside(_ path: String, fileOffset: UInt64, byteCount: UInt64) throws(SegmentLogError) -> String {
        let name = String(path.split(separator: "/").last ?? Substring(path)) + ".from-\(fileOffset)"
        let target = try freePath(for: name)
        let source = try FileDescriptor(path: path, flags: O_RDONLY)
        let copy = try FileDescriptor(path: target, flags: O_WRONLY | O_CREAT | O_EXCL)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var done: UInt64 = 0
        while done < byteCount {
            let want = Int(min(UInt64(chunk.count), byteCount - done))
            let count = try source.read(into: &chunk, count: want, fileOffset: fileOffset + done)
            if count == 0 { break }
            try copy.writeAll(Array(chunk[0..<count]), fileOffset: done)
            done += UInt64(count)
        }
        try copy.syncData()
        try LogDirectory.sync(try folder())
        return target
    }
}
