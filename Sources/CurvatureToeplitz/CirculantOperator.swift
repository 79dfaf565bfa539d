import ComplexModule
import CurvatureNumerics
import CurvatureLinearAlgebra

/// A real circulant matrix `C = [c_{(j−k) mod n}]`, diagonalized by the FFT: products,
/// solves, inverses and determinants in O(n log n).
///
/// Every circulant is `C = F⁻¹ diag(λ) F` with `λ = F c` the DFT of its first column `c`
/// (`λ_j = Σ_k c_k e^{−2πijk/n}`). Circulants approximate Toeplitz matrices
/// (`CirculantOperator(approximating:_:)`) and, inverted, precondition them: Strang 1986,
/// T. Chan 1988, R. Chan 1989, Tyrtyshnikov 1992.
///
/// ```swift
/// let c = try CirculantOperator<Double>(column: [4, 1, 0, 1])
/// let x = try c.solve(b)                     // two FFTs
/// let m = try CirculantOperator.preconditioner(for: t, .tChan)   // C⁻¹ for PCG
/// ```
public struct CirculantOperator<Scalar: BLASScalar>: LinearOperator {
  let core: CirculantCore<Scalar>

  init(core: CirculantCore<Scalar>) { self.core = core }

  /// A circulant from its first column `(c₀, c₁, …, c_{n−1})`.
  /// - Throws: `ToeplitzError.lengthMismatch` when empty, `.nonFinite` for NaN or infinity.
  /// - Complexity: One FFT, O(n log n).
  public init(column: [Scalar]) throws(ToeplitzError) {
    try ToeplitzValidation.requireNonEmpty(column.count, "the column")
    try ToeplitzValidation.requireFinite(column, "column")
    core = CirculantCore(column: column, shape: [column.count])
  }

  /// A circulant from its eigenvalues `λ_j`, `j = 0…n/2` (the half spectrum; the rest
  /// follows from `λ_{n−j} = conj λ_j` because the matrix is real).
  /// - Parameters:
  ///   - eigenvalues: `n/2 + 1` values; `λ₀` and, for even `n`, `λ_{n/2}` must be real.
  ///   - size: The order `n`.
  /// - Throws: `ToeplitzError.lengthMismatch` for a wrong count, `.nonFinite`,
  ///   `.invalidArgument` for a non-real `λ₀` or `λ_{n/2}`.
  public init(eigenvalues: [Complex<Scalar>], size: Int) throws(ToeplitzError) {
    try ToeplitzValidation.requireNonEmpty(size, "the size")
    guard eigenvalues.count == size / 2 + 1 else {
      throw .lengthMismatch("a circulant of order \(size) has \(size / 2 + 1) independent eigenvalues, got \(eigenvalues.count)")
    }
    try ToeplitzValidation.requireFinite(eigenvalues.flatMap { [$0.real, $0.imaginary] }, "eigenvalues (re, im)")
    let scale = eigenvalues.reduce(Scalar(0)) { Swift.max($0, $1.length) }
    for j in [0, size % 2 == 0 ? size / 2 : 0] where Swift.abs(eigenvalues[j].imaginary) > 64 * Scalar.ulpOfOne * scale {
      throw .invalidArgument("eigenvalue \(j) of a real circulant must be real, got \(eigenvalues[j])")
    }
    core = CirculantCore(eigenvalues: eigenvalues, shape: [size])
  }

  /// The order `n`.
  public var size: Int { core.count }
  public var rowCount: Int { core.count }
  public var columnCount: Int { core.count }
  /// Whether `c_{n−k} = c_k`; then all eigenvalues are real.
  public var isSymmetric: Bool { core.isSymmetric }
  /// The first column.
  public var column: [Scalar] { core.column }
  /// The eigenvalues `λ_j = Σ_k c_k e^{−2πijk/n}` for `j = 0…n/2`.
  public var eigenvalues: [Complex<Scalar>] { core.eigenvalues }

  /// The smallest real part of an eigenvalue: for a symmetric circulant, its smallest
  /// eigenvalue, positive exactly when it is positive definite.
  public var minimumEigenvalue: Scalar { core.extremes.minimumReal }

  /// `C X` for `X` of shape `[n, k]`.
  /// - Complexity: O(k n log n).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { core.apply(x) }

  /// `Cᵀ X`, through the conjugate eigenvalues.
  /// - Complexity: O(k n log n).
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { core.apply(x, transpose: true) }

  /// Solves `C X = B` by dividing by the eigenvalues.
  /// - Parameter b: `[n]` or `[n, k]`.
  /// - Returns: `X = C⁻¹B`, shaped like `b`.
  /// - Throws: `LinearOperatorError.singular` for a zero eigenvalue, `.shapeMismatch`.
  /// - Complexity: O(k n log n).
  public func solve(_ b: NDArray<Scalar>) throws -> NDArray<Scalar> {
    try CirculantOperator(core: core.inverse()).apply(b)
  }

  /// The inverse, itself a circulant with eigenvalues `1/λ_j`.
  /// - Throws: `LinearOperatorError.singular` for a zero eigenvalue.
  public func inverse() throws -> any LinearOperator<Scalar> { try inverted() }

  /// The inverse as a `CirculantOperator`.
  /// - Returns: The circulant with eigenvalues `1/λ_j`.
  /// - Throws: `LinearOperatorError.singular` for a zero eigenvalue.
  public func inverted() throws -> CirculantOperator { CirculantOperator(core: try core.inverse()) }

  /// `log|det C| = Σ_j log|λ_j|` and the sign of `det C`.
  /// - Complexity: O(n).
  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) { core.logDeterminant() }

  public func dense() throws -> NDArray<Scalar> { core.dense() }
  public func diagonal() throws -> NDArray<Scalar> { NDArray(repeating: core.column[0], shape: [size]) }
  public func trace() throws -> Scalar { Scalar(size) * core.column[0] }
}
