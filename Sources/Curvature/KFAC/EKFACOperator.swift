import Synchronization
import CurvatureNumerics
import CurvatureLinearAlgebra
import CurvatureAutodiff
import CurvatureNN

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
  /// The selected blocks outside every Kronecker node (with `options.otherParameters`) and
  /// their exact curvature (the same as KFAC's).
  let otherPart: OtherParameterPart<Scalar>
  /// The selected blocks outside every Kronecker node.
  var others: [Int] { otherPart.blocks }

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
    let layout = try problem.kfacLayout(jointBias: options.jointBias, allowingOthers: options.otherParameters != nil, embeddings: options.embeddings)
    let others = layout.others
    // A graph may mix the positions (attention), so a node's per-term gradients need one
    // loss term per data point in each reverse pass: refused now rather than on first use.
    let termsPerPoint = problem.loss.termShape([1] + problem.sampleOutputShape)[0]
    if problem.model is GraphModel<Scalar>, !options.termByTerm, termsPerPoint > 1, !layout.factors.isEmpty {
      throw CurvatureError.unsupported(
        "EKFAC on a graph model with \(termsPerPoint) loss terms per data point needs KFACOptions.termByTerm (one reverse pass per term position; the graph may mix positions)")
    }
    let offsets = KFACOperator.blockOffsets(problem)
    self.otherPart = OtherParameterPart(problem, options: options, blocks: others, offsets: offsets)
    self.problem = problem
    self.options = options
    self.cache = Mutex(nil)
    self.kfacFactors = Mutex(nil)
    self.offsets = offsets
    if eager {
      try computeFactors()
      _ = try otherParameterBlocks()
    }
  }

  /// EKFAC from a KFAC operator: its factors (computed now if needed) give the eigenbases,
  /// and one more pass over the data the corrected eigenvalues, computed on first use. The
  /// other parameter blocks of a mixed operator are KFAC's (shared once computed).
  /// - Throws: `CurvatureError.invalidArgument` for a forward-only KFAC; what computing
  ///   the KFAC factors throws.
  public convenience init(correcting kfac: KFACOperator<Scalar>) throws {
    try self.init(kfac.problem, options: kfac.options)
    let factors = try kfac.computeFactors()
    kfacFactors.withLock { $0 = factors }
    if let blocks = kfac.otherPart.cache.withLock({ $0 }) { otherPart.cache.withLock { $0 = blocks } }
  }

  /// EKFAC with given factors (e.g. loaded from a file).
  /// - Parameters:
  ///   - problem: The model, loss and data (the data are used only for other blocks not given).
  ///   - options: The options the factors were computed with.
  ///   - factors: The eigenbases and corrected eigenvalues of every covered node.
  ///   - otherBlocks: The curvature of the other parameter blocks of a mixed operator (as
  ///     `otherParameterBlocks()` returns it); nil computes them on first use.
  /// - Throws: `CurvatureError.invalidArgument` when the factors or other blocks do not
  ///   match the problem.
  public init(
    _ problem: CurvatureProblem<Scalar>, options: KFACOptions, factors: [EKFACLayerFactors<Scalar>],
    otherBlocks: [OtherParameterBlock<Scalar>]? = nil
  ) throws {
    try Self.validate(options)
    let full = try problem.kfacLayout(jointBias: options.jointBias, allowingOthers: options.otherParameters != nil, embeddings: options.embeddings)
    let layout = full.factors
    guard layout.count == factors.count, zip(layout, factors).allSatisfy({
      $0.layer == $1.layer && $0.weightBlock == $1.weightBlock && $0.biasBlock == $1.biasBlock
        && $0.joint == $1.joint && $0.weightShape == $1.weightShape && $1.isConsistent
    }) else {
      throw CurvatureError.invalidArgument("the EKFAC factors do not match the model's layers and the selected parameter blocks")
    }
    let offsets = KFACOperator.blockOffsets(problem)
    let otherPart = OtherParameterPart(problem, options: options, blocks: full.others, offsets: offsets, curvature: otherBlocks)
    self.problem = problem
    self.options = options
    self.cache = Mutex(factors)
    self.kfacFactors = Mutex(nil)
    self.offsets = offsets
    self.otherPart = otherPart
    if let otherBlocks, !otherPart.fits(otherBlocks) {
      throw CurvatureError.invalidArgument("the other parameter blocks do not match the model's blocks outside the Kronecker nodes (\(full.others)) and the option \(options.otherParameters?.rawValue ?? "nil")")
    }
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
    try otherPart.apply(x, into: &result)
    return result
  }

  /// The exact curvature of the selected blocks outside every Kronecker node (see
  /// `KFACOperator.otherParameterBlocks()`), computed on first use.
  /// - Throws: What the exact operators throw.
  public func otherParameterBlocks() throws -> [OtherParameterBlock<Scalar>] { try otherPart.curvature() }

  /// The one-line note for stderr saying which parameters are not Kronecker-factored and
  /// what they got; nil when all are.
  public var otherParametersNote: String? { otherPart.note(method: "EKFAC") }

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
  /// The trace `Σ Λ*` (+ the traces of the other parameters' blocks).
  public func trace() throws -> Scalar {
    try computeFactors().reduce(try otherPart.closedForms().trace) { total, layer in
      total + (layer.eigenvalues?.sum() ?? 0) + (layer.biasEigenvalues?.sum() ?? 0)
    }
  }

  /// The diagonal: `(Q_B ∘ Q_B) Λ* (Q_A ∘ Q_A)ᵀ` per weight (or joint) block,
  /// `(Q_B ∘ Q_B) λ*` per separate bias (the other parameters' blocks: their diagonals).
  public func diagonal() throws -> NDArray<Scalar> {
    let ones = NDArray<Scalar>(repeating: 1, shape: [rowCount, 1])
    var result = applyLayerBlocks(ones, offsets: offsets, layers: try computeFactors()) { layer, weight, bias in
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
    }
    try otherPart.writeDiagonal(into: &result)
    return result.reshaped([rowCount])
  }

  /// The Frobenius norm `√(Σ Λ*²)` (+ the other parameters' blocks).
  public func frobeniusNorm() throws -> Scalar {
    try computeFactors().reduce(try otherPart.closedForms().squaredNorm) { total, layer in
      let w = layer.eigenvalues.map { $0.map(.square).sum() } ?? 0
      return total + w + (layer.biasEigenvalues.map { $0.map(.square).sum() } ?? 0)
    }.squareRoot()
  }

  /// The sign and log-magnitude of the determinant, `Σ log Λ*`; a zero corrected
  /// eigenvalue gives sign 0 and −∞ (the eigenvalues are sums of squares, never negative).
  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) {
    let others = try otherPart.closedForms()
    if others.sign == 0 { return (0, -.infinity) }
    var logMagnitude = others.logMagnitude
    for layer in try computeFactors() {
      for values in [layer.eigenvalues, layer.biasEigenvalues].compactMap({ $0 }) {
        for value in values.scalars {
          guard value > 0 else { return (0, -.infinity) }
          logMagnitude += Scalar.log(value)
        }
      }
    }
    return (others.sign, logMagnitude)
  }

  /// The inverse of `E + δI` as an operator: `Q (Λ* + δ)⁻¹ Qᵀ` per block, exactly, and
  /// `(M + δI)⁻¹` for the other parameter blocks `M` of a mixed operator (`1/δ` for
  /// excluded ones).
  /// - Parameter damping: δ ≥ 0 (with δ = 0 every corrected eigenvalue must be positive).
  /// - Throws: `CurvatureError.invalidArgument` for a negative or non-finite damping;
  ///   `LinearOperatorError.singular` when `Λ* + δ` has a zero, or a damped other block is
  ///   singular.
  /// - Complexity: Per product four gemms per layer, as `apply`.
  public func inverse(damping: Scalar) throws -> EKFACInverseOperator<Scalar> {
    try EKFACInverseOperator(self, damping: damping)
  }

  /// The exact inverse of EKFAC (no damping).
  /// - Throws: `LinearOperatorError.singular` when a corrected eigenvalue is zero to
  ///   working precision (at most `n·ε·λ_max` over the layer's `n` eigenvalues), or an
  ///   other parameter block is singular (always an excluded one).
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
  /// `(M + δI)⁻¹` of the other parameter blocks, and their sizes.
  let others: [OtherParameterBlock<Scalar>]
  let otherSizes: [Int: Int]

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
    self.others = try ekfac.otherPart.inverse(damping: damping)
    self.otherSizes = ekfac.otherPart.sizes
  }

  public var rowCount: Int { dimension }
  public var columnCount: Int { dimension }
  public var isSymmetric: Bool { true }

  /// `(E + δI)⁻¹ X`.
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    var result = EKFACOperator.applyEigen(x, factors: factors, offsets: offsets)
    if !others.isEmpty { applyOtherBlocks(x, into: &result, blocks: others, offsets: offsets, sizes: otherSizes) }
    return result
  }

  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try apply(matrix: x) }
}
