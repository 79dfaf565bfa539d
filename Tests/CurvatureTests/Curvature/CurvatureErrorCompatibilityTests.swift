import Curvature
import Testing

/// A layer whose shape check fails with an error that is not about the model.
private struct RefusingLayer: Layer {
  typealias Scalar = Double
  var description: String { "Refusing()" }
  var jsonObject: [String: JSONValue] { [:] }
  func outputShape(for inputShape: [Int]) throws -> [Int] { throw CurvatureError.unsupported("refused \(inputShape)") }
  func callAsFunction(_ input: Tensor<Double>, parameters: [Tensor<Double>]) -> Tensor<Double> { input }
}

/// One `CurvatureError` replaced the per-area error types (issue 14 §3): the old names are
/// the same type, code written for them still builds the same values, every message reads
/// as before, and code that caught one old type to convert it converts only its cases.
@Suite struct CurvatureErrorCompatibilityTests {
  @Test func oldNamesAreTheSameType() {
    let aliases: [Any.Type] = [
      ModelError.self, LossError.self, TrainingError.self, DataError.self, LinearOperatorError.self,
      ToeplitzError.self, ResourceError.self,
    ]
    for alias in aliases { #expect(ObjectIdentifier(alias) == ObjectIdentifier(CurvatureError.self), "\(alias)") }
    #expect(ObjectIdentifier(SolverError.self) != ObjectIdentifier(CurvatureError.self))
  }

  @Test func oldConstructorsMakeTheSharedCases() {
    #expect(DataError("inputs hold 4 data points") == .invalidData("inputs hold 4 data points"))
    #expect(ModelError.shapeMismatch("layer 0: [4]") == .wrongShape("layer 0: [4]"))
    #expect(LossError.shapeMismatch("mse: [2, 3]") == .wrongShape("mse: [2, 3]"))
    #expect(LossError.nonFinite(position: 3) == .nonFiniteTarget(position: 3))
    // `.nonFinite` as a pattern is the case with a message, never a target's position.
    if case .nonFinite = LossError.nonFinite(position: 3) { Issue.record("a target position matched .nonFinite") }
  }

  /// Every message as the type it came from printed it; where two types printed one
  /// meaning differently (invalid argument, non-finite, shape), the shared form.
  @Test func messagesReadAsBefore() {
    let cases: [(CurvatureError, String)] = [
      (.invalidArgument("blocks [3]"), "invalid argument: blocks [3]"),
      (.invalidConfiguration("sizes must be positive"), "invalid layer configuration: sizes must be positive"),
      (.unsupported("no inverse"), "unsupported: no inverse"),
      (.wrongShape("layer 0: [4]"), "shape mismatch: layer 0: [4]"),
      (.shapeMismatch(operation: "apply", expected: "[3]", actual: [4]), "apply: expected [3], got shape [4]"),
      (.notSquare(operation: "trace", rows: 2, columns: 3), "trace needs a square operator, this one is 2×3"),
      (.lengthMismatch("the row has 2"), "length mismatch: the row has 2"),
      (.parameterMismatch("0.bias"), "parameter mismatch: 0.bias"),
      (.incompatible("3×4 then 5×6"), "incompatible operators: 3×4 then 5×6"),
      (.invalidData("y.npy"), "invalid data: y.npy"),
      (.wrongTargetKind("mse needs floating-point targets"), "mse needs floating-point targets"),
      (.classOutOfRange(position: 2, value: 3, classCount: 3),
       "class index 3 at position 2 is out of range for 3 classes (0..<3)"),
      (.targetOutOfRange(position: 3, value: 1.5), "BCE target 1.5 at position 3 is outside [0, 1]"),
      (.nonFiniteTarget(position: 1), "target at position 1 is NaN or infinite"),
      (.invalidTargets(.nonFiniteTarget(position: 1)),
       "the training targets do not fit the loss: target at position 1 is NaN or infinite (positions count over the whole data set)"),
      (.nonFinite("the outputs"), "non-finite values: the outputs"),
      (.nonFiniteLoss(epoch: 1, batch: 0, value: .infinity),
       "the loss of minibatch 0 in epoch 1 is inf; training stopped before that step (lower the learning rate?)"),
      (.nonDeterministic("the loss differs"), "non-deterministic: the loss differs"),
      (.singular("U(2,2) = 0"), "singular operator: U(2,2) = 0"),
      (.notPositiveDefinite("t₀ ≤ 0"), "not positive definite: t₀ ≤ 0"),
      (.symbolNotPositive("f(π) < 0"), "symbol not positive: f(π) < 0"),
      (.cornerMismatch(column: 1, row: 2), "column[0] = 1.0 differs from row[0] = 2.0: both hold the diagonal entry t₀"),
      (.memory("40 GB"), "not enough memory: 40 GB"),
      (.threads("0 threads"), "threads: 0 threads"),
    ]
    for (error, text) in cases { #expect(error.description == text) }
  }

  /// `Sequential` prefixes the layer to its layers' shape errors, and passes every other
  /// error through as it is (one error type: the catch matches cases, not the type).
  @Test func sequentialConvertsOnlyModelErrors() throws {
    let model = try Sequential<Double>([RefusingLayer()], seed: 0)
    #expect(throws: CurvatureError.unsupported("refused [2, 3]")) { try model.outputShape(for: [2, 3]) }
    let linear = try Sequential<Double>([Linear(inFeatures: 3, outFeatures: 2)], seed: 0)
    let error = #expect(throws: CurvatureError.self) { try linear.outputShape(for: [2, 4]) }
    guard case let .wrongShape(message)? = error else { Issue.record("\(String(describing: error))"); return }
    #expect(message.hasPrefix("layer 0: "), "\(message)")
  }
}
