import ComplexModule
import CurvatureNumerics
import CurvatureLinearAlgebra

/// How the entries of a Toeplitz matrix with `s×s` matrix coefficients are ordered.
public enum BlockToeplitzLayout: String, Sendable, Hashable, CaseIterable {
  /// Block-Toeplitz: an `n×n` grid of `s×s` blocks, block `(j, l)` is `T_{j−l}`; the entry
  /// `T_{j−l}[a, b]` sits at row `j·s + a`, column `l·s + b`.
  case blockToeplitz
  /// Toeplitz-block: an `s×s` grid of `n×n` Toeplitz blocks, block `(a, b)` is the Toeplitz
  /// matrix of `(T_k[a, b])_k`; the entry `T_{j−l}[a, b]` sits at row `a·n + j`, column
  /// `b·n + l`. It is the block-Toeplitz matrix under a perfect shuffle.
  case toeplitzBlock
}

/// A Toeplitz matrix with a matrix-valued symbol: coefficients `T_k` of size `s×s` for
/// `|k| < n`, in block-Toeplitz or Toeplitz-block order, with an O(s² N + s N log n)
/// product (`N = ns`).
///
/// The symbol is the matrix function `F(θ) = Σ_k T_k e^{ikθ}`; the matrix is symmetric when
/// `T_{−k} = T_kᵀ` (`F` Hermitian). Such matrices describe vector-valued stationary series
/// (`s` channels), multi-output Gaussian processes and convolutional layers with `s`
/// channels along one spatial axis (Schneider & Pisarenco 2018).
///
/// Each of the `s²` Toeplitz blocks is embedded in a circulant of order `m ≥ 2n − 1` whose
/// spectrum `Λ_{ab}(ω)` is cached. A product transforms the `s` components of each
/// right-hand side (`s·k` batched real FFTs), multiplies by the `s×s` matrix `Λ(ω)` at each
/// frequency, and transforms back (`s·k` more).
public struct BlockToeplitzOperator<Scalar: BLASScalar>: LinearOperator {
  /// The coefficients `[2n − 1, s, s]`: `coefficients[n − 1 + k]` is `T_k`.
  public let coefficients: NDArray<Scalar>
  /// The number of Toeplitz positions `n`.
  public let blockCount: Int
  /// The order `s` of each matrix coefficient.
  public let blockSize: Int
  /// The ordering of rows and columns.
  public let layout: BlockToeplitzLayout
  /// Whether `T_{−k} = T_kᵀ` for all `k`.
  public let isSymmetric: Bool
  let embedding: CirculantEmbedding<Scalar>
  /// `Λ(ω)` for each of the `m/2 + 1` frequencies, `s×s` row-major each.
  let spectrum: [Complex<Scalar>]

  /// A Toeplitz matrix with matrix coefficients.
  /// - Parameters:
  ///   - coefficients: `[2n − 1, s, s]`, `coefficients[n − 1 + k] = T_k` for `|k| < n`.
  ///   - layout: Block-Toeplitz (default) or Toeplitz-block order.
  /// - Throws: `ToeplitzError.lengthMismatch` for a shape that is not `[odd, s, s]`,
  ///   `.nonFinite` for NaN or infinity.
  /// - Complexity: `s²` FFTs of size `m ≈ 2n`.
  public init(coefficients: NDArray<Scalar>, layout: BlockToeplitzLayout = .blockToeplitz) throws(ToeplitzError) {
    guard coefficients.rank == 3, coefficients.shape[1] == coefficients.shape[2], coefficients.shape[1] >= 1 else {
      throw .lengthMismatch("matrix coefficients must have shape [2n − 1, s, s], got \(coefficients.shape)")
    }
    let n = try ToeplitzValidation.halfExtent(coefficients.shape[0], "the coefficients' first axis")
    let s = coefficients.shape[1]
    try ToeplitzValidation.requireFinite(coefficients.scalars, "coefficients (row-major)")
    self.coefficients = coefficients
    blockCount = n
    blockSize = s
    self.layout = layout
    var symmetric = true
    for k in 0..<n {
      for a in 0..<s {
        for b in 0..<s where coefficients[n - 1 + k, a, b] != coefficients[n - 1 - k, b, a] { symmetric = false }
      }
    }
    isSymmetric = symmetric
    embedding = CirculantEmbedding(toeplitzShape: [n])
    let m = embedding.circulantCount, h = embedding.halfCount
    // Embedded columns of the s² scalar Toeplitz matrices, transformed in one batch.
    var columns = [Scalar](repeating: 0, count: s * s * m)
    for a in 0..<s {
      for b in 0..<s {
        for k in (1 - n)..<n { columns[(a * s + b) * m + (k + m) % m] = coefficients[n - 1 + k, a, b] }
      }
    }
    let transformed = embedding.forward(columns, count: s * s)
    var lambda = [Complex<Scalar>](repeating: .zero, count: h * s * s)
    for ab in 0..<(s * s) {
      for j in 0..<h { lambda[j * s * s + ab] = transformed[ab * h + j] }
    }
    spectrum = lambda
  }

  public var rowCount: Int { blockCount * blockSize }
  public var columnCount: Int { blockCount * blockSize }

  /// The matrix coefficient of diagonal `k`.
  /// - Returns: `T_k` as an `s×s` matrix (zero for `|k| ≥ n`).
  public func coefficient(_ k: Int) -> NDArray<Scalar> {
    let s = blockSize
    guard Swift.abs(k) < blockCount else { return NDArray(zeros: [s, s]) }
    return NDArray(shape: [s, s], scalars: Array(coefficients.scalars[((blockCount - 1 + k) * s * s)..<((blockCount + k) * s * s)]))
  }

  /// The row (or column) of position `l` and component `b`.
  @inline(__always) func index(_ l: Int, _ b: Int) -> Int {
    layout == .blockToeplitz ? l * blockSize + b : b * blockCount + l
  }

  /// `A X` for `X` of shape `[N, k]`.
  /// - Complexity: O(k (s n log n + s² n)).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { multiply(x, transpose: false) }

  /// `Aᵀ X`: at each frequency the conjugate transpose `Λ(ω)ᴴ`.
  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { multiply(x, transpose: true) }

  func multiply(_ x: NDArray<Scalar>, transpose: Bool) -> NDArray<Scalar> {
    let (n, s, k) = (blockCount, blockSize, x.shape[1])
    let m = embedding.circulantCount, h = embedding.halfCount
    guard k > 0 else { return NDArray(zeros: [rowCount, 0]) }
    // Component b of right-hand side c is transform c·s + b.
    var padded = [Scalar](repeating: 0, count: k * s * m)
    for l in 0..<n {
      for b in 0..<s {
        let row = index(l, b)
        for c in 0..<k { padded[(c * s + b) * m + l] = x.scalars[row * k + c] }
      }
    }
    let spectra = embedding.forward(padded, count: k * s)
    var mixed = [Complex<Scalar>](repeating: .zero, count: k * s * h)
    spectrum.withUnsafeBufferPointer { lambda in
      for c in 0..<k {
        for j in 0..<h {
          let block = j * s * s
          for a in 0..<s {
            var sum = Complex<Scalar>.zero
            for b in 0..<s {
              let entry = transpose ? lambda[block + b * s + a].conjugate : lambda[block + a * s + b]
              sum = sum + entry * spectra[(c * s + b) * h + j]
            }
            mixed[(c * s + a) * h + j] = sum
          }
        }
      }
    }
    let back = embedding.inverse(&mixed, count: k * s)
    var result = NDArray<Scalar>(zeros: [rowCount, k])
    let scale = 1 / Scalar(m)
    for l in 0..<n {
      for a in 0..<s {
        let row = index(l, a)
        for c in 0..<k { result.scalars[row * k + c] = scale * back[(c * s + a) * m + l] }
      }
    }
    return result
  }

  /// The dense matrix, entry by entry.
  /// - Complexity: O(N²).
  public func dense() throws -> NDArray<Scalar> {
    let (n, s) = (blockCount, blockSize)
    var result = NDArray<Scalar>(zeros: [rowCount, columnCount])
    for j in 0..<n {
      for l in 0..<n {
        for a in 0..<s {
          for b in 0..<s { result[index(j, a), index(l, b)] = coefficients[n - 1 + j - l, a, b] }
        }
      }
    }
    return result
  }
}
