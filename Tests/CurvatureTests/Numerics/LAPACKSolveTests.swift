import Curvature
import CurvatureTestSupport
import Testing

private typealias Ref = NumericsReference

/// Factorizations and solves: Cholesky (`potrf`/`potrs`), LU (`getrf`/`getrs` through
/// `solve` and `inverse`, and directly), triangular solves, determinants and 1×1 matrices,
/// checked by naive reconstruction and residuals. Band Cholesky is in LAPACKBandTests.
///
/// Solutions are compared with a tolerance scaled by the condition number (≤ 100 here):
/// forward error ≈ κ·ε, which matters for Float (κ·ε ≈ 1e-5).
@Suite struct LAPACKSolveTests {
  @Test func choleskyFloat() throws { try checkCholesky(Float.self) }
  @Test func choleskyDouble() throws { try checkCholesky(Double.self) }
  @Test func potrfPotrsUpperPaddedFloat() throws { try checkPotrfUpper(Float.self) }
  @Test func potrfPotrsUpperPaddedDouble() throws { try checkPotrfUpper(Double.self) }
  @Test func solveAndInverseFloat() throws { try checkSolveAndInverse(Float.self) }
  @Test func solveAndInverseDouble() throws { try checkSolveAndInverse(Double.self) }
  @Test func getrfGetrsDirectFloat() throws { try checkGetrfGetrs(Float.self) }
  @Test func getrfGetrsDirectDouble() throws { try checkGetrfGetrs(Double.self) }
  @Test func determinantFloat() throws { try checkDeterminant(Float.self) }
  @Test func determinantDouble() throws { try checkDeterminant(Double.self) }
  @Test func triangularSolveFloat() { checkTriangularSolve(Float.self) }
  @Test func triangularSolveDouble() { checkTriangularSolve(Double.self) }
  @Test func oneByOneFloat() throws { try checkOneByOne(Float.self) }
  @Test func oneByOneDouble() throws { try checkOneByOne(Double.self) }
}

/// Relative tolerance for solutions of systems with condition number up to 100.
private func solutionTolerance<T: BLASScalar & TestTolerance>(_: T.Type) -> T { 100 * T.testRelativeTolerance }

/// Checks that `x` solves `a x = b` (residual relative to ‖A‖‖X‖) and matches `expected`.
private func expectSolution<T: BLASScalar & TestTolerance>(
  _ a: NDArray<T>, _ x: NDArray<T>, _ b: NDArray<T>, expected: NDArray<T>, _ label: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(x.shape == b.shape, "\(label): shape", sourceLocation: sourceLocation)
  let x2 = x.rank == 1 ? x.reshaped([x.count, 1]) : x
  let b2 = b.rank == 1 ? b.reshaped([b.count, 1]) : b
  let scale = T(Ref.norm(a) * Ref.norm(x))
  assertClose(
    Ref.matmul(a, x2), b2, rtol: 0, atol: T.testRelativeTolerance * scale, "\(label): residual",
    sourceLocation: sourceLocation)
  assertClose(
    x, expected, rtol: 0, atol: solutionTolerance(T.self) * T(Ref.norm(expected)), "\(label): solution",
    sourceLocation: sourceLocation)
}

private func checkCholesky<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  let n = 6
  let a: NDArray<T> = RandomMatrices.spd(n, conditionNumber: 100, seed: 70)
  let l = try a.cholesky()
  for i in 0..<n { for j in (i + 1)..<n { #expect(l[i, j] == 0, "L[\(i)][\(j)] above the diagonal") } }
  for i in 0..<n { #expect(l[i, i] > 0, "L[\(i)][\(i)] not positive") }
  assertClose(
    Ref.matmul(l, Ref.transpose(l)), a, rtol: T.testRelativeTolerance,
    atol: T.testRelativeTolerance * T(Ref.norm(a)), "L Lᵀ = A")

  let xTrue: NDArray<T> = RandomMatrices.gaussian(n, 2, seed: 71)
  let b = Ref.matmul(a, xTrue)
  expectSolution(a, try l.choleskySolve(b), b, expected: xTrue, "choleskySolve matrix")
  let xVector = NDArray((0..<n).map { xTrue[$0, 0] })
  let bVector = Ref.matvec(a, xVector)
  expectSolution(a, try l.choleskySolve(bVector), bVector, expected: xVector, "choleskySolve vector")

  // Hand-checked: [[4, 2], [2, 5]] = [[2, 0], [1, 2]] [[2, 1], [0, 2]].
  #expect(try NDArray<T>(rows: [[4, 2], [2, 5]]).cholesky().scalars == [2, 0, 1, 2])
}

private func checkPotrfUpper<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  // Direct calls: upper triangle, lda = n + 2, NaN in the strict lower triangle (not read).
  let (n, lda, nrhs, ldb) = (5, 7, 3, 4)
  let a: NDArray<T> = RandomMatrices.spd(n, conditionNumber: 50, seed: 72)
  var factor = [T](repeating: .nan, count: n * lda)
  for i in 0..<n { for j in i..<n { factor[i * lda + j] = a[i, j] } }
  try factor.withUnsafeMutableBufferPointer { (p: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
    try T.potrf(triangle: .upper, n: n, a: p, lda: lda)
  }
  let u = NDArray<T>(shape: [n, n]) { $0[1] >= $0[0] ? factor[$0[0] * lda + $0[1]] : 0 }
  assertClose(
    Ref.matmul(Ref.transpose(u), u), a, rtol: T.testRelativeTolerance,
    atol: T.testRelativeTolerance * T(Ref.norm(a)), "UᵀU = A")

  let xTrue: NDArray<T> = RandomMatrices.gaussian(n, nrhs, seed: 73)
  let bDense = Ref.matmul(a, xTrue)
  var b = [T](repeating: -7, count: Ref.span(rows: n, columns: nrhs, ld: ldb))
  for i in 0..<n { for j in 0..<nrhs { b[i * ldb + j] = bDense[i, j] } }
  try factor.withUnsafeBufferPointer { (pa: UnsafeBufferPointer<T>) throws(LAPACKError) in
    try b.withUnsafeMutableBufferPointer { (pb: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
      try T.potrs(triangle: .upper, n: n, nrhs: nrhs, a: pa, lda: lda, b: pb, ldb: ldb)
    }
  }
  let x = NDArray<T>(shape: [n, nrhs]) { b[$0[0] * ldb + $0[1]] }
  expectSolution(a, x, bDense, expected: xTrue, "potrs upper, ldb \(ldb)")
  for i in 0..<(n - 1) { #expect(b[i * ldb + nrhs] == -7, "padding of B changed") }
}

private func checkSolveAndInverse<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  let n = 5
  // A Gaussian matrix shifted away from singularity: κ is modest.
  let a = RandomMatrices.gaussian(n, n, seed: 80, T.self) + 4 * NDArray<T>.identity(n)
  let xTrue: NDArray<T> = RandomMatrices.gaussian(n, 3, seed: 81)
  let b = Ref.matmul(a, xTrue)
  expectSolution(a, try a.solve(b), b, expected: xTrue, "solve matrix")
  let xVector = NDArray((0..<n).map { xTrue[$0, 0] })
  let bVector = Ref.matvec(a, xVector)
  expectSolution(a, try a.solve(bVector), bVector, expected: xVector, "solve vector")

  let inverse = try a.inverse()
  let tolerance = solutionTolerance(T.self)
  assertClose(Ref.matmul(a, inverse), Ref.identity(n), rtol: 0, atol: tolerance, "A A⁻¹ = I")
  assertClose(Ref.matmul(inverse, a), Ref.identity(n), rtol: 0, atol: tolerance, "A⁻¹ A = I")

  // Needs pivoting (zero in the top-left corner): [[0, 1], [2, 3]]⁻¹ = [[-1.5, 0.5], [1, 0]].
  assertClose(
    try NDArray<T>(rows: [[0, 1], [2, 3]]).inverse(), NDArray(rows: [[-1.5, 0.5], [1, 0]]),
    rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance, "pivoted inverse")
}

private func checkGetrfGetrs<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  let n = 5, lda = 6
  let a = RandomMatrices.gaussian(n, n, seed: 82, T.self) + 4 * NDArray<T>.identity(n)
  var lu = [T](repeating: 0, count: Ref.span(rows: n, columns: n, ld: lda))
  for i in 0..<n { for j in 0..<n { lu[i * lda + j] = a[i, j] } }
  var pivots = [Int32](repeating: 0, count: n)
  try lu.withUnsafeMutableBufferPointer { (pa: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
    try pivots.withUnsafeMutableBufferPointer { (pp: inout UnsafeMutableBufferPointer<Int32>) throws(LAPACKError) in
      try T.getrf(m: n, n: n, a: pa, lda: lda, pivots: pp)
    }
  }
  // P A = L U with unit-lower L: rebuild L U, then undo the row swaps in reverse order.
  for (i, p) in pivots.enumerated() { #expect(Int(p) >= i + 1 && Int(p) <= n, "pivot \(i) is \(p)") }
  let l = NDArray<T>(shape: [n, n]) { $0[0] == $0[1] ? 1 : $0[0] > $0[1] ? lu[$0[0] * lda + $0[1]] : 0 }
  let u = NDArray<T>(shape: [n, n]) { $0[0] <= $0[1] ? lu[$0[0] * lda + $0[1]] : 0 }
  var rebuilt = Ref.matmul(l, u)
  for i in stride(from: n - 1, through: 0, by: -1) where Int(pivots[i]) - 1 != i {
    for j in 0..<n {
      let other = Int(pivots[i]) - 1
      (rebuilt[i, j], rebuilt[other, j]) = (rebuilt[other, j], rebuilt[i, j])
    }
  }
  assertClose(rebuilt, a, rtol: T.testRelativeTolerance, atol: T.testRelativeTolerance * T(Ref.norm(a)), "P⁻¹ L U = A")

  // getrs with the transpose: Aᵀ X = B.
  let xTrue: NDArray<T> = RandomMatrices.gaussian(n, 2, seed: 83)
  let aT = Ref.transpose(a)
  let bDense = Ref.matmul(aT, xTrue)
  var b = bDense.scalars
  try lu.withUnsafeBufferPointer { (pa: UnsafeBufferPointer<T>) throws(LAPACKError) in
    try pivots.withUnsafeBufferPointer { (pp: UnsafeBufferPointer<Int32>) throws(LAPACKError) in
      try b.withUnsafeMutableBufferPointer { (pb: inout UnsafeMutableBufferPointer<T>) throws(LAPACKError) in
        try T.getrs(transpose: .transpose, n: n, nrhs: 2, a: pa, lda: lda, pivots: pp, b: pb, ldb: 2)
      }
    }
  }
  expectSolution(aT, NDArray(shape: [n, 2], scalars: b), bDense, expected: xTrue, "getrs transposed")
}

private func checkDeterminant<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  let tolerance = T(10) * T.testRelativeTolerance
  // Known: a symmetric matrix with eigenvalues -2, 0.5, 3, 1.5 has determinant -4.5.
  let known: NDArray<T> = RandomMatrices.symmetric(eigenvalues: [-2, 0.5, 3, 1.5], seed: 90)
  let (sign, logMagnitude) = try known.signAndLogDeterminant()
  #expect(sign == -1)
  assertClose(logMagnitude, T(Double.log(4.5)), rtol: tolerance, atol: tolerance, "log|det| known")

  // Against the naive determinant, for several random matrices (both signs occur).
  var signs = Set<Int>()
  for seed in UInt64(91)...UInt64(96) {
    let a: NDArray<T> = RandomMatrices.gaussian(5, 5, seed: seed)
    let det = Ref.determinant(a)
    let (s, log) = try a.signAndLogDeterminant()
    #expect(s == (det < 0 ? -1 : 1), "sign for seed \(seed)")
    assertClose(log, T(Double.log(abs(det))), rtol: tolerance, atol: tolerance, "log|det| seed \(seed)")
    signs.insert(det < 0 ? -1 : 1)
  }
  #expect(signs.count == 2, "the random matrices should include both determinant signs")

  // A swap permutation: det = -1 exactly; a diagonal: the product.
  let swap = try NDArray<T>(rows: [[0, 1], [1, 0]]).signAndLogDeterminant()
  #expect(swap.sign == -1 && swap.logMagnitude == 0)
  let diagonal = try NDArray<T>([2, -3, 0.5]).diagonalMatrix().signAndLogDeterminant()
  #expect(diagonal.sign == -1)
  assertClose(diagonal.logMagnitude, T(Double.log(3)), rtol: tolerance, atol: tolerance)

  // Singular: sign 0 and log-magnitude −∞, not an error.
  for singular in [NDArray<T>(rows: [[1, 2, 3], [2, 4, 6], [1, 0, 1]]), NDArray(rows: [[1, 0, 2], [3, 0, 4], [5, 0, 6]])] {
    let result = try singular.signAndLogDeterminant()
    #expect(result.sign == 0)
    #expect(result.logMagnitude == -.infinity)
  }
}

private func checkTriangularSolve<T: BLASScalar & TestTolerance>(_: T.Type) {
  let n = 5
  let noise: NDArray<T> = RandomMatrices.gaussian(n, n, seed: 100)
  for triangle in [Triangle.lower, .upper] {
    // The used triangle is well conditioned; the other holds garbage that must be ignored.
    var t = NDArray<T>(zeros: [n, n]), stored = NDArray<T>(zeros: [n, n])
    for i in 0..<n {
      for j in 0..<n {
        let inside = triangle == .lower ? j <= i : j >= i
        let value = i == j ? 2 + abs(noise[i, j]) : noise[i, j] / 2
        if inside { t[i, j] = value }
        stored[i, j] = inside ? value : 1000
      }
    }
    for transpose in [false, true] {
      let opT = transpose ? Ref.transpose(t) : t
      let label = "triangularSolve \(triangle) transpose \(transpose)"
      let b: NDArray<T> = RandomMatrices.gaussian(n, 3, seed: 101)
      let x = stored.triangularSolve(b, triangle: triangle, transpose: transpose)
      #expect(x.shape == [n, 3])
      assertClose(Ref.matmul(opT, x), b, rtol: 0, atol: T.testRelativeTolerance * T(Ref.norm(t) * Ref.norm(x)), label)
      let v = NDArray((0..<n).map { b[$0, 1] })
      let xv = stored.triangularSolve(v, triangle: triangle, transpose: transpose)
      #expect(xv.shape == [n])
      assertClose(Ref.matvec(opT, xv), v, rtol: 0, atol: T.testRelativeTolerance * T(Ref.norm(t) * Ref.norm(xv)), label + " vector")
    }
  }
  // Hand-checked: [[2, 0], [1, 4]] x = (4, 10) gives x = (2, 2).
  #expect(NDArray<T>(rows: [[2, 0], [1, 4]]).triangularSolve(NDArray([4, 10])).scalars == [2, 2])
}

private func checkOneByOne<T: BLASScalar & TestTolerance>(_: T.Type) throws {
  let a = NDArray<T>(rows: [[4]])
  #expect(try a.cholesky().scalars == [2])
  #expect(try a.cholesky().choleskySolve(NDArray([8])).scalars == [2])
  #expect(try a.solve(NDArray([2])).scalars == [0.5])
  #expect(try a.inverse().scalars == [0.25])
  #expect(a.triangularSolve(NDArray([8])).scalars == [2])
  let negative = try NDArray<T>(rows: [[-3]]).signAndLogDeterminant()
  #expect(negative.sign == -1)
  assertClose(negative.logMagnitude, T(Double.log(3)), rtol: T.testRelativeTolerance)
  let (w, v) = try a.symmetricEigen()
  #expect(w.scalars == [4] && abs(v.scalar) == 1)
  #expect(try a.svd().s.scalars == [4])
  let (tw, tv) = try NDArray<T>.tridiagonalEigen(diagonal: NDArray([5]), offDiagonal: NDArray<T>([]))
  #expect(tw.scalars == [5] && abs(tv.scalar) == 1)
}
