import Curvature
import CurvatureTestSupport
import Testing

/// The Monte Carlo Fisher: seeded, batch-size invariant, and converging to the GGN.
@Suite struct MonteCarloFisherTests {
  /// A tiny MLP `Linear(2, 3) – tanh – Linear(3, 2)` (P = 17) on 4 points.
  static func tinyCase(_ kind: LossKind, _ reduction: LossReduction = .mean) throws -> CurvatureCase {
    var rng = RandomGenerator(seed: 21, stream: 7)
    let model = try Sequential<Double>(
      [Linear(inFeatures: 2, outFeatures: 3), Tanh(), Linear(inFeatures: 3, outFeatures: 2)], seed: 21)
    let x: NDArray<Double> = rng.normalArray(shape: [4, 2])
    let data = try ArrayDataset(inputs: x, targets: CurvatureCases.targets(kind, outputShape: [4, 2], rng: &rng))
    return CurvatureCase(name: "tiny_\(kind.rawValue)", model: model, loss: Loss(kind, reduction: reduction), data: data)
  }

  @Test(arguments: ["mlp_tanh_cross_entropy_mean", "mlp_sigmoid_mse_sum", "mlp_relu_bce_with_logits_mean", "sequence_mse_mean"])
  func sameSeedSameMatrixOtherSeedDiffers(_ name: String) throws {
    let problem = try CurvatureCases.named(name).problem(batchSize: 4)
    let a = try MonteCarloFisherOperator(problem, mcSamples: 2, seed: 17).dense()
    let b = try MonteCarloFisherOperator(problem, mcSamples: 2, seed: 17).dense()
    #expect(a == b, "\(name): the same seed gave different matrices")
    let c = try MonteCarloFisherOperator(problem, mcSamples: 2, seed: 18).dense()
    let difference = CurvatureCases.maxMagnitude(a - c)
    #expect(difference > 1e-3 * CurvatureCases.maxMagnitude(a), "\(name): seeds 17 and 18 gave (nearly) the same matrix")
    // One operator applied twice gives the same product; the matrix is symmetric.
    let op = try MonteCarloFisherOperator(problem, mcSamples: 2, seed: 17)
    let v = CurvatureCases.randomMatrix(problem.dimension, 3, seed: 1)
    #expect(try op.apply(v) == op.apply(v))
    expectClose(a.transposed(), a, rtol: 1e-12, "\(name) MC Fisher symmetry")
    try expectMatches(op, a, "\(name) MC Fisher products")
  }

  @Test func batchSizeInvariance() throws {
    let c = try CurvatureCases.mlp(.tanh, .bceWithLogits, .mean, n: 9)
    let whole = try MonteCarloFisherOperator(c.problem(), mcSamples: 4, seed: 3).dense()
    for batchSize in [1, 7] {
      let batched = try MonteCarloFisherOperator(c.problem(batchSize: batchSize), mcSamples: 4, seed: 3).dense()
      expectClose(batched, whole, rtol: 1e-12, atolFactor: 1e-14, "batch size \(batchSize)")
    }
    let s = try CurvatureCases.sequence(.mse, .mean, n: 9)
    let sequenceWhole = try MonteCarloFisherOperator(s.problem(), mcSamples: 2, seed: 3).dense()
    for batchSize in [1, 7] {
      let batched = try MonteCarloFisherOperator(s.problem(batchSize: batchSize), mcSamples: 2, seed: 3).dense()
      expectClose(batched, sequenceWhole, rtol: 1e-12, atolFactor: 1e-14, "sequence, batch size \(batchSize)")
    }
  }

  /// With M = 2000 samples per term the MC Fisher is within `c·σ_ij` of the GGN in every
  /// entry, `c = 5`, where `σ_ij` is the exact standard deviation of the estimate's entry
  /// (`DenseCurvature.monteCarloFisherStandardDeviation`, ∝ 1/√M); and the normalized errors
  /// have a mean square of order 1 (in (0.05, 6): the entries are strongly correlated, being
  /// driven by a few dozen independent sample means, so the mean square is a χ²-like
  /// quantity of few degrees of freedom; a bias or a σ 5× too loose would leave the range).
  /// Coarser, the largest error is at most `c · max σ`; and `max σ` itself, ∝ 1/√M, is below
  /// 10% of the GGN's largest entry. Fixed seed, so the outcome is deterministic (with seed
  /// 2024 the worst normalized errors are 1.5–2.1 and the mean squares 0.28–1.44).
  @Test(arguments: ["tiny_cross_entropy", "tiny_mse", "tiny_bce_with_logits", "sequence_bce_with_logits"])
  func convergesToTheGGN(_ name: String) throws {
    let kind = LossKind(rawValue: name.split(separator: "_", maxSplits: 1).map(String.init)[1])!
    // The sequence case has 5 terms per data point, drawn from the data point's one stream.
    let c = name.hasPrefix("sequence") ? try CurvatureCases.sequence(kind, .mean, n: 2) : try Self.tinyCase(kind)
    let reference = c.reference()
    let ggn = reference.ggn
    let m = 2000
    let mc = try MonteCarloFisherOperator(c.problem(batchSize: 3), mcSamples: m, seed: 2024).dense()
    let sigma = reference.monteCarloFisherStandardDeviation(samples: m)
    let bound = 5.0
    var worst = 0.0, sumOfSquares = 0.0, counted = 0
    let scale = CurvatureCases.maxMagnitude(ggn)
    for i in 0..<ggn.count {
      let error = abs(mc.scalars[i] - ggn.scalars[i]), s = sigma.scalars[i]
      #expect(error <= bound * s + 1e-12 * scale, "\(kind.rawValue): entry \(i) off by \(error), σ = \(s)")
      if s > 1e-9 * scale {
        worst = Swift.max(worst, error / s)
        sumOfSquares += (error / s) * (error / s)
        counted += 1
      }
    }
    let meanSquare = sumOfSquares / Double(Swift.max(counted, 1))
    #expect(counted > ggn.count / 2)
    #expect(meanSquare > 0.05 && meanSquare < 6, "\(kind.rawValue): mean squared normalized error \(meanSquare)")
    let maxSigma = CurvatureCases.maxMagnitude(sigma)
    #expect(CurvatureCases.maxMagnitude(mc - ggn) <= bound * maxSigma)
    #expect(maxSigma < 0.1 * scale, "\(kind.rawValue): σ_max \(maxSigma) vs scale \(scale)")
  }

  /// Sum reduction: the same convergence (R = 1), for cross-entropy.
  @Test func convergesWithSumReduction() throws {
    let c = try Self.tinyCase(.crossEntropy, .sum)
    let reference = c.reference()
    let mc = try MonteCarloFisherOperator(c.problem(), mcSamples: 2000, seed: 7).dense()
    let sigma = reference.monteCarloFisherStandardDeviation(samples: 2000)
    let ggn = reference.ggn
    for i in 0..<ggn.count {
      #expect(abs(mc.scalars[i] - ggn.scalars[i]) <= 5 * sigma.scalars[i] + 1e-12 * CurvatureCases.maxMagnitude(ggn))
    }
  }

  @Test func rejectsNonPositiveSampleCounts() throws {
    let problem = try CurvatureCases.mlp(.tanh, .crossEntropy, .mean).problem()
    for samples in [0, -1] {
      let error = #expect(throws: CurvatureError.self) { try MonteCarloFisherOperator(problem, mcSamples: samples) }
      guard case .invalidArgument = error else { Issue.record("mcSamples \(samples): \(String(describing: error))"); continue }
    }
  }
}
