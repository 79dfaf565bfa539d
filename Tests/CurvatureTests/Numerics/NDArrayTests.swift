import Curvature
import CurvatureTestSupport
import Testing

private typealias Ref = NumericsReference

/// `NDArray` construction, shapes, indexing, axis permutations, elementwise arithmetic,
/// reductions and precision conversion, against naive index arithmetic.
@Suite struct NDArrayTests {
  @Test func initializersFloat() { checkInitializers(Float.self) }
  @Test func initializersDouble() { checkInitializers(Double.self) }
  @Test func reshapeFloat() { checkReshape(Float.self) }
  @Test func reshapeDouble() { checkReshape(Double.self) }
  @Test func subscriptFloat() { checkSubscript(Float.self) }
  @Test func subscriptDouble() { checkSubscript(Double.self) }
  @Test func permutedFloat() { checkPermuted(Float.self) }
  @Test func permutedDouble() { checkPermuted(Double.self) }
  @Test func transposedFloat() { checkTransposed(Float.self) }
  @Test func transposedDouble() { checkTransposed(Double.self) }
  @Test func arithmeticFloat() { checkArithmetic(Float.self) }
  @Test func arithmeticDouble() { checkArithmetic(Double.self) }
  @Test func reductionsFloat() { checkReductions(Float.self) }
  @Test func reductionsDouble() { checkReductions(Double.self) }
  @Test func conversionFloat() { checkConversion(Float.self) }
  @Test func conversionDouble() { checkConversion(Double.self) }
}

private func checkInitializers<T: BLASScalar & TestTolerance>(_: T.Type) {
  let a = NDArray<T>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
  #expect(a.shape == [2, 3] && a.rank == 2 && a.count == 6)
  #expect(NDArray<T>(rows: [[1, 2, 3], [4, 5, 6]]) == a)
  #expect(NDArray<T>(shape: [2, 3]) { T(3 * $0[0] + $0[1] + 1) } == a)

  let filled = NDArray<T>(repeating: 2.5, shape: [3, 1, 2])
  #expect(filled.shape == [3, 1, 2] && filled.scalars == [T](repeating: 2.5, count: 6))
  #expect(NDArray<T>(zeros: [4]).scalars == [0, 0, 0, 0])
  let scalar = NDArray<T>(scalar: -7)
  #expect(scalar.shape == [] && scalar.rank == 0 && scalar.count == 1 && scalar.scalar == -7)
  let vector = NDArray<T>([1, 2, 3])
  #expect(vector.shape == [3] && vector.rank == 1)
  #expect(NDArray<T>.identity(3).scalars == [1, 0, 0, 0, 1, 0, 0, 0, 1])
  #expect(NDArray<T>(zeros: [2, 0, 3]).count == 0)
  #expect(NDArray<T>([1, .infinity]).isFinite == false && a.isFinite)
  #expect(NDArray<T>([3, 1, 2]).diagonalMatrix() == NDArray(rows: [[3, 0, 0], [0, 1, 0], [0, 0, 2]]))

  // The multi-index initializer visits indices in row-major order.
  var visited = [[Int]]()
  _ = NDArray<T>(shape: [2, 2, 2]) { index in visited.append(index); return 0 }
  #expect(visited == [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1], [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1]])
}

private func checkReshape<T: BLASScalar & TestTolerance>(_: T.Type) {
  let a = NDArray<T>(shape: [2, 3, 4]) { T(12 * $0[0] + 4 * $0[1] + $0[2]) }
  let b = a.reshaped([4, 6])
  #expect(b.shape == [4, 6] && b.scalars == a.scalars)
  #expect(a.reshaped([-1, 4]).shape == [6, 4])
  #expect(a.reshaped([2, -1]).shape == [2, 12])
  #expect(a.reshaped([3, -1, 2]).shape == [3, 4, 2])
  #expect(a.reshaped([-1]).shape == [24])
  #expect(a.flattened().shape == [24] && a.flattened().scalars == a.scalars)
  #expect(NDArray<T>(scalar: 5).reshaped([1, 1]).shape == [1, 1])
  #expect(NDArray<T>([5]).reshaped([]).shape == [])
  // Reshaping keeps row-major order: element [1, 2, 3] is at flat position 23.
  #expect(b[3, 5] == a[1, 2, 3])
}

private func checkSubscript<T: BLASScalar & TestTolerance>(_: T.Type) {
  var a = NDArray<T>(shape: [2, 3, 4]) { T(100 * $0[0] + 10 * $0[1] + $0[2]) }
  #expect(a[1, 2, 3] == 123 && a[0, 1, 0] == 10)
  #expect(a.offset(of: [1, 2, 3]) == 23 && a.offset(of: [0, 1, 2]) == 6)
  a[1, 0, 2] = -1
  #expect(a.scalars[14] == -1)
  // Copy on write: mutating a copy leaves the original alone.
  var copy = a
  copy[0, 0, 0] = 42
  #expect(a[0, 0, 0] == 0 && copy[0, 0, 0] == 42)
  let rank0 = NDArray<T>(scalar: 9)
  #expect(rank0[] == 9)
}

/// Naive permutation: `result[i_0, …] = a[j]` where `j[axes[d]] = i_d`.
private func naivePermute<T: BLASScalar>(_ a: NDArray<T>, _ axes: [Int]) -> NDArray<T> {
  let newShape = axes.map { a.shape[$0] }
  return NDArray(shape: newShape) { index in
    var source = [Int](repeating: 0, count: a.rank)
    for (d, axis) in axes.enumerated() { source[axis] = index[d] }
    return a.scalars[a.offset(of: source)]
  }
}

private func checkPermuted<T: BLASScalar & TestTolerance>(_: T.Type) {
  let a3: NDArray<T> = RandomMatrices.gaussian(2 * 3, 4, seed: 150).reshaped([2, 3, 4])
  for axes in [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
    let p = a3.permuted(axes)
    #expect(p.shape == axes.map { a3.shape[$0] }, "shape for \(axes)")
    #expect(p == naivePermute(a3, axes), "rank 3 permutation \(axes)")
  }
  let a4: NDArray<T> = RandomMatrices.gaussian(2 * 3, 4 * 5, seed: 151).reshaped([2, 3, 4, 5])
  for axes in [[3, 2, 1, 0], [0, 2, 1, 3], [1, 3, 0, 2], [2, 0, 3, 1], [0, 1, 3, 2], [3, 0, 1, 2]] {
    #expect(a4.permuted(axes) == naivePermute(a4, axes), "rank 4 permutation \(axes)")
  }
  // Extents of one, and a permutation followed by its inverse.
  let thin: NDArray<T> = RandomMatrices.gaussian(1, 6, seed: 152).reshaped([1, 2, 1, 3])
  #expect(thin.permuted([3, 1, 0, 2]) == naivePermute(thin, [3, 1, 0, 2]))
  #expect(a4.permuted([1, 3, 0, 2]).permuted([2, 0, 3, 1]) == a4)
  // Rank 2 goes through the transpose.
  let m: NDArray<T> = RandomMatrices.gaussian(3, 5, seed: 153)
  #expect(m.permuted([1, 0]) == Ref.transpose(m))
  // Hand-checked: [2, 1, 2] → axes [2, 0, 1].
  let small = NDArray<T>(shape: [2, 1, 2], scalars: [1, 2, 3, 4])
  #expect(small.permuted([2, 0, 1]).scalars == [1, 3, 2, 4])
}

private func checkTransposed<T: BLASScalar & TestTolerance>(_: T.Type) {
  for (rows, columns) in [(3, 5), (5, 3), (1, 4), (4, 1), (1, 1), (6, 6)] {
    let a: NDArray<T> = RandomMatrices.gaussian(rows, columns, seed: UInt64(160 + rows * columns))
    let t = a.transposed()
    #expect(t.shape == [columns, rows])
    for i in 0..<rows { for j in 0..<columns { #expect(t[j, i] == a[i, j]) } }
  }
  #expect(NDArray<T>(rows: [[1, 2, 3], [4, 5, 6]]).transposed().scalars == [1, 4, 2, 5, 3, 6])
}

private func checkArithmetic<T: BLASScalar & TestTolerance>(_: T.Type) {
  let a: NDArray<T> = RandomMatrices.gaussian(3, 4, seed: 170)
  let b: NDArray<T> = RandomMatrices.gaussian(3, 4, seed: 171)
  let sum = NDArray<T>(shape: [3, 4], scalars: zip(a.scalars, b.scalars).map { T(Double($0) + Double($1)) })
  let difference = NDArray<T>(shape: [3, 4], scalars: zip(a.scalars, b.scalars).map { T(Double($0) - Double($1)) })
  // One rounding each: exact agreement with the naive elementwise result.
  #expect(a + b == sum)
  #expect(a - b == difference)
  #expect(-a == NDArray(shape: [3, 4], scalars: a.scalars.map { -$0 }))
  let scaled = NDArray<T>(shape: [3, 4], scalars: a.scalars.map { T(2.5 * Double($0)) })
  #expect(2.5 * a == scaled)
  #expect(a * 2.5 == scaled)
  var c = a
  c.add(b, scaledBy: -3)
  Ref.assertCloseScalars(
    c.scalars, zip(a.scalars, b.scalars).map { T(Double($0) - 3 * Double($1)) },
    rtol: T.testRelativeTolerance, atol: T.testAbsoluteTolerance, "add(scaledBy:)")
  c = a
  c.scale(by: 0.5)
  #expect(c == NDArray(shape: [3, 4], scalars: a.scalars.map { $0 / 2 }))
  #expect(a - a == NDArray(zeros: [3, 4]))
  #expect(NDArray<T>([1, 2]) + NDArray([10, 20]) == NDArray([11, 22]))
}

private func checkReductions<T: BLASScalar & TestTolerance>(_: T.Type) {
  let a: NDArray<T> = RandomMatrices.gaussian(7, 11, seed: 180)
  let b: NDArray<T> = RandomMatrices.gaussian(7, 11, seed: 181)
  let dot = zip(a.scalars, b.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
  let scale = zip(a.scalars, b.scalars).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
  assertClose(a.dot(b), T(dot), rtol: T.testRelativeTolerance, atol: T.testRelativeTolerance * T(scale), "dot")
  assertClose(a.norm(), T(Ref.norm(a)), rtol: T.testRelativeTolerance, "norm")
  let sum = a.scalars.reduce(0.0) { $0 + Double($1) }
  let absSum = a.scalars.reduce(0.0) { $0 + abs(Double($1)) }
  assertClose(a.sum(), T(sum), rtol: T.testRelativeTolerance, atol: T.testRelativeTolerance * T(absSum), "sum")

  // Pairwise summation of many elements (more than one block) stays accurate.
  let long = NDArray<T>(shape: [1000], scalars: (0..<1000).map { T($0 % 7) - 3 })
  let longSum = (0..<1000).reduce(0) { $0 + ($1 % 7) - 3 }
  #expect(long.sum() == T(longSum))

  let square: NDArray<T> = RandomMatrices.gaussian(5, 5, seed: 182)
  #expect(square.diagonal().scalars == (0..<5).map { square[$0, $0] })
  assertClose(
    square.trace(), T((0..<5).reduce(0.0) { $0 + Double(square[$1, $1]) }), rtol: T.testRelativeTolerance,
    atol: T.testAbsoluteTolerance, "trace")
  // The diagonal of a non-square matrix has min(m, n) entries.
  let wide = NDArray<T>(rows: [[1, 2, 3], [4, 5, 6]])
  #expect(wide.diagonal().scalars == [1, 5])
  #expect(wide.transposed().diagonal().scalars == [1, 5])
  #expect(NDArray<T>([3, 4]).norm() == 5)
  #expect(NDArray<T>([1, 2, 3]).dot(NDArray([4, 5, 6])) == 32)
  #expect(NDArray<T>(zeros: [0]).sum() == 0)
}

private func checkConversion<T: BLASScalar & TestTolerance>(_: T.Type) {
  let a = NDArray<T>(shape: [2, 2], scalars: [1.5, -2, 0.25, 1e3])
  let asFloat = a.converted(to: Float.self)
  let asDouble = a.converted(to: Double.self)
  #expect(asFloat.shape == [2, 2] && asFloat.scalars == [1.5, -2, 0.25, 1e3])
  #expect(asDouble.scalars == [1.5, -2, 0.25, 1e3])
  #expect(a.converted(to: T.self) == a)
  // Double → Float rounds to nearest.
  let third = NDArray<Double>([1.0 / 3.0]).converted(to: Float.self)
  #expect(third.scalars == [Float(1.0 / 3.0)])
  let round = NDArray<T>([T(0.1)]).converted(to: Double.self).converted(to: T.self)
  #expect(round.scalars == [T(0.1)])
}
