import ComplexModule
import Dispatch
import Synchronization
import Curvature
import CurvatureTestSupport
import Testing

/// Products of every Toeplitz-family operator against independently built dense matrices:
/// Float and Double, odd and even sizes, n = 1, nonsymmetric.
@Suite struct ToeplitzOperatorTests {
  static let sizes = [1, 2, 5, 8, 13]

  @Test(arguments: sizes) func toeplitzNonsymmetric(n: Int) throws {
    try check(Double.self, n)
    try check(Float.self, n)
    func check<T: BLASScalar & TestTolerance>(_: T.Type, _ n: Int) throws {
      let column = ToeplitzTesting.randomValues(n, seed: UInt64(n)).map { T($0) }
      var row = ToeplitzTesting.randomValues(n, seed: UInt64(100 + n)).map { T($0) }
      row[0] = column[0]
      let t = try ToeplitzOperator(column: column, row: row)
      #expect(t.isSymmetric == (n == 1))
      let reference = ToeplitzTesting.denseToeplitz(column: column, row: row)
      try ToeplitzTesting.checkAgainstDense(t, reference, seed: 7, "Toeplitz<\(T.self)> n=\(n)")
      try ToeplitzTesting.checkAgainstDense(t.transpose, reference.transposed(), seed: 8, "Toeplitzᵀ n=\(n)")
      assertClose(try t.frobeniusNorm(), reference.norm(), rtol: T.testRelativeTolerance)
      assertClose(try t.trace(), reference.trace(), rtol: T.testRelativeTolerance)
    }
  }

  @Test(arguments: sizes) func toeplitzSymmetricAndCoefficients(n: Int) throws {
    let column = ToeplitzTesting.randomValues(n, seed: UInt64(n))
    let t = try ToeplitzOperator(symmetric: column)
    #expect(t.isSymmetric)
    try ToeplitzTesting.checkAgainstDense(t, ToeplitzTesting.denseToeplitz(column: column, row: column), seed: 3, "symmetric n=\(n)")
    let coefficients = (1 - n..<n).map { k in column[Swift.abs(k)] }
    let same = try ToeplitzOperator(coefficients: coefficients)
    #expect(same.column == t.column && same.row == t.row)
    #expect(t.coefficient(n) == 0 && t.coefficient(-(n - 1)) == column[n - 1])
  }

  @Test(arguments: sizes) func circulant(n: Int) throws {
    try check(Double.self, n)
    try check(Float.self, n)
    func check<T: BLASScalar & TestTolerance>(_: T.Type, _ n: Int) throws {
      let column = ToeplitzTesting.randomValues(n, seed: UInt64(7 * n)).map { T($0) }
      let c = try CirculantOperator(column: column)
      let reference = NDArray<T>(shape: [n, n]) { i in column[(i[0] - i[1] + n) % n] }
      try ToeplitzTesting.checkAgainstDense(c, reference, seed: 9, "Circulant<\(T.self)> n=\(n)")
      // From its own eigenvalues, the same matrix.
      let again = try CirculantOperator(eigenvalues: c.eigenvalues, size: n)
      try ToeplitzTesting.checkAgainstDense(again, reference, seed: 10, "Circulant from eigenvalues n=\(n)")
      // Solve and log-determinant against LU.
      let shifted = try CirculantOperator(column: [T(n) + 1] + column.dropFirst())
      let denseShifted = try shifted.dense()
      let b: NDArray<T> = NDArray(ToeplitzTesting.randomValues(n, seed: 5).map { T($0) })
      assertClose(try shifted.solve(b), try denseShifted.solve(b), rtol: T.testRelativeTolerance * 100, atol: T.testRelativeTolerance * 10)
      let (sign, logMagnitude) = try shifted.logDeterminant()
      let (denseSign, denseLog) = try denseShifted.signAndLogDeterminant()
      #expect(sign == denseSign)
      assertClose(logMagnitude, denseLog, rtol: T.testRelativeTolerance * 10, atol: T.testRelativeTolerance * 10)
    }
  }

  @Test func circulantNegativeDeterminantAndSingular() throws {
    // Eigenvalues of [1, 2, 0, 0]: 3, 1 − 2i, −1, 1 + 2i → det = −15.
    let c = try CirculantOperator<Double>(column: [1, 2, 0, 0])
    let (sign, logMagnitude) = try c.logDeterminant()
    #expect(sign == -1)
    assertClose(logMagnitude, Double.log(15), rtol: 1e-12)
    let singular = try CirculantOperator<Double>(column: [1, 1, 1])
    #expect(throws: LinearOperatorError.self) { try singular.solve(NDArray([1, 2, 3])) }
    #expect(try singular.logDeterminant().sign == 0)
  }

  static let gridSizes: [(Int, Int)] = [(1, 1), (1, 4), (3, 2), (4, 5), (6, 6)]

  @Test(arguments: gridSizes) func bttb(n1: Int, n2: Int) throws {
    try check(Double.self)
    try check(Float.self)
    func check<T: BLASScalar & TestTolerance>(_: T.Type) throws {
      let values = ToeplitzTesting.randomValues((2 * n1 - 1) * (2 * n2 - 1), seed: UInt64(n1 * 10 + n2))
      let g = NDArray<T>(shape: [2 * n1 - 1, 2 * n2 - 1], scalars: values.map { T($0) })
      let a = try BTTBOperator(generator: g)
      // Entry at block row j1, block column k1, inner row j2, inner column k2 is t_{j1−k1, j2−k2}.
      let n = n1 * n2
      var reference = NDArray<T>(zeros: [n, n])
      for j1 in 0..<n1 {
        for k1 in 0..<n1 {
          for j2 in 0..<n2 {
            for k2 in 0..<n2 { reference[j1 * n2 + j2, k1 * n2 + k2] = g[n1 - 1 + j1 - k1, n2 - 1 + j2 - k2] }
          }
        }
      }
      try ToeplitzTesting.checkAgainstDense(a, reference, seed: 11, "BTTB<\(T.self)> \(n1)×\(n2)")
      #expect(a.isSymmetric == (n == 1))
      assertClose(try a.frobeniusNorm(), reference.norm(), rtol: T.testRelativeTolerance * 10)
    }
  }

  @Test(arguments: gridSizes) func bccb(n1: Int, n2: Int) throws {
    try check(Double.self)
    try check(Float.self)
    func check<T: BLASScalar & TestTolerance>(_: T.Type) throws {
      let values = ToeplitzTesting.randomValues(n1 * n2, seed: UInt64(n1 * 7 + n2))
      let c = NDArray<T>(shape: [n1, n2], scalars: values.map { T($0) })
      let a = try BCCBOperator(column: c)
      let n = n1 * n2
      let reference = NDArray<T>(shape: [n, n]) { i in
        let (j1, j2, k1, k2) = (i[0] / n2, i[0] % n2, i[1] / n2, i[1] % n2)
        return c[(j1 - k1 + n1) % n1, (j2 - k2 + n2) % n2]
      }
      try ToeplitzTesting.checkAgainstDense(a, reference, seed: 12, "BCCB<\(T.self)> \(n1)×\(n2)")
      let again = try BCCBOperator(eigenvalues: a.eigenvalues, blockCount: n1, blockSize: n2)
      try ToeplitzTesting.checkAgainstDense(again, reference, seed: 13, "BCCB from eigenvalues \(n1)×\(n2)")
      var shiftedColumn = c
      shiftedColumn[0, 0] = T(n) + 1
      let shifted = try BCCBOperator(column: shiftedColumn)
      let denseShifted = try shifted.dense()
      let b = NDArray<T>(ToeplitzTesting.randomValues(n, seed: 2).map { T($0) })
      assertClose(try shifted.solve(b), try denseShifted.solve(b), rtol: T.testRelativeTolerance * 100, atol: T.testRelativeTolerance * 10)
      let (sign, logMagnitude) = try shifted.logDeterminant()
      let (denseSign, denseLog) = try denseShifted.signAndLogDeterminant()
      #expect(sign == denseSign)
      assertClose(logMagnitude, denseLog, rtol: T.testRelativeTolerance * 10, atol: T.testRelativeTolerance * 10)
    }
  }

  static let blockCases: [(Int, Int, BlockToeplitzLayout)] = [
    (1, 1, .blockToeplitz), (1, 3, .toeplitzBlock), (4, 2, .blockToeplitz), (4, 2, .toeplitzBlock),
    (5, 3, .blockToeplitz), (5, 3, .toeplitzBlock),
  ]

  @Test(arguments: blockCases) func blockToeplitz(n: Int, s: Int, layout: BlockToeplitzLayout) throws {
    try check(Double.self)
    try check(Float.self)
    func check<T: BLASScalar & TestTolerance>(_: T.Type) throws {
      let values = ToeplitzTesting.randomValues((2 * n - 1) * s * s, seed: UInt64(n * 31 + s))
      let coefficients = NDArray<T>(shape: [2 * n - 1, s, s], scalars: values.map { T($0) })
      let a = try BlockToeplitzOperator(coefficients: coefficients, layout: layout)
      var reference = NDArray<T>(zeros: [n * s, n * s])
      for j in 0..<n {
        for l in 0..<n {
          for p in 0..<s {
            for q in 0..<s {
              let (row, col) = layout == .blockToeplitz ? (j * s + p, l * s + q) : (p * n + j, q * n + l)
              reference[row, col] = coefficients[n - 1 + j - l, p, q]
            }
          }
        }
      }
      try ToeplitzTesting.checkAgainstDense(a, reference, seed: 14, "BlockToeplitz<\(T.self)> n=\(n) s=\(s) \(layout)")
    }
  }

  @Test func errorsForBadInput() throws {
    #expect(throws: ToeplitzError.lengthMismatch("the column has 3 entries but the row has 2")) {
      try ToeplitzOperator<Double>(column: [1, 2, 3], row: [1, 2])
    }
    #expect(throws: ToeplitzError.cornerMismatch(column: 1, row: 2)) {
      try ToeplitzOperator<Double>(column: [1, 2], row: [2, 2])
    }
    #expect(throws: ToeplitzError.self) { try ToeplitzOperator<Double>(symmetric: []) }
    #expect(throws: ToeplitzError.nonFinite("column[1] = nan")) { try ToeplitzOperator<Double>(symmetric: [1, .nan]) }
    #expect(throws: ToeplitzError.self) { try BTTBOperator(generator: NDArray<Double>(zeros: [2, 3])) }
    #expect(throws: ToeplitzError.self) { try BlockToeplitzOperator(coefficients: NDArray<Double>(zeros: [3, 2, 3])) }
    #expect(throws: ToeplitzError.self) { try CirculantOperator<Double>(eigenvalues: [Complex(1, 1), Complex(2, 0)], size: 2) }
    let t = try ToeplitzOperator<Double>(symmetric: [2, 1])
    #expect(throws: LinearOperatorError.self) { try t.apply(NDArray([1, 2, 3])) }
  }

  @Test func fftFriendlySizes() {
    #expect(fftFriendlySize(atLeast: 1) == 1)
    #expect(fftFriendlySize(atLeast: 11) == 12)
    #expect(fftFriendlySize(atLeast: 13) == 14)
    #expect(fftFriendlySize(atLeast: 1025) == 1029)
    #expect(fftFriendlySize(atLeast: 2047) == 2048)
  }

  @Test func largeBatchesAndConcurrentCallsAgreeWithSingleProducts() throws {
    // 40 columns of order 1000 split into one FFT chunk per core; several threads may apply
    // one operator at once (FFTW's new-array execute is thread-safe).
    let n = 1000, k = 40
    let fixed = try ToeplitzOperator(
      column: [0.5] + ToeplitzTesting.randomValues(n - 1, seed: 1), row: [0.5] + ToeplitzTesting.randomValues(n - 1, seed: 2))
    var rng = RandomGenerator(seed: 3)
    let block: NDArray<Double> = rng.normalArray(shape: [n, k])
    let batched = try fixed.apply(block)
    let columns = (0..<k).map { c in NDArray<Double>(shape: [n], scalars: (0..<n).map { block.scalars[$0 * k + c] }) }
    let results = ResultBox(count: k)
    DispatchQueue.concurrentPerform(iterations: k) { c in results.set(c, try? fixed.apply(columns[c])) }
    for c in 0..<k {
      let single = try #require(results.get(c))
      let fromBatch = NDArray<Double>(shape: [n], scalars: (0..<n).map { batched.scalars[$0 * k + c] })
      assertClose(fromBatch, single, rtol: 1e-12, atol: 1e-12, "column \(c)")
    }
  }
}

/// Results written by concurrent closures, one slot each.
final class ResultBox: @unchecked Sendable {
  private var slots: [NDArray<Double>?]
  private let lock = MutexLock()
  init(count: Int) { slots = Array(repeating: nil, count: count) }
  func set(_ i: Int, _ value: NDArray<Double>?) { lock.run { slots[i] = value } }
  func get(_ i: Int) -> NDArray<Double>? { lock.run { slots[i] } }
}

/// A minimal lock on top of Synchronization's Mutex.
final class MutexLock: Sendable {
  private let mutex = Mutex(())
  func run<R>(_ body: () -> R) -> R { mutex.withLock { _ in body() } }
}
