import Curvature
import CurvatureTestSupport
import Testing

/// The dense matrices of every curvature operator of a problem (Monte Carlo Fisher with 3
/// samples, seed 5).
private func denseMatrices(_ problem: CurvatureProblem<Double>) throws -> [(String, NDArray<Double>)] {
  [
    ("GGN", try GGNOperator(problem).dense()),
    ("EF", try EmpiricalFisherOperator(problem).dense()),
    ("Hessian", try HessianOperator(problem).dense()),
    ("MC Fisher", try MonteCarloFisherOperator(problem, mcSamples: 3, seed: 5).dense()),
    ("Jacobian", try JacobianOperator(problem).dense()),
  ]
}

/// Batch-size invariance and parameter subsets of the curvature operators.
@Suite struct CurvatureBatchingAndSubsetTests {
  /// Cases with more than 7 data points, so batches of 7 leave a remainder.
  static let batchingCases = ["mlp_tanh_cross_entropy_mean", "mlp_sigmoid_mse_mean", "sequence_mse_sum", "cnn_cross_entropy_mean"]

  private static func largerCase(_ name: String) throws -> CurvatureCase {
    switch name {
    case "mlp_tanh_cross_entropy_mean": return try CurvatureCases.mlp(.tanh, .crossEntropy, .mean, n: 10)
    case "mlp_sigmoid_mse_mean": return try CurvatureCases.mlp(.sigmoid, .mse, .mean, n: 9)
    case "sequence_mse_sum": return try CurvatureCases.sequence(.mse, .sum, n: 9)
    default: return try CurvatureCases.cnn(.mean, n: 8)
    }
  }

  /// Batches of 1, 7, the whole set (the default) and more than the whole set give the same
  /// matrices (rtol 1e-12).
  @Test(arguments: batchingCases)
  func batchSizeInvariance(_ name: String) throws {
    let c = try Self.largerCase(name)
    #expect(c.data.count > 7)
    let whole = try denseMatrices(c.problem())
    #expect(try c.problem().batchSize == c.data.count)
    for batchSize in [1, 7, 100] {
      let batched = try denseMatrices(c.problem(batchSize: batchSize))
      for ((label, expected), (_, actual)) in zip(whole, batched) {
        expectClose(actual, expected, rtol: 1e-12, atolFactor: 1e-14, "\(name) \(label), batch size \(batchSize)")
      }
    }
  }

  /// Operators over blocks `[0, 2]` (both weights), a single bias, and the last two blocks
  /// equal the principal submatrices of the full references (the Jacobian: its columns);
  /// the Monte Carlo Fisher (whose samples do not depend on the selection) equals the
  /// principal submatrix of the full one.
  @Test(arguments: ["mlp_tanh_cross_entropy_mean", "mlp_relu_bce_with_logits_sum", "sequence_mse_mean", "cnn_cross_entropy_mean"])
  func parameterSubsetsArePrincipalSubmatrices(_ name: String) throws {
    let c = try CurvatureCases.named(name)
    let reference = c.reference()
    let hessian = reference.hessian()
    let fullMC = try MonteCarloFisherOperator(c.problem(), mcSamples: 2, seed: 9).dense()
    let jacobian = reference.jacobian
    for blocks in [[0, 2], [2, 0], [1], [3], [2, 3]] {
      let problem = try c.problem(batchSize: 3, blocks: blocks)
      #expect(problem.blocks == blocks.sorted())
      let indices = CurvatureCases.flatIndices(c.model, blocks: blocks)
      #expect(problem.dimension == indices.count)
      let label = "\(name) blocks \(blocks)"
      try expectMatches(GGNOperator(problem), reference.ggn.principalSubmatrix(indices), "\(label) GGN")
      try expectMatches(EmpiricalFisherOperator(problem), reference.empiricalFisher.principalSubmatrix(indices), "\(label) EF")
      try expectMatches(HessianOperator(problem), hessian.principalSubmatrix(indices), "\(label) Hessian")
      let columns = NDArray<Double>(shape: [jacobian.shape[0], indices.count]) { jacobian[$0[0], indices[$0[1]]] }
      try expectMatches(JacobianOperator(problem), columns, "\(label) Jacobian")
      let mc = try MonteCarloFisherOperator(problem, mcSamples: 2, seed: 9).dense()
      expectClose(mc, fullMC.principalSubmatrix(indices), rtol: 1e-12, "\(label) MC Fisher")
      // The reference restricted to the blocks is the same submatrix.
      if blocks == [1] {
        let restricted = c.reference(blocks: blocks)
        expectClose(restricted.ggn, reference.ggn.principalSubmatrix(indices), rtol: 1e-12, "\(label) restricted reference")
      }
    }
  }
}
