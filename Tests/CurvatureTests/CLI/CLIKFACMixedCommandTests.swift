import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// `curv dense|trace|eigs|solve --operator kfac|ekfac` on an exported transformer classifier
/// with parameters outside its linear nodes (LayerNorms, the packed in-projection): every
/// command works on the mixed operator and agrees with its dense matrix, whose other
/// blocks are the exact GGN's; a KFAC preconditioner of a mixed operator solves the GGN
/// system.
@Suite struct CLIKFACMixedCommandTests {
  @Test(arguments: ["kfac", "ekfac"])
  func commandsWorkOnTheMixedOperator(_ op: String) throws {
    let fixture = try CLIGraphCase.make("encoder_classifier")
    defer { fixture.remove() }
    let ggn = try fixture.matrix("ggn")
    let p = ggn.shape[0]
    let settings = ["--operator", op, "--fisher-type", "type-2", "--other-parameters", "exact-block", "--dtype", "float64"]

    let dense = try CLI.run(["dense"] + fixture.fileArguments + settings + ["--output", fixture.path("K.npy")])
    #expect(dense.status == 0, "\(dense.stderr)")
    #expect(dense.stderr.contains("note: \(op.uppercased()): "), "\(dense.stderr)")
    let m = try CLI.readNPY(URL(fileURLWithPath: fixture.path("K.npy")))
    #expect(m.shape == [p, p])
    // The LayerNorm weight's block is the GGN's.
    let indices = try fixture.indices(of: ["layer.norm1.weight"])
    for i in indices {
      for j in indices { #expect(Swift.abs(m[i, j] - ggn[i, j]) <= 1e-9 * ggn.norm(), "(\(i), \(j))") }
    }

    let trace = try CLI.run(["trace"] + fixture.fileArguments + settings + ["--json"])
    #expect(trace.status == 0, "\(trace.stderr)")
    let traced = try #require(try trace.json()["trace"] as? Double)
    #expect(Swift.abs(traced - m.trace()) <= 1e-10 * Swift.abs(m.trace()), "trace \(traced) vs \(m.trace())")
    #expect(try trace.json()["matvecs"] as? Int == 0, "the closed form needs no products: \(trace.stdout)")

    let eigs = try CLI.run(["eigs"] + fixture.fileArguments + settings + ["--k", "3", "--json"])
    #expect(eigs.status == 0, "\(eigs.stderr)")
    let values = try #require(try eigs.json()["eigenvalues"] as? [Double])
    let exact = try m.symmetricEigenvalues().scalars.sorted(by: >)
    for (value, expected) in zip(values, exact.prefix(3)) {
      #expect(Swift.abs(value - expected) <= 1e-8 * exact[0], "\(values) vs \(exact.prefix(3))")
    }

    var rng = RandomGenerator(seed: 4)
    let b: NDArray<Double> = rng.normalArray(shape: [p, 2])
    try NPYArray(b).write(to: URL(fileURLWithPath: fixture.path("b.npy")))
    let solve = try CLI.run(
      ["solve"] + fixture.fileArguments + settings + ["--damping", "0.1", "--tol", "1e-10", "--rhs", fixture.path("b.npy"), "--output", fixture.path("x.npy")])
    #expect(solve.status == 0, "\(solve.stderr)")
    let x = try CLI.readNPY(URL(fileURLWithPath: fixture.path("x.npy")))
    expectClose(matmul(m, x) + x * 0.1, b, rtol: 1e-7, atolFactor: 1e-8, "(K + 0.1 I) x = b")
  }

  /// The KFAC preconditioner of a mixed operator (other blocks: their exact GGN blocks,
  /// inverted with the damping) for the damped GGN system.
  @Test func mixedKFACPreconditionsTheGGN() throws {
    let fixture = try CLIGraphCase.make("encoder_classifier")
    defer { fixture.remove() }
    let ggn = try fixture.matrix("ggn")
    let p = ggn.shape[0]
    var rng = RandomGenerator(seed: 5)
    let b: NDArray<Double> = rng.normalArray(shape: [p])
    try NPYArray(b).write(to: URL(fileURLWithPath: fixture.path("b.npy")))
    let solve = try CLI.run(
      ["solve"] + fixture.fileArguments + [
        "--operator", "ggn", "--preconditioner", "kfac", "--fisher-type", "type-2", "--other-parameters", "exact-block",
        "--damping", "0.1", "--dtype", "float64", "--tol", "1e-10", "--rhs", fixture.path("b.npy"), "--output", fixture.path("x.npy"), "--json",
      ])
    #expect(solve.status == 0, "\(solve.stderr)")
    #expect(try solve.json()["preconditioner"] as? String == "kfac", "\(solve.stdout)")
    let x = try CLI.readNPY(URL(fileURLWithPath: fixture.path("x.npy")))
    expectClose(matmul(ggn, x.reshaped([p, 1])) + x.reshaped([p, 1]) * 0.1, b.reshaped([p, 1]), rtol: 1e-7, atolFactor: 1e-8, "(G + 0.1 I) x = b")
  }
}
