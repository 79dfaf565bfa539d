import Curvature
import CurvatureTestSupport
import Testing

private typealias Ref = NumericsReference

/// Band Cholesky (`pbtrf`/`pbtrs`) against the dense factorization and solve.
///
/// The row-major band storage under test is `(kd+1)×ldab` with
/// `ab[(kd + i - j)·ldab + j] = A[i][j]` for the upper triangle (`j - kd ≤ i ≤ j`).
/// The slots of `ab` outside the band are filled with NaN: if the convention were wrong,
/// LAPACKE's NaN check or the factorization would read them and the test would fail.
@Suite struct LAPACKBandTests {
  @Test func bandCholeskyFloat() throws { try checkBandCholesky(Float.self) }
  @Test func bandCholeskyDouble() throws { try checkBandCholesky(Double.self) }
  @Test func bandStorageHandCheckedFloat() throws { try checkBandHandChecked(Float.self) }
  @Test func bandStorageHandCheckedDouble() throws { try checkBandHandChecked(Double.self) }
}

/// A symmetric, strictly diagonally dominant (hence positive definite) band matrix.
private func bandMatrix<T: BLASScalar>(_ n: Int, kd: Int, seed: UInt64) -> NDArray<T> {
  let noise: NDArray<T> = RandomMatrices.gaussian(n, n, seed: seed)
  var a = NDArray<T>(zeros: [n, n])
  for i in 0..<n {
    for j in (i + 1)..<min(n, i + kd + 1) {
      a[i, j] = noise[i, j] / 2
      a[j, i] = a[i, j]
    }
  }
  for i in 0..<n {
    var offDiagonal: T = 0
    for j in 0..<n where j != i { offDiagonal += abs(a[i, j]) }
    a[i, i] = 1 + offDiagonal + abs(noise[i, i])
  }
  return a
}

/// Packs the upper band of `a` into row-major band storage; other slots hold NaN.
private func packUpperBand<T: BLASScalar>(_ a: NDArray<T>, kd: Int, ldab: Int) -> [T] {
  let n = a.shape[0]
  var ab = [T](repeating: .nan, count: Ref.span(rows: kd + 1, columns: n, ld: ldab))
  for j in 0..<n {
    for i in max(0, j - kd)...j { ab[(kd + i - j) * ldab + j] = a[i, j] }
  }
  return ab
}

private func checkBandCholesky<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  for (n, kd, padding) in [(7, 2, 0), (7, 2, 3), (6, 1, 0), (5, 4, 1), (4, 0, 0), (1, 0, 0)] {
    let label = "pbtrf n \(n) kd \(kd) ldab n+\(padding)"
    let ldab = n + padding
    let a: NDArray<T> = bandMatrix(n, kd: kd, seed: UInt64(110 + n + kd))
    var ab = packUpperBand(a, kd: kd, ldab: ldab)
    try ab.withUnsafeMutableBufferPointer { (p: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
      try T.pbtrf(n: n, kd: kd, ab: p, ldab: ldab)
    }
    // The factor U (upper, banded) is stored in the same layout: UᵀU must be A.
    let u = NDArray<T>(shape: [n, n]) { index in
      let (i, j) = (index[0], index[1])
      return i <= j && j - i <= kd ? ab[(kd + i - j) * ldab + j] : 0
    }
    assertClose(
      Ref.matmul(Ref.transpose(u), u), a, rtol: T.testRelativeTolerance,
      atol: T.testRelativeTolerance * T(Ref.norm(a)), "\(label): UᵀU = A")
    // It is the dense Cholesky factor, transposed.
    assertClose(
      u, Ref.transpose(try a.cholesky()), rtol: T.testRelativeTolerance,
      atol: T.testRelativeTolerance * T(Ref.norm(a)), "\(label): U = Lᵀ of the dense Cholesky")

    // Solve with two right-hand sides and ldb = 3 against the dense LU solve.
    let (nrhs, ldb) = (2, 3)
    let rhs: NDArray<T> = RandomMatrices.gaussian(n, nrhs, seed: UInt64(120 + n))
    var b = [T](repeating: 42, count: Ref.span(rows: n, columns: nrhs, ld: ldb))
    for i in 0..<n { for j in 0..<nrhs { b[i * ldb + j] = rhs[i, j] } }
    try ab.withUnsafeBufferPointer { (pa: UnsafeBufferPointer<T>) throws(LAPACKError) in
      try b.withUnsafeMutableBufferPointer { (pb: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
        try T.pbtrs(n: n, kd: kd, nrhs: nrhs, ab: pa, ldab: ldab, b: pb, ldb: ldb)
      }
    }
    let x = NDArray<T>(shape: [n, nrhs]) { b[$0[0] * ldb + $0[1]] }
    let dense = try a.solve(rhs)
    // Diagonally dominant: κ is small, so the solutions agree to a few ε.
    assertClose(x, dense, rtol: 10 * T.testRelativeTolerance, atol: 10 * T.testRelativeTolerance * T(Ref.norm(dense)), "\(label): pbtrs vs dense solve")
    assertClose(
      Ref.matmul(a, x), rhs, rtol: 0, atol: T.testRelativeTolerance * T(Ref.norm(a) * Ref.norm(x)),
      "\(label): residual")
    for i in 0..<max(0, n - 1) { #expect(b[i * ldb + nrhs] == 42, "\(label): padding of B changed") }
  }
}

private func checkBandHandChecked<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  // A = [[4, 2, 0], [2, 5, 2], [0, 2, 5]] = UᵀU with U = [[2, 1, 0], [0, 2, 1], [0, 0, 2]].
  // Band storage, kd = 1, ldab = 3: row 0 = superdiagonal (NaN, 2, 2), row 1 = diagonal (4, 5, 5).
  var ab: [T] = [.nan, 2, 2, 4, 5, 5]
  try ab.withUnsafeMutableBufferPointer { (p: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
    try T.pbtrf(n: 3, kd: 1, ab: p, ldab: 3)
  }
  #expect(Array(ab[1...]) == [1, 1, 2, 2, 2], "factor U in band storage")
  var b: [T] = [6, 9, 7]  // A (1, 1, 1)
  try ab.withUnsafeBufferPointer { (pa: UnsafeBufferPointer<T>) throws(LAPACKError) in
    try b.withUnsafeMutableBufferPointer { (pb: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
      try T.pbtrs(n: 3, kd: 1, nrhs: 1, ab: pa, ldab: 3, b: pb, ldb: 1)
    }
  }
  Ref.assertCloseScalars(b, [1, 1, 1], rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance, "pbtrs")
}
