import ComplexModule
import CurvatureNumerics
import CurvatureLinearAlgebra

/// A Toeplitz matrix `T = [t_{j−k}]`, constant along its diagonals, with an O(n log n)
/// product through circulant embedding and real FFTs.
///
/// `T` is defined by its first column `(t₀, t₁, …, t_{n−1})` and first row
/// `(t₀, t_{−1}, …, t_{−(n−1)})`. Toeplitz matrices are the covariance matrices of stationary
/// time series and the matrices of 1-D convolutions; the generating function (symbol)
/// `f(θ) = Σ_k t_k e^{ikθ}` describes their spectrum asymptotically (Grenander & Szegő
/// 1958): the eigenvalues of `T_n[f]` for real `f` are distributed like the values of `f`.
///
/// `T` is the leading `n×n` block of a circulant of order `m ≥ 2n − 1` (see
/// `fftFriendlySize(atLeast:)`), so `T x` costs two real FFTs of size `m`; the transform of
/// the embedded column is computed once, at construction. `Tᵀ x` uses the conjugate
/// spectrum. Blocks of right-hand sides `[n, k]` run as one batched FFT.
///
/// ```swift
/// let t = try ToeplitzOperator<Double>(symmetric: [4, 1, 0.5, 0.25])
/// let y = try t.apply(x)                      // O(n log n)
/// let x = try LevinsonDurbin(column: t.column).solve(b)   // O(n²) direct solve
/// ```
public struct ToeplitzOperator<Scalar: BLASScalar>: LinearOperator {
  /// The first column `(t₀, t₁, …, t_{n−1})`.
  public let column: [Scalar]
  /// The first row `(t₀, t_{−1}, …, t_{−(n−1)})`.
  public let row: [Scalar]
  /// Whether `row == column`, i.e. `t_{−k} = t_k`.
  public let isSymmetric: Bool
  let embedding: CirculantEmbedding<Scalar>
  /// The eigenvalues of the embedding circulant (half spectrum).
  let spectrum: [Complex<Scalar>]

  /// A Toeplitz matrix from its first column and first row.
  /// - Parameters:
  ///   - column: `(t₀, t₁, …, t_{n−1})`, the entries below and on the diagonal.
  ///   - row: `(t₀, t_{−1}, …, t_{−(n−1)})`, the entries right of and on the diagonal.
  /// - Throws: `ToeplitzError.lengthMismatch` for empty or unequal lengths,
  ///   `.cornerMismatch` when `column[0] ≠ row[0]`, `.nonFinite` for NaN or infinity.
  /// - Complexity: One FFT of size `m ≈ 2n`: O(n log n).
  public init(column: [Scalar], row: [Scalar]) throws(ToeplitzError) {
    try ToeplitzValidation.requireNonEmpty(column.count, "the column")
    guard column.count == row.count else {
      throw .lengthMismatch("the column has \(column.count) entries but the row has \(row.count)")
    }
    try ToeplitzValidation.requireFinite(column, "column")
    try ToeplitzValidation.requireFinite(row, "row")
    guard column[0] == row[0] else { throw .cornerMismatch(column: Double(column[0]), row: Double(row[0])) }
    self.column = column
    self.row = row
    isSymmetric = column == row
    let n = column.count
    embedding = CirculantEmbedding(toeplitzShape: [n])
    let m = embedding.circulantCount
    var embedded = [Scalar](repeating: 0, count: m)
    for k in 0..<n { embedded[k] = column[k] }
    for k in 1..<Swift.max(1, n) { embedded[m - k] = row[k] }
    spectrum = embedding.spectrum(ofColumn: embedded)
  }

  /// A symmetric Toeplitz matrix (`t_{−k} = t_k`) from its first column.
  /// - Throws: `ToeplitzError.lengthMismatch` when empty, `.nonFinite` for NaN or infinity.
  /// - Complexity: O(n log n).
  public init(symmetric column: [Scalar]) throws(ToeplitzError) {
    try self.init(column: column, row: column)
  }

  /// A Toeplitz matrix from its coefficients `(t_{−(n−1)}, …, t₀, …, t_{n−1})` (length
  /// `2n − 1`, the layout of a 1-level generator).
  /// - Throws: `ToeplitzError.lengthMismatch` for an even or zero length, `.nonFinite`.
  public init(coefficients: [Scalar]) throws(ToeplitzError) {
    let n = try ToeplitzValidation.halfExtent(coefficients.count, "the coefficient vector")
    try self.init(
      column: (0..<n).map { coefficients[n - 1 + $0] }, row: (0..<n).map { coefficients[n - 1 - $0] })
  }

  /// The order `n`.
  public var size: Int { column.count }
  public var rowCount: Int { column.count }
  public var columnCount: Int { column.count }

  /// The coefficient on diagonal `k`.
  /// - Returns: `t_k` (`T[j, l] = t_{j−l}`), zero for `|k| ≥ n`.
  public func coefficient(_ k: Int) -> Scalar {
    guard Swift.abs(k) < size else { return 0 }
    return k >= 0 ? column[k] : row[-k]
  }

  /// The order of the circulant the matrix is embedded in (a fast FFT size `≥ 2n − 1`).
  public var embeddingSize: Int { embedding.circulantCount }

  /// `T X` for `X` of shape `[n, k]`.
  /// - Complexity: O(k n log n).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    embedding.multiply(x, by: spectrum)
  }

  /// `Tᵀ X`: the Toeplitz matrix with row and column exchanged, through the conjugate spectrum.
  /// - Complexity: O(k n log n).
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    embedding.multiply(x, by: spectrum, conjugate: !isSymmetric)
  }

  /// The transpose `Tᵀ`, a Toeplitz matrix with first column and first row exchanged.
  public var transpose: ToeplitzOperator {
    // Same lengths, same corner, finite entries: cannot throw.
    try! ToeplitzOperator(column: row, row: column)
  }

  /// The dense matrix, entry by entry.
  /// - Complexity: O(n²).
  public func dense() throws -> NDArray<Scalar> {
    let n = size
    var result = NDArray<Scalar>(zeros: [n, n])
    result.withUnsafeMutableBufferPointer { p in
      for j in 0..<n {
        for l in 0..<n { p[j * n + l] = j >= l ? column[j - l] : row[l - j] }
      }
    }
    return result
  }

  public func diagonal() throws -> NDArray<Scalar> { NDArray(repeating: column[0], shape: [size]) }
  public func trace() throws -> Scalar { Scalar(size) * column[0] }

  /// `‖T‖_F = (Σ_{|k|<n} (n − |k|) t_k²)^{1/2}`.
  /// - Complexity: O(n).
  public func frobeniusNorm() throws -> Scalar {
    var total = Double(size) * Double(column[0]) * Double(column[0])
    for k in 1..<Swift.max(1, size) {
      total += Double(size - k) * (Double(column[k]) * Double(column[k]) + Double(row[k]) * Double(row[k]))
    }
    return Scalar(total.squareRoot())
  }

  /// The log-determinant; for a symmetric positive definite matrix from the reflection
  /// coefficients of Levinson-Durbin in O(n²), otherwise through a dense LU.
  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) {
    if isSymmetric, let levinson = try? LevinsonDurbin(column: column) {
      return (1, levinson.logDeterminant)
    }
    return try dense().signAndLogDeterminant()
  }

  /// The inverse; for a symmetric positive definite matrix the Gohberg-Semencul
  /// representation (O(n²) set-up, O(n log n) per product), otherwise a dense inverse.
  public func inverse() throws -> any LinearOperator<Scalar> {
    if isSymmetric, let inverse = try? ToeplitzInverseOperator(self) { return inverse }
    do {
      return DenseOperator(try dense().inverse())
    } catch let error as LAPACKError {
      throw LinearOperatorError.singular(error.description)
    }
  }
}
