import CurvatureNumerics
import CurvatureLinearAlgebra

/// The inverse of a symmetric positive definite Toeplitz matrix in the Gohberg-Semencul
/// form: O(n²) set-up (one Levinson solve), then O(n log n) per product.
///
/// The inverse of a Toeplitz matrix is not Toeplitz, but it has displacement rank 2: with
/// `x = T⁻¹ e₁` (the first column of the inverse, `x₀ > 0`),
///
///     T⁻¹ = (1/x₀) (L(x) L(x)ᵀ − L(Z J x) L(Z J x)ᵀ)
///
/// where `L(v)` is the lower-triangular Toeplitz matrix with first column `v`, `J` reverses
/// a vector and `Z` shifts it down by one, so `Z J x = (0, x_{n−1}, …, x₁)` (Gohberg &
/// Semencul 1972; for symmetric `T`, `J x` is the last column of `T⁻¹`). Each of the four
/// triangular Toeplitz products is an FFT convolution.
///
/// For very ill-conditioned `T` the formula loses more accuracy than a Levinson solve;
/// `LevinsonDurbin.solve` is the backward-stable-in-practice alternative at O(n²).
public struct ToeplitzInverseOperator<Scalar: BLASScalar>: LinearOperator {
  /// The matrix being inverted.
  public let base: ToeplitzOperator<Scalar>
  /// `x = T⁻¹ e₁`, the first column of the inverse.
  public let firstColumn: [Scalar]
  let lower: ToeplitzOperator<Scalar>
  let shifted: ToeplitzOperator<Scalar>
  let levinson: LevinsonDurbin<Scalar>

  /// The inverse of a symmetric positive definite Toeplitz matrix.
  /// - Throws: `ToeplitzError.invalidArgument` for a nonsymmetric matrix,
  ///   `.notPositiveDefinite` when Levinson-Durbin finds it indefinite.
  /// - Complexity: O(n²) for the Levinson solve, O(n log n) for the spectra.
  public init(_ toeplitz: ToeplitzOperator<Scalar>) throws(ToeplitzError) {
    guard toeplitz.isSymmetric else {
      throw .invalidArgument("the Gohberg-Semencul inverse needs a symmetric Toeplitz matrix")
    }
    base = toeplitz
    levinson = try LevinsonDurbin(column: toeplitz.column)
    let n = toeplitz.size
    var e1 = NDArray<Scalar>(zeros: [n])
    e1.scalars[0] = 1
    // The right-hand side is finite and of the right shape: solve cannot throw.
    let x = try! levinson.solve(e1).scalars
    firstColumn = x
    let zeros = [Scalar](repeating: 0, count: n)
    var first = zeros
    first[0] = x[0]
    // Entries come from a successful solve: finite, lengths equal, corners equal.
    lower = try! ToeplitzOperator(column: x, row: first)
    shifted = try! ToeplitzOperator(column: [0] + x.dropFirst().reversed(), row: zeros)
  }

  public var rowCount: Int { base.size }
  public var columnCount: Int { base.size }
  public var isSymmetric: Bool { true }

  /// `T⁻¹ X = (L₁(L₁ᵀX) − L₂(L₂ᵀX)) / x₀`.
  /// - Complexity: Eight real FFTs of size `m ≈ 2n` per column: O(k n log n).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    var result = try lower.apply(matrix: try lower.applyTranspose(matrix: x))
    result.add(try shifted.apply(matrix: try shifted.applyTranspose(matrix: x)), scaledBy: -1)
    result.scale(by: 1 / firstColumn[0])
    return result
  }

  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try apply(matrix: x) }

  /// `log det T⁻¹ = −Σ_k log β_k`, from the reflection coefficients.
  public func logDeterminant() throws -> (sign: Scalar, logMagnitude: Scalar) { (1, -levinson.logDeterminant) }

  /// The Toeplitz matrix itself.
  public func inverse() throws -> any LinearOperator<Scalar> { base }
}
