import SluiceTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Where the repository's fixture folders are.
enum FixturePaths {
    /// The package root, without a trailing slash (``SluiceTestSupport/packageRoot``).
    static var root: String { packageRoot }

    /// GitHub sample deliveries (copies of `shared/fixtures/github`), relative to the root.
    static let github = "fixtures/github"
    /// GitOps use-case streams built from them, relative to the root.
    static let gitops = "fixtures/gitops"

    /// The absolute path of `relativePath` (relative to the root).
    static func absolute(_ relativePath: String) -> String { root + "/" + relativePath }

    /// The names of the regular files in folder `relativePath` ending in `suffix`, sorted bytewise; empty when the
    /// folder cannot be opened.
    static func fileNames(in relativePath: String, suffix: String) -> [String] {
        guard let directory = opendir(absolute(relativePath)) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasSuffix(suffix) { names.append(name) }
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
