import Curvature
import CurvatureTestSupport
import Testing

private typealias Ref = NumericsReference

/// `matmul` (2-D, batched, folded and broadcast operands, with transposes), `matvec`,
/// `outer` and `kronecker` against naive loops.
@Suite struct NDArrayProductTests {
  @Test func matmul2DFloat() { checkMatmul2D(Float.self) }
  @Test func matmul2DDouble() { checkMatmul2D(Double.self) }
  @Test func matmulBatchedFloat() { checkMatmulBatched(Float.self) }
  @Test func matmulBatchedDouble() { checkMatmulBatched(Double.self) }
  @Test func matmulBroadcastFloat() { checkMatmulBroadcast(Float.self) }
  @Test func matmulBroadcastDouble() { checkMatmulBroadcast(Double.self) }
  @Test func matvecFloat() { checkMatvec(Float.self) }
  @Test func matvecDouble() { checkMatvec(Double.self) }
  @Test func outerFloat() { checkOuter(Float.self) }
  @Test func outerDouble() { checkOuter(Double.self) }
  @Test func kroneckerFloat() { checkKronecker(Float.self) }
  @Test func kroneckerDouble() { checkKronecker(Double.self) }

  // Empty extents fit and must give an empty or zero result, not stop. Run in a child
  // process so that a precondition failure fails only this test.
  @Test func emptyExtentsDoNotStop() async {
    await #expect(processExitsWith: .success) {
      let zeros = matmul(NDArray<Double>(zeros: [2, 0]), NDArray<Double>(zeros: [0, 3]))
      precondition(zeros == NDArray(zeros: [2, 3]), "empty inner dimension: \(zeros)")
    }
    await #expect(processExitsWith: .success) {
      precondition(matmul(NDArray<Float>(zeros: [2, 3]), NDArray<Float>(zeros: [3, 0])).shape == [2, 0])
    }
    await #expect(processExitsWith: .success) {
      precondition(matvec(NDArray<Double>(zeros: [3, 0]), NDArray<Double>(zeros: [0])) == NDArray(zeros: [3]))
    }
    await #expect(processExitsWith: .success) {
      precondition(outer(NDArray<Float>([1, 2]), NDArray<Float>(zeros: [0])).shape == [2, 0])
    }
    await #expect(processExitsWith: .success) {
      precondition(NDArray<Double>(zeros: [0, 3]).transposed().shape == [3, 0])
    }
  }
}

/// Matrix `b` of a rank-≥2 array: the last two axes at batch position `b` (or the array
/// itself when it is 2-D).
private func batchMatrix<T: BLASScalar>(_ a: NDArray<T>, _ b: Int) -> NDArray<T> {
  let (r, c) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
  if a.rank == 2 { return a }
  return NDArray(shape: [r, c], scalars: Array(a.scalars[(b * r * c)..<((b + 1) * r * c)]))
}

/// Naive batched `op(a) op(b)`: one triple loop per batch entry; a 2-D operand is shared.
private func naiveBatched<T: BLASScalar>(
  _ a: NDArray<T>, _ b: NDArray<T>, transposeA: Bool, transposeB: Bool
) -> NDArray<T> {
  let batchShape = a.rank > 2 ? Array(a.shape.dropLast(2)) : Array(b.shape.dropLast(2))
  let batch = batchShape.reduce(1, *)
  var scalars = [T]()
  var m = 0, n = 0
  for i in 0..<batch {
    var x = batchMatrix(a, i), y = batchMatrix(b, i)
    if transposeA { x = Ref.transpose(x) }
    if transposeB { y = Ref.transpose(y) }
    let product = Ref.matmul(x, y)
    (m, n) = (product.shape[0], product.shape[1])
    scalars += product.scalars
  }
  return NDArray(shape: batchShape + [m, n], scalars: scalars)
}

private func expectProduct<T: BLASScalar & TestTolerance>(
  _ actual: NDArray<T>, _ expected: NDArray<T>, _ label: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  assertClose(actual, expected, rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance, label, sourceLocation: sourceLocation)
}

private func checkMatmul2D<T: BLASScalar & TestTolerance>(_: T.Type) {
  for (m, k, n) in [(3, 5, 7), (1, 1, 1), (1, 4, 3), (4, 3, 1), (5, 1, 4)] {
    for transposeA in [false, true] {
      for transposeB in [false, true] {
        let a: NDArray<T> = RandomMatrices.gaussian(transposeA ? k : m, transposeA ? m : k, seed: UInt64(200 + m))
        let b: NDArray<T> = RandomMatrices.gaussian(transposeB ? n : k, transposeB ? k : n, seed: UInt64(210 + n))
        let c = matmul(a, b, transposeA: transposeA, transposeB: transposeB)
        #expect(c.shape == [m, n])
        expectProduct(
          c, naiveBatched(a, b, transposeA: transposeA, transposeB: transposeB),
          "matmul \(m)×\(k)×\(n) tA \(transposeA) tB \(transposeB)")
      }
    }
  }
  // Hand-checked.
  let a = NDArray<T>(rows: [[1, 2], [3, 4]]), b = NDArray<T>(rows: [[5, 6], [7, 8]])
  #expect(matmul(a, b).scalars == [19, 22, 43, 50])
  #expect(matmul(a, b, transposeA: true).scalars == [26, 30, 38, 44])
  #expect(matmul(a, b, transposeB: true).scalars == [17, 23, 39, 53])
}

private func checkMatmulBatched<T: BLASScalar & TestTolerance>(_: T.Type) {
  // Rank 3 × rank 3 with equal batch axes, all transpose combinations.
  let (batch, m, k, n) = (4, 3, 5, 2)
  for transposeA in [false, true] {
    for transposeB in [false, true] {
      let a: NDArray<T> = RandomMatrices.gaussian(batch * (transposeA ? k : m), transposeA ? m : k, seed: 220)
        .reshaped([batch, transposeA ? k : m, transposeA ? m : k])
      let b: NDArray<T> = RandomMatrices.gaussian(batch * (transposeB ? n : k), transposeB ? k : n, seed: 221)
        .reshaped([batch, transposeB ? n : k, transposeB ? k : n])
      let c = matmul(a, b, transposeA: transposeA, transposeB: transposeB)
      #expect(c.shape == [batch, m, n])
      expectProduct(
        c, naiveBatched(a, b, transposeA: transposeA, transposeB: transposeB),
        "batched tA \(transposeA) tB \(transposeB)")
    }
  }
  // Rank 4 batches: [2, 3, m, k] × [2, 3, k, n].
  let a4: NDArray<T> = RandomMatrices.gaussian(6 * m, k, seed: 222).reshaped([2, 3, m, k])
  let b4: NDArray<T> = RandomMatrices.gaussian(6 * k, n, seed: 223).reshaped([2, 3, k, n])
  let c4 = matmul(a4, b4)
  #expect(c4.shape == [2, 3, m, n])
  expectProduct(c4, naiveBatched(a4, b4, transposeA: false, transposeB: false), "rank 4 batched")
}

private func checkMatmulBroadcast<T: BLASScalar & TestTolerance>(_: T.Type) {
  let (batch, m, k, n) = (3, 4, 5, 2)
  // Rank 3 × 2-D: the folding path ([batch·m, k] × op(b)) without transposeA, and the
  // per-batch path with transposeA.
  for transposeA in [false, true] {
    for transposeB in [false, true] {
      let a: NDArray<T> = RandomMatrices.gaussian(batch * (transposeA ? k : m), transposeA ? m : k, seed: 230)
        .reshaped([batch, transposeA ? k : m, transposeA ? m : k])
      let b: NDArray<T> = RandomMatrices.gaussian(transposeB ? n : k, transposeB ? k : n, seed: 231)
      let c = matmul(a, b, transposeA: transposeA, transposeB: transposeB)
      #expect(c.shape == [batch, m, n])
      expectProduct(
        c, naiveBatched(a, b, transposeA: transposeA, transposeB: transposeB),
        "rank 3 × 2-D tA \(transposeA) tB \(transposeB)")
    }
  }
  // Rank 4 × 2-D folds both leading axes.
  let a4: NDArray<T> = RandomMatrices.gaussian(2 * 3 * m, k, seed: 232).reshaped([2, 3, m, k])
  let b2: NDArray<T> = RandomMatrices.gaussian(k, n, seed: 233)
  expectProduct(matmul(a4, b2), naiveBatched(a4, b2, transposeA: false, transposeB: false), "rank 4 × 2-D")
  // 2-D × rank 3: the left factor is shared by every batch entry.
  for transposeA in [false, true] {
    let a: NDArray<T> = RandomMatrices.gaussian(transposeA ? k : m, transposeA ? m : k, seed: 234)
    let b: NDArray<T> = RandomMatrices.gaussian(batch * k, n, seed: 235).reshaped([batch, k, n])
    let c = matmul(a, b, transposeA: transposeA)
    #expect(c.shape == [batch, m, n])
    expectProduct(c, naiveBatched(a, b, transposeA: transposeA, transposeB: false), "2-D × rank 3 tA \(transposeA)")
  }
  // Batch axes that broadcast (NumPy rules): [2, 1, m, k] × [3, k, n] → [2, 3, m, n].
  let left: NDArray<T> = RandomMatrices.gaussian(2 * m, k, seed: 238).reshaped([2, 1, m, k])
  let right: NDArray<T> = RandomMatrices.gaussian(3 * k, n, seed: 239).reshaped([3, k, n])
  let broadcast = matmul(left, right)
  #expect(broadcast.shape == [2, 3, m, n])
  var expectedScalars = [T]()
  for i in 0..<2 {
    for j in 0..<3 { expectedScalars += Ref.matmul(batchMatrix(left, i), batchMatrix(right, j)).scalars }
  }
  expectProduct(broadcast, NDArray(shape: [2, 3, m, n], scalars: expectedScalars), "broadcast batch axes")
  // A matrix times a vector through matmul.
  let a: NDArray<T> = RandomMatrices.gaussian(m, k, seed: 236)
  let x = NDArray<T>(RandomMatrices.gaussian(1, k, seed: 237, T.self).scalars)
  expectProduct(matmul(a, x), Ref.matvec(a, x), "matmul matrix × vector")
}

private func checkMatvec<T: BLASScalar & TestTolerance>(_: T.Type) {
  for (m, n) in [(3, 5), (5, 3), (1, 4), (4, 1)] {
    let a: NDArray<T> = RandomMatrices.gaussian(m, n, seed: UInt64(240 + m))
    let x = NDArray<T>(RandomMatrices.gaussian(1, n, seed: 241, T.self).scalars)
    let y = NDArray<T>(RandomMatrices.gaussian(1, m, seed: 242, T.self).scalars)
    let ax = matvec(a, x)
    #expect(ax.shape == [m])
    expectProduct(ax, Ref.matvec(a, x), "matvec \(m)×\(n)")
    let aty = matvec(a, y, transpose: true)
    #expect(aty.shape == [n])
    expectProduct(aty, Ref.matvec(Ref.transpose(a), y), "matvec transposed \(m)×\(n)")
    expectProduct(matmul(a, y, transposeA: true), Ref.matvec(Ref.transpose(a), y), "matmul transposed × vector")
  }
  #expect(matvec(NDArray<T>(rows: [[1, 2, 3], [4, 5, 6]]), NDArray([1, 0, -1])).scalars == [-2, -2])
}

private func checkOuter<T: BLASScalar & TestTolerance>(_: T.Type) {
  let u = NDArray<T>(RandomMatrices.gaussian(1, 4, seed: 250, T.self).scalars)
  let v = NDArray<T>(RandomMatrices.gaussian(1, 3, seed: 251, T.self).scalars)
  let o = outer(u, v)
  #expect(o.shape == [4, 3])
  // One product per entry: exact.
  #expect(o == NDArray(shape: [4, 3]) { u.scalars[$0[0]] * v.scalars[$0[1]] })
  #expect(outer(NDArray<T>([1, 2]), NDArray([3, 4, 5])).scalars == [3, 4, 5, 6, 8, 10])
}

/// The Kronecker product by its definition: `(a ⊗ b)[i·p + k, j·q + l] = a[i, j] b[k, l]`.
private func naiveKronecker<T: BLASScalar>(_ a: NDArray<T>, _ b: NDArray<T>) -> NDArray<T> {
  let (m, n, p, q) = (a.shape[0], a.shape[1], b.shape[0], b.shape[1])
  var result = NDArray<T>(zeros: [m * p, n * q])
  for i in 0..<m { for j in 0..<n { for k in 0..<p { for l in 0..<q {
    result[i * p + k, j * q + l] = a[i, j] * b[k, l]
  } } } }
  return result
}

private func checkKronecker<T: BLASScalar & TestTolerance>(_: T.Type) {
  for (m, n, p, q) in [(2, 3, 4, 5), (3, 2, 1, 4), (1, 1, 3, 2), (2, 2, 2, 2), (4, 1, 1, 3)] {
    let a: NDArray<T> = RandomMatrices.gaussian(m, n, seed: UInt64(260 + m * n))
    let b: NDArray<T> = RandomMatrices.gaussian(p, q, seed: UInt64(270 + p * q))
    let k = kronecker(a, b)
    #expect(k.shape == [m * p, n * q])
    #expect(k == naiveKronecker(a, b), "kronecker \(m)×\(n) ⊗ \(p)×\(q)")
  }
  // Hand-checked: [[1, 2]] ⊗ [[1], [10]] = [[1, 2], [10, 20]].
  #expect(kronecker(NDArray<T>(rows: [[1, 2]]), NDArray(rows: [[1], [10]])).scalars == [1, 2, 10, 20])
  // Mixed product property against naive products: (A ⊗ B)(C ⊗ D) = AC ⊗ BD.
  let a: NDArray<T> = RandomMatrices.gaussian(2, 3, seed: 280), c: NDArray<T> = RandomMatrices.gaussian(3, 2, seed: 281)
  let b: NDArray<T> = RandomMatrices.gaussian(2, 2, seed: 282), d: NDArray<T> = RandomMatrices.gaussian(2, 3, seed: 283)
  expectProduct(
    Ref.matmul(kronecker(a, b), kronecker(c, d)), naiveKronecker(Ref.matmul(a, c), Ref.matmul(b, d)),
    "mixed product")
}
