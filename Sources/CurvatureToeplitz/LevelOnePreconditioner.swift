import ComplexModule
import CurvatureNumerics
import CurvatureLinearAlgebra

/// The level-1 circulant preconditioner of a symmetric BTTB matrix: circulant along the
/// block index only, Toeplitz inside, inverted by FFTs along the blocks and `n₁/2 + 1`
/// Hermitian Toeplitz solves.
///
/// The BTTB matrix `A` (blocks `A_p = T[t_{p,·}]` of order `n₂`) is approximated by a
/// block-circulant matrix with Toeplitz blocks `C_p = w(p) A_p + w̄(p) A_{p−n₁}`, the
/// 1-level Strang, T. Chan or R. Chan weights applied to the block index (T. Chan & Olkin
/// 1994; R. Chan & Jin 1992). The DFT along the block index block-diagonalizes it,
///
///     (F ⊗ I) C (F ⊗ I)⁻¹ = diag(Λ₀, …, Λ_{n₁−1}),   Λ_j = T[λ_j],  λ_j(q) = Σ_p c_{p,q} e^{−2πijp/n₁},
///
/// and each `Λ_j` is a Hermitian Toeplitz matrix, solved by a complex Levinson recursion in
/// O(n₂²). Real data make `Λ_{n₁−j} = conj Λ_j`, so only `j ≤ n₁/2` are solved. It keeps
/// the whole inner level exact, so for BTTB matrices whose difficulty lies along the inner
/// level it beats the level-2 (BCCB) preconditioner; a product costs O(N (n₂ + log n₁)).
public struct LevelOnePreconditioner<Scalar: BLASScalar>: LinearOperator {
  /// The approximation used along the block index (`strang`, `tChan` or `rChan`).
  public let kind: CirculantApproximation
  /// `n₁`.
  public let blockCount: Int
  /// `n₂`.
  public let blockSize: Int
  /// `λ_j(0…n₂−1)`, the first column of `Λ_j`, for `j = 0…n₁/2`.
  let blocks: [[Complex<Double>]]
  let embedding: CirculantEmbedding<Scalar>

  /// The level-1 preconditioner `C⁻¹` of a symmetric BTTB matrix.
  /// - Throws: `ToeplitzError.invalidArgument` for a nonsymmetric matrix or `.superoptimal`;
  ///   `.notPositiveDefinite` when a block `Λ_j` is not positive definite (possible for
  ///   `strang` and `rChan`).
  /// - Complexity: O(n₁ n₂ log n₁) to form the blocks and O(n₁ n₂²) to check them.
  public init(for bttb: BTTBOperator<Scalar>, _ kind: CirculantApproximation) throws(ToeplitzError) {
    guard bttb.isSymmetric else { throw .invalidArgument("the level-1 preconditioner needs a symmetric BTTB matrix") }
    guard kind != .superoptimal else {
      throw .invalidArgument("the level-1 preconditioner supports strang, tChan and rChan")
    }
    let (n1, n2) = (bttb.blockCount, bttb.blockSize)
    self.kind = kind
    blockCount = n1
    blockSize = n2
    embedding = CirculantEmbedding(circulantShape: [n1], operatorShape: [n1])
    // Columns over p of c_{p,q}, one transform per q.
    var columns = [Double](repeating: 0, count: n2 * n1)
    for q in 0..<n2 {
      for p in 0..<n1 {
        let (w, wWrapped) = kind.weights(p, n1)
        columns[q * n1 + p] = w * Double(bttb.coefficient(p, q)) + wWrapped * Double(bttb.coefficient(p - n1, q))
      }
    }
    let h = n1 / 2 + 1
    let plan = RealFFTPlan<Double>(shape: [n1], count: n2)
    let spectra = plan.forward(columns)
    blocks = (0..<h).map { j in (0..<n2).map { q in spectra[q * h + j] } }
    for (j, block) in blocks.enumerated() {
      var none = [[Complex<Double>]]()
      do {
        try hermitianToeplitzSolve(block, &none)
      } catch {
        throw .notPositiveDefinite("block \(j) of the level-1 \(kind.rawValue) preconditioner: \(error)")
      }
    }
  }

  public var rowCount: Int { blockCount * blockSize }
  public var columnCount: Int { blockCount * blockSize }
  public var isSymmetric: Bool { true }

  /// `C⁻¹ X` for `X` of shape `[N, k]`.
  /// - Complexity: O(k n₁ n₂ (n₂ + log n₁)).
  public func apply(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> {
    let (n1, n2, k) = (blockCount, blockSize, x.shape[1])
    let h = n1 / 2 + 1
    // Transform (c, q) runs over the block index p of x[p·n₂ + q, c].
    var lines = [Scalar](repeating: 0, count: k * n2 * n1)
    for p in 0..<n1 {
      for q in 0..<n2 {
        for c in 0..<k { lines[(c * n2 + q) * n1 + p] = x.scalars[(p * n2 + q) * k + c] }
      }
    }
    var spectra = embedding.forward(lines, count: k * n2)
    for j in 0..<h {
      var rhs = (0..<k).map { c in
        (0..<n2).map { q in
          let v = spectra[(c * n2 + q) * h + j]
          return Complex(Double(v.real), Double(v.imaginary))
        }
      }
      try hermitianToeplitzSolve(blocks[j], &rhs)
      for c in 0..<k {
        for q in 0..<n2 { spectra[(c * n2 + q) * h + j] = Complex(Scalar(rhs[c][q].real), Scalar(rhs[c][q].imaginary)) }
      }
    }
    let back = embedding.inverse(&spectra, count: k * n2)
    var result = NDArray<Scalar>(zeros: [n1 * n2, k])
    let scale = 1 / Scalar(n1)
    for p in 0..<n1 {
      for q in 0..<n2 {
        for c in 0..<k { result.scalars[(p * n2 + q) * k + c] = scale * back[(c * n2 + q) * n1 + p] }
      }
    }
    return result
  }

  public func applyTranspose(matrix x: NDArray<Scalar>) throws -> NDArray<Scalar> { try apply(matrix: x) }
}

/// Solves `H x = b` in place for each right-hand side, where `H = [h_{a−b}]` is Hermitian
/// Toeplitz with first column `h` (`h_{−q} = conj h_q`, `h₀` real), by Levinson's recursion
/// for Hermitian matrices in O(n²) per right-hand side.
///
/// With `g_k` solving `H_k g_k = J conj(h₁…h_k)` (persymmetry gives `H_k⁻¹ (h₁…h_k) = J conj g_k`),
/// each step forms `β_k = h₀ − Σ_i h_{k−i} g_i > 0`, extends `x` by
/// `μ = (b_k − Σ_i h_{k−i} x_i)/β_k`, `x ← (x − μ g; μ)`, and `g` by
/// `γ = (conj h_{k+1} − Σ_i conj h_{i+1} g_i)/β_k`, `g ← (γ; g − γ J conj g)`.
/// - Throws: `ToeplitzError.notPositiveDefinite` when some `β_k ≤ 0`.
func hermitianToeplitzSolve(_ h: [Complex<Double>], _ rhs: inout [[Complex<Double>]]) throws(ToeplitzError) {
  let n = h.count
  let h0 = h[0].real
  guard h0 > 0 else { throw .notPositiveDefinite("h₀ = \(h0) ≤ 0") }
  var x = rhs.map { [$0[0].divided(by: h0)] }
  for c in x.indices { x[c].reserveCapacity(n) }
  var g: [Complex<Double>] = n > 1 ? [h[1].conjugate.divided(by: h0)] : []
  var next = [Complex<Double>](repeating: .zero, count: n)
  for k in 1..<Swift.max(1, n) {
    var dot = Complex<Double>.zero
    for i in 0..<k { dot = dot + h[k - i] * g[i] }
    let beta = h0 - dot.real
    guard beta > 0, beta.isFinite else {
      throw .notPositiveDefinite("the leading minor of order \(k + 1) is not positive definite (pivot \(beta))")
    }
    for c in x.indices {
      var s = rhs[c][k]
      for i in 0..<k { s = s - h[k - i] * x[c][i] }
      let mu = s.divided(by: beta)
      for i in 0..<k { x[c][i] = x[c][i] - mu * g[i] }
      x[c].append(mu)
    }
    if k < n - 1 {
      var t = h[k + 1].conjugate
      for i in 0..<k { t = t - h[i + 1].conjugate * g[i] }
      let gamma = t.divided(by: beta)
      next[0] = gamma
      for i in 0..<k { next[i + 1] = g[i] - gamma * g[k - 1 - i].conjugate }
      g = Array(next[0...k])
    }
  }
  rhs = x
}
