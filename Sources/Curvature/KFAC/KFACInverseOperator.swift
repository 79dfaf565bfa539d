import CurvatureNumerics
import CurvatureLinearAlgebra
import CurvatureAutodiff

/// How KFAC is damped and inverted.
public enum KFACInversion: Sendable, Hashable {
  /// `(B ⊗ A + δI)⁻¹` exactly, from eigen-decompositions of both factors:
  /// `(Q_B ⊗ Q_A) (Λ_B ⊗ Λ_A + δ)⁻¹ (Q_B ⊗ Q_A)ᵀ`.
  case exact
  /// The factored Tikhonov form `(B + (√δ/π) I)⁻¹ ⊗ (A + π√δ I)⁻¹` (Martens & Grosse 2015,
  /// §6.3), with `π = √((tr A / dim A) / (tr B / dim B))` when `piDamping` is true, else 1.
  case tikhonov(piDamping: Bool)
}

/// The inverse of damped KFAC as an operator, applied with the factors' eigenbases (exact)
/// or with the inverses of separately damped factors (Tikhonov): per layer a few gemms,
/// never a P×P matrix. Separate bias blocks use `(B + δI)⁻¹`. The other parameter blocks
/// of a mixed operator (`KFACOptions.otherParameters`) get `(M + δI)⁻¹` of their exact
/// block or diagonal `M` with either method (they are not Kronecker products; excluded
/// blocks get `1/δ`), computed in the operator's scalar type.
///
/// ```swift
/// let preconditioner = try kfac.inverse(damping: 1e-3)
/// let result = try conjugateGradient(ggn.damped(by: 1e-3), b, preconditioner: preconditioner)
/// ```
public struct KFACInverseOperator<Scalar: BLASScalar>: LinearOperator {
  /// The damping δ.
  public let damping: Scalar
  /// The inversion method.
  public let method: KFACInversion
  let storage: Storage
  /// `(M + δI)⁻¹` of the other parameter blocks.
  let others: [OtherParameterBlock<Scalar>]

  enum Storage: Sendable {
    case native([InverseLayer<Scalar>], KFACOperator<Scalar>)
    case double([InverseLayer<Double>], KFACOperator<Scalar>)
  }

  /// Per-layer data: eigenbases and eigenvalues (exact), or damped factor inverses.
  struct InverseLayer<W: BLASScalar>: Sendable {
    var factors: KFACLayerFactors<W>
    var leftBasis: NDArray<W>, leftValues: NDArray<W>
    var rightBasis: NDArray<W>?, rightValues: NDArray<W>?
    var leftInverse: NDArray<W>?, rightInverse: NDArray<W>?, biasInverse: NDArray<W>?
  }

  init(_ kfac: KFACOperator<Scalar>, damping: Scalar, method: KFACInversion, inDoublePrecision: Bool) throws {
    guard damping >= 0, damping.isFinite else {
      throw CurvatureError.invalidArgument("damping must be a finite non-negative number, got \(damping)")
    }
    self.damping = damping
    self.method = method
    self.others = try kfac.otherPart.inverse(damping: damping)
    let factors = try kfac.computeFactors()
    let problem = kfac.problem
    if inDoublePrecision && Scalar.self != Double.self {
      storage = .double(try Self.prepareLayers(factors.map(Self.convert), damping: Double(damping), method: method, problem: problem), kfac)
    } else {
      storage = .native(try Self.prepareLayers(factors, damping: damping, method: method, problem: problem), kfac)
    }
  }

  /// The arrays of one `InverseLayer`, in a fixed order (absent ones empty): what a rank
  /// computes for its factors and broadcasts to the others.
  static var preparedArrays: Int { 7 }

  /// `prepare` for every layer; with several ranks, layer `i` is prepared on rank
  /// `i mod size` and its arrays are broadcast, so every rank holds the same bits and each
  /// decomposes only its share of the factors (issue 18). The factors are the same on
  /// every rank (summed over the ranks), so which arrays exist follows from them.
  /// - Throws: What `prepare` throws, on the rank preparing the layer (with several ranks
  ///   the caller must stop the others, `Communicator.abortingOnError`).
  static func prepareLayers<W: BLASScalar>(
    _ factors: [KFACLayerFactors<W>], damping: W, method: KFACInversion, problem: CurvatureProblem<Scalar>
  ) throws -> [InverseLayer<W>] {
    let arrays = try problem.spreadOverRanks(factors, arrays: preparedArrays) { f -> [NDArray<W>] in
      let layer = try prepare(f, damping: damping, method: method)
      let empty = NDArray<W>(zeros: [0])
      return [layer.leftBasis, layer.leftValues] +
        [layer.rightBasis, layer.rightValues, layer.leftInverse, layer.rightInverse, layer.biasInverse].map { $0 ?? empty }
    }
    return zip(factors, arrays).map { f, parts in
      var layer = InverseLayer(factors: f, leftBasis: parts[0], leftValues: parts[1])
      if f.inputCovariance != nil {
        (layer.rightBasis, layer.rightValues) = (parts[2], parts[3])
        if case .tikhonov = method { (layer.leftInverse, layer.rightInverse) = (parts[4], parts[5]) }
      }
      if f.biasBlock != nil && !f.joint { layer.biasInverse = parts[6] }
      return layer
    }
  }

  static func convert(_ f: KFACLayerFactors<Scalar>) -> KFACLayerFactors<Double> {
    KFACLayerFactors<Double>(
      layer: f.layer, weightBlock: f.weightBlock, biasBlock: f.biasBlock, joint: f.joint,
      inputCovariance: f.inputCovariance?.converted(to: Double.self),
      gradientCovariance: f.gradientCovariance.converted(to: Double.self), weightShape: f.weightShape)
  }

  static func prepare<W: BLASScalar>(_ f: KFACLayerFactors<W>, damping: W, method: KFACInversion) throws -> InverseLayer<W> {
    do {
      let (lv, lb) = try f.gradientCovariance.symmetricEigen()
      var layer = InverseLayer(factors: f, leftBasis: lb, leftValues: lv)
      if let a = f.inputCovariance {
        let (rv, rb) = try a.symmetricEigen()
        layer.rightBasis = rb
        layer.rightValues = rv
      }
      if case let .tikhonov(piDamping) = method, let a = f.inputCovariance {
        let b = f.gradientCovariance
        var pi: W = 1
        if piDamping {
          let ratio = (a.trace() / W(a.shape[0])) / (b.trace() / W(b.shape[0]))
          if ratio > 0 && ratio.isFinite { pi = ratio.squareRoot() }
        }
        let root = damping.squareRoot()
        layer.leftInverse = try (b + (root / pi) * NDArray<W>.identity(b.shape[0])).inverse()
        layer.rightInverse = try (a + (pi * root) * NDArray<W>.identity(a.shape[0])).inverse()
      }
      if f.biasBlock != nil && !f.joint {
        layer.biasInverse = eigenFunction(lb, lv) { 1 / ($0 + damping) }
      }
      return layer
    } catch {
      throw CurvatureError.nonFinite("KFAC factors of layer \(f.layer) could not be decomposed: \(error.description)")
    }
  }

  /// `Q f(Λ) Qᵀ`.
  static func eigenFunction<W: BLASScalar>(_ basis: NDArray<W>, _ values: NDArray<W>, _ f: (W) -> W) -> NDArray<W> {
    let n = values.count
    var scaled = basis
    for i in 0..<n { for j in 0..<n { scaled.scalars[i * n + j] *= f(values.scalars[j]) } }
    return matmul(scaled, basis, transposeB: true)
  }

  var kfac: KFACOperator<Scalar> {
    switch storage {
    case let .native(_, k), let .double(_, k): return k
    }
  }

  public var rowCount: Int { kfac.rowCount }
  public var columnCount: Int { kfac.columnCount }
  public var isSymmetric: Bool { true }

  /// `(K + δI)⁻¹ X` (exact) or the Tikhonov approximation of it.
  /// - Throws: `CurvatureError.singular`-like errors are reported at construction; none here.
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    var result: NDArray<Scalar>
    switch storage {
    case let .native(layers, kfac):
      result = Self.applyInverse(layers, x, kfac: kfac, damping: damping, method: method)
    case let .double(layers, kfac):
      result = Self.applyInverse(layers, x.converted(to: Double.self), kfac: kfac, damping: Double(damping), method: method)
        .converted(to: Scalar.self)
    }
    if !others.isEmpty {
      applyOtherBlocks(x, into: &result, blocks: others, offsets: kfac.offsets, sizes: kfac.otherPart.sizes)
    }
    return result
  }

  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try apply(matrix: x) }

  static func applyInverse<W: BLASScalar>(
    _ layers: [InverseLayer<W>], _ x: NDArray<W>, kfac: KFACOperator<Scalar>, damping: W, method: KFACInversion
  ) -> NDArray<W> {
    var byLayer = [Int: InverseLayer<W>]()
    for layer in layers { byLayer[layer.factors.layer] = layer }
    return kfac.applyBlocks(x, factors: layers.map(\.factors)) { factors, weight, bias in
      let layer = byLayer[factors.layer]!
      if let left = layer.leftInverse, let right = layer.rightInverse {
        // Tikhonov: the damped factors' inverses as a Kronecker product.
        if factors.joint {
          return KFACOperator<W>.kroneckerProduct(left, right, weight: weight, bias: bias, joint: true)
        }
        let (w, _) = KFACOperator<W>.kroneckerProduct(left, right, weight: weight, bias: nil, joint: false)
        // A separate bias block is B alone: its damped inverse is (B + δI)⁻¹.
        return (w, bias.map { matmul(layer.biasInverse!, $0) })
      }
      // Exact: rotate into the eigenbases, divide by λ_B λ_A + δ, rotate back.
      let qb = layer.leftBasis, lb = layer.leftValues
      var newWeight: NDArray<W>? = nil, newBias: NDArray<W>? = nil
      if let qa = layer.rightBasis, let la = layer.rightValues, let weight {
        let stacked = factors.joint && bias != nil
          ? KFACOperator<W>.concatenateRows(weight, bias!.reshaped([weight.shape[0], 1, weight.shape[2]]))
          : weight
        let rotated = KFACOperator<W>.sandwich(qb.transposed(), stacked, qa)      // Q_Bᵀ V Q_A
        let denominators = NDArray.binary(.add, outer(lb, la), NDArray(scalar: damping))
        let divided = NDArray.binary(.divide, rotated, denominators.reshaped(denominators.shape + [1]))
        let back = KFACOperator<W>.sandwich(qb, divided, qa.transposed())
        if factors.joint && bias != nil {
          let (w, b) = KFACOperator<W>.splitRows(back, at: weight.shape[1])
          newWeight = w
          newBias = b.reshaped([weight.shape[0], weight.shape[2]])
        } else {
          newWeight = back
        }
      }
      if !factors.joint, let bias, let inverse = layer.biasInverse {
        newBias = matmul(inverse, bias)
      }
      return (newWeight, newBias)
    }
  }
}

extension KFACOperator {
  /// The inverse of `K + δI` as an operator.
  /// - Parameters:
  ///   - damping: δ ≥ 0 (with δ = 0 the factors must be non-singular).
  ///   - method: `.exact` (default) or `.tikhonov(piDamping:)`.
  ///   - inDoublePrecision: Decompose and apply in Double even when `Scalar` is Float.
  /// - Throws: `CurvatureError` for a negative or non-finite damping, or factors that cannot
  ///   be decomposed; `LinearOperatorError.singular` when a damped other parameter block
  ///   is singular.
  /// - Complexity: One eigen-decomposition (or inversion) per factor and per exact other
  ///   block; each product a few gemms per layer and one per other block. On a problem
  ///   shared by K ranks (`CurvatureProblem.communicator`), the layers' decompositions are
  ///   spread over the ranks (layer `i` on rank `i mod K`) and broadcast, so every rank
  ///   holds the same bits; with several ranks, run it under
  ///   `Communicator.abortingOnError` so that a failing decomposition stops every rank.
  public func inverse(damping: Scalar, method: KFACInversion = .exact, inDoublePrecision: Bool = false) throws -> KFACInverseOperator<Scalar> {
    try KFACInverseOperator(self, damping: damping, method: method, inDoublePrecision: inDoublePrecision)
  }

  /// The exact inverse of KFAC (no damping).
  /// - Throws: `LinearOperatorError.singular` when a factor is singular to working
  ///   precision: its smallest eigenvalue is at most `n·ε·λ_max` (a rank-deficient factor,
  ///   e.g. from fewer data points than inputs, has rounding-level eigenvalues of either sign);
  ///   likewise for an other parameter block (always for an excluded one).
  public func inverse() throws -> any LinearOperator<Scalar> {
    let layers = try computeFactors()
    // The factors' eigenvalues, spread over the ranks like the inverse's decompositions.
    let spectra = try problem.spreadOverRanks(layers, arrays: 2) { layer in
      try ([layer.gradientCovariance] + (layer.inputCovariance.map { [$0] } ?? [])).map { try $0.symmetricEigenvalues() }
    }
    for (layer, spectrum) in zip(layers, spectra) {
      for factor in spectrum.prefix(layer.inputCovariance == nil ? 1 : 2) {
        let values = factor.scalars
        guard let smallest = values.first, let largest = values.last else { continue }
        if smallest <= Scalar(values.count) * Scalar.ulpOfOne * Swift.max(largest, 0) || largest <= 0 {
          throw LinearOperatorError.singular("a Kronecker factor of layer \(layer.layer) is singular (eigenvalues from \(smallest) to \(largest)); use inverse(damping:)")
        }
      }
    }
    return try inverse(damping: 0)
  }
}
