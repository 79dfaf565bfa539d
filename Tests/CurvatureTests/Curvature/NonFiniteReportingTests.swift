import Curvature
import CurvatureTestSupport
import Testing

/// Overflows (inputs of 1e300 in float64, weights of 1e30 in float32) are reported as
/// `nonFinite`, naming the pass, by every operator and by `lossAndGradient`, instead of
/// returning NaN or infinities or being mistaken for non-determinism (issue 20, §3 and §6).
@Suite struct NonFiniteReportingTests {
  /// `Linear(3, 4) – Linear(4, 2)`, MSE, 4 data points, with the hidden layer at about
  /// `3·inputScale·weightScale` and the outputs finite; squares of them overflow.
  static func overflowingProblem<T: BLASScalar>(
    _: T.Type, inputScale: T, weightScale: T, firstWeight: T = 1
  ) throws -> CurvatureProblem<T> {
    let layers: [any Layer<T>] = [Linear(inFeatures: 3, outFeatures: 4), Linear(inFeatures: 4, outFeatures: 2)]
    var parameters = try Sequential<T>(layers, seed: 3).parameters
    parameters[0] = NDArray(repeating: weightScale * firstWeight, shape: [4, 3])
    parameters[1] = NDArray(zeros: [4])
    let model = try Sequential<T>(layers, parameters: parameters)
    let data = try ArrayDataset<T>(
      inputs: NDArray(repeating: inputScale, shape: [4, 3]), targets: .values(NDArray(zeros: [4, 2])))
    return try CurvatureProblem(
      model: model, loss: Loss(.mse), data: data, batchSize: 2, checkDeterminism: false)
  }

  /// Scales that overflow `T` when squared: 1e300 inputs in Double, 1e30 weights in Float.
  static func scales<T: BLASScalar>(_: T.Type) -> (inputs: T, weights: T) {
    T.self == Double.self ? (T(1e300), 1) : (1, T(1e30))
  }

  static func expectNonFinite(
    _ label: String, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
  ) {
    let error = #expect(throws: CurvatureError.self, "\(label)", sourceLocation: sourceLocation) { try body() }
    guard let error else { return }
    guard case let .nonFinite(message) = error else {
      Issue.record("\(label): \(error) is not nonFinite", sourceLocation: sourceLocation)
      return
    }
    for fragment in fragments {
      #expect(message.contains(fragment), "\(label): message lacks \"\(fragment)\": \(message)", sourceLocation: sourceLocation)
    }
  }

  func operatorsThrow<T: BLASScalar>(_: T.Type) throws {
    let (inputs, weights) = Self.scales(T.self)
    let problem = try Self.overflowingProblem(T.self, inputScale: inputs, weightScale: weights)
    let p = problem.dimension
    var rng = RandomGenerator(seed: 5)
    let v: NDArray<T> = rng.normalArray(shape: [p])
    Self.expectNonFinite("lossAndGradient", ["loss and gradient", "loss", "overflow"]) { _ = try problem.lossAndGradient() }
    Self.expectNonFinite("GGN", ["GGN product", "data points 0..<2", "parameter "]) { _ = try GGNOperator(problem).apply(v) }
    Self.expectNonFinite("EF", ["empirical Fisher product"]) { _ = try EmpiricalFisherOperator(problem).apply(v) }
    Self.expectNonFinite("Hessian", ["Hessian-vector product"]) { _ = try HessianOperator(problem).apply(v) }
    Self.expectNonFinite("MC Fisher", ["Monte Carlo Fisher product"]) { _ = try MonteCarloFisherOperator(problem).apply(v) }
    let jacobian = JacobianOperator(problem)
    let big = NDArray<T>(repeating: T(1e10), shape: [p])
    Self.expectNonFinite("Jacobian", ["Jacobian-vector product"]) { _ = try jacobian.apply(big) }
    Self.expectNonFinite("Jacobian adjoint", ["transposed Jacobian product"]) {
      _ = try jacobian.applyTranspose(NDArray(repeating: T(1e10), shape: [jacobian.rowCount]))
    }
    // The checked set-up reports the overflow too.
    let error = #expect(throws: CurvatureError.self) {
      _ = try CurvatureProblem(
        model: problem.model, loss: problem.loss, data: problem.data, batchSize: 2, checkDeterminism: true)
    }
    if let error, case .nonFinite = error {} else { Issue.record("checked set-up: \(String(describing: error))") }
  }

  @Test func operatorsThrowOnOverflowDouble() throws { try operatorsThrow(Double.self) }
  @Test func operatorsThrowOnOverflowFloat() throws { try operatorsThrow(Float.self) }

  /// A forward pass that overflows names the first layer whose output is not finite.
  func forwardOverflowNamesTheLayer<T: BLASScalar>(_: T.Type) throws {
    let (inputs, weights) = Self.scales(T.self)
    // Finite weights (1e10, or 3e38 in Float) whose hidden values overflow (3e310, 9e38):
    // the first layer's output is the first that is not finite.
    let problem = try Self.overflowingProblem(
      T.self, inputScale: inputs, weightScale: weights, firstWeight: T.self == Double.self ? T(1e10) : T(3e8))
    let v = NDArray<T>(zeros: [problem.dimension])
    Self.expectNonFinite("GGN", ["network outputs", "layer 0 (Linear"]) { _ = try GGNOperator(problem).apply(v) }
    Self.expectNonFinite("lossAndGradient", ["loss and gradient", "layer 0 (Linear"]) { _ = try problem.lossAndGradient() }
  }

  @Test func forwardOverflowNamesTheLayerDouble() throws { try forwardOverflowNamesTheLayer(Double.self) }
  @Test func forwardOverflowNamesTheLayerFloat() throws { try forwardOverflowNamesTheLayer(Float.self) }

  /// §6: inputs × 1e200 (float64) or × 1e20 (float32) in a ReLU MLP with MSE make the
  /// gradient NaN (∞ · 0); the determinism check reports the overflow, not non-determinism.
  func overflowIsNotNonDeterminism<T: BLASScalar>(_: T.Type) throws {
    let scale = T.self == Double.self ? T(1e200) : T(1e20)
    let model = try Sequential<T>(
      [Linear(inFeatures: 3, outFeatures: 8), ReLU(), Linear(inFeatures: 8, outFeatures: 2)], seed: 1)
    var rng = RandomGenerator(seed: 2)
    let x: NDArray<T> = rng.normalArray(shape: [6, 3])
    let targets: NDArray<T> = rng.normalArray(shape: [6, 2])
    let data = try ArrayDataset<T>(inputs: x * scale, targets: .values(targets))
    Self.expectNonFinite("checked problem", ["loss and gradient"]) {
      _ = try CurvatureProblem(model: model, loss: Loss(.mse), data: data, batchSize: 3)
    }
    let unchecked = try CurvatureProblem(
      model: model, loss: Loss(.mse), data: data, batchSize: 3, checkDeterminism: false)
    Self.expectNonFinite("checkDeterminism()", ["loss and gradient"]) { try unchecked.checkDeterminism() }
  }

  @Test func overflowIsNotNonDeterminismDouble() throws { try overflowIsNotNonDeterminism(Double.self) }
  @Test func overflowIsNotNonDeterminismFloat() throws { try overflowIsNotNonDeterminism(Float.self) }
}
