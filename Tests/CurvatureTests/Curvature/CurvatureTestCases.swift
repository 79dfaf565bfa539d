import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// A tiny network, loss and data set for the curvature-operator tests, in Double.
struct CurvatureCase: Sendable, CustomStringConvertible {
  var name: String
  var model: Sequential<Double>
  var loss: Loss<Double>
  var data: ArrayDataset<Double>

  var description: String { name }

  /// The curvature problem over `blocks` with batches of `batchSize`.
  func problem(batchSize: Int? = nil, blocks: [Int]? = nil) throws -> CurvatureProblem<Double> {
    try CurvatureProblem(model: model, loss: loss, data: data, batchSize: batchSize, blocks: blocks)
  }

  /// The same case in Float.
  func problemInFloat(batchSize: Int? = nil) throws -> CurvatureProblem<Float> {
    let targets: Targets<Float>
    switch data.targets {
    case let .classes(c): targets = .classes(c)
    case let .values(v): targets = .values(v.converted(to: Float.self))
    }
    let floatData = try ArrayDataset<Float>(inputs: data.inputs.converted(to: Float.self), targets: targets)
    return try CurvatureProblem(
      model: try model.converted(to: Float.self), loss: Loss<Float>(loss.kind, reduction: loss.reduction),
      data: floatData, batchSize: batchSize)
  }

  /// The independent dense reference over `blocks` (default all).
  func reference(blocks: [Int]? = nil) -> DenseCurvature {
    DenseCurvature(model: model, loss: loss, data: data, blocks: blocks)
  }
}

/// The cases: MLPs with each activation, loss and reduction; Linear on 3-D inputs (a
/// sequence, per-position targets); a small CNN (strided, padded convolution, ReLU, Flatten,
/// Linear, cross-entropy).
enum CurvatureCases {
  enum Activation: String, CaseIterable, Sendable { case tanh, sigmoid, relu }

  static func activationLayer(_ a: Activation) -> any Layer<Double> {
    switch a {
    case .tanh: return Tanh<Double>()
    case .sigmoid: return Sigmoid<Double>()
    case .relu: return ReLU<Double>()
    }
  }

  /// Targets for `outputShape` (`[N, ..., C]`) fitting `kind`, drawn from `rng`.
  static func targets(_ kind: LossKind, outputShape: [Int], rng: inout RandomGenerator) -> Targets<Double> {
    switch kind {
    case .crossEntropy:
      let rows = outputShape.dropLast().reduce(1, *), c = outputShape.last!
      return .classes((0..<rows).map { _ in rng.integer(below: c) })
    case .mse:
      return .values(rng.normalArray(shape: outputShape))
    case .bceWithLogits:
      return .values(rng.uniformArray(shape: outputShape, in: 0..<1))
    }
  }

  /// An MLP `Linear(3, 4) – activation – Linear(4, 3)` (P = 31) on `n` points.
  static func mlp(
    _ activation: Activation, _ kind: LossKind, _ reduction: LossReduction, n: Int = 6, seed: UInt64 = 1
  ) throws -> CurvatureCase {
    var rng = RandomGenerator(seed: seed, stream: 7)
    let model = try Sequential<Double>(
      [Linear(inFeatures: 3, outFeatures: 4), activationLayer(activation), Linear(inFeatures: 4, outFeatures: 3)],
      seed: seed)
    let x: NDArray<Double> = rng.normalArray(shape: [n, 3])
    let data = try ArrayDataset(inputs: x, targets: targets(kind, outputShape: [n, 3], rng: &rng))
    return CurvatureCase(
      name: "mlp_\(activation.rawValue)_\(kind.rawValue)_\(reduction.rawValue)", model: model,
      loss: Loss(kind, reduction: reduction), data: data)
  }

  /// `Linear(3, 4) – tanh – Linear(4, 2)` on sequences `[n, 5, 3]` with per-position
  /// targets `[n, 5, 2]` (P = 26).
  static func sequence(_ kind: LossKind = .mse, _ reduction: LossReduction = .mean, n: Int = 4) throws -> CurvatureCase {
    var rng = RandomGenerator(seed: 3, stream: 7)
    let model = try Sequential<Double>(
      [Linear(inFeatures: 3, outFeatures: 4), Tanh(), Linear(inFeatures: 4, outFeatures: 2)], seed: 3)
    let x: NDArray<Double> = rng.normalArray(shape: [n, 5, 3])
    let data = try ArrayDataset(inputs: x, targets: targets(kind, outputShape: [n, 5, 2], rng: &rng))
    return CurvatureCase(
      name: "sequence_\(kind.rawValue)_\(reduction.rawValue)", model: model,
      loss: Loss(kind, reduction: reduction), data: data)
  }

  /// `Conv2d(2, 2, 3, stride 2, padding 1) – ReLU – Flatten – Linear(18, 3)` on `[n, 2, 5, 5]`,
  /// cross-entropy (P = 95).
  static func cnn(_ reduction: LossReduction = .mean, n: Int = 5) throws -> CurvatureCase {
    var rng = RandomGenerator(seed: 4, stream: 7)
    let model = try Sequential<Double>(
      [try Conv2d(inChannels: 2, outChannels: 2, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1)), ReLU(),
       Flatten(), Linear(inFeatures: 18, outFeatures: 3)], seed: 4)
    let x: NDArray<Double> = rng.normalArray(shape: [n, 2, 5, 5])
    let data = try ArrayDataset(inputs: x, targets: targets(.crossEntropy, outputShape: [n, 3], rng: &rng))
    return CurvatureCase(
      name: "cnn_cross_entropy_\(reduction.rawValue)", model: model,
      loss: Loss(.crossEntropy, reduction: reduction), data: data)
  }

  /// Every MLP case: 3 activations × 3 losses × 2 reductions.
  static var mlpNames: [String] {
    Activation.allCases.flatMap { a in
      LossKind.allCases.flatMap { k in LossReduction.allCases.map { "mlp_\(a.rawValue)_\(k.rawValue)_\($0.rawValue)" } }
    }
  }

  /// Every named case.
  static var allNames: [String] {
    mlpNames + ["sequence_mse_mean", "sequence_mse_sum", "sequence_bce_with_logits_mean", "cnn_cross_entropy_mean", "cnn_cross_entropy_sum"]
  }

  /// The case of a name from `allNames`.
  static func named(_ name: String) throws -> CurvatureCase {
    let parts = name.split(separator: "_").map(String.init)
    let reduction = LossReduction(rawValue: parts.last!)!
    let kind = LossKind(rawValue: parts.dropFirst(parts[0] == "mlp" ? 2 : 1).dropLast().joined(separator: "_"))!
    switch parts[0] {
    case "mlp": return try mlp(Activation(rawValue: parts[1])!, kind, reduction)
    case "sequence": return try sequence(kind, reduction)
    case "cnn": return try cnn(reduction)
    default: preconditionFailure("unknown case \(name)")
    }
  }

  /// A seeded `[rows, k]` matrix of standard normal entries.
  static func randomMatrix(_ rows: Int, _ k: Int, seed: UInt64) -> NDArray<Double> {
    var rng = RandomGenerator(seed: seed, stream: 99)
    return rng.normalArray(shape: [rows, k])
  }

  /// The largest magnitude in an array.
  static func maxMagnitude(_ a: NDArray<Double>) -> Double { a.scalars.reduce(0) { Swift.max($0, abs($1)) } }

  /// The flat indices of parameter blocks `blocks` of a model.
  static func flatIndices(_ model: Sequential<Double>, blocks: [Int]) -> [Int] {
    var offsets = [Int](), offset = 0
    for spec in model.parameterSpecs { offsets.append(offset); offset += spec.count }
    return blocks.sorted().flatMap { Array(offsets[$0]..<(offsets[$0] + model.parameterSpecs[$0].count)) }
  }
}

/// Records an issue unless `actual` equals `expected` to `rtol`, with an absolute tolerance of
/// `atolFactor` × the largest entry of `expected` for entries that cancel to (near) zero.
func expectClose(
  _ actual: NDArray<Double>, _ expected: NDArray<Double>, rtol: Double, atolFactor: Double = 1e-12,
  _ comment: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
  assertClose(
    actual, expected, rtol: rtol, atol: atolFactor * Swift.max(CurvatureCases.maxMagnitude(expected), 1e-300),
    comment(), sourceLocation: sourceLocation)
}
