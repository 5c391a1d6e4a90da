/// A trigger's event-name rules (spec §b.2): `expect` and `after` patterns, with Prefect's two checks.
///
/// 1. The index check: the name fnmatches (whole string) some key of `expect ∪ after` (`*` when `expect`
///    is empty).
/// 2. The regex check (`covers`): Python `re.match` of `escape(p).replace("\\*", ".+")` joined with `|`
///    (or `.+` when `expect` is empty): anchored at the start only; `*` needs at least one character
///    (not a newline); `?` and `[` are literal.
///
/// An event reaches the trigger only when both hold. Consequences kept on purpose: exact names match
/// exactly; `infrahub.*` needs a character after the dot; `infrahub.node.?reated` never matches.
public struct EventNamePatterns: Sendable, Equatable {
    public let expect: [String]
    public let after: [String]
    private let indexKeys: [Glob]
    private let regexAlternatives: [[String]]  // literal segments separated by `.+`

    public init(expect: [String], after: [String] = []) {
        self.expect = expect
        self.after = after
        let keys = expect.isEmpty ? ["*"] : expect + after
        indexKeys = keys.map(Glob.init)
        regexAlternatives =
            expect.isEmpty
            ? [["", ""]]
            : (expect + after).map { pattern in
                pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
            }
    }

    /// Rules 1 and 2: the event reaches the trigger (it may still only be counted if ``expects(_:)``).
    public func covers(_ name: String) -> Bool {
        guard indexKeys.contains(where: { $0.matches(name) }) else { return false }
        let scalars = Array(name.unicodeScalars)
        return regexAlternatives.contains { Self.regexMatches($0, scalars) }
    }

    /// Rule 4: the event counts toward the trigger: `expect` is empty, or the name matches some expect
    /// pattern under label-pattern rules (including a leading `!`).
    public func expects(_ name: String) -> Bool {
        expect.isEmpty || expect.contains { LabelPattern($0).matches(name) }
    }

    /// `true` when the name matches some `after` pattern (it opens a bucket).
    public func startsAfter(_ name: String) -> Bool {
        after.contains { LabelPattern($0).matches(name) }
    }

    /// `re.match("seg0.+seg1.+…", name)`: literal segments, each gap at least one non-newline character,
    /// anchored at the start only. Placing each segment as early as possible is optimal without an end anchor.
    static func regexMatches(_ segments: [String], _ name: [Unicode.Scalar]) -> Bool {
        let first = Array(segments[0].unicodeScalars)
        guard name.count >= first.count, Array(name[0..<first.count]) == first else { return false }
        var position = first.count
        for segment in segments.dropFirst() {
            let literal = Array(segment.unicodeScalars)
            // The gap needs ≥ 1 character and cannot cross a newline (`.` in Python's `re`).
            guard position < name.count, name[position] != "\n" else { return false }
            var start = position + 1
            var found = false
            while start + literal.count <= name.count {
                if Array(name[start..<(start + literal.count)]) == literal {
                    found = true
                    break
                }
                if name[start] == "\n" { return false }
                start += 1
            }
            guard found else { return false }
            position = start + literal.count
        }
        return true
    }
}
