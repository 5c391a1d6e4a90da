#if canImport(Glibc)
import Glibc
#endif

/// The `sluice` executable of the build the tests belong to.
///
/// SwiftPM puts every product of one build in one directory (`.build/<triple>/debug`, or under
/// `--scratch-path`), so the executable is found beside the running test binary, whatever the build
/// path; `SLUICE_EXECUTABLE` overrides it. Tests that run it are `.enabled(if: SluiceExecutable.isBuilt)`,
/// so a missing executable shows as a skipped test with the reason, never as a pass.
public enum SluiceExecutable {
    public static let path: String = {
        if let override = getenv("SLUICE_EXECUTABLE") { return String(cString: override) }
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0 {
            let testBinary = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let slash = testBinary.lastIndex(of: "/") { return testBinary[..<slash] + "/sluice" }
        }
        return packageRoot + "/.build/debug/sluice"
    }()

    /// Whether ``path`` is an executable file.
    public static var isBuilt: Bool { access(path, X_OK) == 0 }

    /// Why tests of the executable do not run, for `.enabled(if:_:)`.
    public static var notBuiltReason: String { "the sluice executable is not built at \(path)" }
}
