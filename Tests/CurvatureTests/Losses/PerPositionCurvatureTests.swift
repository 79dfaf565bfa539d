import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The curvature of a model with per-position outputs `[N, C, T]` and `[N, C, 2, 2]`
/// (a `FunctionModel`) under cross-entropy with ignored targets and label smoothing:
/// against curvlinops' dense matrices (`scripts/fixtures/make_loss_fixtures.py`), against
/// `DenseCurvature`'s independent construction, for every batch size.
@Suite struct PerPositionCurvatureTests {
  /// Hessian and GGN equal curvlinops' (one batch: PyTorch's mean over the whole set's
  /// counted targets), and the EF equals the per-term construction, at rtol 1e-9, for
  /// batch sizes 1, 3 and N: the normalization counts targets over the whole data set.
  @Test(arguments: LossFixtures.curvatureCases)
  func operatorsMatchCurvlinops(_ c: LossFixtures.Case) throws {
    let parts = try LossFixtures.problemParts(c, as: Double.self)
    let expected = (
      hessian: try LossFixtures.expected(c, "hessian"), ggn: try LossFixtures.expected(c, "ggn"),
      ef: try LossFixtures.expected(c, "ef"), efCurvlinops: try LossFixtures.expected(c, "ef_curvlinops"))
    for batchSize in [1, 3, parts.data.count] {
      let problem = try CurvatureProblem(model: parts.model, loss: parts.loss, data: parts.data, batchSize: batchSize)
      #expect(problem.dimension == c.P!)
      #expect(problem.countedTerms == c.counted!)
      #expect(problem.reductionFactor == (c.reduction == "mean" ? c.counted! : 1))
      let label = "\(c.name), batch size \(batchSize)"
      expectClose(try HessianOperator(problem).dense(), expected.hessian, rtol: 1e-9, "\(label) Hessian")
      expectClose(try GGNOperator(problem).dense(), expected.ggn, rtol: 1e-9, "\(label) GGN")
      let ef = try EmpiricalFisherOperator(problem).dense()
      expectClose(ef, expected.ef, rtol: 1e-9, "\(label) EF")
      // curvlinops' EF counts ignored targets in its mean's reduction factor (T_all), and
      // its gradients carry the batch's 1/R: it is ours times T_all / R.
      let ratio = c.reduction == "mean" ? Double(c.terms!) / Double(c.counted!) : 1
      expectClose(ef * ratio, expected.efCurvlinops, rtol: 1e-9, "\(label) EF vs curvlinops' scaling")
    }
  }

  /// The loss and gradient of the problem equal PyTorch's mean over the whole set.
  @Test(arguments: LossFixtures.curvatureCases)
  func lossMatchesPyTorch(_ c: LossFixtures.Case) throws {
    let parts = try LossFixtures.problemParts(c, as: Double.self)
    let expected = try LossFixtures.expected(c, "loss").scalars[0]
    for batchSize in [2, parts.data.count] {
      let problem = try CurvatureProblem(model: parts.model, loss: parts.loss, data: parts.data, batchSize: batchSize)
      assertClose(try problem.lossAndGradient().loss, expected, rtol: 1e-12, "\(c.name), batch size \(batchSize)")
    }
  }

  /// Every operator against `DenseCurvature` (matvec, matmat, adjoints, dense) in Double,
  /// and in Float at a Float tolerance; the Jacobian keeps the outputs' layout.
  @Test(arguments: LossFixtures.curvatureCases)
  func operatorsMatchDenseReference(_ c: LossFixtures.Case) throws {
    let parts = try LossFixtures.problemParts(c, as: Double.self)
    let reference = DenseCurvature(
      model: parts.model, loss: parts.loss, inputs: parts.x, targets: .classes(parts.y))
    #expect(reference.reductionFactor == (c.reduction == "mean" ? c.counted! : 1))
    let problem = try CurvatureProblem(model: parts.model, loss: parts.loss, data: parts.data, batchSize: 2)
    try expectMatches(GGNOperator(problem), reference.ggn, "\(c.name) GGN")
    try expectMatches(EmpiricalFisherOperator(problem), reference.empiricalFisher, "\(c.name) EF")
    try expectMatches(HessianOperator(problem), reference.hessian(), "\(c.name) Hessian")
    try expectMatches(JacobianOperator(problem), reference.jacobian, "\(c.name) Jacobian")
    expectClose(reference.ggn, try LossFixtures.expected(c, "ggn"), rtol: 1e-9, "\(c.name) reference GGN vs curvlinops")
    expectClose(reference.empiricalFisher, try LossFixtures.expected(c, "ef"), rtol: 1e-9, "\(c.name) reference EF")

    let float = try LossFixtures.problemParts(c, as: Float.self)
    let floatProblem = try CurvatureProblem(model: float.model, loss: float.loss, data: float.data, batchSize: 3)
    let pairs: [(String, NDArray<Float>, NDArray<Double>)] = [
      ("GGN", try GGNOperator(floatProblem).dense(), reference.ggn),
      ("EF", try EmpiricalFisherOperator(floatProblem).dense(), reference.empiricalFisher),
      ("Hessian", try HessianOperator(floatProblem).dense(), reference.hessian()),
    ]
    for (name, actual, expected) in pairs {
      expectClose(actual.converted(to: Double.self), expected, rtol: 1e-3, atolFactor: 1e-4, "\(c.name) \(name) in Float")
    }
  }

  /// The Monte Carlo Fisher: one label per (data point, position), none for an ignored
  /// target; the same matrix for every batch size; symmetric, products match `dense()`.
  @Test(arguments: LossFixtures.curvatureCases)
  func monteCarloFisherIsBatchIndependent(_ c: LossFixtures.Case) throws {
    let parts = try LossFixtures.problemParts(c, as: Double.self)
    func mc(_ batchSize: Int) throws -> NDArray<Double> {
      let problem = try CurvatureProblem(model: parts.model, loss: parts.loss, data: parts.data, batchSize: batchSize)
      return try MonteCarloFisherOperator(problem, mcSamples: 3, seed: 9).dense()
    }
    let whole = try mc(parts.data.count)
    for batchSize in [1, 3] {
      expectClose(try mc(batchSize), whole, rtol: 1e-12, atolFactor: 1e-14, "\(c.name) MC, batch size \(batchSize)")
    }
    expectClose(whole.transposed(), whole, rtol: 1e-12, "\(c.name) MC symmetry")
    let problem = try CurvatureProblem(model: parts.model, loss: parts.loss, data: parts.data, batchSize: 2)
    try expectMatches(try MonteCarloFisherOperator(problem, mcSamples: 3, seed: 9), whole, "\(c.name) MC products")
  }

  /// With many samples the MC Fisher is within 5σ of the GGN entrywise (σ the exact
  /// standard deviation of the estimate, from `DenseCurvature`, which skips ignored terms):
  /// label smoothing leaves the loss Hessian, hence the MC Fisher's expectation, unchanged.
  @Test(arguments: [0, 3])
  func monteCarloFisherConvergesToTheGGN(_ index: Int) throws {
    let c = LossFixtures.curvatureCases[index]
    let parts = try LossFixtures.problemParts(c, as: Double.self)
    let reference = DenseCurvature(model: parts.model, loss: parts.loss, inputs: parts.x, targets: .classes(parts.y))
    let ggn = reference.ggn
    let m = 1000
    let problem = try CurvatureProblem(model: parts.model, loss: parts.loss, data: parts.data, batchSize: 3)
    let estimate = try MonteCarloFisherOperator(problem, mcSamples: m, seed: 2024).dense()
    let sigma = reference.monteCarloFisherStandardDeviation(samples: m)
    let scale = CurvatureCases.maxMagnitude(ggn)
    var worst = 0.0
    for i in 0..<ggn.count {
      let error = abs(estimate.scalars[i] - ggn.scalars[i]), s = sigma.scalars[i]
      #expect(error <= 5 * s + 1e-12 * scale, "\(c.name): entry \(i) off by \(error), σ = \(s)")
      if s > 1e-9 * scale { worst = Swift.max(worst, error / s) }
    }
    #expect(worst > 0.1, "\(c.name): the estimate is suspiciously exact (worst \(worst)σ)")
    #expect(CurvatureCases.maxMagnitude(sigma) < 0.1 * scale)
  }

  /// KFAC, EKFAC and the exact diagonals map layer rows onto terms along the last axis:
  /// per-position cross-entropy (class axis 1) and ignored targets are refused (issue 16),
  /// not computed wrongly. GGN and Fisher products still work.
  @Test func kroneckerFactoredMethodsRefusePerPositionCrossEntropy() throws {
    var rng = RandomGenerator(seed: 3, stream: 2)
    // Linear(2, 4) on [N, 3, 2]: outputs [N, 3, 4], classes on axis 1 (C = 3, T = 4).
    let model = try Sequential<Double>([Linear(inFeatures: 2, outFeatures: 4)], seed: 1)
    let data = PositionDataset<Double>(
      inputs: rng.normalArray(shape: [2, 3, 2]), targets: .classes((0..<8).map { $0 % 3 }))
    let problem = try CurvatureProblem(model: model, loss: Loss(.crossEntropy), data: data)
    let expectUnsupported = { (label: String, body: () throws -> Void) in
      let error = #expect(throws: CurvatureError.self, "\(label)") { try body() }
      if let error, case .unsupported = error {} else { Issue.record("\(label): \(String(describing: error)) is not .unsupported") }
    }
    expectUnsupported("KFAC") { _ = try KFACOperator(problem) }
    expectUnsupported("EKFAC") { _ = try EKFACOperator(problem) }
    expectUnsupported("GGN diagonal") { _ = try GGNOperator(problem).diagonal() }
    #expect(try GGNOperator(problem).dense().shape == [12, 12])

    // [N, C] outputs with an ignored target: the input factors would count it.
    let flat = try ArrayDataset<Double>(inputs: rng.normalArray(shape: [3, 2]), targets: .classes([0, -100, 3]))
    let ignoring = try CurvatureProblem(model: model, loss: Loss(.crossEntropy), data: flat)
    expectUnsupported("KFAC, ignored target") { _ = try KFACOperator(ignoring) }
    // The exact diagonals handle ignored targets: they equal the dense matrices' diagonals.
    let ggn = try GGNOperator(ignoring).dense()
    let diagonal = try GGNOperator(ignoring).diagonal()
    expectClose(diagonal, NDArray((0..<12).map { ggn[$0, $0] }), rtol: 1e-12, "GGN diagonal with an ignored target")
    let ef = try EmpiricalFisherOperator(ignoring).dense()
    expectClose(try EmpiricalFisherOperator(ignoring).diagonal(), NDArray((0..<12).map { ef[$0, $0] }), rtol: 1e-12, "EF diagonal")
  }
}
