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

  static var directory: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures").appendingPathComponent("Laplace")
  }

  init(_ name: String) throws {
    let directory = LaplaceFixture.directory.appendingPathComponent(name)
    let file = try ModelFile<Double>(
      description: directory.appendingPathComponent("model.json"),
      weights: directory.appendingPathComponent("weights.safetensors"))
    model = file.model
    loss = file.loss
    data = try NPYDataset<Double>(
      inputs: directory.appendingPathComponent("X.npy"), targets: directory.appendingPathComponent("y.npy"),
      classTargets: file.loss.kind == .crossEntropy)
    testInputs = try NPYArray(contentsOf: directory.appendingPathComponent("Xtest.npy")).floats(as: Double.self)
    expected = try SafetensorsFile(contentsOf: directory.appendingPathComponent("expected.safetensors"))
  }

  var isRegression: Bool { loss.kind == .mse }

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
