import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// `curv bench` on exported graph models (model.json, weights.safetensors, reference.npz):
/// the products with `--columns K`, the CPU times of `--cpu`, the empirical KFAC build of
/// `--kfac-empirical`; data that do not fit the graph fail with one line.
@Suite struct CLIBenchGraphTests {
  static let timings = [
    "gradient_ms", "hessian_matvec_ms", "ggn_matvec_ms", "ef_matvec_ms", "hessian_matmat_ms", "ggn_matmat_ms",
    "ef_matmat_ms",
  ]
  static let kfacTimings = ["kfac_type-2_build_ms", "kfac_mc_build_ms", "kfac_empirical_build_ms", "kfac_matvec_ms"]

  @Test(arguments: ["nanogpt", "conv_groups"])
  func benchWithColumnsOnAGraph(_ name: String) throws {
    let fixture = try CLIGraphCase.make(name)
    defer { fixture.remove() }
    let run = try CLI.run(
      ["bench"] + fixture.archiveArguments + ["--repeat", "1", "--columns", "3", "--cpu", "--kfac-empirical", "--threads", "1", "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    let json = try run.json()
    for key in Self.timings {
      #expect((json[key] as? Double ?? -1) >= 0, "\(name): \(key) in \(run.stdout)")
      let cpu = key.replacingOccurrences(of: "_ms", with: "_cpu_ms")
      #expect((json[cpu] as? Double ?? -1) >= 0, "\(name): \(cpu) in \(run.stdout)")
    }
    // KFAC keys are present: numbers, or null where the graph has parameters KFAC does not factor.
    for key in Self.kfacTimings {
      #expect(json.keys.contains(key), "\(name): \(key) in \(run.stdout)")
      #expect(json[key] is NSNull || (json[key] as? Double ?? -1) >= 0, "\(name): \(key) in \(run.stdout)")
    }
    // The table has the CPU column.
    let table = try CLI.run(["bench"] + fixture.archiveArguments + ["--repeat", "1", "--cpu"])
    #expect(table.status == 0, "\(table.stderr)")
    #expect(table.stdout.contains("cpu ms") && table.stdout.contains("gradient_ms"), "\(table.stdout)")
  }

  /// Another graph's data: one line naming the problem, no output.
  @Test func benchRefusesDataThatDoNotFitTheGraph() throws {
    let gpt = try CLIGraphCase.make("nanogpt")
    let other = try CLIGraphCase.make("conv_groups")
    defer { gpt.remove(); other.remove() }
    let run = try CLI.run(
      ["bench", "--model", gpt.modelPath, "--weights", gpt.weightsPath, "--data", other.referencePath, "--repeat", "1", "--json"])
    #expect(run.status != 0)
    #expect(run.errorLines.count == 1 && run.stderr.contains("curv bench: error: "), "\(run.stderr)")
    #expect(run.stdout.isEmpty, "\(run.stdout)")
  }
}
