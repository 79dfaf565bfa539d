import CurvatureNumerics
import CurvatureLinearAlgebra

/// The inverse generating function preconditioner `T[1/f]` of a symmetric positive definite
/// Toeplitz matrix `T[f]` (Chan & Ng 1993): a Toeplitz matrix, applied in O(n log n).
///
/// When `f > 0`, `T[1/f] T[f]` has its eigenvalues clustered at 1 up to a number of
/// outliers that does not grow with `n` (for `f` in the Wiener class; Chan & Ng 1993), so
/// PCG converges in a bounded number of iterations. Unlike circulant preconditioners it
/// needs no positivity fix-up and keeps the structure exactly: applying it is a Toeplitz
/// product. The coefficients of `1/f` come from samples of `f` on `θ_j = 2πj/m` by one FFT,
///
///     s_k = (1/m) Σ_j e^{−ikθ_j} / f(θ_j),   |k| < n,   m ≥ 2n.
///
/// When `f` is not known it is estimated from the entries as `f_n(θ) = Σ_{|k|<n} t_k e^{ikθ}`;
/// if that is not positive on the grid the Fejér-weighted mean
/// `Σ_{|k|<n} (1 − |k|/n) t_k e^{ikθ} = (1/n) v(θ)ᴴ T v(θ) > 0` is used instead, so the
/// preconditioner stays positive definite.
///
/// ```swift
/// let t = try ToeplitzOperator<Double>(symmetric: column)
/// let m = try InverseSymbolPreconditioner(size: n) { theta in pow(theta, 4) + 1 }
/// let result = try conjugateGradient(t, b, preconditioner: m)
/// ```
public struct InverseSymbolPreconditioner<Scalar: BLASScalar>: LinearOperator {
  /// `T[1/f]`.
  public let toeplitz: ToeplitzOperator<Scalar>
  /// The smallest and largest value of the symbol `f` used, on the grid.
  public let symbolRange: ClosedRange<Double>
  /// Whether the symbol was estimated with Fejér weights because the truncated series was
  /// not positive.
  public let usedFejerWeights: Bool
  /// The number `m` of grid points.
  public let gridSize: Int

  /// `T[1/f]` from samples of `f` on `θ_j = 2πj/m`, `j = 0…m−1`.
  /// - Parameters:
  ///   - n: The order of the matrix.
  ///   - samples: `f(θ_j)`, `m ≥ 2n` values of an even, positive symbol.
  /// - Throws: `ToeplitzError.lengthMismatch` when `m < 2n`, `.nonFinite`,
  ///   `.invalidArgument` for samples that are not even, `.symbolNotPositive` when
  ///   `min f ≤ 0` (for a symbol with a zero, use `BandToeplitzPreconditioner`).
  /// - Complexity: One FFT of size `m`, O(m log m).
  public init(size n: Int, samples: [Double]) throws(ToeplitzError) {
    try self.init(size: n, samples: samples, fejer: false)
  }

  /// `T[1/f]` for a symbol given as a function on `(−π, π]`, sampled on `m` points.
  /// - Parameters:
  ///   - n: The order of the matrix.
  ///   - gridSize: `m ≥ 2n`; by default `GeneratingFunction.defaultGridSize(for: n)`.
  ///   - symbol: `f(θ)`, even and positive.
  /// - Throws: Like `init(size:samples:)`.
  public init(size n: Int, gridSize: Int? = nil, symbol: (Double) -> Double) throws(ToeplitzError) {
    let m = gridSize ?? GeneratingFunction.defaultGridSize(for: n)
    try self.init(size: n, samples: GeneratingFunction.samples(of: symbol, gridSize: m), fejer: false)
  }

  /// `T[1/f]` with `f` estimated from the entries of a symmetric Toeplitz matrix, with the
  /// Fejér-weighted fallback.
  /// - Throws: `ToeplitzError.invalidArgument` for a nonsymmetric matrix or `m < 2n`;
  ///   `.notPositiveDefinite` when even the Fejér mean is not positive (then `T` is not
  ///   positive definite).
  /// - Complexity: Two or three FFTs of size `m`.
  public init(estimatingFrom toeplitz: ToeplitzOperator<Scalar>, gridSize: Int? = nil) throws(ToeplitzError) {
    guard toeplitz.isSymmetric else {
      throw .invalidArgument("T[1/f] needs a symmetric Toeplitz matrix (a real even symbol)")
    }
    let n = toeplitz.size
    let m = gridSize ?? GeneratingFunction.defaultGridSize(for: n)
    guard m >= 2 * n else { throw .invalidArgument("grid of \(m) points for order \(n); need m ≥ 2n") }
    let column = toeplitz.column.map { Double($0) }
    let truncated = GeneratingFunction.samples(ofSymmetricColumn: column, gridSize: m, fejer: false)
    if truncated.min()! > 0 {
      try self.init(size: n, samples: truncated, fejer: false)
      return
    }
    let fejer = GeneratingFunction.samples(ofSymmetricColumn: column, gridSize: m, fejer: true)
    guard fejer.min()! > 0 else {
      throw .notPositiveDefinite("the Fejér-weighted symbol has minimum \(fejer.min()!) ≤ 0, so the Toeplitz matrix is not positive definite")
    }
    try self.init(size: n, samples: fejer, fejer: true)
  }

  private init(size n: Int, samples: [Double], fejer: Bool) throws(ToeplitzError) {
    try ToeplitzValidation.requireNonEmpty(n, "the order")
    try GeneratingFunction.validate(NDArray(samples), orders: [n], name: "the symbol samples")
    let low = samples.min()!, high = samples.max()!
    guard low > 0 else {
      let j = samples.firstIndex(of: low)!
      throw .symbolNotPositive(
        "min f = \(low) at θ = \(GeneratingFunction.gridPoint(j, of: samples.count)); T[1/f] needs f > 0 (for a symbol with a zero use the band preconditioner)")
    }
    let coefficients = try GeneratingFunction.coefficients(samples: samples.map { 1 / $0 }, count: n)
    toeplitz = try ToeplitzOperator(symmetric: coefficients.map { Scalar($0) })
    symbolRange = low...high
    usedFejerWeights = fejer
    gridSize = samples.count
  }

  public var rowCount: Int { toeplitz.size }
  public var columnCount: Int { toeplitz.size }
  public var isSymmetric: Bool { true }

  /// `T[1/f] X`, a Toeplitz product.
  /// - Complexity: O(k n log n).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try toeplitz.apply(matrix: x) }
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try toeplitz.apply(matrix: x) }
  public func dense() throws -> NDArray<Scalar> { try toeplitz.dense() }
}
