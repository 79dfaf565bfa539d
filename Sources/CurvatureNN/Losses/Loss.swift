import CurvatureNumerics
import CurvatureAutodiff

/// How a loss combines per-element terms: PyTorch's `reduction` argument.
public enum LossReduction: String, Sendable, Codable, CaseIterable {
  /// Average: over data points for cross-entropy, over *all* elements for MSE and BCE.
  case mean
  /// Sum over all terms.
  case sum
}

/// The losses Curvature supports, named as in `model.json`.
public enum LossKind: String, Sendable, Codable, CaseIterable {
  /// `nn.CrossEntropyLoss` with integer class targets.
  case crossEntropy = "cross_entropy"
  /// `nn.MSELoss`.
  case meanSquaredError = "mse"
  /// `nn.BCEWithLogitsLoss` with targets in [0, 1].
  case binaryCrossEntropyWithLogits = "bce_with_logits"
}

/// A loss with PyTorch's definition and reduction.
///
/// - Cross-entropy: `ℓ = −log softmax(f)[y]` per data point (outputs `[N, C]`, or
///   `[N, ..., C]` with one class per position); mean divides by the number of positions.
/// - MSE: `ℓ = (f − y)²` per element; mean divides by *all* elements (`N·D`), as PyTorch.
/// - BCE with logits: `ℓ = softplus(f) − y f` per element (the stable form of
///   `−y log σ(f) − (1−y) log(1−σ(f))`); mean divides by all elements.
///
/// ```swift
/// let loss = Loss<Float>(.crossEntropy, reduction: .mean)
/// let value = loss(logits, .classes(labels))
/// ```
public struct Loss<Scalar: BLASScalar>: Sendable, Equatable {
  /// Which loss.
  public var kind: LossKind
  /// How terms combine.
  public var reduction: LossReduction

  /// A loss of the given kind and reduction.
  public init(_ kind: LossKind, reduction: LossReduction = .mean) {
    self.kind = kind
    self.reduction = reduction
  }

  /// Checks that targets fit this loss and outputs of `outputShape`.
  /// - Throws: `LossError` naming the first problem (kind, shape, class range, BCE range,
  ///   non-finite value).
  public func validate(outputShape: [Int], targets: Targets<Scalar>) throws(LossError) {
    switch (kind, targets) {
    case let (.crossEntropy, .classes(classes)):
      guard outputShape.count >= 2 else {
        throw .shapeMismatch("cross-entropy needs outputs [N, C] (or [N, ..., C]), got \(outputShape)")
      }
      let positions = outputShape.dropLast().reduce(1, *), classCount = outputShape.last!
      guard classes.count == positions else {
        throw .shapeMismatch("cross-entropy: \(classes.count) class targets for outputs \(outputShape) (needs \(positions))")
      }
      if let bad = classes.firstIndex(where: { $0 < 0 || $0 >= classCount }) {
        throw .classOutOfRange(position: bad, value: classes[bad], classCount: classCount)
      }
    case (.crossEntropy, .values):
      throw .wrongTargetKind("cross-entropy needs integer class targets, got floating-point values")
    case let (_, .values(values)):
      guard values.shape == outputShape else {
        throw .shapeMismatch("\(kind.rawValue): targets of shape \(values.shape) for outputs \(outputShape)")
      }
      if let bad = values.scalars.firstIndex(where: { !$0.isFinite }) { throw .nonFinite(position: bad) }
      if kind == .binaryCrossEntropyWithLogits,
         let bad = values.scalars.firstIndex(where: { $0 < 0 || $0 > 1 }) {
        throw .targetOutOfRange(position: bad, value: Double(values.scalars[bad]))
      }
    case (_, .classes):
      throw .wrongTargetKind("\(kind.rawValue) needs floating-point targets shaped like the outputs, got class indices")
    }
  }

  /// The number that `.mean` divides the summed terms by, for outputs of `outputShape`
  /// (1 for `.sum`): positions for cross-entropy, all elements otherwise.
  public func normalization(outputShape: [Int]) -> Int {
    guard reduction == .mean else { return 1 }
    switch kind {
    case .crossEntropy: return outputShape.dropLast().reduce(1, *)
    case .meanSquaredError, .binaryCrossEntropyWithLogits: return outputShape.reduce(1, *)
    }
  }

  /// The summed (unreduced) loss terms, differentiable in `output`.
  /// - Precondition: `validate(outputShape:targets:)` passes.
  public func summedTerms(_ output: Tensor<Scalar>, _ targets: Targets<Scalar>) -> Tensor<Scalar> {
    switch (kind, targets) {
    case let (.crossEntropy, .classes(classes)):
      let logits = output.reshaped([-1, output.shape[output.rank - 1]])
      return -logits.logSoftmax(alongAxis: -1).selecting(classIndices: classes).sum()
    case let (.meanSquaredError, .values(y)):
      return (output - Tensor(y)).squared().sum()
    case let (.binaryCrossEntropyWithLogits, .values(y)):
      return (output.softplus() - output * Tensor(y)).sum()
    default:
      preconditionFailure("\(kind.rawValue): targets of the wrong kind (call validate first)")
    }
  }

  /// The loss of a batch with this reduction, differentiable in `output`.
  /// - Precondition: `validate(outputShape:targets:)` passes.
  public func callAsFunction(_ output: Tensor<Scalar>, _ targets: Targets<Scalar>) -> Tensor<Scalar> {
    let n = normalization(outputShape: output.shape)
    let total = summedTerms(output, targets)
    return n == 1 ? total : total * (1 / Scalar(n))
  }
}
