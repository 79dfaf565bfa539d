import ComplexModule
import CurvatureNumerics
import CurvatureLinearAlgebra

/// The matrix-valued inverse generating function preconditioner `T[F⁻¹]` of a symmetric
/// positive definite Toeplitz matrix with `s×s` matrix coefficients (Schneider & Pisarenco
/// 2018).
///
/// For the matrix symbol `F(θ) = Σ_k T_k e^{ikθ}`, Hermitian positive definite on the grid
/// `θ_j = 2πj/m` (`m ≥ 2n`), the preconditioner is the block-Toeplitz matrix of `F⁻¹`:
///
///     S_k = (1/m) Σ_j F(θ_j)⁻¹ e^{−ikθ_j},   |k| < n.
///
/// `F(θ_j)⁻¹` is computed by a batched Cholesky factorization, one `s×s` Hermitian matrix per
/// grid point (through the real symmetric form `[[Re F, −Im F], [Im F, Re F]]`, positive
/// definite exactly when `F` is), followed by `s²` FFTs over the grid. Applying it is a
/// `BlockToeplitzOperator` product with the layout of the matrix it preconditions. When `F`
/// is unknown it is estimated from the coefficients, with the Fejér weights `1 − |k|/n` when
/// the truncated series is not positive definite at some grid point.
public struct BlockInverseSymbolPreconditioner<Scalar: BLASScalar>: LinearOperator {
  /// `T[F⁻¹]`.
  public let toeplitz: BlockToeplitzOperator<Scalar>
  /// Whether the Fejér-weighted estimate was used.
  public let usedFejerWeights: Bool
  /// The number `m` of grid points.
  public let gridSize: Int

  /// `T[F⁻¹]` for a matrix symbol given as a function on `(−π, π]`.
  /// - Parameters:
  ///   - n: The number of Toeplitz positions.
  ///   - s: The order of each coefficient.
  ///   - layout: The ordering of the matrix to precondition.
  ///   - gridSize: `m ≥ 2n`; by default `GeneratingFunction.defaultGridSize(for: n)`.
  ///   - symbol: `θ ↦ (Re F(θ), Im F(θ))`, each `s×s` row-major, Hermitian positive
  ///     definite, with `F(−θ) = conj F(θ)` (real coefficients).
  /// - Throws: `ToeplitzError.lengthMismatch` for wrong sizes, `.nonFinite`,
  ///   `.invalidArgument` when `F` is not Hermitian or `F(−θ) ≠ conj F(θ)`,
  ///   `.symbolNotPositive` when `F(θ_j)` is not positive definite at some grid point.
  /// - Complexity: O(m s³ + s² m log m).
  public init(
    blockCount n: Int, blockSize s: Int, layout: BlockToeplitzLayout = .blockToeplitz, gridSize: Int? = nil,
    symbol: (Double) -> (real: [Double], imaginary: [Double])
  ) throws(ToeplitzError) {
    try ToeplitzValidation.requireNonEmpty(n * s, "the matrix")
    let m = gridSize ?? GeneratingFunction.defaultGridSize(for: n)
    guard m >= 2 * n else { throw .lengthMismatch("grid of \(m) points for \(n) positions; need m ≥ 2n") }
    var grid = [Complex<Double>](repeating: .zero, count: m * s * s)
    for j in 0..<m {
      let (re, im) = symbol(GeneratingFunction.gridPoint(j, of: m))
      guard re.count == s * s, im.count == s * s else {
        throw .lengthMismatch("the symbol returned \(re.count) and \(im.count) entries; an \(s)×\(s) matrix has \(s * s)")
      }
      try ToeplitzValidation.requireFinite(re + im, "F(θ_\(j)) (real, then imaginary parts)")
      for e in 0..<(s * s) { grid[j * s * s + e] = Complex(re[e], im[e]) }
    }
    // Real coefficients need F(−θ) = conj F(θ).
    let scale = grid.reduce(0) { Swift.max($0, $1.length) }
    for j in 0..<m {
      for e in 0..<(s * s) where (grid[j * s * s + e] - grid[((m - j) % m) * s * s + e].conjugate).length > 1e-8 * scale {
        throw .invalidArgument("the matrix symbol does not satisfy F(−θ) = conj F(θ) at θ_\(j), so the coefficients would not be real")
      }
    }
    let inverse = try BlockInverseSymbolPreconditioner.invert(grid, order: s)
    toeplitz = try BlockInverseSymbolPreconditioner.coefficients(inverse, count: n, order: s, layout: layout)
    usedFejerWeights = false
    self.gridSize = m
  }

  /// `T[F⁻¹]` with `F` estimated from the coefficients of a symmetric matrix, with the
  /// Fejér-weighted fallback.
  /// - Throws: `ToeplitzError.invalidArgument` for a nonsymmetric matrix or `m < 2n`;
  ///   `.notPositiveDefinite` when even the Fejér mean is not positive definite.
  /// - Complexity: O(m s³ + s² m log m).
  public init(estimatingFrom a: BlockToeplitzOperator<Scalar>, gridSize: Int? = nil) throws(ToeplitzError) {
    guard a.isSymmetric else { throw .invalidArgument("T[F⁻¹] needs a symmetric matrix (T₋ₖ = Tₖᵀ)") }
    let (n, s) = (a.blockCount, a.blockSize)
    let m = gridSize ?? GeneratingFunction.defaultGridSize(for: n)
    guard m >= 2 * n else { throw .invalidArgument("grid of \(m) points for \(n) positions; need m ≥ 2n") }
    var fejer = false
    var inverse: [Complex<Double>]
    do {
      inverse = try BlockInverseSymbolPreconditioner.invert(BlockInverseSymbolPreconditioner.symbol(of: a, gridSize: m, fejer: false), order: s)
    } catch {
      fejer = true
      do {
        inverse = try BlockInverseSymbolPreconditioner.invert(BlockInverseSymbolPreconditioner.symbol(of: a, gridSize: m, fejer: true), order: s)
      } catch {
        throw .notPositiveDefinite("the Fejér-weighted matrix symbol is not positive definite (\(error)), so the matrix is not positive definite")
      }
    }
    toeplitz = try BlockInverseSymbolPreconditioner.coefficients(inverse, count: n, order: s, layout: a.layout)
    usedFejerWeights = fejer
    self.gridSize = m
  }

  public var rowCount: Int { toeplitz.rowCount }
  public var columnCount: Int { toeplitz.columnCount }
  public var isSymmetric: Bool { true }

  /// `T[F⁻¹] X`.
  /// - Complexity: O(k (s n log n + s² n)).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try toeplitz.apply(matrix: x) }
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try toeplitz.applyTranspose(matrix: x) }
  public func dense() throws -> NDArray<Scalar> { try toeplitz.dense() }

  // MARK: Steps

  /// `F(θ_j) = Σ_{|k|<n} w_k T_k e^{ikθ_j}` on the grid, `[m, s, s]` complex.
  static func symbol(of a: BlockToeplitzOperator<Scalar>, gridSize m: Int, fejer: Bool) -> [Complex<Double>] {
    let (n, s) = (a.blockCount, a.blockSize)
    var embedded = [Complex<Double>](repeating: .zero, count: s * s * m)
    for k in (1 - n)..<n {
      let w = fejer ? 1 - Double(Swift.abs(k)) / Double(n) : 1
      for e in 0..<(s * s) {
        embedded[e * m + (k + m) % m] = Complex(w * Double(a.coefficients.scalars[(n - 1 + k) * s * s + e]))
      }
    }
    let values = ComplexFFTPlan<Double>(shape: [m], count: s * s).backward(embedded)
    var grid = [Complex<Double>](repeating: .zero, count: m * s * s)
    for e in 0..<(s * s) {
      for j in 0..<m { grid[j * s * s + e] = values[e * m + j] }
    }
    return grid
  }

  /// `F(θ_j)⁻¹` for each grid point by Cholesky factorization of the real form
  /// `[[A, −B], [B, A]]` of `F = A + iB`, whose inverse is `[[C, −D], [D, C]]` with
  /// `F⁻¹ = C + iD`.
  /// - Throws: `ToeplitzError.symbolNotPositive` naming the first grid point where `F` is not
  ///   Hermitian positive definite.
  static func invert(_ grid: [Complex<Double>], order s: Int) throws(ToeplitzError) -> [Complex<Double>] {
    let m = grid.count / (s * s)
    var result = grid
    for j in 0..<m {
      var real = NDArray<Double>(zeros: [2 * s, 2 * s])
      for a in 0..<s {
        for b in 0..<s {
          let f = grid[j * s * s + a * s + b]
          real[a, b] = f.real
          real[s + a, s + b] = f.real
          real[a, s + b] = -f.imaginary
          real[s + a, b] = f.imaginary
        }
      }
      let inverse: NDArray<Double>
      do {
        inverse = try real.cholesky().choleskySolve(.identity(2 * s))
      } catch {
        throw .symbolNotPositive("F(θ_\(j)) at θ = \(GeneratingFunction.gridPoint(j, of: m)) is not Hermitian positive definite (\(error))")
      }
      for a in 0..<s {
        for b in 0..<s { result[j * s * s + a * s + b] = Complex(inverse[a, b], inverse[s + a, b]) }
      }
    }
    return result
  }

  /// `S_k = (1/m) Σ_j G_j e^{−ikθ_j}` for `|k| < n`: `s²` forward FFTs over the grid.
  static func coefficients(
    _ inverse: [Complex<Double>], count n: Int, order s: Int, layout: BlockToeplitzLayout
  ) throws(ToeplitzError) -> BlockToeplitzOperator<Scalar> {
    let m = inverse.count / (s * s)
    var lines = [Complex<Double>](repeating: .zero, count: s * s * m)
    for j in 0..<m {
      for e in 0..<(s * s) { lines[e * m + j] = inverse[j * s * s + e] }
    }
    let transformed = ComplexFFTPlan<Double>(shape: [m], count: s * s).forward(lines)
    let coefficients = NDArray<Scalar>(shape: [2 * n - 1, s, s]) { i in
      let k = i[0] - n + 1
      return Scalar(transformed[(i[1] * s + i[2]) * m + (k + m) % m].real / Double(m))
    }
    return try BlockToeplitzOperator(coefficients: coefficients, layout: layout)
  }
}
