import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// A committed case of `Fixtures/Laplace` (scripts/fixtures/make_laplace_fixtures.py): a
/// trained MLP, its data, test inputs and laplace-torch's numbers in float64.
struct LaplaceFixture {
  var model: Sequential<Double>
  var loss: Loss<Double>
  var data: NPYDataset<Double>
  var testInputs: NDArray<Double>
  var expected: SafetensorsFile

  static let cases = ["mlp_classification", "mlp_regression"]
  /// laplace-torch's regression noise in the fixtures.
  static let sigma = 0.4

  static var directory: URL { ReferenceFixture.directory("Laplace") }

  init(_ name: String) throws {
    let files = try ReferenceFixture("Laplace", name)
    (model, loss, data, expected) = (files.model, files.loss, files.data, files.expected)
    testInputs = try NPYArray(contentsOf: files.directory.appendingPathComponent("Xtest.npy")).floats(as: Double.self)
  }

  var isRegression: Bool { loss.kind == .mse }

  /// The curvature problem of case `name` in Float (model, weights and data read as Float).
  static func floatProblem(_ name: String, batchSize: Int? = nil) throws -> CurvatureProblem<Float> {
    let directory = LaplaceFixture.directory.appendingPathComponent(name)
    let file = try ModelFile<Float>(
      description: directory.appendingPathComponent("model.json"), weights: directory.appendingPathComponent("weights.safetensors"))
    let data = try NPYDataset<Float>(
      inputs: directory.appendingPathComponent("X.npy"), targets: directory.appendingPathComponent("y.npy"),
      classTargets: file.loss.kind == .crossEntropy)
    return try CurvatureProblem(model: file.model, loss: file.loss, data: data, batchSize: batchSize)
  }

  func problem(batchSize: Int? = nil) throws -> CurvatureProblem<Double> {
    try CurvatureProblem(model: model, loss: loss, data: data, batchSize: batchSize)
  }

  /// The fixture's structure names and how to build them.
  static let structures: [(name: String, structure: LaplaceStructure, subset: LaplaceSubset)] = [
    ("full", .full, .all), ("kron", .kron, .all), ("diag", .diag, .all),
    ("last-layer-full", .full, .lastLayer), ("last-layer-kron", .kron, .lastLayer), ("last-layer-diag", .diag, .lastLayer),
  ]

  func laplace(_ structure: LaplaceStructure, _ subset: LaplaceSubset, prior: [Double] = [0.7], batchSize: Int? = nil) throws -> LaplaceApproximation<Double> {
    try LaplaceApproximation(
      try problem(batchSize: batchSize), structure: structure, subset: subset, priorPrecision: prior,
      sigmaNoise: isRegression ? LaplaceFixture.sigma : nil)
  }

  func value(_ key: String) throws -> Double { try expected.array(named: key, as: Double.self).scalars[0] }
  func array(_ key: String) throws -> NDArray<Double> { try expected.array(named: key, as: Double.self) }
}

/// `|a − e| ≤ rtol·|e|` for scalars, with a message.
func expectRelative(_ actual: Double, _ expected: Double, rtol: Double, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
  #expect(abs(actual - expected) <= rtol * abs(expected), "\(what): \(actual) vs \(expected), relative \(abs(actual - expected) / abs(expected))", sourceLocation: sourceLocation)
}

extension LaplaceFixture {
  /// Expects the log marginal likelihood and its parts (log-likelihood, log-det ratio,
  /// scatter) to match the fixture's `key` (`<structure>/<prior>`) to 1e-8 relative.
  func expectEvidence(
    _ evidence: LaplaceEvidence<Double>, key: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    for (part, actual) in [
      ("log_marginal_likelihood", evidence.logMarginalLikelihood), ("log_likelihood", evidence.logLikelihood),
      ("log_det_ratio", evidence.logDetRatio), ("scatter", evidence.scatter),
    ] {
      expectRelative(actual, try value("\(key)/\(part)"), rtol: 1e-8, "\(what) \(part)", sourceLocation: sourceLocation)
    }
  }

  /// Expects the predictive of `la` to match the fixture's `key` to 1e-8: the GLM mean and
  /// functional variance (regression), or the probit and Laplace-bridge probabilities.
  func expectPredictives(
    _ la: LaplaceApproximation<Double>, key: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    if isRegression {
      let (mean, covariance) = try la.functionalPredictive(inputs: testInputs)
      assertClose(mean, try array("\(key)/mean"), rtol: 1e-8, atol: 1e-12, "\(what) \(key) mean", sourceLocation: sourceLocation)
      assertClose(covariance, try array("\(key)/variance"), rtol: 1e-8, atol: 1e-12, "\(what) \(key) variance", sourceLocation: sourceLocation)
    } else {
      assertClose(
        try la.predictiveProbabilities(inputs: testInputs, link: .probit), try array("\(key)/probit"), rtol: 1e-8, atol: 1e-12,
        "\(what) \(key) probit", sourceLocation: sourceLocation)
      assertClose(
        try la.predictiveProbabilities(inputs: testInputs, link: .bridge), try array("\(key)/bridge"), rtol: 1e-8, atol: 1e-12,
        "\(what) \(key) bridge", sourceLocation: sourceLocation)
    }
  }
}

/// Expects the gradient of the log marginal likelihood with respect to the log prior
/// precision (a scalar and one per tensor) and log σ to equal central differences (step
/// 1e-5) to 1e-6 relative to max(1, |difference|), at σ = `LaplaceFixture.sigma`.
func expectGradientMatchesFiniteDifferences(
  _ la: LaplaceApproximation<Double>, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let h = 1e-5
  for prior in [[0.9], (0..<la.tensorCount).map { 0.3 + 0.2 * Double($0) }] {
    let gradient = try la.logMarginalLikelihoodGradient(priorPrecision: prior)
    for g in prior.indices {
      var up = prior.map { log($0) }, down = up
      up[g] += h
      down[g] -= h
      let fd = (try la.logMarginalLikelihood(priorPrecision: up.map { exp($0) }).logMarginalLikelihood
        - la.logMarginalLikelihood(priorPrecision: down.map { exp($0) }).logMarginalLikelihood) / (2 * h)
      #expect(
        abs(gradient.logPriorPrecision[g] - fd) <= 1e-6 * max(1, abs(fd)),
        "\(what)prior \(prior.count) entry \(g): \(gradient.logPriorPrecision[g]) vs \(fd)", sourceLocation: sourceLocation)
    }
    let sigma = LaplaceFixture.sigma
    let fd = (try la.logMarginalLikelihood(priorPrecision: prior, sigmaNoise: sigma * exp(h)).logMarginalLikelihood
      - la.logMarginalLikelihood(priorPrecision: prior, sigmaNoise: sigma * exp(-h)).logMarginalLikelihood) / (2 * h)
    #expect(
      abs(gradient.logSigmaNoise - fd) <= 1e-6 * max(1, abs(fd)), "\(what)log σ: \(gradient.logSigmaNoise) vs \(fd)",
      sourceLocation: sourceLocation)
  }
}
