import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// `curv bench --fisher-mc` (issue 17): the Monte Carlo Fisher products compare.py sets
/// beside curvlinops' FisherMCLinearOperator; without the flag the keys stay the issue's.
@Suite struct CLIBenchFisherMCTests {
  @Test func benchTimesTheMonteCarloFisher() throws {
    let fixture = try CLIFixture.make()
    defer { fixture.remove() }
    let run = try CLI.run(["bench"] + fixture.fileArguments + ["--repeat", "1", "--fisher-mc", "--columns", "2", "--cpu", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    let json = try run.json()
    for key in ["fisher_mc_matvec_ms", "fisher_mc_matmat_ms", "fisher_mc_matvec_cpu_ms", "fisher_mc_matmat_cpu_ms", "ef_matvec_ms"] {
      #expect((json[key] as? Double ?? -1) >= 0, "\(key) in \(run.stdout)")
    }
    let without = try CLI.run(["bench"] + fixture.fileArguments + ["--repeat", "1", "--json"])
    #expect(without.status == 0, "\(without.stderr)")
    let plain = try without.json()
    #expect(plain["fisher_mc_matvec_ms"] == nil && plain["ef_matvec_ms"] != nil, "\(without.stdout)")
    // The table names the quantity.
    let table = try CLI.run(["bench"] + fixture.fileArguments + ["--repeat", "1", "--fisher-mc"])
    #expect(table.status == 0 && table.stdout.contains("fisher_mc_matvec_ms"), "\(table.stdout)")
  }
}
