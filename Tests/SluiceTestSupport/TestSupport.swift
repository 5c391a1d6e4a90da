#if canImport(Glibc)
import Glibc
#endif

/// The package root, found from this file's path (Tests/SluiceTestSupport/TestSupport.swift).
public let packageRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

/// The seed for property tests: `SLUICE_TEST_SEED` when set, else a fresh random one. Always print it
/// in failure messages so a failure can be replayed.
public func testSeed() -> UInt64 {
    if let text = getenv("SLUICE_TEST_SEED").map({ String(cString: $0) }), let seed = UInt64(text) { return seed }
    return UInt64.random(in: .min ... .max)
}

/// Reads a file of the repository (fixtures), or fails the test with the path.
public func readRepositoryFile(_ relativePath: String) throws -> [UInt8] {
    let path = packageRoot + "/" + relativePath
    guard let file = fopen(path, "rb") else { throw TestFileError(path: path) }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if count == 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return bytes
}

public struct TestFileError: Error, CustomStringConvertible {
    public var path: String
    public var description: String { "cannot read \(path)" }
}

/// A fresh temporary directory for one test, removed (with the files in it) when the value goes away.
public final class TemporaryDirectory {
    public let path: String

    public init() {
        var template = Array("/tmp/sluice-test-XXXXXX".utf8CString)
        let pointer = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(pointer != nil, "mkdtemp failed")
        path = String(cString: pointer!)
    }

    /// Removes the directory's files (tests create flat directories) and the directory.
    deinit {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(path)
    }
}

public func writeFile(_ path: String, _ bytes: [UInt8]) {
    let file = fopen(path, "wb")!
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    fclose(file)
}

extension Array where Element == UInt8 {
    public var utf8String: String { String(decoding: self, as: UTF8.self) }
}
