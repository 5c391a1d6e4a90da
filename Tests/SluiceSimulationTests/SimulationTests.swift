import Foundation
import SluiceSimulation
import Testing

/// The deterministic simulation of the whole pipeline (docs/simulation.md).
///
/// - `SLUICE_SIM_SEED=N` replays seed N alone, with its trace printed.
/// - `SLUICE_SIM_SEEDS=N` runs seeds 1...N (CI: 2,000; `scripts/simulate` runs more).
/// - `SLUICE_SIM_DEFECT=settle-before-fsync` (or `drop-retry`, `reuse-webhook-id`, `restart-skips-refeed`) plants a defect in
///   those runs: with it, failures are what the mutation check expects.
/// - `SLUICE_SIM_MUTATION_SEEDS=N`: seeds per planted defect in the mutation check (default 300;
///   100 for `restart-skips-refeed`).
@Suite struct SimulationTests {
    static let environment = ProcessInfo.processInfo.environment

    static var seeds: [UInt64] {
        if let one = environment["SLUICE_SIM_SEED"].flatMap(UInt64.init) { return [one] }
        let count = environment["SLUICE_SIM_SEEDS"].flatMap(UInt64.init) ?? 2_000
        return Array(1...max(1, count))
    }

    /// Runs `seed`; on a violation, runs it again with tracing (the run is deterministic) for the report.
    static let plantedDefect = environment["SLUICE_SIM_DEFECT"].flatMap(SimulationDefect.init(rawValue:))

    static func run(_ seed: UInt64, defect: SimulationDefect? = plantedDefect) -> Simulation.Report {
        var simulation = Simulation(seed: seed, defect: defect, tracing: environment["SLUICE_SIM_SEED"] != nil)
        let report = simulation.run()
        guard !report.violations.isEmpty, report.trace.isEmpty else { return report }
        var traced = Simulation(seed: seed, defect: defect, tracing: true)
        return traced.run()
    }

    @Test func everySeedKeepsTheGuarantees() {
        let started = Date()
        var failed: [UInt64] = []
        for seed in Self.seeds {
            // After three failures (each reported with its trace), the rest only count.
            if failed.count >= 3 {
                var simulation = Simulation(seed: seed, defect: Self.plantedDefect)
                if !simulation.run().violations.isEmpty { failed.append(seed) }
                continue
            }
            let report = Self.run(seed)
            if Self.seeds.count == 1 {
                print("seed \(seed): \(report.summary)\n" + report.trace.joined(separator: "\n"))
            }
            guard report.violations.isEmpty else {
                failed.append(seed)
                Issue.record(
                    """
                    seed \(seed): \(report.violations.joined(separator: "; "))
                    replay: SLUICE_SIM_SEED=\(seed) swift test --filter SimulationTests
                    \(report.summary)
                    last steps:
                    \(report.trace.joined(separator: "\n"))
                    """
                )
                continue
            }
        }
        print(
            "simulation: \(Self.seeds.count) seeds in \(Int(Date().timeIntervalSince(started) * 1_000)) ms; "
                + "\(failed.count) failed (first: \(failed.prefix(10)))"
        )
    }

    /// The mutation check: each planted defect is caught by some of the first seeds.
    @Test(arguments: SimulationDefect.allCases)
    func plantedDefectIsCaught(_ defect: SimulationDefect) {
        let started = Date()
        // restart-skips-refeed shows only when a restart falls inside a window (a quarter of the seeds, the
        // first at seed 2): 100 seeds keep the check's time down.
        let count =
            Self.environment["SLUICE_SIM_MUTATION_SEEDS"].flatMap(UInt64.init)
            ?? (defect == .restartSkipsRefeed ? 100 : 300)
        var caught: [UInt64] = []
        var kinds: [String: Int] = [:]
        for seed in 1...max(1, count) {
            let report = Self.run(seed, defect: defect)
            guard let violation = report.violations.first else { continue }
            caught.append(seed)
            // The invariant that caught it: the message without its numbers.
            let kind = violation.split(separator: " ").filter { !$0.contains(where: \.isNumber) }.prefix(6)
            kinds[kind.joined(separator: " "), default: 0] += 1
        }
        print(
            "mutation \(defect.rawValue): caught by \(caught.count) of \(count) seeds in "
                + "\(Int(Date().timeIntervalSince(started) * 1_000)) ms (first: \(caught.prefix(10))); by: \(kinds)"
        )
        #expect(!caught.isEmpty, "no seed caught \(defect.rawValue)")
    }
}
