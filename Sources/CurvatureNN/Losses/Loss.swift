import CurvatureNumerics
import CurvatureAutodiff

/// How a loss combines per-element terms: PyTorch's `reduction` argument.
public enum LossReduction: String, Sendable, Codable, CaseIterable {
  /// Average: over data points for cross-entropy, over *all* elements for MSE and BCE.
  case mean
  /// Sum over all terms.
  case sum
}

/// The losses Curvature supports, named as in `model.json` and the `curv` command line
/// (`cross_entropy`, `mse`, `bce_with_logits`; the raw values).
///
/// ```swift
/// let loss = Loss<Double>(.mse)                  // also .crossEntropy, .bceWithLogits
/// let kind = LossKind(rawValue: "bce_with_logits") // .bceWithLogits
/// ```
public enum LossKind: String, Sendable, Codable, CaseIterable {
  /// `nn.CrossEntropyLoss` with integer class targets (`cross_entropy`).
  case crossEntropy = "cross_entropy"
  /// `nn.MSELoss` (`mse`).
  case mse = "mse"
  /// `nn.BCEWithLogitsLoss` with targets in [0, 1] (`bce_with_logits`).
  case bceWithLogits = "bce_with_logits"

  /// The former name of `mse`.
  @available(*, deprecated, renamed: "mse")
  public static var meanSquaredError: LossKind { .mse }

  /// The former name of `bceWithLogits`.
  @available(*, deprecated, renamed: "bceWithLogits")
  public static var binaryCrossEntropyWithLogits: LossKind { .bceWithLogits }
}

/// A loss with PyTorch's definition and reduction.
///
/// - Cross-entropy (`nn.CrossEntropyLoss`): outputs `[N, C]` with a class per data point, or
///   `[N, C, d1, …]` with a class per position (PyTorch's class axis 1: per token, per
///   pixel); class targets are row-major over `[N, d1, …]`. With label smoothing `ε`,
///   `ℓ = (1 − ε)(−log p_y) + (ε/C) Σ_c (−log p_c)`, `p = softmax(f)`. Targets equal to
///   `ignoreIndex` add nothing and are not counted; mean divides by the targets that count.
/// - MSE: `ℓ = (f − y)²` per element; mean divides by *all* elements (`N·D`), as PyTorch.
/// - BCE with logits: `ℓ = softplus(f) − y f` per element (the stable form of
///   `−y log σ(f) − (1−y) log(1−σ(f))`); mean divides by all elements.
///
/// ```swift
/// let loss = Loss<Float>(.crossEntropy, reduction: .mean)
/// let value = loss(logits, .classes(labels))
/// let tokens = try Loss<Float>.crossEntropy(ignoreIndex: -100, labelSmoothing: 0.1)
/// ```
public struct Loss<Scalar: BLASScalar>: Sendable, Equatable {
  /// Which loss.
  public var kind: LossKind
  /// How terms combine.
  public var reduction: LossReduction
  /// Cross-entropy: the target value that adds nothing and is not counted by `mean`
  /// (PyTorch's `ignore_index`, default -100).
  public private(set) var ignoreIndex: Int = -100
  /// Cross-entropy: PyTorch's `label_smoothing` `ε` in [0, 1] (default 0).
  public private(set) var labelSmoothing: Double = 0

  /// A loss of the given kind and reduction (cross-entropy with `ignoreIndex` -100 and no
  /// label smoothing).
  public init(_ kind: LossKind, reduction: LossReduction = .mean) {
    self.kind = kind
    self.reduction = reduction
  }

  /// PyTorch's `nn.CrossEntropyLoss(reduction:, ignore_index:, label_smoothing:)`.
  /// - Parameters:
  ///   - reduction: `mean` (over the targets that count, over the whole data set) or `sum`.
  ///   - ignoreIndex: The target value that adds nothing (default -100).
  ///   - labelSmoothing: `ε` in [0, 1] (default 0).
  /// - Returns: The loss.
  /// - Throws: `LossError.invalidOption` when `labelSmoothing` is not in [0, 1].
  public static func crossEntropy(
    reduction: LossReduction = .mean, ignoreIndex: Int = -100, labelSmoothing: Double = 0
  ) throws(LossError) -> Loss {
    guard labelSmoothing >= 0 && labelSmoothing <= 1 else {
      throw .invalidOption("cross-entropy label smoothing must be in [0, 1], got \(labelSmoothing)")
    }
    var loss = Loss(.crossEntropy, reduction: reduction)
    loss.ignoreIndex = ignoreIndex
    loss.labelSmoothing = labelSmoothing
    return loss
  }

  /// The same loss (kind, reduction and cross-entropy options) in another precision.
  /// - Returns: The loss for `T`.
  public func converted<T: BLASScalar>(to _: T.Type = T.self) -> Loss<T> {
    var loss = Loss<T>(kind, reduction: reduction)
    loss.ignoreIndex = ignoreIndex
    loss.labelSmoothing = labelSmoothing
    return loss
  }

  /// Cross-entropy's positions per data point for outputs `[N, C, d1, …]`: `d1·…` (1 for
  /// `[N, C]`).
  static func positions(_ outputShape: [Int]) -> Int { outputShape.dropFirst(2).reduce(1, *) }

  /// Checks that targets fit this loss and outputs of `outputShape`.
  /// - Throws: `LossError` naming the first problem (kind, shape, class range, BCE range,
  ///   non-finite value).
  public func validate(outputShape: [Int], targets: Targets<Scalar>) throws(LossError) {
    switch (kind, targets) {
    case let (.crossEntropy, .classes(classes)):
      guard outputShape.count >= 2 else {
        throw .wrongShape("cross-entropy needs outputs [N, C] (or [N, C, d1, ...]), got \(outputShape)")
      }
      let positions = outputShape[0] * Loss.positions(outputShape), classCount = outputShape[1]
      guard classes.count == positions else {
        let shape = [outputShape[0]] + outputShape.dropFirst(2)
        throw .shapeMismatch(
          "cross-entropy: \(classes.count) class targets for outputs \(outputShape) (needs \(positions): targets shaped \(shape), the outputs without the class axis 1)")
      }
      if let bad = classes.firstIndex(where: { ($0 < 0 || $0 >= classCount) && $0 != ignoreIndex }) {
        throw .classOutOfRange(position: bad, value: classes[bad], classCount: classCount)
      }
    case (.crossEntropy, .values):
      throw .wrongTargetKind("cross-entropy needs integer class targets, got floating-point values")
    case let (_, .values(values)):
      guard values.shape == outputShape else {
        throw .wrongShape("\(kind.rawValue): targets of shape \(values.shape) for outputs \(outputShape)")
      }
      if let bad = values.firstNonFiniteIndex { throw .nonFiniteTarget(position: bad) }
      if kind == .bceWithLogits,
         let bad = values.scalars.firstIndex(where: { $0 < 0 || $0 > 1 }) {
        throw .targetOutOfRange(position: bad, value: Double(values.scalars[bad]))
      }
    case (_, .classes):
      throw .wrongTargetKind("\(kind.rawValue) needs floating-point targets shaped like the outputs, got class indices")
    }
  }

  /// The number that `.mean` divides the summed terms by, for outputs of `outputShape`
  /// when no target is ignored (1 for `.sum`): positions `N·d1·…` for cross-entropy, all
  /// elements otherwise.
  public func normalization(outputShape: [Int]) -> Int {
    guard reduction == .mean else { return 1 }
    switch kind {
    case .crossEntropy: return (outputShape.first ?? 1) * Loss.positions(outputShape)
    case .mse, .bceWithLogits: return outputShape.reduce(1, *)
    }
  }

  /// The number that `.mean` divides the summed terms of these outputs and targets by, as
  /// PyTorch on one batch: cross-entropy counts the targets not equal to `ignoreIndex`
  /// (0 when all are ignored: the mean is then NaN, as PyTorch's).
  public func normalization(outputShape: [Int], targets: Targets<Scalar>) -> Int {
    guard reduction == .mean, kind == .crossEntropy else { return normalization(outputShape: outputShape) }
    return countedTerms(targets)
  }

  /// The number of loss terms that count: for cross-entropy, the class targets not equal
  /// to `ignoreIndex`; otherwise the number of target elements.
  public func countedTerms(_ targets: Targets<Scalar>) -> Int {
    switch targets {
    case let .classes(classes): return classes.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
    case let .values(values): return values.count
    }
  }

  /// Cross-entropy outputs `[N, C, d1, …]` as term rows `[N·d1·…, C]` (class axis last).
  func crossEntropyRows(_ output: Tensor<Scalar>) -> Tensor<Scalar> {
    let c = output.shape[1], positions = Loss.positions(output.shape)
    guard positions > 1 else { return output.reshaped([-1, c]) }
    return output.reshaped([output.shape[0], c, positions]).permuted([0, 2, 1]).reshaped([-1, c])
  }

  /// The summed (unreduced) loss terms, differentiable in `output`.
  /// - Precondition: `validate(outputShape:targets:)` passes.
  public func summedTerms(_ output: Tensor<Scalar>, _ targets: Targets<Scalar>) -> Tensor<Scalar> {
    switch (kind, targets) {
    case let (.crossEntropy, .classes(classes)):
      let logits = crossEntropyRows(output)
      let logProbabilities = logits.logSoftmax(alongAxis: -1)
      let counted = classes.indices.filter { classes[$0] != ignoreIndex }
      if counted.count == classes.count && labelSmoothing == 0 {
        return -logProbabilities.selecting(classIndices: classes).sum()
      }
      let c = logits.shape[1]
      let picked = logProbabilities.gathering(flatIndices: counted.map { $0 * c + classes[$0] }, shape: [counted.count])
      let negativeLogLikelihood = -picked.sum()
      guard labelSmoothing > 0 else { return negativeLogLikelihood }
      // PyTorch: (1 − ε)·nll + ε·(−Σ_c log p_c)/C over the targets that count.
      let uniform = -logProbabilities.sum(alongAxis: 1).gathering(flatIndices: counted, shape: [counted.count]).sum()
      return negativeLogLikelihood * Scalar(1 - labelSmoothing) + uniform * Scalar(labelSmoothing / Double(c))
    case let (.mse, .values(y)):
      return (output - Tensor(y)).squared().sum()
    case let (.bceWithLogits, .values(y)):
      return (output.softplus() - output * Tensor(y)).sum()
    default:
      preconditionFailure("\(kind.rawValue): targets of the wrong kind (call validate first)")
    }
  }

  /// The loss of a batch with this reduction, differentiable in `output`, as PyTorch
  /// computes it on this batch (cross-entropy's mean divides by the batch's targets that
  /// count).
  /// - Precondition: `validate(outputShape:targets:)` passes.
  public func callAsFunction(_ output: Tensor<Scalar>, _ targets: Targets<Scalar>) -> Tensor<Scalar> {
    let n = normalization(outputShape: output.shape, targets: targets)
    let total = summedTerms(output, targets)
    return n == 1 ? total : total * (1 / Scalar(n))
  }
}
