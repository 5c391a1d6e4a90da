/// A compiled shell-style pattern with Python `fnmatch.fnmatchcase` semantics, the matching Prefect uses
/// (spec §b): the whole string must match, case-sensitively; `*` matches any run (including `.` and the
/// empty string), `?` one character, `[abc]` / `[a-z]` a set, `[!abc]` its complement; a `[` without a
/// closing `]` is a literal. Matching works on Unicode scalars.
///
/// Immutable and `Sendable`; compile once, match many times.
public struct Glob: Sendable, Equatable {
    enum Token: Sendable, Equatable {
        case literal(Unicode.Scalar)
        case any
        case anyRun
        case set(ranges: [ClosedRange<UInt32>], negated: Bool)
    }

    let tokens: [Token]
    public let pattern: String
    /// `true` when the pattern has no wildcard (matching is string equality).
    public let isLiteral: Bool

    public init(_ pattern: String) {
        self.pattern = pattern
        var tokens: [Token] = []
        let scalars = Array(pattern.unicodeScalars)
        var position = 0
        while position < scalars.count {
            let scalar = scalars[position]
            switch scalar {
            case "*":
                if tokens.last != .anyRun { tokens.append(.anyRun) }
                position += 1
            case "?":
                tokens.append(.any)
                position += 1
            case "[":
                if let (token, end) = Self.parseSet(scalars, from: position) {
                    tokens.append(token)
                    position = end
                } else {
                    tokens.append(.literal("["))
                    position += 1
                }
            default:
                tokens.append(.literal(scalar))
                position += 1
            }
        }
        self.tokens = tokens
        isLiteral = tokens.allSatisfy { if case .literal = $0 { true } else { false } }
    }

    /// Parses `[...]` at `start` as fnmatch does; returns the token and the position after `]`.
    private static func parseSet(_ scalars: [Unicode.Scalar], from start: Int) -> (Token, Int)? {
        var position = start + 1
        var negated = false
        if position < scalars.count && scalars[position] == "!" {
            negated = true
            position += 1
        }
        // A `]` right after `[` or `[!` is a member, not the end.
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while position < scalars.count {
            let scalar = scalars[position]
            if scalar == "]" && !first { return (.set(ranges: ranges, negated: negated), position + 1) }
            first = false
            if position + 2 < scalars.count && scalars[position + 1] == "-" && scalars[position + 2] != "]" {
                let low = scalar.value
                let high = scalars[position + 2].value
                if low <= high { ranges.append(low...high) }
                position += 3
            } else {
                ranges.append(scalar.value...scalar.value)
                position += 1
            }
        }
        return nil
    }

    /// `true` when the whole of `text` matches (scalar by scalar over its UTF-8, see ``matches(utf8:)``).
    public func matches(_ text: String) -> Bool {
        if isLiteral { return text == pattern }
        var copy = text
        return copy.withUTF8 { utf8 in unsafe matches(utf8: UnsafeRawBufferPointer(utf8)) }
    }
}
