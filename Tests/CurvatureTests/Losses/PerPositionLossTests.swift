import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// Per-position losses against PyTorch (`scripts/fixtures/make_loss_fixtures.py`):
/// cross-entropy with class axis 1 on `[N, C, T]` and `[N, C, H, W]`, `ignore_index` and
/// label smoothing, MSE and BCE on `[N, A, B]`, mean and sum; and their bad input.
private typealias Support = LayersTestSupport

@Suite struct PerPositionLossTests {
  @Test func fixturesArePresent() {
    #expect(LossFixtures.lossCases.count == 16)
    #expect(LossFixtures.curvatureCases.count == 5)
  }

  /// The loss value and its gradient with respect to the outputs equal PyTorch's.
  @Test(arguments: LossFixtures.lossCases)
  func valueAndGradientMatchPyTorch(_ c: LossFixtures.Case) throws {
    try check(c, as: Double.self, rtol: 1e-12)
    try check(c, as: Float.self, rtol: 2e-5)
  }

  func check<T: BLASScalar>(_ c: LossFixtures.Case, as _: T.Type, rtol: Double) throws {
    let file = try SafetensorsFile(contentsOf: LossFixtures.url("losses.safetensors"))
    let output = try file.array(named: "\(c.name).output", as: T.self)
    let rawTargets = try file.array(named: "\(c.name).targets", as: Double.self)
    let expectedLoss = try file.array(named: "\(c.name).loss", as: Double.self).scalars[0]
    let expectedGradient = try file.array(named: "\(c.name).grad", as: Double.self)
    let loss: Loss<T> = try c.loss()
    let targets: Targets<T> = loss.kind == .crossEntropy
      ? .classes(LossFixtures.classes(rawTargets)) : .values(rawTargets.converted(to: T.self))
    try loss.validate(outputShape: output.shape, targets: targets)
    let (value, gradient) = valueAndGradient(at: Tensor(output)) { loss($0, targets) }
    assertClose(Double(value.scalar), expectedLoss, rtol: rtol, "\(c.name) loss (\(T.self))")
    #expect(gradient.shape == output.shape)
    assertClose(
      gradient.value.converted(to: Double.self), expectedGradient, rtol: rtol,
      atol: rtol * 1e-2 * expectedGradient.scalars.reduce(0) { Swift.max($0, abs($1)) }, "\(c.name) gradient (\(T.self))")
  }

  /// Ignored targets add nothing: the loss and gradient are those of the other targets
  /// alone, and `mean` divides by their count.
  @Test func ignoredTargetsAddNothing() throws {
    var rng = RandomGenerator(seed: 5, stream: 1)
    let output: NDArray<Double> = rng.normalArray(shape: [2, 3, 2])
    let loss = try Loss<Double>.crossEntropy(ignoreIndex: 7)
    let all = loss(Tensor(output), .classes([0, 2, 1, 1])).scalar
    let some = loss(Tensor(output), .classes([0, 7, 1, 7])).scalar
    // Terms (n, t): rows of softmax over axis 1.
    func term(_ n: Int, _ t: Int, _ y: Int) -> Double {
      let f = (0..<3).map { output.scalars[n * 6 + $0 * 2 + t] }
      return log(f.map { exp($0) }.reduce(0, +)) - f[y]
    }
    assertClose(all, (term(0, 0, 0) + term(0, 1, 2) + term(1, 0, 1) + term(1, 1, 1)) / 4, rtol: 1e-14)
    assertClose(some, (term(0, 0, 0) + term(1, 0, 1)) / 2, rtol: 1e-14)
    #expect(loss.normalization(outputShape: [2, 3, 2], targets: .classes([0, 7, 1, 7])) == 2)
    #expect(loss.normalization(outputShape: [2, 3, 2]) == 4)
    #expect(loss.countedTerms(.classes([7, 7, 1, 7])) == 1)
  }

  /// Class axis 1: outputs `[N, C, d1, …]` take targets `[N, d1, …]`; `[N, C]` as before.
  @Test func classAxisOneShapes() throws {
    let loss = Loss<Double>(.crossEntropy)
    try loss.validate(outputShape: [2, 4, 3], targets: .classes([0, 1, 2, 3, 0, 1]))
    try loss.validate(outputShape: [2, 4, 2, 2], targets: .classes(Array(repeating: 3, count: 8)))
    try loss.validate(outputShape: [2, 4], targets: .classes([3, -100]))
    // [N, C, T] = [2, 4, 3] needs 6 targets shaped [2, 3].
    Support.expectError(LossError.self, ["cross-entropy: 4 class targets", "[2, 4, 3]", "needs 6", "[2, 3]"]) {
      try loss.validate(outputShape: [2, 4, 3], targets: .classes([0, 1, 2, 3]))
    }
    // Class 3 is out of range for C = 3 (axis 1), though the last axis has 4 entries.
    Support.expectError(LossError.self, ["class index 3 at position 5", "3 classes"]) {
      try loss.validate(outputShape: [2, 3, 4], targets: .classes([0, 1, 2, 0, 1, 3, 0, 0]))
    }
    // ignore_index inside the class range is ignored, not a class.
    try (try Loss<Double>.crossEntropy(ignoreIndex: 9)).validate(outputShape: [1, 3, 2], targets: .classes([9, 2]))
    Support.expectError(LossError.self, ["class index -100 at position 1"]) {
      try (try Loss<Double>.crossEntropy(ignoreIndex: 9)).validate(outputShape: [1, 3, 2], targets: .classes([9, -100]))
    }
  }

  @Test func labelSmoothingOutOfRangeIsAnError() throws {
    for bad in [-0.1, 1.5, Double.nan] {
      Support.expectError(LossError.self, ["label smoothing must be in [0, 1]"]) {
        _ = try Loss<Float>.crossEntropy(labelSmoothing: bad)
      }
    }
    #expect((try? Loss<Float>.crossEntropy(labelSmoothing: 1)) != nil)
    let defaults = try? Loss<Float>.crossEntropy()
    #expect(defaults == Loss<Float>(.crossEntropy))
    // Converting the precision keeps the options.
    let options = try Loss<Double>.crossEntropy(reduction: .sum, ignoreIndex: 3, labelSmoothing: 0.5)
    #expect(options.converted(to: Float.self) == (try Loss<Float>.crossEntropy(reduction: .sum, ignoreIndex: 3, labelSmoothing: 0.5)))
    #expect(Loss<Double>(.mse).converted(to: Float.self) == Loss<Float>(.mse))
  }

  /// A bad class in per-token targets names the data point and the token position over the
  /// whole data set; a target count that does not fit names the expected shape.
  @Test func curvatureProblemNamesDataPointAndPosition() throws {
    let c = LossFixtures.curvatureCases[0]
    var parts = try LossFixtures.problemParts(c, as: Double.self)
    var y = parts.y
    y[3 * 4 + 2] = 5   // data point 3, token 2
    parts.data.targets = .classes(y)
    let error = #expect(throws: CurvatureError.self) {
      _ = try CurvatureProblem(model: parts.model, loss: parts.loss, data: parts.data, batchSize: 2)
    }
    let message = error?.description ?? ""
    #expect(message.contains("class index 5") && message.contains("data point 3, position [2]") && message.contains("flat index 14"), "\(message)")
    parts.data.targets = .classes(Array(parts.y.prefix(15)))
    let shapeError = #expect(throws: CurvatureError.self) {
      _ = try CurvatureProblem(model: parts.model, loss: parts.loss, data: parts.data, batchSize: 5)
    }
    #expect(shapeError?.description.contains("[5, 4]") == true, "\(shapeError?.description ?? "")")
  }

  /// Every target ignored: the mean divides by zero, which is refused (sum is fine).
  @Test func allTargetsIgnoredIsAnErrorForMean() throws {
    let c = LossFixtures.curvatureCases[0]
    var parts = try LossFixtures.problemParts(c, as: Double.self)
    parts.data.targets = .classes(Array(repeating: -100, count: parts.y.count))
    let error = #expect(throws: CurvatureError.self) {
      _ = try CurvatureProblem(model: parts.model, loss: parts.loss, data: parts.data)
    }
    #expect(error?.description.contains("every class target equals ignore_index -100") == true)
    let sum = try Loss<Double>.crossEntropy(reduction: .sum)
    let problem = try CurvatureProblem(model: parts.model, loss: sum, data: parts.data)
    #expect(problem.countedTerms == 0 && problem.reductionFactor == 1)
    #expect(try GGNOperator(problem).dense().scalars.allSatisfy { $0 == 0 })
  }

  // MARK: model.json

  func parse(_ loss: String) throws -> ModelFile<Double> {
    try ModelFile<Double>(json: Data(#"{"layers": [{"type": "linear", "in_features": 2, "out_features": 3}], "loss": \#(loss)}"#.utf8), path: "m.json")
  }

  @Test func modelJSONLossOptions() throws {
    let file = try parse(#"{"type": "cross_entropy", "reduction": "sum", "ignore_index": 0, "label_smoothing": 0.25}"#)
    #expect(file.loss == (try Loss<Double>.crossEntropy(reduction: .sum, ignoreIndex: 0, labelSmoothing: 0.25)))
    // Round trip; defaults are not written, so format-1 files stay as they were.
    let again = try ModelFile<Double>(json: try file.jsonData(), path: "again.json")
    #expect(again.loss == file.loss)
    let plain = try parse(#"{"type": "cross_entropy"}"#)
    #expect(plain.loss == Loss(.crossEntropy) && plain.loss.ignoreIndex == -100 && plain.loss.labelSmoothing == 0)
    #expect(!String(decoding: try plain.jsonData(), as: UTF8.self).contains("ignore_index"))
  }

  @Test func modelJSONLossOptionErrors() {
    let cases: [(String, [String])] = [
      (#"{"type": "cross_entropy", "label_smoothing": 1.5}"#, ["loss.label_smoothing", "out of range", "[0, 1]", "1.5"]),
      (#"{"type": "cross_entropy", "label_smoothing": "0.1"}"#, ["loss.label_smoothing", "out of range"]),
      (#"{"type": "cross_entropy", "ignore_index": 2.5}"#, ["loss.ignore_index", "not an integer", "2.5"]),
      (#"{"type": "cross_entropy", "ignore_index": null}"#, ["loss.ignore_index", "not an integer"]),
      (#"{"type": "mse", "ignore_index": -100}"#, ["loss.ignore_index", "only for cross_entropy", "mse"]),
      (#"{"type": "bce_with_logits", "label_smoothing": 0.1}"#, ["loss.label_smoothing", "only for cross_entropy"]),
      (#"{"type": "cross_entropy", "smoothing": 0.1}"#, ["loss.smoothing", "unknown field", "label_smoothing"]),
    ]
    for (loss, fragments) in cases {
      Support.expectError(FileFormatError.self, ["m.json"] + fragments) { _ = try parse(loss) }
    }
  }
}
