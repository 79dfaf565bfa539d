import Curvature
import CurvatureTestSupport
import Testing

/// Shared helpers of the Toeplitz test files.
enum ToeplitzTesting {
  /// Checks `apply` and `applyTranspose` on a vector and on a block of 3 columns, and
  /// `dense()`, against an independently built dense matrix.
  static func checkAgainstDense<Op: LinearOperator>(
    _ op: Op, _ reference: NDArray<Op.Scalar>, seed: UInt64, _ label: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws where Op.Scalar: TestTolerance {
    typealias T = Op.Scalar
    let n = reference.shape[0]
    #expect(op.rowCount == n && op.columnCount == reference.shape[1], "\(label): shape", sourceLocation: sourceLocation)
    var rng = RandomGenerator(seed: seed)
    let x: NDArray<T> = rng.normalArray(shape: [n])
    let block: NDArray<T> = rng.normalArray(shape: [n, 3])
    let scale = T(n).squareRoot() * Swift.max(1, reference.scalars.map { Swift.abs($0) }.max() ?? 1)
    let rtol = T.testRelativeTolerance * 10, atol = T.testRelativeTolerance * 10 * scale
    assertClose(try op.apply(x), matvec(reference, x), rtol: rtol, atol: atol, "\(label): A x", sourceLocation: sourceLocation)
    assertClose(try op.apply(block), matmul(reference, block), rtol: rtol, atol: atol, "\(label): A X", sourceLocation: sourceLocation)
    assertClose(try op.applyTranspose(x), matvec(reference, x, transpose: true), rtol: rtol, atol: atol, "\(label): Aᵀ x", sourceLocation: sourceLocation)
    assertClose(
      try op.applyTranspose(block), matmul(reference, block, transposeA: true), rtol: rtol, atol: atol,
      "\(label): Aᵀ X", sourceLocation: sourceLocation)
    assertClose(try op.dense(), reference, rtol: rtol, atol: atol, "\(label): dense", sourceLocation: sourceLocation)
    #expect(try op.apply(NDArray<T>(zeros: [n, 0])).shape == [n, 0], "\(label): no columns", sourceLocation: sourceLocation)
  }

  /// Random coefficients in [-1, 1) from a seed, Double.
  static func randomValues(_ count: Int, seed: UInt64) -> [Double] {
    var rng = RandomGenerator(seed: seed)
    return (0..<count).map { _ in 2 * rng.uniform() - 1 }
  }

  /// The dense symmetric Toeplitz matrix of a column (reference construction).
  static func denseToeplitz<T: BLASScalar>(column: [T], row: [T]) -> NDArray<T> {
    let n = column.count
    return NDArray(shape: [n, n]) { i in i[0] >= i[1] ? column[i[0] - i[1]] : row[i[1] - i[0]] }
  }

  /// Smallest and largest eigenvalue of `M A` for symmetric positive definite `M`, `A`
  /// (through `Lᵀ M L` with `A = L Lᵀ`), all eigenvalues ascending.
  static func preconditionedEigenvalues(_ m: NDArray<Double>, _ a: NDArray<Double>) throws -> [Double] {
    let l = try a.cholesky()
    let product = matmul(matmul(l, m, transposeA: true), l)
    let symmetric = 0.5 * (product + product.transposed())
    return try symmetric.symmetricEigenvalues().scalars
  }

  /// The periodic extension to ℝ of a function given on (−π, π]: its value at `θ`.
  static func periodic(_ f: @escaping (Double) -> Double) -> (Double) -> Double {
    { theta in
      var t = theta.truncatingRemainder(dividingBy: 2 * .pi)
      if t > .pi { t -= 2 * .pi }
      if t <= -.pi { t += 2 * .pi }
      return f(t)
    }
  }
}

/// Classical test symbols on (−π, π] and their Fourier coefficients `t_k = t_{−k}`.
enum ClassicalSymbols {
  /// `θ⁴ + 1`: `t₀ = π⁴/5 + 1`, `t_k = (−1)^k (4π²/k² − 24/k⁴)`.
  static func quarticPlusOne(_ k: Int) -> Double { quartic(k) + (k == 0 ? 1 : 0) }
  /// `θ⁴`: `t₀ = π⁴/5`, `t_k = (−1)^k (4π²/k² − 24/k⁴)`.
  static func quartic(_ k: Int) -> Double {
    if k == 0 { return Double.pow(.pi, 4) / 5 }
    let kk = Double(k * k)
    return (k % 2 == 0 ? 1 : -1) * (4 * .pi * .pi / kk - 24 / (kk * kk))
  }
  /// `θ²`: `t₀ = π²/3`, `t_k = 2(−1)^k/k²`.
  static func quadratic(_ k: Int) -> Double {
    k == 0 ? .pi * .pi / 3 : (k % 2 == 0 ? 2 : -2) / Double(k * k)
  }
  /// `2 − 2cos θ + 0.01`: tridiagonal.
  static func shiftedLaplacian(_ k: Int) -> Double { k == 0 ? 2.01 : (Swift.abs(k) == 1 ? -1 : 0) }
  /// Power decay `t_k = (1 + |k|)^{−1.1}` (a convex sequence, so its symbol is positive).
  static func powerDecay(_ k: Int) -> Double { Double.pow(1 + Double(Swift.abs(k)), -1.1) }
  /// A Gaussian covariance `t_k = exp(−k²/8)` plus a nugget 0.01 on the diagonal.
  static func gaussian(_ k: Int) -> Double { Double.exp(-Double(k * k) / 8) + (k == 0 ? 0.01 : 0) }

  /// The symmetric column `(t₀, …, t_{n−1})`.
  static func column(_ n: Int, _ t: (Int) -> Double) -> [Double] { (0..<n).map(t) }
}
