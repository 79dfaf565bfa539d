import Synchronization
import CurvatureNumerics
import CurvatureLinearAlgebra
import CurvatureAutodiff

/// Eigenvalue-corrected KFAC (EKFAC; George et al. 2018): KFAC's Kronecker eigenbases
/// with the eigenvalues replaced by the exact curvature's diagonal in that basis.
///
/// Per layer the block is `(Q_B ⊗ Q_A) diag(vec Λ*) (Q_B ⊗ Q_A)ᵀ` (row-major flattening;
/// see `EKFACLayerFactors` for `Λ*` and its scaling, which follows curvlinops'
/// `EKFACLinearOperator`). Λ* is the diagonal of the curvature block — the GGN for
/// type-2, the Monte Carlo Fisher with the same samples for mc, the empirical Fisher for
/// empirical — in the eigenbasis, so EKFAC is at least as close to that block as KFAC in
/// Frobenius norm, and equal to it wherever KFAC is exact.
///
/// Building EKFAC costs KFAC's pass over the data, an eigendecomposition of every factor,
/// and a second pass for the correction; `init(correcting:)` reuses a KFAC operator's
/// factors. A product costs per layer four gemms, `Q_B (Λ* ⊙ (Q_Bᵀ V Q_A)) Q_Aᵀ`.
///
/// ```swift
/// let ekfac = try EKFACOperator(problem, options: KFACOptions(fisherType: .type2))
/// let y = try ekfac.apply(v)
/// let preconditioner = try ekfac.inverse(damping: 1e-3)   // exact: Q (Λ* + δ)⁻¹ Qᵀ
/// ```
public final class EKFACOperator<Scalar: BLASScalar>: LinearOperator {
  /// The model, loss and data.
  public let problem: CurvatureProblem<Scalar>
  /// The approximation's options (the Fisher type must be type-2, mc or empirical).
  public let options: KFACOptions
  let cache: Mutex<[EKFACLayerFactors<Scalar>]?>
  let kfacFactors: Mutex<[KFACLayerFactors<Scalar>]?>
  let offsets: [Int: Int]
  /// The selected blocks outside every Kronecker node (with `options.otherParameters`).
  let others: [Int]
  let otherCache: Mutex<[OtherParameterBlock<Scalar>]?>

  /// EKFAC of a curvature problem. By default the initializer returns at once and the
  /// factors are built on first use (the first product, inverse or query, or
  /// `computeFactors()`), so time that first call, not this one; pass `eager: true` to
  /// build them here (for timing, or to see data errors now).
  ///
  /// ```swift
  /// let lazy = try EKFACOperator(problem)                // returns at once
  /// let built = try EKFACOperator(problem, eager: true)  // factors built here
  /// ```
  /// - Parameters:
  ///   - problem: The model, loss and data.
  ///   - options: The approximation's options.
  ///   - eager: Build the factors (and the blocks of `otherParameterBlocks()`) now
  ///     (default false: on first use).
  /// - Throws: `CurvatureError.unsupported` when the model is not `KroneckerFactorable`
  ///   (a `Sequential` or a `GraphModel`) or a selected parameter sits outside its Linear
  ///   and convolution layers or nodes;
  ///   `.invalidArgument` for invalid options (including the forward-only Fisher type).
  ///   With `eager`, what `computeFactors()` and `otherParameterBlocks()` throw.
  public init(_ problem: CurvatureProblem<Scalar>, options: KFACOptions = KFACOptions(), eager: Bool = false) throws {
    try Self.validate(options)
    self.others = try problem.kfacLayout(jointBias: options.jointBias, allowingOthers: options.otherParameters != nil).others
    self.otherCache = Mutex(nil)
    self.problem = problem
    self.options = options
    self.cache = Mutex(nil)
    self.kfacFactors = Mutex(nil)
    self.offsets = KFACOperator.blockOffsets(problem)
    if eager {
      try computeFactors()
      _ = try otherParameterBlocks()
    }
  }

  /// EKFAC from a KFAC operator: its factors (computed now if needed) give the eigenbases,
  /// and one more pass over the data the corrected eigenvalues, computed on first use.
  /// - Throws: `CurvatureError.invalidArgument` for a forward-only KFAC; what computing
  ///   the KFAC factors throws.
  public convenience init(correcting kfac: KFACOperator<Scalar>) throws {
    try self.init(kfac.problem, options: kfac.options)
    let factors = try kfac.computeFactors()
    kfacFactors.withLock { $0 = factors }
  }

  /// EKFAC with given factors (e.g. loaded from a file).
  /// - Throws: `CurvatureError.invalidArgument` when the factors do not match the problem.
  public init(_ problem: CurvatureProblem<Scalar>, options: KFACOptions, factors: [EKFACLayerFactors<Scalar>]) throws {
    try Self.validate(options)
    let full = try problem.kfacLayout(jointBias: options.jointBias, allowingOthers: options.otherParameters != nil)
    let layout = full.factors
    guard layout.count == factors.count, zip(layout, factors).allSatisfy({
      $0.layer == $1.layer && $0.weightBlock == $1.weightBlock && $0.biasBlock == $1.biasBlock
        && $0.joint == $1.joint && $0.weightShape == $1.weightShape && $1.isConsistent
    }) else {
      throw CurvatureError.invalidArgument("the EKFAC factors do not match the model's layers and the selected parameter blocks")
    }
    self.problem = problem
    self.options = options
    self.cache = Mutex(factors)
    self.kfacFactors = Mutex(nil)
    self.offsets = KFACOperator.blockOffsets(problem)
    self.others = full.others
    self.otherCache = Mutex(nil)
  }

  static func validate(_ options: KFACOptions) throws {
    guard options.fisherType != .forwardOnly else {
      throw CurvatureError.invalidArgument("EKFAC needs gradients: use the type-2, mc or empirical Fisher type, not forward-only")
    }
    guard options.mcSamples >= 1, options.fisherType == .mc || options.mcSamples == 1 else {
      throw CurvatureError.invalidArgument("mcSamples = \(options.mcSamples) is invalid for the \(options.fisherType.rawValue) Fisher type (mc needs ≥ 1, the others exactly 1)")
    }
  }

  /// The eigenbases and corrected eigenvalues, computing them on first use.
  /// - Throws: What the data passes throw.
  /// - Complexity: Two passes over the data the first time (one with `init(correcting:)`).
  @discardableResult
  public func computeFactors() throws -> [EKFACLayerFactors<Scalar>] {
    if let factors = cache.withLock({ $0 }) { return factors }
    let kfac = try kfacFactors.withLock({ $0 }) ?? problem.kfacFactors(options)
    let factors = try problem.ekfacFactors(options, kfac: kfac)
    cache.withLock { $0 = factors }
    kfacFactors.withLock { $0 = nil }
    return factors
  }

  public var rowCount: Int { problem.dimension }
  public var columnCount: Int { problem.dimension }
  public var isSymmetric: Bool { true }

  /// `E X` for `X` of shape `[P, k]`: per layer `Q_B (Λ* ⊙ (Q_Bᵀ V Q_A)) Q_Aᵀ`.
  /// - Throws: What computing the factors throws.
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    var result = Self.applyEigen(x, factors: try computeFactors(), offsets: offsets)
    if !others.isEmpty {
      let sizes = Dictionary(uniqueKeysWithValues: others.map { ($0, problem.model.parameterSpecs[$0].count) })
      applyOtherBlocks(x, into: &result, blocks: try otherParameterBlocks(), offsets: offsets, sizes: sizes)
    }
    return result
  }

  /// The exact curvature of the selected blocks outside every Kronecker node (see
  /// `KFACOperator.otherParameterBlocks()`), computed on first use.
  /// - Throws: What the exact operators throw.
  public func otherParameterBlocks() throws -> [OtherParameterBlock<Scalar>] {
    if let blocks = otherCache.withLock({ $0 }) { return blocks }
    let blocks = try problem.otherParameterBlocks(others, options: options)
    otherCache.withLock { $0 = blocks }
    return blocks
  }

  /// The one-line note for stderr saying which parameters are not Kronecker-factored and
  /// what they got; nil when all are.
  public var otherParametersNote: String? { problem.otherParametersNote(others, options: options, method: "EKFAC") }

  /// Refuses what a mixed operator cannot do yet.
  func requireNoOthers(_ what: String) throws {
    guard others.isEmpty else {
      throw CurvatureError.unsupported(
        "\(what) of an EKFAC operator with other parameters (\(others.map { problem.model.parameterSpecs[$0].name }.joined(separator: ", "))) is not supported yet")
    }
  }

  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try apply(matrix: x) }

  /// `Q diag(λ) Qᵀ X` per layer, with the eigenvalues the factors hold.
  static func applyEigen(_ x: NDArray<Scalar>, factors: [EKFACLayerFactors<Scalar>], offsets: [Int: Int]) -> NDArray<Scalar> {
    applyLayerBlocks(x, offsets: offsets, layers: factors) { layer, weight, bias in
      let qb = layer.gradientBasis
      var newWeight: NDArray<Scalar>? = nil, newBias: NDArray<Scalar>? = nil
      if let qa = layer.inputBasis, let values = layer.eigenvalues, let weight {
        let (out, k) = (weight.shape[0], weight.shape[2])
        let stacked = layer.joint && bias != nil
          ? KFACOperator.concatenateRows(weight, bias!.reshaped([out, 1, k])) : weight
        let rotated = KFACOperator.sandwich(qb.transposed(), stacked, qa)              // Q_Bᵀ V Q_A
        let scaled = NDArray.binary(.multiply, rotated, values.reshaped(values.shape + [1]))
        let back = KFACOperator.sandwich(qb, scaled, qa.transposed())
        if layer.joint && bias != nil {
          let (w, b) = KFACOperator.splitRows(back, at: weight.shape[1])
          newWeight = w
          newBias = b.reshaped([out, k])
        } else {
          newWeight = back
        }
      }
      if !layer.joint, let bias, let values = layer.biasEigenvalues {
        let rotated = matmul(qb, bias, transposeA: true)
        newBias = matmul(qb, NDArray.binary(.multiply, rotated, values.reshaped([values.count, 1])))
      }
      return (newWeight, newBias)
    }
  }
}

// Structural queries from the eigendecomposition: no product with the full matrix.

extension EKFACOperator {
  /// The trace `Σ Λ*`.
  public func trace() throws -> Scalar {
    try requireNoOthers("the trace")
    return try computeFactors().reduce(0) { total, layer in
      total + (layer.eigenvalues?.sum() ?? 0) + (layer.biasEigenvalues?.sum() ?? 0)
    }
  }

  /// The diagonal: `(Q_B ∘ Q_B) Λ* (Q_A ∘ Q_A)ᵀ` per weight (or joint) block,
  /// `(Q_B ∘ Q_B) λ*` per separate bias.
  public func diagonal() throws -> NDArray<Scalar> {
    try requireNoOthers("the diagonal")
    let ones = NDArray<Scalar>(repeating: 1, shape: [rowCount, 1])
    return applyLayerBlocks(ones, offsets: offsets, layers: try computeFactors()) { layer, weight, bias in
      let qb2 = layer.gradientBasis.map(.square)
      var newWeight: NDArray<Scalar>? = nil, newBias: NDArray<Scalar>? = nil
      if let qa = layer.inputBasis, let values = layer.eigenvalues, weight != nil {
        let out = layer.weightShape[0], inputs = layer.weightShape[1]
        let d = matmul(matmul(qb2, values), qa.map(.square), transposeB: true)   // [out, in(+1)]
        if layer.joint && bias != nil {
          let (w, b) = KFACOperator.splitRows(d.reshaped([out, inputs + 1, 1]), at: inputs)
          newWeight = w
          newBias = b.reshaped([out, 1])
        } else {
          newWeight = d.reshaped([out, inputs, 1])
        }
      }
      if !layer.joint, bias != nil, let values = layer.biasEigenvalues {
        newBias = matmul(qb2, values.reshaped([values.count, 1]))
      }
      return (newWeight, newBias)
    }.reshaped([rowCount])
  }

  /// The Frobenius norm `√(Σ Λ*²)`.
  public func frobeniusNorm() throws -> Scalar {
    try requireNoOthers("the Frobenius norm")
    return try computeFactors().reduce(Scalar(0)) { total, layer in
      let w = layer.eigenvalues.map { $0.map(.square).sum() } ?? 0
      return total + w + (layer.biasEigenvalues.map { $0.map(.square).sum() } ?? 0)
    }.squareRoot()
  }

  /// The sign and log-magnitude of the determinant, `Σ log Λ*`; a zero corrected
  /// eigenvalue gives sign 0 and −∞ (the eigenvalues are sums of squares, never negative).
  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) {
    try requireNoOthers("the log-determinant")
    var logMagnitude: Scalar = 0
    for layer in try computeFactors() {
      for values in [layer.eigenvalues, layer.biasEigenvalues].compactMap({ $0 }) {
        for value in values.scalars {
          guard value > 0 else { return (0, -.infinity) }
          logMagnitude += Scalar.log(value)
        }
      }
    }
    return (1, logMagnitude)
  }

  /// The inverse of `E + δI` as an operator: `Q (Λ* + δ)⁻¹ Qᵀ` per block, exactly.
  /// - Parameter damping: δ ≥ 0 (with δ = 0 every corrected eigenvalue must be positive).
  /// - Throws: `CurvatureError.invalidArgument` for a negative or non-finite damping;
  ///   `LinearOperatorError.singular` when `Λ* + δ` has a zero.
  /// - Complexity: Per product four gemms per layer, as `apply`.
  public func inverse(damping: Scalar) throws -> EKFACInverseOperator<Scalar> {
    try requireNoOthers("the inverse")
    return try EKFACInverseOperator(self, damping: damping)
  }

  /// The exact inverse of EKFAC (no damping).
  /// - Throws: `LinearOperatorError.singular` when a corrected eigenvalue is zero to
  ///   working precision (at most `n·ε·λ_max` over the layer's `n` eigenvalues).
  public func inverse() throws -> any LinearOperator<Scalar> {
    for layer in try computeFactors() {
      let values = (layer.eigenvalues?.scalars ?? []) + (layer.biasEigenvalues?.scalars ?? [])
      guard let largest = values.max(), let smallest = values.min() else { continue }
      if smallest <= Scalar(values.count) * Scalar.ulpOfOne * Swift.max(largest, 0) || largest <= 0 {
        throw LinearOperatorError.singular("EKFAC of layer \(layer.layer) is singular (corrected eigenvalues from \(smallest) to \(largest)); use inverse(damping:)")
      }
    }
    return try inverse(damping: 0)
  }
}

/// The inverse of damped EKFAC, `Q (Λ* + δ)⁻¹ Qᵀ` per block, as an operator: the same
/// eigenbases as the `EKFACOperator` with the eigenvalues mapped to `1/(λ + δ)`.
public struct EKFACInverseOperator<Scalar: BLASScalar>: LinearOperator {
  /// The damping δ.
  public let damping: Scalar
  let factors: [EKFACLayerFactors<Scalar>]
  let offsets: [Int: Int]
  let dimension: Int

  init(_ ekfac: EKFACOperator<Scalar>, damping: Scalar) throws {
    guard damping >= 0, damping.isFinite else {
      throw CurvatureError.invalidArgument("damping must be a finite non-negative number, got \(damping)")
    }
    var inverted = try ekfac.computeFactors()
    func invert(_ values: NDArray<Scalar>, _ layer: Int) throws -> NDArray<Scalar> {
      var result = values
      for i in result.scalars.indices {
        let shifted = result.scalars[i] + damping
        guard shifted > 0 else {
          throw LinearOperatorError.singular("EKFAC of layer \(layer) has a corrected eigenvalue \(values.scalars[i]) with damping \(damping); use a positive damping")
        }
        result.scalars[i] = 1 / shifted
      }
      return result
    }
    for slot in inverted.indices {
      if let values = inverted[slot].eigenvalues { inverted[slot].eigenvalues = try invert(values, inverted[slot].layer) }
      if let values = inverted[slot].biasEigenvalues { inverted[slot].biasEigenvalues = try invert(values, inverted[slot].layer) }
    }
    self.damping = damping
    self.factors = inverted
    self.offsets = ekfac.offsets
    self.dimension = ekfac.rowCount
  }

  public var rowCount: Int { dimension }
  public var columnCount: Int { dimension }
  public var isSymmetric: Bool { true }

  /// `(E + δI)⁻¹ X`.
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    EKFACOperator.applyEigen(x, factors: factors, offsets: offsets)
  }

  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try apply(matrix: x) }
}
