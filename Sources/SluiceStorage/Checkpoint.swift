import SluiceCore

#if canImport(Glibc)
internal import Glibc
#endif

/// Consumer cursors stored as small files next to the log, replaced atomically.
///
/// A checkpoint file `<name>.checkpoint` is 20 bytes (FORMAT.md): magic `SLCP`, version (u16), reserved
/// (u16), sequence (u64), CRC-32C over bytes 0..<16 (u32). ``write(name:sequence:)`` writes a temporary
/// file, `fsync`s it, renames it over the old one and `fsync`s the directory, so after a crash the
/// checkpoint is either the old value or the new one, never a mix. Not thread-safe per name.
public struct CheckpointStore: Sendable {
    public static let byteCount = 20
    public let directory: String

    public init(directory: String) throws(SegmentLogError) {
        self.directory = directory
        try LogDirectory.create(directory)
    }

    /// Stores `sequence` as the checkpoint `name` (letters, digits, `-`, `_`; at most 100 bytes).
    public func write(name: String, sequence: UInt64) throws(SegmentLogError) {
        try Self.validate(name: name, directory: directory)
        var bytes: [UInt8] = Array("SLCP".utf8)
        bytes.appendLittleEndianForCheckpoint(UInt16(1))
        bytes.appendLittleEndianForCheckpoint(UInt16(0))
        bytes.appendLittleEndianForCheckpoint(sequence)
        bytes.appendLittleEndianForCheckpoint(CRC32C.checksum(bytes))
        try replace(path: directory + "/" + name + ".checkpoint", with: bytes)
    }

    /// Replaces the file `fileName` in the directory with `bytes` atomically, as checkpoints are replaced
    /// (temporary file, `fsync`, rename, directory `fsync`). For checkpoint-like files of other formats
    /// (`pipeline.webhooks`, FORMAT.md).
    public func replaceFile(named fileName: String, with bytes: [UInt8]) throws(SegmentLogError) {
        try replace(path: directory + "/" + fileName, with: bytes)
    }

    /// The whole content of the file `fileName` in the directory, or `nil` when there is none.
    public func readFile(named fileName: String) throws(SegmentLogError) -> [UInt8]? {
        let path = directory + "/" + fileName
        guard unsafe access(path, F_OK) == 0 else { return nil }
        let file = try FileDescriptor(path: path, flags: O_RDONLY)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try file.read(into: &chunk, count: chunk.count, fileOffset: UInt64(bytes.count))
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// Removes the file `fileName` (if present) and syncs the directory.
    public func removeFile(named fileName: String) throws(SegmentLogError) {
        let path = directory + "/" + fileName
        guard unsafe access(path, F_OK) == 0 else { return }
        _ = try systemCall("unlink", path: path) { unsafe unlink(path) }
        try LogDirectory.sync(directory)
    }

    private func replace(path: String, with bytes: [UInt8]) throws(SegmentLogError) {
        let temporaryPath = path + ".tmp"
        do {
            let file = try FileDescriptor(path: temporaryPath, flags: O_WRONLY | O_CREAT | O_TRUNC)
            try file.writeAll(bytes, fileOffset: 0)
            try file.syncData()
        }
        _ = try systemCall("rename", path: temporaryPath) { unsafe rename(temporaryPath, path) }
        try LogDirectory.sync(directory)
    }

    /// The stored sequence of checkpoint `name`, or `nil` when there is none.
    /// - Throws: `corrupt` (with the path) when the file exists but fails validation.
    public func read(name: String) throws(SegmentLogError) -> UInt64? {
        try Self.validate(name: name, directory: directory)
        let path = directory + "/" + name + ".checkpoint"
        guard unsafe access(path, F_OK) == 0 else { return nil }
        let file = try FileDescriptor(path: path, flags: O_RDONLY)
        var bytes = [UInt8](repeating: 0, count: Self.byteCount + 1)
        let count = try file.read(into: &bytes, count: bytes.count, fileOffset: 0)
        func corrupt(_ message: String) -> SegmentLogError {
            SegmentLogError(code: .corrupt, path: path, fileOffset: 0, message: message)
        }
        guard count == Self.byteCount else {
            throw corrupt("checkpoint file is \(count) bytes, expected \(Self.byteCount)")
        }
        guard Array(bytes[0..<4]) == Array("SLCP".utf8) else { throw corrupt("not a checkpoint file") }
        let stored = UInt32(bytes[16]) | UInt32(bytes[17]) << 8 | UInt32(bytes[18]) << 16 | UInt32(bytes[19]) << 24
        guard CRC32C.checksum(Array(bytes[0..<16])) == stored else { throw corrupt("checkpoint checksum mismatch") }
        guard bytes[4] == 1, bytes[5] == 0 else { throw corrupt("unsupported checkpoint version") }
        var sequence: UInt64 = 0
        for position in (8..<16).reversed() { sequence = sequence << 8 | UInt64(bytes[position]) }
        return sequence
    }

    private static func validate(name: String, directory: String) throws(SegmentLogError) {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
        guard !name.isEmpty, name.utf8.count <= 100, allowed else {
            throw SegmentLogError(
                code: .invalidConfiguration,
                path: directory,
                message: "checkpoint name '\(name)' must be 1–100 letters, digits, '-' or '_'"
            )
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate mutating func appendLittleEndianForCheckpoint<T: FixedWidthInteger>(_ value: T) {
        for shift in stride(from: 0, to: T.bitWidth, by: 8) { append(UInt8(truncatingIfNeeded: value >> shift)) }
    }
}
