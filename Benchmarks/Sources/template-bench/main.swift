// template-bench: parameter template rendering against Python Jinja2 (`--help` says what it measures).
import BenchmarkCommandLine
import Foundation
import SluiceCore

var commandLine = BenchmarkCommandLine(
    name: "template-bench",
    summary: """
        Parameter template rendering against Python's Jinja2 3.1.6, same templates and contexts, same run
        (issue 19, goal >= 20x): every case of fixtures/templates/corpus.jsonl (the cross-check corpus) rendered
        by SluiceCore's ParameterTemplates (compiled once, as at configuration load) and by
        scripts/jinja-oracle.py --bench (Prefect's rendering rule: SandboxedEnvironment.from_string + render per
        parameter, as Prefect does per firing) and again with each Jinja2 template compiled once (the stricter
        anchor). Also reports Sluice compiling on every render. Jinja2 runs from .build/jinja-venv (created with
        pip on first use). Ratios are taken per round; figures are medians of the rounds.
        """
)
let rounds = commandLine.integer("--rounds", default: 5, range: 1...1_000, "rounds")
let passes = commandLine.integer("--passes", default: 50, range: 1...100_000, "passes over the corpus per round")
commandLine.finish()

let root: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(4)
    return parts.joined(separator: "/")
}()
let corpusPath = root + "/fixtures/templates/corpus.jsonl"
let venv = root + "/.build/jinja-venv"

struct Case {
    var parameters: JSONObject
    var context: JSONObject
}

let corpusText = try String(contentsOfFile: corpusPath, encoding: .utf8)
var loaded: [Case] = []
for line in corpusText.split(separator: "\n") {
    let value = try JSONValue.parse(String(line))
    guard let parameters = value["parameters"]?.objectValue, let context = value["context"]?.objectValue else {
        fatalError("\(corpusPath): a line without parameters and context")
    }
    loaded.append(Case(parameters: parameters, context: context))
}
let cases = loaded
let compiled: [ParameterTemplates?] = cases.map { try? ParameterTemplates($0.parameters, path: "parameters") }

let clock = ContinuousClock()
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// Renders per second of Sluice, compiled once.
@MainActor func sluiceRendered() -> Double {
    var sink = 0
    let duration = clock.measure {
        for _ in 0..<passes {
            for (position, templates) in compiled.enumerated() {
                guard let templates else { continue }
                if let result = try? templates.render(cases[position].context) { sink &+= result.members.count }
            }
        }
    }
    precondition(sink >= 0)
    return Double(passes * compiled.count) / seconds(duration)
}

/// Renders per second of Sluice compiling on every render.
@MainActor func sluiceCompiledEachTime() -> Double {
    var sink = 0
    let duration = clock.measure {
        for _ in 0..<passes {
            for item in cases {
                if let result = try? ParameterTemplates(item.parameters, path: "parameters").render(item.context) {
                    sink &+= result.members.count
                }
            }
        }
    }
    precondition(sink >= 0)
    return Double(passes * cases.count) / seconds(duration)
}

/// Renders per second of Python Jinja2 (one process per round; its start is not timed).
@MainActor func python(cached: Bool) throws -> Double {
    let script = """
        set -e
        if ! "\(venv)/bin/python" -c 'import jinja2, sys; sys.exit(jinja2.__version__ != "3.1.6")' 2>/dev/null; then
            python3 -m venv "\(venv)"
            "\(venv)/bin/pip" install --quiet jinja2==3.1.6
        fi
        exec "\(venv)/bin/python" "\(root)/scripts/jinja-oracle.py" \(cached ? "--bench-cached" : "--bench") \(passes) < "\(corpusPath)"
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", script]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0,
        let answer = try? JSONValue.parse(Array(data)),
        case .number(let rendersText)? = answer["renders"], let renders = Double(rendersText),
        case .number(let secondsText)? = answer["seconds"], let elapsed = Double(secondsText)
    else {
        throw BenchmarkFailure("the Jinja2 oracle failed (status \(process.terminationStatus))")
    }
    return renders / elapsed
}

struct BenchmarkFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

print(
    "corpus \(cases.count) cases (\(compiled.compactMap { $0 }.count) compile), \(passes) passes a round, \(rounds) rounds"
)
print("renders/s: Sluice compiled once, Sluice compiling each time, Jinja2 as Prefect runs it, Jinja2 cached")
print("round      sluice  sluice-compile    jinja2  jinja2-cached  x jinja2  x jinja2-cached")
var sluiceRates: [Double] = []
var compileRates: [Double] = []
var pythonRates: [Double] = []
var cachedRates: [Double] = []
var ratios: [Double] = []
var cachedRatios: [Double] = []
for round in 0..<rounds {
    _ = sluiceRendered()  // warm
    let sluice = sluiceRendered()
    let compile = sluiceCompiledEachTime()
    let jinja = try python(cached: false)
    let cached = try python(cached: true)
    sluiceRates.append(sluice)
    compileRates.append(compile)
    pythonRates.append(jinja)
    cachedRates.append(cached)
    ratios.append(sluice / jinja)
    cachedRatios.append(sluice / cached)
    print(
        String(
            format: "%5d  %10.0f  %14.0f  %8.0f  %13.0f  %8.1f  %15.1f",
            round + 1,
            sluice,
            compile,
            jinja,
            cached,
            sluice / jinja,
            sluice / cached
        )
    )
}
print(
    String(
        format: "median %10.0f  %14.0f  %8.0f  %13.0f  %8.1f  %15.1f",
        median(sluiceRates),
        median(compileRates),
        median(pythonRates),
        median(cachedRates),
        median(ratios),
        median(cachedRatios)
    )
)
