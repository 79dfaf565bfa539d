import ComplexModule
import CurvatureNumerics
import CurvatureLinearAlgebra

/// A block-circulant matrix with circulant blocks (BCCB), diagonalized by the 2-D FFT:
/// products, solves, inverses and determinants in O(N log N), `N = n₁n₂`.
///
/// The matrix is indexed by pairs: the entry at block row `j₁`, block column `k₁`, inner row
/// `j₂`, inner column `k₂` (row `j₁n₂ + j₂`, column `k₁n₂ + k₂`) is
/// `c[(j₁ − k₁) mod n₁, (j₂ − k₂) mod n₂]`, where `c` (`[n₁, n₂]`) is the first column
/// reshaped. It is the 2-level analogue of `CirculantOperator` (periodic convolution on a
/// torus), `C = F⁻¹ diag(λ) F` with `λ = F₂ c` the 2-D DFT. BCCB approximations of BTTB
/// matrices are their level-2 circulant preconditioners (T. Chan & Olkin 1994).
///
/// ```swift
/// let c = try BCCBOperator(column: NDArray<Double>(shape: [4, 4]) { i in ... })
/// let y = try c.solve(b)
/// ```
public struct BCCBOperator<Scalar: BLASScalar>: LinearOperator {
  let core: CirculantCore<Scalar>

  init(core: CirculantCore<Scalar>) { self.core = core }

  /// A BCCB matrix from its first column, reshaped to `[n₁, n₂]`.
  /// - Throws: `ToeplitzError.lengthMismatch` unless `column` is a non-empty matrix,
  ///   `.nonFinite` for NaN or infinity.
  /// - Complexity: One 2-D FFT, O(N log N).
  public init(column: NDArray<Scalar>) throws(ToeplitzError) {
    guard column.rank == 2, column.count > 0 else {
      throw .lengthMismatch("a BCCB first column must be a non-empty [n₁, n₂] array, got shape \(column.shape)")
    }
    try ToeplitzValidation.requireFinite(column.scalars, "column")
    core = CirculantCore(column: column.scalars, shape: column.shape)
  }

  /// A BCCB matrix from its eigenvalues on the `n₁ × (n₂/2 + 1)` half grid (the rest
  /// follows from `λ_{−j} = conj λ_j`), row-major.
  /// - Throws: `ToeplitzError.lengthMismatch` for a wrong count, `.nonFinite`.
  public init(eigenvalues: [Complex<Scalar>], blockCount: Int, blockSize: Int) throws(ToeplitzError) {
    try ToeplitzValidation.requireNonEmpty(blockCount * blockSize, "the shape")
    guard eigenvalues.count == blockCount * (blockSize / 2 + 1) else {
      throw .lengthMismatch("a \(blockCount)×\(blockSize) BCCB matrix has \(blockCount * (blockSize / 2 + 1)) independent eigenvalues, got \(eigenvalues.count)")
    }
    try ToeplitzValidation.requireFinite(eigenvalues.flatMap { [$0.real, $0.imaginary] }, "eigenvalues (re, im)")
    core = CirculantCore(eigenvalues: eigenvalues, shape: [blockCount, blockSize])
  }

  /// The number of blocks per row, `n₁`.
  public var blockCount: Int { core.shape[0] }
  /// The order of each block, `n₂`.
  public var blockSize: Int { core.shape[1] }
  public var rowCount: Int { core.count }
  public var columnCount: Int { core.count }
  /// Whether `c[−p, −q] = c[p, q]` (indices modulo the shape).
  public var isSymmetric: Bool { core.isSymmetric }
  /// The first column as `[n₁, n₂]`.
  public var column: NDArray<Scalar> { NDArray(shape: core.shape, scalars: core.column) }
  /// The eigenvalues on the half grid `n₁ × (n₂/2 + 1)`, row-major.
  public var eigenvalues: [Complex<Scalar>] { core.eigenvalues }
  /// The smallest real part of an eigenvalue (the smallest eigenvalue when symmetric).
  public var minimumEigenvalue: Scalar { core.extremes.minimumReal }

  /// `C X` for `X` of shape `[N, k]`.
  /// - Complexity: O(k N log N).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { core.apply(x) }
  /// `Cᵀ X` through the conjugate eigenvalues.
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { core.apply(x, transpose: true) }

  /// Solves `C X = B` by dividing by the eigenvalues.
  /// - Parameter b: `[N]` or `[N, k]`.
  /// - Returns: `X = C⁻¹B`, shaped like `b`.
  /// - Throws: `LinearOperatorError.singular` for a zero eigenvalue, `.shapeMismatch`.
  /// - Complexity: O(k N log N).
  public func solve(_ b: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try BCCBOperator(core: core.inverse()).apply(b)
  }

  /// The inverse, a BCCB matrix with eigenvalues `1/λ`.
  /// - Throws: `LinearOperatorError.singular` for a zero eigenvalue.
  public func inverse() throws -> any LinearOperator<Scalar> { try inverted() }

  /// The inverse as a `BCCBOperator`.
  /// - Returns: The BCCB matrix with eigenvalues `1/λ`.
  /// - Throws: `LinearOperatorError.singular` for a zero eigenvalue.
  public func inverted() throws -> BCCBOperator { BCCBOperator(core: try core.inverse()) }

  /// `log|det C|` and the sign, from the eigenvalues.
  /// - Complexity: O(N).
  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) { core.logDeterminant() }

  public func dense() throws -> NDArray<Scalar> { core.dense() }
  public func diagonal() throws -> NDArray<Scalar> { NDArray(repeating: core.column[0], shape: [rowCount]) }
  public func trace() throws -> Scalar { Scalar(rowCount) * core.column[0] }
}
