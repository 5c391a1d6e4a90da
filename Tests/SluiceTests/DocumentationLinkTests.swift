import Foundation
import SluiceTestSupport
import Testing

/// Every relative link of the documentation points at a file that exists, and every `#anchor` at a heading of
/// its target (README.md, FORMAT.md, Benchmarks/README.md and docs/*.md; house rule 5: docs are part of the
/// feature, so a moved section must not leave a dead link behind).
@Suite struct DocumentationLinkTests {
    /// The documents checked, relative to the package root.
    static func documents() throws -> [String] {
        let docs = try FileManager.default.contentsOfDirectory(atPath: packageRoot + "/docs")
            .filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
        return ["README.md", "FORMAT.md", "Benchmarks/README.md"] + docs
    }

    @Test func everyRelativeLinkAndAnchorResolves() throws {
        let documents = try Self.documents()
        #expect(documents.count > 3, "docs/ has no Markdown files")
        let checker = DocumentationLinkChecker(
            read: { path in
                FileManager.default.contents(atPath: packageRoot + "/" + path).map {
                    String(decoding: $0, as: UTF8.self)
                }
            },
            exists: { path in FileManager.default.fileExists(atPath: packageRoot + "/" + path) }
        )
        var problems: [String] = []
        for document in documents {
            problems += try checker.problems(in: document)
        }
        for problem in problems {
            Issue.record(Comment(rawValue: problem))
        }
    }

    /// The README's embedding example is `readmeEmbeddingExample()` (ReadmeExample.swift), which compiles
    /// with the tests: so the example compiles against the current API.
    @Test func readmeShowsTheCompiledExample() throws {
        let readme = try readRepositoryFile("README.md").utf8String
        let section = try #require(readme.split(separator: "## Embedding\n", maxSplits: 1).last)
        let shown = try #require(
            section.split(separator: "```swift\n", maxSplits: 1).last?.split(separator: "```").first
        )
        let source = try readRepositoryFile("Tests/SluiceTests/ReadmeExample.swift").utf8String
        let body = try #require(
            source.split(separator: "func readmeEmbeddingExample() throws {\n", maxSplits: 1).last?
                .split(separator: "\n}\n").first
        )
        let unindented = body.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("    ") ? $0.dropFirst(4) : $0 }.joined(separator: "\n")
        #expect(String(shown) == "import Sluice\n\n" + unindented + "\n")
    }

    /// The checker itself: a missing file, a missing anchor in another file and in the same file, a link that
    /// leaves the repository are each reported with file and line; code, external links and good anchors are not.
    @Test func reportsEachBrokenLinkWithFileAndLine() throws {
        let files = [
            "README.md": """
            # Sluice
            See [the CLI](docs/cli.md#exit-status-and-errors) and [gone](docs/gone.md).
            A [bad anchor](docs/cli.md#exit-codes), [here](#sluice), [nowhere](#nowhere).
            `[not a link](missing.md)` and [out](https://example.com/x.md) and [up](../outside.md).

            ```sh
            echo "[also not](missing.md)"
            ```
            [ref]: docs/missing-reference.md
            """,
            "docs/cli.md": """
            # The `sluice` command
            ## Exit status and errors
            Back to the [README](../README.md#sluice).
            """,
        ]
        let checker = DocumentationLinkChecker(read: { files[$0] }, exists: { files[$0] != nil })
        let problems = try checker.problems(in: "README.md") + checker.problems(in: "docs/cli.md")
        #expect(
            problems == [
                "README.md:2: link 'docs/gone.md': no file docs/gone.md",
                "README.md:3: link 'docs/cli.md#exit-codes': no heading with anchor 'exit-codes' in docs/cli.md",
                "README.md:3: link '#nowhere': no heading with anchor 'nowhere' in README.md",
                "README.md:4: link '../outside.md': points outside the repository",
                "README.md:9: link 'docs/missing-reference.md': no file docs/missing-reference.md",
            ]
        )
    }

    /// GitHub's anchors: lowercase, spaces to '-', punctuation dropped, markup reduced to its text, repeats numbered.
    @Test func anchorsFollowGitHubSlugs() {
        #expect(DocumentationLinkChecker.slug("The `sluice` command") == "the-sluice-command")
        #expect(DocumentationLinkChecker.slug("I/O: io_uring and epoll") == "io-io_uring-and-epoll")
        #expect(
            DocumentationLinkChecker.slug("HTTP/1.1 codec (issue 6, pure half)") == "http11-codec-issue-6-pure-half"
        )
        #expect(DocumentationLinkChecker.slug("Rings (the pipeline's plumbing)") == "rings-the-pipelines-plumbing")
        #expect(DocumentationLinkChecker.slug("`webhooks[]`") == "webhooks")
        #expect(DocumentationLinkChecker.slug("Emit → 2xx, p99") == "emit--2xx-p99")
        #expect(DocumentationLinkChecker.slug("See [FORMAT.md](FORMAT.md)") == "see-formatmd")
        let anchors = DocumentationLinkChecker.anchors(in: "# A\n## A\n```\n# Not a heading\n```\n### A ###\n")
        #expect(anchors == ["a", "a-1", "a-2"])
    }
}

/// Finds the relative links of Markdown documents and checks their targets and anchors.
struct DocumentationLinkChecker {
    /// The text of a file by its path relative to the package root, or nil when it does not exist.
    var read: (String) -> String?
    /// Whether a file or directory exists, by its path relative to the package root.
    var exists: (String) -> Bool

    /// One problem per broken link of `document`: `FILE:LINE: link 'TARGET': why`.
    func problems(in document: String) throws -> [String] {
        let text = try #require(read(document), "cannot read \(document)")
        var problems: [String] = []
        for link in Self.links(in: text) {
            if let why = problem(of: link.target, from: document) {
                problems.append("\(document):\(link.line): link '\(link.target)': \(why)")
            }
        }
        return problems
    }

    private func problem(of target: String, from document: String) -> String? {
        let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
        let pathPart = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        let anchor = parts.count > 1 ? String(parts[1]) : nil
        let path: String
        if pathPart.isEmpty {
            path = document
        } else {
            let directory = document.split(separator: "/").dropLast().joined(separator: "/")
            guard let resolved = Self.normalized((directory.isEmpty ? "" : directory + "/") + pathPart) else {
                return "points outside the repository"
            }
            path = resolved
        }
        guard exists(path) else { return "no file \(path)" }
        guard let anchor, !anchor.isEmpty, path.hasSuffix(".md") else { return nil }
        guard let targetText = read(path) else { return "cannot read \(path)" }
        return Self.anchors(in: targetText).contains(anchor) ? nil : "no heading with anchor '\(anchor)' in \(path)"
    }

    /// `a/./b/../c` → `a/c`; nil when `..` climbs above the root.
    static func normalized(_ path: String) -> String? {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if parts.popLast() == nil { return nil }
                continue
            }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    /// The relative link targets (inline links, images and reference definitions) outside code, by line.
    static func links(in text: String) -> [(line: Int, target: String)] {
        var links: [(line: Int, target: String)] = []
        for (index, line) in linesOutsideFences(text) {
            let prose = withoutCodeSpans(line)
            for target in inlineTargets(prose) + referenceTargets(prose) where isRelative(target) {
                links.append((index, target))
            }
        }
        return links
    }

    /// The anchors GitHub gives the ATX headings of a document (a repeated one gets `-1`, `-2`, …).
    static func anchors(in text: String) -> Set<String> {
        var anchors: Set<String> = []
        var seen: [String: Int] = [:]
        for (_, line) in linesOutsideFences(text) {
            let hashes = line.prefix { $0 == "#" }.count
            guard (1...6).contains(hashes), line.dropFirst(hashes).first == " " else { continue }
            var heading = line.dropFirst(hashes).trimmingCharacters(in: .whitespaces)
            while heading.hasSuffix("#") { heading.removeLast() }
            let base = slug(heading.trimmingCharacters(in: .whitespaces))
            let count = seen[base, default: 0]
            seen[base] = count + 1
            anchors.insert(count == 0 ? base : "\(base)-\(count)")
        }
        return anchors
    }

    /// GitHub's slug of a heading: links reduced to their text, lowercase, each space a '-', letters, digits,
    /// '-' and '_' kept, everything else (punctuation, symbols, backticks) dropped.
    static func slug(_ heading: String) -> String {
        var text = ""
        var rest = Substring(heading.trimmingCharacters(in: .whitespaces))
        while let open = rest.firstIndex(of: "[") {
            text += rest[..<open]
            guard let close = rest[open...].range(of: "]("), let end = rest[close.upperBound...].firstIndex(of: ")")
            else {
                text += rest[open...]
                rest = ""
                break
            }
            text += rest[rest.index(after: open)..<close.lowerBound]
            rest = rest[rest.index(after: end)...]
        }
        text += rest
        var slug = ""
        for character in text.lowercased() {
            if character == " " {
                slug.append("-")
            } else if character == "-" || character == "_" || character.isLetter || character.isNumber {
                slug.append(character)
            }
        }
        return slug
    }

    /// Lines with their 1-based numbers, leaving out fenced code blocks (``` and ~~~) and their fences.
    private static func linesOutsideFences(_ text: String) -> [(Int, String)] {
        var result: [(Int, String)] = []
        var fence: String?
        for (offset, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.drop { $0 == " " }
            if let open = fence {
                if trimmed.hasPrefix(open) { fence = nil }
                continue
            }
            if trimmed.hasPrefix("```") || trimmed.hasPrefix("~~~") {
                fence = String(trimmed.prefix(3))
                continue
            }
            result.append((offset + 1, String(line)))
        }
        return result
    }

    /// The line without its code spans (`` `…` ``), which hold no links.
    private static func withoutCodeSpans(_ line: String) -> String {
        var result = ""
        var rest = Substring(line)
        while let open = rest.firstIndex(of: "`") {
            result += rest[..<open]
            let ticks = rest[open...].prefix { $0 == "`" }
            let after = rest[ticks.endIndex...]
            guard let close = after.range(of: String(ticks)) else {
                rest = after
                continue
            }
            rest = after[close.upperBound...]
        }
        return result + rest
    }

    /// The targets of `[text](target)` and `![alt](target "title")`; parentheses inside a target must balance.
    private static func inlineTargets(_ line: String) -> [String] {
        var targets: [String] = []
        var rest = Substring(line)
        while let start = rest.range(of: "](") {
            var depth = 1
            var index = start.upperBound
            while index < rest.endIndex {
                if rest[index] == "(" { depth += 1 }
                if rest[index] == ")" {
                    depth -= 1
                    if depth == 0 { break }
                }
                index = rest.index(after: index)
            }
            let inside = rest[start.upperBound..<index].trimmingCharacters(in: .whitespaces)
            if let target = inside.split(separator: " ").first {
                targets.append(String(target).trimmingCharacters(in: CharacterSet(charactersIn: "<>")))
            }
            rest = index < rest.endIndex ? rest[rest.index(after: index)...] : ""
        }
        return targets
    }

    /// The target of a reference definition `[name]: target` (up to three spaces of indentation).
    private static func referenceTargets(_ line: String) -> [String] {
        let trimmed = line.drop { $0 == " " }
        guard line.count - trimmed.count <= 3, trimmed.first == "[", let close = trimmed.range(of: "]:") else {
            return []
        }
        return trimmed[close.upperBound...].split(separator: " ").first.map { [String($0)] } ?? []
    }

    /// Relative: no scheme (`https:`, `mailto:`) and not protocol-relative.
    private static func isRelative(_ target: String) -> Bool {
        guard !target.isEmpty, !target.hasPrefix("//") else { return false }
        let scheme = target.prefix { $0.isLetter || $0.isNumber || $0 == "+" || $0 == "." || $0 == "-" }
        return !(target.dropFirst(scheme.count).first == ":" && !scheme.isEmpty)
    }
}
