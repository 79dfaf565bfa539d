import CurvatureNumerics
import CurvatureLinearAlgebra
import CurvatureNN

/// A Laplace approximation of a trained network's posterior (MacKay 1992; Daxberger et al.
/// 2021, "Laplace Redux"), on laplace-torch's definitions so that its numbers carry over:
///
/// ```
/// p(θ | D) ≈ N(θ*, P⁻¹),   P = H/σ² + diag(p₀)
/// ```
///
/// with `θ*` the problem model's current (trained) parameters, `H` the generalized
/// Gauss-Newton matrix of the *summed* negative log-likelihood (σ = 1), in one of the
/// structures `full`, `diag`, `kron`, `lowrank`, and `p₀` the prior precision — a scalar,
/// one per parameter tensor, or one per parameter. The likelihood follows the model's loss
/// whatever its reduction: cross-entropy is categorical (classification), MSE Gaussian
/// with noise σ (regression; `½‖f − y‖²/σ²`, so `H = JᵀJ`).
///
/// ```swift
/// let problem = try CurvatureProblem(model: model, loss: loss, data: train)
/// var la = try LaplaceApproximation(problem, structure: .kron, priorPrecision: [1])
/// try la.optimizePriorPrecision()
/// let evidence = try la.logMarginalLikelihood()
/// let probabilities = try la.predictiveProbabilities(inputs: xTest, link: .probit)
/// ```
public struct LaplaceApproximation<Scalar: BLASScalar>: Sendable {
  /// The problem the approximation covers (restricted to the last layer for `lastLayer`).
  public let problem: CurvatureProblem<Scalar>
  /// The likelihood (from the model's loss).
  public let likelihood: LaplaceLikelihood
  /// The curvature structure.
  public let structure: LaplaceStructure
  /// Which parameters are covered.
  public let subset: LaplaceSubset
  /// The posterior mean `θ*`: the covered parameters, flattened (`[P]`).
  public let mean: NDArray<Scalar>
  /// The summed negative log-likelihood without normalizer at `θ*` and σ = 1: the summed
  /// cross-entropy, or `½ Σ (f − y)²` (laplace-torch's `loss`).
  public let summedLoss: Scalar
  /// The number of data points `N`.
  public let dataCount: Int
  /// The number of output elements per data point (`C`).
  public let outputCount: Int
  let curvature: LaplaceCurvature<Scalar>

  /// The prior precision: one value, one per parameter tensor (selected block), or one per
  /// parameter.
  public internal(set) var priorPrecision: [Scalar]
  /// The observation noise σ (regression; 1 for classification).
  public internal(set) var sigmaNoise: Scalar
  /// laplace-torch's kron `damping`: the prior precision enters each weight group as
  /// `(√s·Λ_B + √δ) ⊗ (√s·Λ_A + √δ)` (partly multiplicatively) instead of `s·Λ_B⊗Λ_A + δ`,
  /// with the factors scaled as laplace-torch holds them. (laplace-torch 0.3's
  /// `KronLaplace(damping=True)` drops the flag when it adds the prior, so its own numbers
  /// are the undamped ones; this is what its `KronDecomposed(damping=True)` computes.)
  public let damping: Bool

  /// Fits a Laplace approximation at the model's current parameters.
  /// - Parameters:
  ///   - problem: The trained model, its loss and the training data. The covered
  ///     parameters are the problem's selected blocks, or the last Linear's for `lastLayer`.
  ///   - structure: `full`, `diag`, `kron` (default laplace-torch's KFAC) or `lowRank`.
  ///   - subset: All covered parameters (default) or the last layer's.
  ///   - likelihood: Checked against the model's loss; nil takes the loss's.
  ///   - priorPrecision: One value, one per parameter tensor or one per parameter, all > 0
  ///     (default `[1]`).
  ///   - sigmaNoise: The regression noise σ > 0 (required for regression; must be nil or 1
  ///     for classification).
  ///   - damping: laplace-torch's kron damping (see `damping`; kron only, default false).
  /// - Throws: `CurvatureError.incompatible` when the loss is no log-likelihood or does not
  ///   match `likelihood`; `.invalidArgument` for a prior precision ≤ 0 or of a wrong
  ///   length, a missing or non-positive σ for regression, a σ for classification, a bad
  ///   rank, or damping for a structure other than kron; `.unsupported` for structures the model does not support (diag and kron
  ///   need a `Sequential` of Linear/Conv2d layers; outputs must be `[N, C]`); what
  ///   computing the curvature throws.
  /// - Complexity: full: `P` GGN products and `O(P²)` memory; diag: `C` reverse passes per
  ///   batch; kron: one KFAC pass and eigendecompositions of the factors; ekfac: a second
  ///   pass for the corrected eigenvalues; lowrank: Lanczos.
  public init(
    _ problem: CurvatureProblem<Scalar>, structure: LaplaceStructure = .kron, subset: LaplaceSubset = .all,
    likelihood: LaplaceLikelihood? = nil, priorPrecision: [Scalar] = [1], sigmaNoise: Scalar? = nil, damping: Bool = false
  ) throws {
    let implied = try LaplaceLikelihood.from(problem.loss)
    if let likelihood, likelihood != implied {
      throw CurvatureError.incompatible("the \(likelihood.rawValue) likelihood does not match the model's \(problem.loss.kind.rawValue) loss (which implies \(implied.rawValue))")
    }
    guard problem.sampleOutputShape.count == 1 else {
      throw CurvatureError.unsupported("a Laplace approximation needs outputs [N, C]; this model's outputs per data point have shape \(problem.sampleOutputShape)")
    }
    let sigma = try LaplaceApproximation.checkedSigma(sigmaNoise, likelihood: implied)
    try LaplaceApproximation.checkDamping(damping, structure: structure)
    let covered = subset == .all ? problem : try LaplaceApproximation.lastLayerProblem(problem)
    self.problem = covered
    self.likelihood = implied
    self.structure = structure
    self.subset = subset
    self.mean = NDArray(covered.blocks.flatMap { covered.model.parameters[$0].scalars })
    self.dataCount = covered.data.count
    self.outputCount = covered.sampleOutputShape[0]
    let factor: Scalar = implied == .regression ? 0.5 : 1
    let (loss, _) = try covered.lossAndGradient()
    self.summedLoss = factor * Scalar(covered.reductionFactor) * loss
    self.curvature = try LaplaceApproximation.fitCurvature(covered, structure: structure, factor: factor * Scalar(covered.reductionFactor))
    self.priorPrecision = [1]
    self.sigmaNoise = sigma
    self.damping = damping
    try LaplaceApproximation.checkPrior(priorPrecision, problem: covered, structure: structure)
    self.priorPrecision = priorPrecision
  }

  /// A fitted approximation from its parts (used by loading).
  init(
    problem: CurvatureProblem<Scalar>, likelihood: LaplaceLikelihood, structure: LaplaceStructure, subset: LaplaceSubset,
    mean: NDArray<Scalar>, summedLoss: Scalar, curvature: LaplaceCurvature<Scalar>, priorPrecision: [Scalar], sigmaNoise: Scalar,
    damping: Bool
  ) throws {
    try LaplaceApproximation.checkDamping(damping, structure: structure)
    self.damping = damping
    self.problem = problem
    self.likelihood = likelihood
    self.structure = structure
    self.subset = subset
    self.mean = mean
    self.summedLoss = summedLoss
    self.dataCount = problem.data.count
    self.outputCount = problem.sampleOutputShape.first ?? 1
    self.curvature = curvature
    try LaplaceApproximation.checkPrior(priorPrecision, problem: problem, structure: structure)
    self.priorPrecision = priorPrecision
    self.sigmaNoise = try LaplaceApproximation.checkedSigma(sigmaNoise, likelihood: likelihood)
  }

  /// The number of covered parameters `P`.
  public var parameterCount: Int { mean.count }
  /// The number of covered parameter tensors.
  public var tensorCount: Int { problem.blocks.count }

  /// Sets the prior precision.
  /// - Throws: `CurvatureError.invalidArgument` for a value ≤ 0 or a wrong length.
  public mutating func setPriorPrecision(_ value: [Scalar]) throws {
    try LaplaceApproximation.checkPrior(value, problem: problem, structure: structure)
    priorPrecision = value
  }

  /// Sets the regression noise σ.
  /// - Throws: `CurvatureError.invalidArgument` for σ ≤ 0, or a σ other than 1 for
  ///   classification.
  public mutating func setSigmaNoise(_ value: Scalar) throws {
    sigmaNoise = try LaplaceApproximation.checkedSigma(value, likelihood: likelihood)
  }

  /// The prior precision per parameter, `[P]`.
  public var priorPrecisionDiagonal: [Scalar] { expand(priorPrecision) }

  /// A scalar, per-tensor or per-parameter vector spread over the `P` parameters.
  func expand(_ values: [Scalar]) -> [Scalar] {
    if values.count == 1 { return Array(repeating: values[0], count: parameterCount) }
    if values.count == parameterCount && values.count != tensorCount { return values }
    if values.count == tensorCount {
      return zip(problem.selectedSpecs, values).flatMap { spec, value in Array(repeating: value, count: spec.count) }
    }
    return values
  }

  /// The posterior factorization at a prior precision and σ.
  func factor(priorPrecision: [Scalar]? = nil, sigmaNoise: Scalar? = nil) throws -> LaplacePosteriorFactor<Scalar> {
    let prior = priorPrecision ?? self.priorPrecision
    try LaplaceApproximation.checkPrior(prior, problem: problem, structure: structure)
    let sigma = try LaplaceApproximation.checkedSigma(sigmaNoise ?? self.sigmaNoise, likelihood: likelihood)
    // laplace-torch spreads its likelihood factor (½ for regression) evenly over a
    // group's two factors; damping sees the factors, not only their product.
    let split: Scalar? = damping ? (likelihood == .regression ? Scalar(0.5).squareRoot() : 1) : nil
    return try LaplacePosteriorFactor(curvature: curvature, prior: expand(prior), scale: 1 / (sigma * sigma), dampingSplit: split)
  }

  static func checkDamping(_ damping: Bool, structure: LaplaceStructure) throws {
    guard damping else { return }
    guard case .kron = structure else {
      throw CurvatureError.invalidArgument("damping applies to the kron structure (laplace-torch's KronLaplace), not \(structure.name)")
    }
  }

  static func checkedSigma(_ sigma: Scalar?, likelihood: LaplaceLikelihood) throws -> Scalar {
    switch likelihood {
    case .regression:
      guard let sigma else {
        throw CurvatureError.invalidArgument("a regression Laplace approximation needs the observation noise σ (sigmaNoise)")
      }
      guard sigma > 0 && sigma.isFinite else {
        throw CurvatureError.invalidArgument("the observation noise σ must be positive and finite, got \(sigma)")
      }
      return sigma
    case .classification:
      guard sigma == nil || sigma == 1 else {
        throw CurvatureError.invalidArgument("the observation noise σ applies to regression only; classification got σ = \(sigma!)")
      }
      return 1
    }
  }

  static func checkPrior(_ prior: [Scalar], problem: CurvatureProblem<Scalar>, structure: LaplaceStructure) throws {
    let tensors = problem.blocks.count, parameters = problem.dimension
    guard prior.count == 1 || prior.count == tensors || prior.count == parameters else {
      throw CurvatureError.invalidArgument("the prior precision has \(prior.count) values; it needs 1, one per parameter tensor (\(tensors)) or one per parameter (\(parameters))")
    }
    if let bad = prior.firstIndex(where: { !($0 > 0 && $0.isFinite) }) {
      throw CurvatureError.invalidArgument("the prior precision must be positive and finite, got \(prior[bad]) at position \(bad)")
    }
    if structure.isKronecker, prior.count != 1, prior.count != tensors {
      throw CurvatureError.invalidArgument("a \(structure.name) Laplace approximation takes a scalar or per-tensor prior precision (1 or \(tensors) values), got \(prior.count)")
    }
  }

  /// The problem restricted to the weight and bias of the model's last Linear layer.
  static func lastLayerProblem(_ problem: CurvatureProblem<Scalar>) throws -> CurvatureProblem<Scalar> {
    guard let sequential = problem.model as? Sequential<Scalar>,
          let last = sequential.layers.indices.last(where: { sequential.layers[$0] is Linear<Scalar> }) else {
      throw CurvatureError.unsupported("a last-layer Laplace approximation needs a Sequential model with a Linear layer")
    }
    let blocks = Array(sequential.parameterRanges[last])
    guard sequential.layers.indices.allSatisfy({ $0 <= last || sequential.parameterRanges[$0].isEmpty }) else {
      throw CurvatureError.unsupported("a last-layer Laplace approximation needs the last Linear layer to be the model's last layer with parameters")
    }
    return try CurvatureProblem(
      model: problem.model, loss: problem.loss, data: problem.data, batchSize: problem.batchSize, blocks: blocks,
      checkDeterminism: false, communicator: problem.communicator)
  }
}
