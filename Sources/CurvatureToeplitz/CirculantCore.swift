import ComplexModule
import CurvatureNumerics
import CurvatureLinearAlgebra

/// The shared part of `CirculantOperator` and `BCCBOperator`: a real 1- or 2-level
/// circulant stored as its eigenvalues.
///
/// A real circulant `C` with first column `c` (an array over `shape`) satisfies
/// `C = F⁻¹ diag(λ) F` with `λ = F c`, the (multi-dimensional) DFT `λ_j = Σ_k c_k e^{−2πi⟨j,k⟩/m}`.
/// Since `c` is real, `λ` is Hermitian (`λ_{−j} = conj λ_j`) and the half spectrum over the
/// last axis (`m/2 + 1` entries) holds all of it. Products, transposes (conjugate `λ`),
/// inverses (`1/λ`), and determinants (`∏ λ`) all work on `λ` directly.
struct CirculantCore<Scalar: BLASScalar>: Sendable {
  let embedding: CirculantEmbedding<Scalar>
  /// The half spectrum, row-major over `shape` with the last axis halved.
  let eigenvalues: [Complex<Scalar>]
  /// The first column, row-major over `shape`.
  let column: [Scalar]
  let isSymmetric: Bool

  var shape: [Int] { embedding.circulantShape }
  var count: Int { embedding.circulantCount }

  /// From the first column (row-major over `shape`).
  init(column: [Scalar], shape: [Int]) {
    embedding = CirculantEmbedding(circulantShape: shape, operatorShape: shape)
    self.column = column
    eigenvalues = embedding.spectrum(ofColumn: column)
    isSymmetric = CirculantCore.isSymmetric(column, shape: shape)
  }

  /// From a half spectrum; the column is its inverse transform.
  init(eigenvalues: [Complex<Scalar>], shape: [Int]) {
    embedding = CirculantEmbedding(circulantShape: shape, operatorShape: shape)
    var spectra = eigenvalues
    // Both the DC and (even size) Nyquist entries of a real circulant are real; the
    // complex-to-real transform ignores any imaginary part there.
    let raw = embedding.inverse(&spectra, count: 1)
    let scale = 1 / Scalar(embedding.circulantCount)
    column = raw.map { $0 * scale }
    self.eigenvalues = eigenvalues
    isSymmetric = CirculantCore.isSymmetric(column, shape: shape, tolerance: true)
  }

  /// `c_{−k} = c_k` (indices modulo the shape), exactly or up to rounding.
  static func isSymmetric(_ column: [Scalar], shape: [Int], tolerance: Bool = false) -> Bool {
    let (m1, m2) = shape.count == 1 ? (1, shape[0]) : (shape[0], shape[1])
    let scale = column.reduce(Scalar(0)) { Swift.max($0, Swift.abs($1)) }
    let allowed = tolerance ? 64 * Scalar.ulpOfOne * scale : 0
    for p in 0..<m1 {
      for q in 0..<m2 {
        let mirrored = ((m1 - p) % m1) * m2 + (m2 - q) % m2
        if Swift.abs(column[p * m2 + q] - column[mirrored]) > allowed { return false }
      }
    }
    return true
  }

  func apply(_ x: NDArray<Scalar>, transpose: Bool = false) -> NDArray<Scalar> {
    embedding.multiply(x, by: eigenvalues, conjugate: transpose && !isSymmetric)
  }

  /// The eigenvalue of smallest real part, and the largest modulus.
  var extremes: (minimumReal: Scalar, maximumModulus: Scalar) {
    var low = Scalar.infinity, high: Scalar = 0
    for value in eigenvalues {
      low = Swift.min(low, value.real)
      high = Swift.max(high, value.length)
    }
    return (low, high)
  }

  /// The circulant with eigenvalues `1/λ`.
  /// - Throws: `LinearOperatorError.singular` when an eigenvalue is zero (or tiny relative
  ///   to the largest, so that the inverse is not representable).
  func inverse() throws -> CirculantCore {
    let (_, high) = extremes
    if let zero = eigenvalues.firstIndex(where: { $0.length <= high * Scalar.ulpOfOne }) {
      throw LinearOperatorError.singular("circulant eigenvalue \(zero) is \(eigenvalues[zero]) (largest modulus \(high))")
    }
    return CirculantCore(eigenvalues: eigenvalues.map { 1 / $0 }, shape: shape)
  }

  /// `log |det C|` and the sign of `det C = ∏ λ_j` over the full spectrum.
  ///
  /// Entries of the half spectrum stand for themselves and their conjugate mirror, except
  /// on the self-mirrored columns (last index `0` and, for even `m`, `m/2`); within those a
  /// conjugate pair contributes `|λ|² > 0`, so the sign is the product of the signs of the
  /// real, self-conjugate eigenvalues.
  func logDeterminant() -> (sign: Scalar, logMagnitude: Scalar) {
    let (m1, m2) = shape.count == 1 ? (1, shape[0]) : (shape[0], shape[1])
    let h = m2 / 2 + 1
    var sign: Scalar = 1, total = 0.0
    for p in 0..<m1 {
      for q in 0..<h {
        let value = eigenvalues[p * h + q]
        if value.length == 0 { return (0, -.infinity) }
        let selfMirrored = q == 0 || (m2 % 2 == 0 && q == m2 / 2)
        total += (selfMirrored ? 1 : 2) * Double.log(Double(value.length))
        if selfMirrored && (p == 0 || (m1 % 2 == 0 && p == m1 / 2)) && value.real < 0 { sign = -sign }
      }
    }
    return (sign, Scalar(total))
  }

  /// The dense matrix: entry `(j, l)` is `c_{(j − l) mod m}` per level.
  func dense() -> NDArray<Scalar> {
    let (m1, m2) = shape.count == 1 ? (1, shape[0]) : (shape[0], shape[1])
    let n = m1 * m2
    var result = NDArray<Scalar>(zeros: [n, n])
    result.withUnsafeMutableBufferPointer { p in
      for j1 in 0..<m1 {
        for j2 in 0..<m2 {
          for l1 in 0..<m1 {
            let p1 = (j1 - l1 + m1) % m1
            for l2 in 0..<m2 {
              p[(j1 * m2 + j2) * n + l1 * m2 + l2] = column[p1 * m2 + (j2 - l2 + m2) % m2]
            }
          }
        }
      }
    }
    return result
  }
}
