import ComplexModule
import CurvatureNumerics
import CurvatureLinearAlgebra

/// A block-Toeplitz matrix with Toeplitz blocks (BTTB), the 2-level Toeplitz matrix of a
/// stationary field on an `n₁ × n₂` grid, with an O(N log N) product (`N = n₁n₂`) through
/// embedding in a BCCB matrix and 2-D real FFTs.
///
/// The generator `G` has shape `(2n₁ − 1) × (2n₂ − 1)` and holds `t_{p,q}` at
/// `G[n₁ − 1 + p, n₂ − 1 + q]` for `|p| < n₁`, `|q| < n₂`. The entry at block row `j₁`, block
/// column `k₁`, inner row `j₂`, inner column `k₂` — row `j₁n₂ + j₂`, column `k₁n₂ + k₂` of
/// the matrix — is `t_{j₁−k₁, j₂−k₂}`. Vectors are grids flattened row-major (`x[j₁, j₂]` at
/// `j₁n₂ + j₂`). A kernel `k(Δ₁, Δ₂)` evaluated on grid offsets gives the covariance of a
/// stationary Gaussian process on the grid; a 2-D convolution has a BTTB matrix too.
///
/// The symbol is `f(x, y) = Σ_{p,q} t_{p,q} e^{i(px + qy)}`; `T[f]` is symmetric when
/// `t_{−p,−q} = t_{p,q}` (`f` real).
///
/// ```swift
/// let g = NDArray<Double>(shape: [2 * n1 - 1, 2 * n2 - 1]) { i in
///   let (p, q) = (Double(i[0] - n1 + 1), Double(i[1] - n2 + 1))
///   return exp(-(p * p + q * q) / 8)
/// }
/// let k = try BTTBOperator(generator: g)     // RBF covariance on an n1×n2 grid
/// ```
public struct BTTBOperator<Scalar: BLASScalar>: LinearOperator {
  /// The generator `[2n₁ − 1, 2n₂ − 1]`, `G[n₁ − 1 + p, n₂ − 1 + q] = t_{p,q}`.
  public let generator: NDArray<Scalar>
  /// The number of blocks per block row, `n₁`.
  public let blockCount: Int
  /// The order of each block, `n₂`.
  public let blockSize: Int
  /// Whether `t_{−p,−q} = t_{p,q}`.
  public let isSymmetric: Bool
  let embedding: CirculantEmbedding<Scalar>
  let spectrum: [Complex<Scalar>]

  /// A BTTB matrix from its generator.
  /// - Parameter generator: `[2n₁ − 1, 2n₂ − 1]` with `t_{p,q}` at `[n₁ − 1 + p, n₂ − 1 + q]`.
  /// - Throws: `ToeplitzError.lengthMismatch` unless both extents are odd,
  ///   `.nonFinite` for NaN or infinity.
  /// - Complexity: One 2-D FFT of size `m₁ × m₂ ≈ 2n₁ × 2n₂`.
  public init(generator: NDArray<Scalar>) throws(ToeplitzError) {
    guard generator.rank == 2 else {
      throw .lengthMismatch("a BTTB generator must be a [2n₁ − 1, 2n₂ − 1] matrix, got shape \(generator.shape)")
    }
    let n1 = try ToeplitzValidation.halfExtent(generator.shape[0], "the generator's first axis")
    let n2 = try ToeplitzValidation.halfExtent(generator.shape[1], "the generator's second axis")
    try ToeplitzValidation.requireFinite(generator.scalars, "generator (row-major)")
    self.generator = generator
    blockCount = n1
    blockSize = n2
    isSymmetric = generator.scalars == generator.scalars.reversed()
    embedding = CirculantEmbedding(toeplitzShape: [n1, n2])
    let (m1, m2) = (embedding.circulantShape[0], embedding.circulantShape[1])
    var embedded = [Scalar](repeating: 0, count: m1 * m2)
    let width = 2 * n2 - 1
    for p in (1 - n1)..<n1 {
      for q in (1 - n2)..<n2 {
        embedded[((p + m1) % m1) * m2 + (q + m2) % m2] = generator.scalars[(n1 - 1 + p) * width + n2 - 1 + q]
      }
    }
    spectrum = embedding.spectrum(ofColumn: embedded)
  }

  /// A BTTB matrix whose coefficient `t_{p,q}` is `coefficient(p, q)`.
  /// - Throws: `ToeplitzError.lengthMismatch` for an empty grid, `.nonFinite`.
  public init(blockCount n1: Int, blockSize n2: Int, coefficient: (Int, Int) -> Scalar) throws(ToeplitzError) {
    try ToeplitzValidation.requireNonEmpty(n1 * n2, "the \(n1)×\(n2) grid")
    try self.init(generator: NDArray(shape: [2 * n1 - 1, 2 * n2 - 1]) { i in coefficient(i[0] - n1 + 1, i[1] - n2 + 1) })
  }

  public var rowCount: Int { blockCount * blockSize }
  public var columnCount: Int { blockCount * blockSize }

  /// The coefficient of block diagonal `p`, inner diagonal `q`.
  /// - Returns: `t_{p,q}`, zero outside `|p| < n₁`, `|q| < n₂`.
  public func coefficient(_ p: Int, _ q: Int) -> Scalar {
    guard Swift.abs(p) < blockCount, Swift.abs(q) < blockSize else { return 0 }
    return generator.scalars[(blockCount - 1 + p) * (2 * blockSize - 1) + blockSize - 1 + q]
  }

  /// The 2-level circulant shape `[m₁, m₂]` the matrix is embedded in.
  public var embeddingShape: [Int] { embedding.circulantShape }

  /// `A X` for `X` of shape `[N, k]`.
  /// - Complexity: O(k N log N).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    embedding.multiply(x, by: spectrum)
  }

  /// `Aᵀ X`, the BTTB matrix of `t_{−p,−q}`, through the conjugate spectrum.
  /// - Complexity: O(k N log N).
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    embedding.multiply(x, by: spectrum, conjugate: !isSymmetric)
  }

  /// The dense matrix, entry by entry.
  /// - Complexity: O(N²).
  public func dense() throws -> NDArray<Scalar> {
    let (n1, n2) = (blockCount, blockSize)
    let n = n1 * n2
    var result = NDArray<Scalar>(zeros: [n, n])
    result.withUnsafeMutableBufferPointer { p in
      for j1 in 0..<n1 {
        for k1 in 0..<n1 {
          for j2 in 0..<n2 {
            for k2 in 0..<n2 { p[(j1 * n2 + j2) * n + k1 * n2 + k2] = coefficient(j1 - k1, j2 - k2) }
          }
        }
      }
    }
    return result
  }

  public func diagonal() throws -> NDArray<Scalar> { NDArray(repeating: coefficient(0, 0), shape: [rowCount]) }
  public func trace() throws -> Scalar { Scalar(rowCount) * coefficient(0, 0) }

  /// `‖A‖_F = (Σ_{p,q} (n₁ − |p|)(n₂ − |q|) t_{p,q}²)^{1/2}`.
  /// - Complexity: O(N).
  public func frobeniusNorm() throws -> Scalar {
    var total = 0.0
    for p in (1 - blockCount)..<blockCount {
      for q in (1 - blockSize)..<blockSize {
        let t = Double(coefficient(p, q))
        total += Double(blockCount - Swift.abs(p)) * Double(blockSize - Swift.abs(q)) * t * t
      }
    }
    return Scalar(total.squareRoot())
  }
}
