import CurvatureNumerics
import CurvatureLinearAlgebra

/// The Levinson-Durbin recursion for a symmetric positive definite Toeplitz matrix:
/// reflection coefficients, log-determinant and direct solves in O(n²).
///
/// For `T = [t_{|j−k|}]` normalized to `t₀ = 1`, Durbin's recursion (Durbin 1960; Golub &
/// Van Loan, Algorithm 4.7.1) solves the Yule-Walker systems `T_k y = −(t₁, …, t_k)` of growing
/// order `k`. Each step produces a reflection (partial autocorrelation) coefficient `κ_k`
/// and the prediction error `β_k = β_{k−1}(1 − κ_k²)`, `β₀ = t₀`. These are the pivots of the
/// `LDLᵀ` factorization of `T` (with rows reversed), so
///
///     det T = ∏_{k=0}^{n−1} β_k,      T ≻ 0  ⟺  t₀ > 0 and |κ_k| < 1 for all k.
///
/// Levinson's algorithm (Levinson 1947; Golub & Van Loan, Algorithm 4.7.2) solves `T x = b`
/// for a general right-hand side alongside the same recursion. Both run in Double
/// internally, whatever `Scalar` is.
///
/// ```swift
/// let levinson = try LevinsonDurbin<Double>(column: [2, 0.5, 0.25])
/// let x = try levinson.solve(b)          // O(n²) per right-hand side
/// let logDet = levinson.logDeterminant
/// ```
public struct LevinsonDurbin<Scalar: BLASScalar>: Sendable {
  /// The first column `(t₀, …, t_{n−1})` of the symmetric Toeplitz matrix.
  public let column: [Scalar]
  /// The reflection coefficients `κ₁, …, κ_{n−1}`, each in `(−1, 1)`.
  public let reflectionCoefficients: [Scalar]
  /// The prediction errors `β₀ = t₀, β₁, …, β_{n−1}`, each positive.
  public let predictionErrors: [Scalar]
  /// `log det T = Σ_k log β_k`.
  public let logDeterminant: Scalar

  /// Runs Durbin's recursion on the symmetric Toeplitz matrix with first column `column`.
  /// - Throws: `ToeplitzError.lengthMismatch` when empty, `.nonFinite` for NaN or infinity,
  ///   `.notPositiveDefinite` naming the first order `k` at which `|κ_k| ≥ 1` (or `t₀ ≤ 0`).
  /// - Complexity: O(n²) time, O(n) memory.
  public init(column: [Scalar]) throws(ToeplitzError) {
    try ToeplitzValidation.requireNonEmpty(column.count, "the column")
    try ToeplitzValidation.requireFinite(column, "column")
    let n = column.count
    let t0 = Double(column[0])
    guard t0 > 0 else { throw .notPositiveDefinite("t₀ = \(t0) ≤ 0 (the diagonal of a positive definite matrix is positive)") }
    let r = column.map { Double($0) / t0 }
    var kappa = [Double](), beta = [t0]
    var y = [Double](), scratch = [Double]()
    y.reserveCapacity(n)
    for k in 0..<(n - 1) {
      // y solves T_k y = −(r₁, …, r_k); find κ_{k+1} and extend y.
      var s = r[k + 1]
      for i in 0..<k { s += r[i + 1] * y[k - 1 - i] }
      let alpha = -s / (beta[k] / t0)
      guard Swift.abs(alpha) < 1, alpha.isFinite else {
        throw .notPositiveDefinite("the reflection coefficient κ_\(k + 1) = \(alpha) has |κ| ≥ 1: the leading minor of order \(k + 2) is not positive definite")
      }
      scratch = y
      for i in 0..<k { y[i] = scratch[i] + alpha * scratch[k - 1 - i] }
      y.append(alpha)
      kappa.append(alpha)
      beta.append(beta[k] * (1 - alpha * alpha))
    }
    self.column = column
    reflectionCoefficients = kappa.map { Scalar($0) }
    predictionErrors = beta.map { Scalar($0) }
    logDeterminant = Scalar(beta.reduce(0) { $0 + Double.log($1) })
  }

  /// The order `n`.
  public var size: Int { column.count }

  /// Solves `T X = B` by Levinson's algorithm.
  /// - Parameter b: `[n]` or `[n, k]`.
  /// - Returns: `X = T⁻¹B`, shaped like `b`.
  /// - Throws: `LinearOperatorError.shapeMismatch` for a wrong shape,
  ///   `ToeplitzError.nonFinite` for NaN or infinity in `b`.
  /// - Complexity: O(n² (k + 1)).
  public func solve(_ b: NDArray<Scalar>) throws -> NDArray<Scalar> {
    let n = size
    guard (b.rank == 1 || b.rank == 2), b.shape[0] == n else {
      throw LinearOperatorError.shapeMismatch(operation: "LevinsonDurbin.solve", expected: "[\(n)] or [\(n), k]", actual: b.shape)
    }
    try ToeplitzValidation.requireFinite(b.scalars, "right-hand side")
    let k = b.rank == 1 ? 1 : b.shape[1]
    let t0 = Double(column[0])
    let r = column.map { Double($0) / t0 }
    // One contiguous solution per right-hand side, normalized by t₀.
    var x = [[Double]](repeating: [], count: k)
    for c in 0..<k {
      x[c].reserveCapacity(n)
      x[c].append(Double(b.scalars[c]) / t0)
    }
    var y: [Double] = n > 1 ? [-r[1]] : []
    var alpha = n > 1 ? -r[1] : 0
    var beta = 1.0
    var previous = [Double]()
    for step in 1..<Swift.max(1, n) {
      beta *= 1 - alpha * alpha
      for c in 0..<k {
        var s = Double(b.scalars[step * k + c]) / t0
        for i in 0..<step { s -= r[i + 1] * x[c][step - 1 - i] }
        let mu = s / beta
        for i in 0..<step { x[c][i] += mu * y[step - 1 - i] }
        x[c].append(mu)
      }
      if step < n - 1 {
        var s = r[step + 1]
        for i in 0..<step { s += r[i + 1] * y[step - 1 - i] }
        alpha = -s / beta
        previous = y
        for i in 0..<step { y[i] = previous[i] + alpha * previous[step - 1 - i] }
        y.append(alpha)
      }
    }
    var result = NDArray<Scalar>(zeros: [n, k])
    for c in 0..<k {
      for i in 0..<n { result.scalars[i * k + c] = Scalar(x[c][i]) }
    }
    return result.reshaped(b.shape)
  }
}
