import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The Kronecker variants beside laplace-torch's default kron: its `damping`, and EKFAC
/// (curvlinops' EKFAC evaluated by laplace-torch's full-matrix code in the fixtures).
@Suite struct LaplaceKronVariantsTests {
  /// The fixture keys, structures and whether they are damped.
  static let variants: [(name: String, structure: LaplaceStructure, subset: LaplaceSubset, damping: Bool)] = [
    ("kron-damped", .kron, .all, true), ("last-layer-kron-damped", .kron, .lastLayer, true),
    ("ekfac", .ekfac, .all, false), ("last-layer-ekfac", .ekfac, .lastLayer, false),
  ]

  func laplace(
    _ fixture: LaplaceFixture, _ variant: (name: String, structure: LaplaceStructure, subset: LaplaceSubset, damping: Bool),
    prior: [Double] = [0.7], batchSize: Int? = nil
  ) throws -> LaplaceApproximation<Double> {
    try LaplaceApproximation(
      try fixture.problem(batchSize: batchSize), structure: variant.structure, subset: variant.subset, priorPrecision: prior,
      sigmaNoise: fixture.isRegression ? LaplaceFixture.sigma : nil, damping: variant.damping)
  }

  /// Log marginal likelihood and its parts match the fixtures to 1e-8 relative, with a
  /// scalar and a per-tensor prior, in batches of 5 and of the whole set.
  @Test(arguments: LaplaceFixture.cases)
  func evidenceMatchesTheFixtures(_ name: String) throws {
    let fixture = try LaplaceFixture(name)
    for batchSize in [5, fixture.data.count] {
      for variant in Self.variants {
        let la = try laplace(fixture, variant, batchSize: batchSize)
        for prior in variant.subset == .all ? ["scalar", "layerwise"] : ["scalar"] {
          let key = "\(variant.name)/\(prior)"
          let evidence = try la.logMarginalLikelihood(priorPrecision: try fixture.array("\(key)/prior_precision").scalars)
          try fixture.expectEvidence(evidence, key: key, "\(name) \(key) batch \(batchSize)")
        }
      }
    }
  }

  /// Probit and bridge probabilities, and the regression mean and functional variance,
  /// match the fixtures to 1e-8.
  @Test(arguments: LaplaceFixture.cases)
  func predictivesMatchTheFixtures(_ name: String) throws {
    let fixture = try LaplaceFixture(name)
    for variant in Self.variants {
      var la = try laplace(fixture, variant, batchSize: 4)
      for prior in variant.subset == .all ? ["scalar", "layerwise"] : ["scalar"] {
        let key = "\(variant.name)/\(prior)"
        try la.setPriorPrecision(try fixture.array("\(key)/prior_precision").scalars)
        try fixture.expectPredictives(la, key: key, name)
      }
    }
  }

  /// Damping changes the numbers (the test above could not pass with it ignored), and the
  /// damped gradients (log prior per tensor, log σ) equal central differences.
  @Test func dampedGradientMatchesFiniteDifferences() throws {
    let fixture = try LaplaceFixture("mlp_regression")
    let damped = try laplace(fixture, Self.variants[0])
    let plain = try fixture.laplace(.kron, .all)
    #expect(try damped.logMarginalLikelihood().logDetRatio > plain.logMarginalLikelihood().logDetRatio + 1)
    try expectGradientMatchesFiniteDifferences(damped, "")
  }

  /// The optimized prior of every variant is a stationary point at least as good as any
  /// value of a grid around it.
  @Test(arguments: LaplaceFixture.cases)
  func optimizedPriorIsTheBest(_ name: String) throws {
    let fixture = try LaplaceFixture(name)
    for variant in Self.variants {
      var la = try laplace(fixture, variant, prior: [1])
      let best = try la.optimizePriorPrecision().logMarginalLikelihood
      #expect(abs(try la.logMarginalLikelihoodGradient().logPriorPrecision[0]) < 1e-6, "\(name) \(variant.name)")
      for factor in [0.1, 0.5, 0.9, 1.1, 2, 10] {
        let other = try la.logMarginalLikelihood(priorPrecision: [la.priorPrecision[0] * factor]).logMarginalLikelihood
        #expect(best >= other, "\(name) \(variant.name): \(best) < \(other) at \(factor)×")
      }
    }
  }

  /// EKFAC's posterior covariance is the inverse of the dense EKFAC (the library's
  /// operator, scaled to the summed log-likelihood) plus the prior; samples reproduce it.
  @Test func ekfacCovarianceIsTheDenseInverse() throws {
    let fixture = try LaplaceFixture("mlp_classification")
    let problem = try fixture.problem()
    let la = try LaplaceApproximation(problem, structure: .ekfac, priorPrecision: [0.7])
    var precision = try EKFACOperator(problem, options: KFACOptions(fisherType: .type2)).dense(onProgress: nil) * Double(problem.reductionFactor)
    for i in 0..<la.parameterCount { precision[i, i] += 0.7 }
    let covariance = try la.posteriorCovariance()
    let identity = matmul(precision, covariance)
    assertClose(identity, .identity(la.parameterCount), rtol: 0, atol: 1e-8, "P Σ = I")
    assertClose(try la.posteriorVariance(), covariance.diagonal(), rtol: 1e-10, atol: 1e-14, "variances")
  }

  /// Damped and EKFAC posteriors save and load bit for bit.
  @Test func saveAndLoadRoundTrip() throws {
    let fixture = try LaplaceFixture("mlp_regression")
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("laplace-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    for variant in Self.variants {
      let la = try laplace(fixture, variant, prior: [0.8])
      try la.save(to: directory)
      let loaded = try LaplaceApproximation(try fixture.problem(), contentsOf: directory)
      #expect(loaded.damping == variant.damping && loaded.structure == variant.structure, "\(variant.name)")
      #expect(try loaded.logMarginalLikelihood() == la.logMarginalLikelihood(), "\(variant.name)")
      #expect(try loaded.samples(count: 3, seed: 1) == la.samples(count: 3, seed: 1), "\(variant.name)")
    }
  }

  /// Damping is a kron option; EKFAC keeps separate bias blocks and a scalar or per-tensor
  /// prior.
  @Test func invalidVariantsThrow() throws {
    let fixture = try LaplaceFixture("mlp_classification")
    let problem = try fixture.problem()
    for structure in [LaplaceStructure.full, .diag, .ekfac, .lowRank(rank: 3)] {
      #expect(throws: CurvatureError.self, "\(structure.name)") { try LaplaceApproximation(problem, structure: structure, damping: true) }
    }
    #expect(throws: CurvatureError.self) {
      try LaplaceApproximation(problem, structure: .ekfac(KFACOptions(fisherType: .type2, jointBias: true)))
    }
    let la = try LaplaceApproximation(problem, structure: .ekfac)
    #expect(throws: CurvatureError.self) { try la.logMarginalLikelihood(priorPrecision: Array(repeating: 1, count: la.parameterCount)) }
  }

  /// Float agrees with Double for the damped kron and EKFAC.
  @Test func floatAgreesWithDouble() throws {
    let problem = try LaplaceFixture.floatProblem("mlp_regression")
    let fixture = try LaplaceFixture("mlp_regression")
    for variant in Self.variants {
      let single = try LaplaceApproximation(
        problem, structure: variant.structure, subset: variant.subset, priorPrecision: [0.7], sigmaNoise: Float(LaplaceFixture.sigma),
        damping: variant.damping)
      let a = try single.logMarginalLikelihood().logMarginalLikelihood
      let b = try fixture.value("\(variant.name)/scalar/log_marginal_likelihood")
      #expect(abs(Double(a) - b) <= 1e-4 * abs(b), "\(variant.name): Float \(a) vs laplace-torch \(b)")
    }
  }
}
