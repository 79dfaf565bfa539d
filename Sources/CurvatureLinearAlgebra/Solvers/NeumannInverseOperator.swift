import CurvatureNumerics

/// `A⁻¹` approximated by a truncated Neumann series, `α Σ_{k=0}^{K} (I − αA)^k`.
///
/// For symmetric positive definite `A` and `0 < α < 2/λ_max(A)`, the spectral radius of
/// `I − αA` is `ρ = max |1 − αλ| < 1` and the series converges to `A⁻¹`, the truncation
/// error of the `K + 1` terms being `ρ^{K+1}` relative. It needs only products with `A` —
/// the inverse-Hessian-vector products of influence functions (Agarwal, Bullins & Hazan
/// 2017, "Second-Order Stochastic Optimization for Machine Learning in Linear Time"; Koh &
/// Liang 2017) use it with a stochastic `A`.
///
/// Each application watches the terms `t_k = (I − αA)^k x`: for symmetric `A`, their norms
/// decrease when the series converges, so a term larger than its predecessor (beyond
/// rounding) means `ρ > 1` and the application throws `SolverError.diverged`; a NaN or
/// infinity throws `SolverError.nonFinite`.
///
/// ```swift
/// let approx = NeumannInverseOperator(hessian.damped(by: 0.01), scale: 1 / lambdaMax, terms: 200)
/// let ihvp = try approx.apply(gradient)
/// ```
public struct NeumannInverseOperator<Scalar: BLASScalar>: LinearOperator {
  /// The operator `A` being inverted.
  public let base: any LinearOperator<Scalar>
  /// The scale `α`; convergence needs `0 < α < 2/λ_max(A)` (`α = 1/λ_max` is safe).
  public let scale: Scalar
  /// The number of terms summed, `K + 1` (so `K` products with `A` per application).
  public let terms: Int

  /// The truncated series `α Σ_{k=0}^{terms−1} (I − αA)^k`.
  /// - Parameters:
  ///   - base: A square operator, normally symmetric positive definite.
  ///   - scale: `α > 0`.
  ///   - terms: The number of terms, at least 1.
  /// - Precondition: `base` is square, `scale` positive and finite, `terms ≥ 1`.
  public init(_ base: any LinearOperator<Scalar>, scale: Scalar, terms: Int) {
    precondition(base.isSquare, "NeumannInverseOperator: a \(base.rowCount)×\(base.columnCount) operator is not square")
    precondition(scale > 0 && scale.isFinite, "NeumannInverseOperator: scale \(scale) must be positive and finite")
    precondition(terms >= 1, "NeumannInverseOperator: \(terms) terms; need at least 1")
    self.base = base
    self.scale = scale
    self.terms = terms
  }

  public var rowCount: Int { base.rowCount }
  public var columnCount: Int { base.columnCount }
  public var isSymmetric: Bool { base.isSymmetric }

  /// The series applied to a block, with divergence checks on every term.
  /// - Throws: `SolverError.diverged(term:growth:)` when a term outgrows its predecessor
  ///   (symmetric `A`) or the first term by a factor 10⁶ (non-symmetric `A`);
  ///   `SolverError.nonFinite` on NaN or infinity; or what `A` throws.
  /// - Complexity: `terms − 1` products with `A` on the block.
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try series(x, transpose: false)
  }

  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try series(x, transpose: !base.isSymmetric)
  }

  func series(_ x: NDArray<Scalar>, transpose: Bool) throws -> NDArray<Scalar> {
    guard x.isFinite else { throw SolverError.nonFinite(iteration: 0) }
    var term = x
    var sum = x
    let first = columnNorms(x)
    var previous = first
    // Rounding can lengthen a term by a few ulps when ρ ≈ 1; growth beyond this is real.
    let slack = 1 + 1000 * Double(Scalar.ulpOfOne)
    for k in 1..<terms {
      let product = transpose ? try base.applyTranspose(term) : try base.apply(term)
      term.add(product, scaledBy: -scale)
      guard term.isFinite else { throw SolverError.nonFinite(iteration: k) }
      let norms = columnNorms(term)
      for (j, norm) in norms.enumerated() {
        let significant = norm > Double(Scalar.ulpOfOne) * first[j]
        if base.isSymmetric {
          if significant && norm > previous[j] * slack {
            throw SolverError.diverged(term: k, growth: norm / previous[j])
          }
        } else if norm > 1e6 * first[j] {
          throw SolverError.diverged(term: k, growth: norm / previous[j])
        }
      }
      previous = norms
      sum.add(term)
    }
    return sum * scale
  }
}
