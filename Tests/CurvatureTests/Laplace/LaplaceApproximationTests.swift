import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The Laplace approximation's own properties: gradients, optimization, sampling, the
/// Monte Carlo link, storage, errors, and the Float path.
@Suite struct LaplaceApproximationTests {
  static let structures: [(String, LaplaceStructure)] = [("full", .full), ("diag", .diag), ("kron", .kron), ("lowrank", .lowRank(rank: 6))]

  /// The gradient with respect to the log prior precision (scalar and per tensor) and log σ
  /// equals central differences of the log marginal likelihood.
  @Test(arguments: [0, 1, 2, 3])
  func gradientMatchesFiniteDifferences(_ index: Int) throws {
    let fixture = try LaplaceFixture("mlp_regression")
    let (name, structure) = LaplaceApproximationTests.structures[index]
    try expectGradientMatchesFiniteDifferences(try fixture.laplace(structure, .all), "\(name) ")
  }

  /// A per-tensor prior optimized by coordinate ascent reaches a stationary point with at
  /// least the evidence of the optimal scalar prior.
  @Test func perTensorOptimizationBeatsScalar() throws {
    let fixture = try LaplaceFixture("mlp_classification")
    for (name, structure) in LaplaceApproximationTests.structures {
      var la = try fixture.laplace(structure, .all)
      let scalar = try la.optimizePriorPrecision(structure: .scalar)
      let perTensor = try la.optimizePriorPrecision(structure: .perTensor)
      #expect(la.priorPrecision.count == la.tensorCount)
      #expect(perTensor.logMarginalLikelihood >= scalar.logMarginalLikelihood - 1e-10, "\(name)")
      let gradient = try la.logMarginalLikelihoodGradient().logPriorPrecision
      #expect(gradient.allSatisfy { abs($0) < 1e-5 }, "\(name): gradient \(gradient) at the per-tensor optimum")
    }
  }

  /// A low-rank approximation of full rank is the full one (Woodbury and the determinant
  /// lemma against Cholesky).
  @Test func fullRankLowRankIsFull() throws {
    let fixture = try LaplaceFixture("mlp_regression")
    let full = try fixture.laplace(.full, .lastLayer, prior: [0.5])
    let p = full.parameterCount
    let lowRank = try fixture.laplace(.lowRank(rank: p), .lastLayer, prior: [0.5])
    let a = try full.logMarginalLikelihood(), b = try lowRank.logMarginalLikelihood()
    expectRelative(b.logDetRatio, a.logDetRatio, rtol: 1e-9, "log det ratio")
    assertClose(try lowRank.posteriorCovariance(), try full.posteriorCovariance(), rtol: 1e-8, atol: 1e-12, "covariance")
    assertClose(try lowRank.posteriorVariance(), try full.posteriorCovariance().diagonal(), rtol: 1e-8, atol: 1e-12, "variance")
  }

  /// Sample means and covariances converge to the posterior's at the Monte Carlo rate:
  /// every entry within 5 standard errors (`√((Σᵢᵢ Σⱼⱼ + Σᵢⱼ²)/n)` for a covariance), for
  /// every structure; the same seed gives the same samples.
  @Test(arguments: [0, 1, 2, 3])
  func sampleCovarianceConverges(_ index: Int) throws {
    let (name, structure) = LaplaceApproximationTests.structures[index]
    let fixture = try LaplaceFixture("mlp_classification")
    let la = try fixture.laplace(structure, .all, prior: [2])
    let n = 4000, p = la.parameterCount
    let draws = try la.samples(count: n, seed: 7)
    #expect(try la.samples(count: n, seed: 7) == draws)
    let sigma = try la.posteriorCovariance()
    var sampleMean = [Double](repeating: 0, count: p)
    for s in 0..<n { for i in 0..<p { sampleMean[i] += draws[s, i] / Double(n) } }
    for i in 0..<p {
      let se = (sigma[i, i] / Double(n)).squareRoot()
      #expect(abs(sampleMean[i] - la.mean.scalars[i]) <= 5 * se, "\(name) mean \(i)")
    }
    var worst = 0.0
    for i in 0..<p {
      for j in 0...i {
        var c = 0.0
        for s in 0..<n { c += (draws[s, i] - la.mean.scalars[i]) * (draws[s, j] - la.mean.scalars[j]) }
        c /= Double(n)
        let se = ((sigma[i, i] * sigma[j, j] + sigma[i, j] * sigma[i, j]) / Double(n)).squareRoot()
        worst = max(worst, abs(c - sigma[i, j]) / se)
      }
    }
    #expect(worst <= 5, "\(name): the worst covariance entry is \(worst) standard errors off")
  }

  /// The Monte Carlo link converges to the exact expected softmax of two classes (a 1-d
  /// integral of the sigmoid of the logit difference, by the trapezoid rule) within 5
  /// standard errors; probit and bridge give distributions.
  @Test func monteCarloLinkConverges() throws {
    let mean = NDArray<Double>(shape: [2, 2], scalars: [0.8, -0.3, -1.5, 0.4])
    let covariance = NDArray<Double>(shape: [2, 2, 2], scalars: [1.2, 0.3, 0.3, 0.7, 2.5, -0.4, -0.4, 0.9])
    let samples = 20000
    let mc = try LaplaceApproximation<Double>.link(mean: mean, covariance: covariance, .monteCarlo(samples: samples, seed: 3))
    for i in 0..<2 {
      let mu = mean[i, 0] - mean[i, 1]
      let v = covariance[i, 0, 0] + covariance[i, 1, 1] - 2 * covariance[i, 0, 1]
      let sd = v.squareRoot()
      var first = 0.0, second = 0.0
      let steps = 20000, width = 12.0
      for k in 0...steps {
        let z = -width + 2 * width * Double(k) / Double(steps)
        let weight = (k == 0 || k == steps ? 0.5 : 1) * (2 * width / Double(steps)) * exp(-z * z / 2) / (2 * Double.pi).squareRoot()
        let p = 1 / (1 + exp(-(mu + sd * z)))
        first += weight * p
        second += weight * p * p
      }
      let se = ((second - first * first) / Double(samples)).squareRoot()
      #expect(abs(mc[i, 0] - first) <= 5 * se, "point \(i): MC \(mc[i, 0]) vs exact \(first) (SE \(se))")
      #expect(abs(mc[i, 0] + mc[i, 1] - 1) < 1e-12)
    }
    for link in [LinkApproximation.probit, .bridge] {
      let p = try LaplaceApproximation<Double>.link(mean: mean, covariance: covariance, link)
      #expect(abs(p[0, 0] + p[0, 1] - 1) < 1e-12 && abs(p[1, 0] + p[1, 1] - 1) < 1e-12)
    }
  }

  /// Cross-validation picks the grid value with the least validation negative
  /// log-likelihood, and each loss is that of the public predictive at the value.
  @Test func crossValidationPicksTheBestGridValue() throws {
    for name in LaplaceFixture.cases {
      let fixture = try LaplaceFixture(name)
      var la = try fixture.laplace(.kron, .all)
      let batch = try fixture.data.all()
      let grid = [0.05, 0.5, 5.0, 50.0]
      let (chosen, losses) = try la.optimizePriorPrecision(validationInputs: batch.inputs, targets: batch.targets, grid: grid)
      #expect(losses.count == grid.count)
      #expect(chosen == grid[losses.indices.min { losses[$0] < losses[$1] }!] && la.priorPrecision == [chosen])
      for (value, loss) in zip(grid, losses) {
        try la.setPriorPrecision([value])
        var expected = 0.0
        let n = fixture.data.count
        switch batch.targets {
        case let .classes(labels):
          let p = try la.predictiveProbabilities(inputs: batch.inputs)
          for i in 0..<n { expected -= log(p[i, labels[i]]) / Double(n) }
        case let .values(y):
          let (mean, covariance) = try la.functionalPredictive(inputs: batch.inputs)
          for i in 0..<n {
            for a in 0..<2 {
              let v = covariance[i, a, a] + LaplaceFixture.sigma * LaplaceFixture.sigma
              let r = y[i, a] - mean[i, a]
              expected += (log(2 * Double.pi * v) + r * r / v) / 2 / Double(n)
            }
          }
        }
        expectRelative(loss, expected, rtol: 1e-12, "\(name) λ = \(value)")
      }
    }
    var la = try LaplaceFixture("mlp_classification").laplace(.diag, .all)
    #expect(throws: CurvatureError.self) { try la.optimizePriorPrecision(validationInputs: NDArray(zeros: [2, 3]), targets: .classes([0, 7])) }
    #expect(throws: CurvatureError.self) { try la.optimizePriorPrecision(validationInputs: NDArray(zeros: [2, 3]), targets: .classes([0, 1]), grid: [1, 0]) }
  }

  /// A saved posterior loads back bit for bit (evidence, samples, predictive); loading it
  /// onto other parameters fails.
  @Test func saveAndLoadRoundTrip() throws {
    let fixture = try LaplaceFixture("mlp_regression")
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("laplace-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    for (name, structure) in LaplaceApproximationTests.structures {
      for subset in LaplaceSubset.allCases {
        var la = try fixture.laplace(structure, subset, prior: [0.8])
        try la.setPriorPrecision((0..<la.tensorCount).map { 0.5 + Double($0) })
        try la.save(to: directory)
        let loaded = try LaplaceApproximation(try fixture.problem(), contentsOf: directory)
        #expect(try loaded.logMarginalLikelihood() == la.logMarginalLikelihood(), "\(name) \(subset)")
        #expect(try loaded.samples(count: 3, seed: 1) == la.samples(count: 3, seed: 1), "\(name) \(subset)")
        #expect(try loaded.functionalPredictive(inputs: fixture.testInputs).covariance == la.functionalPredictive(inputs: fixture.testInputs).covariance)
        #expect(loaded.structure == la.structure && loaded.subset == subset && loaded.sigmaNoise == la.sigmaNoise)
      }
    }
    var moved = fixture.model.parameters
    moved[0].scalars[0] += 1
    let other = try Sequential<Double>(fixture.model.layers, parameters: moved)
    let problem = try CurvatureProblem(model: other, loss: fixture.loss, data: fixture.data)
    #expect(throws: CurvatureError.self) { try LaplaceApproximation(problem, contentsOf: directory) }
  }

  /// Clear errors: prior precision ≤ 0 or of a wrong length, regression without σ, σ for
  /// classification, a likelihood that does not match the loss, a loss that is no
  /// likelihood, and a numerically singular posterior.
  @Test func invalidInputsThrow() throws {
    let regression = try LaplaceFixture("mlp_regression")
    let classification = try LaplaceFixture("mlp_classification")
    let problem = try regression.problem()
    #expect(throws: CurvatureError.self) { try LaplaceApproximation(problem, structure: .diag, priorPrecision: [0], sigmaNoise: 1) }
    #expect(throws: CurvatureError.self) { try LaplaceApproximation(problem, structure: .diag, priorPrecision: [-1], sigmaNoise: 1) }
    #expect(throws: CurvatureError.self) { try LaplaceApproximation(problem, structure: .diag, priorPrecision: [1, 2], sigmaNoise: 1) }
    #expect(throws: CurvatureError.self) { try LaplaceApproximation(problem, structure: .diag) }
    #expect(throws: CurvatureError.self) { try LaplaceApproximation(problem, structure: .diag, sigmaNoise: 0) }
    #expect(throws: CurvatureError.self) { try LaplaceApproximation(problem, structure: .diag, likelihood: .classification, sigmaNoise: 1) }
    #expect(throws: CurvatureError.self) { try LaplaceApproximation(try classification.problem(), structure: .diag, sigmaNoise: 0.5) }
    var la = try LaplaceApproximation(problem, structure: .kron, sigmaNoise: 1)
    #expect(throws: CurvatureError.self) { try la.setPriorPrecision(Array(repeating: 1, count: la.parameterCount)) }
    #expect(throws: CurvatureError.self) { try la.setSigmaNoise(-1) }
    #expect(throws: CurvatureError.self) { try la.logMarginalLikelihood(priorPrecision: [.nan]) }
    #expect(throws: CurvatureError.self) { try la.samples(count: 0, seed: 0) }
    let bce = try CurvatureProblem(
      model: regression.model, loss: Loss<Double>(.bceWithLogits), data: ArrayDataset(
        inputs: try regression.data.all().inputs, targets: .values(NDArray(shape: [regression.data.count, 2], scalars: Array(repeating: 0.5, count: 2 * regression.data.count)))))
    #expect(throws: CurvatureError.self) { try LaplaceApproximation(bce, structure: .diag) }
    // One data point: the GGN has rank 2 of 32, so a tiny prior leaves P singular.
    let first = try regression.data.batch(0..<1)
    let one = try CurvatureProblem(model: regression.model, loss: regression.loss, data: ArrayDataset(inputs: first.inputs, targets: first.targets))
    // (diag stays regular: every diagonal GGN entry is positive.)
    for structure in [LaplaceStructure.full, .kron] {
      let tiny = try LaplaceApproximation(one, structure: structure, priorPrecision: [1e-300], sigmaNoise: 1)
      #expect(throws: CurvatureError.self) { try tiny.logMarginalLikelihood() }
    }
  }

  /// The Float path agrees with Double on the classification fixture (kron and diag).
  @Test func floatAgreesWithDouble() throws {
    let problem = try LaplaceFixture.floatProblem("mlp_classification")
    let fixture = try LaplaceFixture("mlp_classification")
    for structure in [LaplaceStructure.kron, .diag, .full] {
      let single = try LaplaceApproximation(problem, structure: structure, priorPrecision: [0.7])
      let double = try fixture.laplace(structure, .all)
      let a = try single.logMarginalLikelihood().logMarginalLikelihood, b = try double.logMarginalLikelihood().logMarginalLikelihood
      #expect(abs(Double(a) - b) <= 1e-4 * abs(b), "\(structure.name): Float \(a) vs Double \(b)")
    }
  }
}
