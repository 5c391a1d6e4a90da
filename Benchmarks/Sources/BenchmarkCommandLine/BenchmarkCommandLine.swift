import Foundation

/// The command line of one benchmark executable: each option is declared and read in one call, then
/// ``finish()`` answers `--help` (the usage, what the benchmark measures and every option; exit status 0) or
/// refuses anything that was not declared (exit status 2, naming it). A value that does not parse or is out of
/// its range is refused at once with the range (exit status 2), never clamped or trapped.
///
/// Not thread-safe; used by the main thread before the benchmark starts.
public struct BenchmarkCommandLine {
    private let name: String
    private let summary: String
    private let arguments: [String]
    private var consumed: Set<Int> = []
    private var options: [(usage: String, help: String)] = []
    private let helpRequested: Bool

    /// - Parameters:
    ///   - name: the executable's name, e.g. `pipeline-bench`.
    ///   - summary: what it measures, against which anchor, and its goal; printed by `--help`.
    public init(name: String, summary: String, arguments: [String] = Array(CommandLine.arguments.dropFirst())) {
        self.name = name
        self.summary = summary
        self.arguments = arguments
        helpRequested = arguments.contains("--help") || arguments.contains("-h")
    }

    /// `FLAG N`: a whole number in `range`, or `value` when the flag is absent.
    public mutating func integer(_ flag: String, default value: Int, range: ClosedRange<Int>, _ help: String) -> Int {
        declare("\(flag) N", "\(help) (\(range.lowerBound) to \(range.upperBound); default \(value))")
        guard let text = self.value(of: flag) else { return value }
        guard let parsed = Int(text), range.contains(parsed) else {
            fail("\(flag) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
        }
        return parsed
    }

    /// `FLAG X`: a finite number in `range`, or `value` when the flag is absent.
    public mutating func number(
        _ flag: String,
        default value: Double,
        range: ClosedRange<Double>,
        _ help: String
    ) -> Double {
        declare(
            "\(flag) X",
            "\(help) (\(format(range.lowerBound)) to \(format(range.upperBound)); default \(format(value)))"
        )
        guard let text = self.value(of: flag) else { return value }
        guard let parsed = Double(text), parsed.isFinite, range.contains(parsed) else {
            fail(
                "\(flag) must be a number from \(format(range.lowerBound)) to \(format(range.upperBound)), not '\(text)'"
            )
        }
        return parsed
    }

    /// `FLAG TEXT`: any non-empty text (a path), or `value` when the flag is absent.
    public mutating func text(_ flag: String, default value: String, _ help: String) -> String {
        declare("\(flag) TEXT", "\(help) (default \(value))")
        guard let text = self.value(of: flag) else { return value }
        guard !text.isEmpty else { fail("\(flag) must not be empty") }
        return text
    }

    /// `FLAG`: true when given.
    public mutating func flag(_ flag: String, _ help: String) -> Bool {
        declare(flag, help)
        var found = false
        for (index, argument) in arguments.enumerated() where argument == flag {
            consumed.insert(index)
            found = true
        }
        return found
    }

    /// `FLAG A|B|…`: one of `choices`, or `value` when the flag is absent.
    public mutating func choice(_ flag: String, default value: String, from choices: [String], _ help: String) -> String
    {
        declare("\(flag) \(choices.joined(separator: "|"))", "\(help) (default \(value))")
        guard let text = self.value(of: flag) else { return value }
        guard choices.contains(text) else {
            fail("\(flag) must be one of \(choices.joined(separator: ", ")), not '\(text)'")
        }
        return text
    }

    /// `FLAG A,B,…`: a comma-separated list whose every element is one of `choices`.
    public mutating func choices(
        _ flag: String,
        default value: [String],
        from choices: [String],
        _ help: String
    ) -> [String] {
        let all = choices.joined(separator: "|")
        declare("\(flag) \(all)[,…]", "\(help) (default \(value.joined(separator: ",")))")
        guard let text = self.value(of: flag) else { return value }
        let parsed = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !parsed.isEmpty, parsed.allSatisfy(choices.contains) else {
            fail("\(flag) must be a comma-separated list of \(choices.joined(separator: ", ")), not '\(text)'")
        }
        return parsed
    }

    /// `FLAG N,N,…`: a comma-separated list of whole numbers, each in `range`.
    public mutating func integers(
        _ flag: String,
        default value: [Int],
        range: ClosedRange<Int>,
        _ help: String
    ) -> [Int] {
        let defaults = value.map(String.init).joined(separator: ",")
        declare("\(flag) N,N,…", "\(help) (each \(range.lowerBound) to \(range.upperBound); default \(defaults))")
        guard let text = self.value(of: flag) else { return value }
        let parsed = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
        guard !parsed.isEmpty, parsed.allSatisfy({ $0.map(range.contains) ?? false }) else {
            fail(
                "\(flag) must be a comma-separated list of whole numbers from \(range.lowerBound) to \(range.upperBound), not '\(text)'"
            )
        }
        return parsed.compactMap { $0 }
    }

    /// Prints the help and exits 0 when `--help` (or `-h`) was given; exits 2 naming the first argument no
    /// option took. Call it after reading every option and before the benchmark starts.
    public func finish() {
        if helpRequested {
            print(helpText())
            exit(0)
        }
        for (index, argument) in arguments.enumerated() where !consumed.contains(index) {
            let what = argument.hasPrefix("-") ? "unknown option" : "unexpected argument"
            fail("\(what) '\(argument)' (see \(name) --help)")
        }
    }

    private func helpText() -> String {
        let width = (options.map(\.usage.count) + ["--help".count]).max()! + 3
        var lines = ["usage: \(name) [OPTION…]", "", summary, "", "options:"]
        for option in options + [(usage: "--help", help: "print this help and exit")] {
            lines.append("  " + option.usage.padding(to: width) + option.help)
        }
        return lines.joined(separator: "\n")
    }

    private mutating func declare(_ usage: String, _ help: String) {
        options.append((usage, help))
    }

    /// The value after the last occurrence of `flag` (every occurrence is consumed), or nil when absent.
    private mutating func value(of flag: String) -> String? {
        var found: String?
        for (index, argument) in arguments.enumerated() where argument == flag && !consumed.contains(index) {
            consumed.insert(index)
            guard index + 1 < arguments.count else {
                if helpRequested { return nil }
                fail("\(flag) needs a value (see \(name) --help)")
            }
            consumed.insert(index + 1)
            found = arguments[index + 1]
        }
        return helpRequested ? nil : found
    }

    private func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("\(name): \(message)\n".utf8))
        exit(2)
    }

    private func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
