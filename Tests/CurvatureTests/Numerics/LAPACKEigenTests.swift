import Curvature
import CurvatureTestSupport
import Testing

private typealias Ref = NumericsReference

/// Symmetric and tridiagonal eigen-decompositions (`syevd`, `stevd`) and the SVD (`gesvd`),
/// checked by naive reconstruction (`A V = V diag(w)`, `U diag(s) Vᵀ = A`), orthonormality
/// and known spectra. Residual tolerances are relative to the matrix scale, as backward
/// stable algorithms guarantee.
@Suite struct LAPACKEigenTests {
  @Test func symmetricEigenFloat() throws { try checkSymmetricEigen(Float.self) }
  @Test func symmetricEigenDouble() throws { try checkSymmetricEigen(Double.self) }
  @Test func syevdUpperTrianglePaddedFloat() throws { try checkSyevdUpper(Float.self) }
  @Test func syevdUpperTrianglePaddedDouble() throws { try checkSyevdUpper(Double.self) }
  @Test func tridiagonalEigenFloat() throws { try checkTridiagonalEigen(Float.self) }
  @Test func tridiagonalEigenDouble() throws { try checkTridiagonalEigen(Double.self) }
  @Test func stevdWithoutVectorsFloat() throws { try checkStevdValuesOnly(Float.self) }
  @Test func stevdWithoutVectorsDouble() throws { try checkStevdValuesOnly(Double.self) }
  @Test func svdFloat() throws { try checkSVD(Float.self) }
  @Test func svdDouble() throws { try checkSVD(Double.self) }
  @Test func gesvdWithoutVectorsFloat() throws { try checkGesvdValuesOnly(Float.self) }
  @Test func gesvdWithoutVectorsDouble() throws { try checkGesvdValuesOnly(Double.self) }
}

/// Checks `a v = v diag(w)`, `vᵀv = I` and ascending `w` for a symmetric `a`.
private func expectEigenpairs<T: BLASScalar & TestTolerance>(
  _ a: NDArray<T>, values w: NDArray<T>, vectors v: NDArray<T>, _ label: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  let n = a.shape[0]
  let scale = T(Ref.norm(a))
  assertClose(
    Ref.matmul(a, v), Ref.scaleColumns(v, by: w), rtol: T.testRelativeTolerance,
    atol: T.testRelativeTolerance * scale, "\(label): A V = V diag(w)", sourceLocation: sourceLocation)
  assertClose(
    Ref.matmul(Ref.transpose(v), v), Ref.identity(n), rtol: 0, atol: T.testRelativeTolerance,
    "\(label): VᵀV = I", sourceLocation: sourceLocation)
  for i in 0..<max(0, n - 1) {
    #expect(w.scalars[i] <= w.scalars[i + 1], "\(label): eigenvalues not ascending at \(i)", sourceLocation: sourceLocation)
  }
}

private func checkSymmetricEigen<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  let known: [Double] = [4, -3, 0.5, 7, -1, 2]
  let a: NDArray<T> = RandomMatrices.symmetric(eigenvalues: known, seed: 11)
  let (w, v) = try a.symmetricEigen()
  #expect(w.shape == [6] && v.shape == [6, 6])
  expectEigenpairs(a, values: w, vectors: v, "symmetricEigen")
  let sorted = NDArray(known.sorted().map { T($0) })
  assertClose(w, sorted, rtol: T.testRelativeTolerance, atol: T.testRelativeTolerance * 7, "known spectrum")
  assertClose(try a.symmetricEigenvalues(), sorted, rtol: T.testRelativeTolerance, atol: T.testRelativeTolerance * 7, "values only")

  // Only the lower triangle is read: garbage above the diagonal changes nothing.
  var garbled = a
  for i in 0..<6 { for j in (i + 1)..<6 { garbled[i, j] = 1000 } }
  assertClose(try garbled.symmetricEigenvalues(), w, rtol: T.testRelativeTolerance, atol: T.testRelativeTolerance * 7, "lower triangle only")

  // A diagonal matrix: eigenvalues are the sorted diagonal, exactly.
  let diagonal = NDArray<T>([3, -1, 2]).diagonalMatrix()
  #expect(try diagonal.symmetricEigenvalues().scalars == [-1, 2, 3])

  // 1×1: the value itself and a unit eigenvector.
  let (w1, v1) = try NDArray<T>(rows: [[-2.5]]).symmetricEigen()
  #expect(w1.scalars == [-2.5])
  #expect(abs(v1.scalar) == 1)
}

private func checkSyevdUpper<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  // Direct call: upper triangle, lda = n + 2, garbage in the strict lower triangle and padding.
  let n = 5, lda = 7
  let a: NDArray<T> = RandomMatrices.symmetric(eigenvalues: [-2, -0.5, 1, 3, 6], seed: 12)
  var buffer = [T](repeating: 999, count: n * lda)
  for i in 0..<n { for j in i..<n { buffer[i * lda + j] = a[i, j] } }
  var valuesOnly = buffer
  var w = [T](repeating: 0, count: n), w2 = w
  try buffer.withUnsafeMutableBufferPointer { (pa: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
    try w.withUnsafeMutableBufferPointer { (pw: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
      try T.syevd(vectors: true, triangle: .upper, n: n, a: pa, lda: lda, w: pw)
    }
  }
  try valuesOnly.withUnsafeMutableBufferPointer { (pa: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
    try w2.withUnsafeMutableBufferPointer { (pw: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
      try T.syevd(vectors: false, triangle: .upper, n: n, a: pa, lda: lda, w: pw)
    }
  }
  let v = NDArray<T>(shape: [n, n]) { buffer[$0[0] * lda + $0[1]] }
  expectEigenpairs(a, values: NDArray(w), vectors: v, "syevd upper, lda \(lda)")
  Ref.assertCloseScalars(w2, w, rtol: T.testRelativeTolerance, atol: T.testRelativeTolerance * 6, "syevd without vectors")
  Ref.assertCloseScalars(w, [-2, -0.5, 1, 3, 6], rtol: T.testRelativeTolerance, atol: T.testRelativeTolerance * 6, "known spectrum")
  for i in 0..<n { for j in n..<lda { #expect(buffer[i * lda + j] == 999, "padding changed") } }
}

private func checkTridiagonalEigen<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  for n in [1, 2, 7] {
    let d: [T] = Ref.randomScalars(n, seed: UInt64(20 + n))
    let e: [T] = Ref.randomScalars(max(0, n - 1), seed: UInt64(30 + n))
    let dense = NDArray<T>(shape: [n, n]) { index in
      let (i, j) = (index[0], index[1])
      return i == j ? d[i] : abs(i - j) == 1 ? e[min(i, j)] : 0
    }
    let (w, z) = try NDArray.tridiagonalEigen(diagonal: NDArray(d), offDiagonal: NDArray(e))
    let scale = T(Ref.norm(dense))
    assertClose(
      w, try dense.symmetricEigenvalues(), rtol: T.testRelativeTolerance,
      atol: T.testRelativeTolerance * scale, "stevd vs dense syevd, n \(n)")
    expectEigenpairs(dense, values: w, vectors: z, "stevd n \(n)")
  }
  // Hand-checked: [[2, 1], [1, 2]] has eigenvalues 1 and 3.
  let (w, _) = try NDArray<T>.tridiagonalEigen(diagonal: NDArray([2, 2]), offDiagonal: NDArray([1]))
  assertClose(w, NDArray([1, 3]), rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance)
}

private func checkStevdValuesOnly<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  // Direct call without vectors: `z` is not referenced, so it may be empty.
  var d: [T] = [2, 2, 2], e: [T] = [1, 1], z: [T] = []
  try d.withUnsafeMutableBufferPointer { (pd: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
    try e.withUnsafeMutableBufferPointer { (pe: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
      try z.withUnsafeMutableBufferPointer { (pz: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
        try T.stevd(vectors: false, n: 3, d: pd, e: pe, z: pz, ldz: 1)
      }
    }
  }
  // Eigenvalues of tridiag(1, 2, 1) of order 3: 2 - √2, 2, 2 + √2.
  let root2 = T(2).squareRoot()
  Ref.assertCloseScalars(d, [2 - root2, 2, 2 + root2], rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance)
}

/// An `m×n` matrix with the given singular values (descending order not required).
private func matrixWithSingularValues<T: BLASScalar>(_ m: Int, _ n: Int, _ s: [Double], seed: UInt64) -> NDArray<T> {
  let r = s.count
  let left: NDArray<Double> = RandomMatrices.orthogonal(m, seed: seed)
  let right: NDArray<Double> = RandomMatrices.orthogonal(n, seed: seed + 1)
  let product = NDArray<Double>(shape: [m, n]) { index in
    (0..<r).reduce(0.0) { $0 + left[index[0], $1] * s[$1] * right[index[1], $1] }
  }
  return product.converted(to: T.self)
}

private func checkSVD<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  let known: [Double] = [2, 5, 0.5, 3]
  for (m, n) in [(7, 4), (4, 7), (4, 4), (1, 3), (3, 1), (1, 1)] {
    let r = min(m, n)
    let a: NDArray<T> = r == known.count
      ? matrixWithSingularValues(m, n, known, seed: UInt64(40 + m))
      : RandomMatrices.gaussian(m, n, seed: UInt64(50 + m + n))
    let (u, s, vt) = try a.svd()
    let label = "svd \(m)×\(n)"
    #expect(u.shape == [m, r] && s.shape == [r] && vt.shape == [r, n], "\(label): shapes")
    let scale = T(Ref.norm(a))
    assertClose(
      Ref.matmul(Ref.scaleColumns(u, by: s), vt), a, rtol: T.testRelativeTolerance,
      atol: T.testRelativeTolerance * scale, "\(label): U diag(s) Vᵀ = A")
    assertClose(Ref.matmul(Ref.transpose(u), u), Ref.identity(r), rtol: 0, atol: T.testRelativeTolerance, "\(label): UᵀU = I")
    assertClose(Ref.matmul(vt, Ref.transpose(vt)), Ref.identity(r), rtol: 0, atol: T.testRelativeTolerance, "\(label): VᵀV = I")
    for i in 0..<r { #expect(s.scalars[i] >= 0, "\(label): negative singular value") }
    for i in 0..<max(0, r - 1) { #expect(s.scalars[i] >= s.scalars[i + 1], "\(label): not descending at \(i)") }
    if r == known.count {
      assertClose(
        s, NDArray(known.sorted(by: >).map { T($0) }), rtol: T.testRelativeTolerance,
        atol: T.testRelativeTolerance * scale, "\(label): known singular values")
    }
  }
  // 1×1: |a| with sign carried by the factors.
  let (u, s, vt) = try NDArray<T>(rows: [[-2]]).svd()
  #expect(s.scalars == [2])
  #expect(u.scalar * vt.scalar == -1)
}

private func checkGesvdValuesOnly<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  // Direct calls with vectors: false and lda = n + 3 (tall and wide); the padding holds NaN,
  // which must not be read. The values must match the known singular values.
  for (m, n) in [(5, 3), (3, 5)] {
    let lda = n + 3
    let a: NDArray<T> = matrixWithSingularValues(m, n, [4, 1, 0.25], seed: UInt64(60 + m))
    var buffer = [T](repeating: .nan, count: Ref.span(rows: m, columns: n, ld: lda))
    for i in 0..<m { for j in 0..<n { buffer[i * lda + j] = a[i, j] } }
    var s = [T](repeating: 0, count: 3), u: [T] = [], vt: [T] = []
    try buffer.withUnsafeMutableBufferPointer { (pa: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
      try s.withUnsafeMutableBufferPointer { (ps: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
        try u.withUnsafeMutableBufferPointer { (pu: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
          try vt.withUnsafeMutableBufferPointer { (pv: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
            try T.gesvd(vectors: false, m: m, n: n, a: pa, lda: lda, s: ps, u: pu, ldu: 1, vt: pv, ldvt: 1)
          }
        }
      }
    }
    Ref.assertCloseScalars(s, [4, 1, 0.25], rtol: T.testRelativeTolerance, atol: T.testRelativeTolerance * 4, "gesvd values only \(m)×\(n)")
  }
}
