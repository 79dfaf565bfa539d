import Curvature
import CurvatureTestSupport
import Testing

// Reference computations for operator tests, written with plain loops so that they share
// no code with the operators (or with BLAS) beyond `NDArray` storage.

/// The scalar types operator tests run in.
typealias OperatorTestScalar = BLASScalar & TestTolerance

/// `a b` by the textbook triple loop, accumulated in Double.
func naiveProduct<T: BLASScalar>(_ a: NDArray<T>, _ b: NDArray<T>) -> NDArray<T> {
  precondition(a.rank == 2 && b.rank == 2 && a.shape[1] == b.shape[0], "naiveProduct: \(a.shape) × \(b.shape)")
  let (m, n, k) = (a.shape[0], a.shape[1], b.shape[1])
  return NDArray(shape: [m, k]) { index in
    var total = 0.0
    for j in 0..<n { total += Double(a[index[0], j]) * Double(b[j, index[1]]) }
    return T(total)
  }
}

/// The transpose by loops.
func naiveTranspose<T: BLASScalar>(_ a: NDArray<T>) -> NDArray<T> {
  NDArray(shape: [a.shape[1], a.shape[0]]) { a[$0[1], $0[0]] }
}

/// The block-diagonal matrix of `blocks`, assembled entry by entry.
func naiveBlockDiagonal<T: BLASScalar>(_ blocks: [NDArray<T>]) -> NDArray<T> {
  let rows = blocks.reduce(0) { $0 + $1.shape[0] }, columns = blocks.reduce(0) { $0 + $1.shape[1] }
  var result = NDArray<T>(zeros: [rows, columns])
  var (r0, c0) = (0, 0)
  for block in blocks {
    for i in 0..<block.shape[0] {
      for j in 0..<block.shape[1] { result[r0 + i, c0 + j] = block[i, j] }
    }
    r0 += block.shape[0]
    c0 += block.shape[1]
  }
  return result
}

/// `a[rows, columns]` entry by entry.
func naiveSubmatrix<T: BLASScalar>(_ a: NDArray<T>, rows: [Int], columns: [Int]) -> NDArray<T> {
  NDArray(shape: [rows.count, columns.count]) { a[rows[$0[0]], columns[$0[1]]] }
}

/// `a₁ ⊗ a₂ ⊗ ⋯` with `NDArray`'s `kronecker(_:_:)`.
func referenceKronecker<T: BLASScalar>(_ factors: [NDArray<T>]) -> NDArray<T> {
  factors.dropFirst().reduce(factors[0]) { kronecker($0, $1) }
}

/// The largest absolute entry (at least 1), the scale of absolute tolerances.
func magnitude<T: BLASScalar>(_ a: NDArray<T>) -> T {
  a.scalars.reduce(1) { Swift.max($0, Swift.abs($1)) }
}

/// Compares arrays with the type's relative tolerance and an absolute tolerance scaled by
/// the expected array's largest entry (entries that cancel to near zero carry the
/// rounding error of the large terms).
func expectClose<T: OperatorTestScalar>(
  _ actual: NDArray<T>, _ expected: NDArray<T>, slack: T = 10, _ comment: @autoclosure () -> String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  assertClose(
    actual, expected, rtol: slack * T.testRelativeTolerance,
    atol: slack * T.testAbsoluteTolerance * magnitude(expected), comment(), sourceLocation: sourceLocation)
}

/// Compares scalars like `expectClose` on arrays, scaled by `max(1, |expected|)`.
func expectClose<T: OperatorTestScalar>(
  _ actual: T, _ expected: T, slack: T = 10, _ comment: @autoclosure () -> String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  expectClose(NDArray(scalar: actual), NDArray(scalar: expected), slack: slack, comment(), sourceLocation: sourceLocation)
}

/// Checks every product of `op` against the dense `reference`: `apply` on a vector and on a
/// block `[n, k]`, `applyTranspose` on both, and `dense()`, with products by loops.
func expectMatchesReference<T: OperatorTestScalar>(
  _ op: any LinearOperator<T>, _ reference: NDArray<T>, _ label: String, columns k: Int = 3,
  seed: UInt64 = 17, sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let (m, n) = (reference.shape[0], reference.shape[1])
  let context = "\(label) [\(T.dtypeName)]"
  #expect(
    op.rowCount == m && op.columnCount == n,
    "\(context): operator is \(op.rowCount)×\(op.columnCount), reference \(m)×\(n)", sourceLocation: sourceLocation)
  guard op.rowCount == m && op.columnCount == n else { return }
  var rng = RandomGenerator(seed: seed)
  let v: NDArray<T> = rng.normalArray(shape: [n])
  let x: NDArray<T> = rng.normalArray(shape: [n, k])
  let w: NDArray<T> = rng.normalArray(shape: [m])
  let z: NDArray<T> = rng.normalArray(shape: [m, k])
  let transpose = naiveTranspose(reference)

  let av = try op.apply(v)
  #expect(av.shape == [m], "\(context): apply(vector) shape \(av.shape)", sourceLocation: sourceLocation)
  expectClose(av.reshaped([-1, 1]), naiveProduct(reference, v.reshaped([n, 1])), "\(context): A v", sourceLocation: sourceLocation)
  expectClose(try op.apply(x), naiveProduct(reference, x), "\(context): A X", sourceLocation: sourceLocation)
  let atw = try op.applyTranspose(w)
  #expect(atw.shape == [n], "\(context): applyTranspose(vector) shape \(atw.shape)", sourceLocation: sourceLocation)
  expectClose(atw.reshaped([-1, 1]), naiveProduct(transpose, w.reshaped([m, 1])), "\(context): Aᵀ w", sourceLocation: sourceLocation)
  expectClose(try op.applyTranspose(z), naiveProduct(transpose, z), "\(context): Aᵀ Z", sourceLocation: sourceLocation)
  expectClose(try op.dense(), reference, "\(context): dense()", sourceLocation: sourceLocation)
}

/// Checks `trace`, `diagonal`, `frobeniusNorm`, `logDeterminant` and `inverse` of a square
/// invertible operator against the reference matrix (LU and inversion in Double).
func expectStructureMatchesReference<T: OperatorTestScalar>(
  _ op: any LinearOperator<T>, _ reference: NDArray<T>, _ label: String, slack: T = 10,
  sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let context = "\(label) [\(T.dtypeName)]"
  let exact = reference.converted(to: Double.self)
  let n = reference.shape[0]
  expectClose(try op.diagonal(), NDArray(shape: [n]) { reference[$0[0], $0[0]] }, slack: slack, "\(context): diagonal", sourceLocation: sourceLocation)
  expectClose(try op.trace(), T((0..<n).reduce(0.0) { $0 + exact[$1, $1] }), slack: slack, "\(context): trace", sourceLocation: sourceLocation)
  expectClose(try op.frobeniusNorm(), T(exact.scalars.reduce(0.0) { $0 + $1 * $1 }.squareRoot()), slack: slack, "\(context): Frobenius norm", sourceLocation: sourceLocation)
  let (sign, logMagnitude) = try op.logDeterminant()
  let (expectedSign, expectedLog) = try exact.signAndLogDeterminant()
  #expect(sign == T(expectedSign), "\(context): determinant sign \(sign), expected \(expectedSign)", sourceLocation: sourceLocation)
  expectClose(logMagnitude, T(expectedLog), slack: slack, "\(context): log|det|", sourceLocation: sourceLocation)
  let inverse = try op.inverse()
  #expect(inverse.rowCount == n && inverse.columnCount == n, "\(context): inverse shape", sourceLocation: sourceLocation)
  expectClose(try inverse.dense(), try exact.inverse().converted(to: T.self), slack: slack, "\(context): inverse", sourceLocation: sourceLocation)
}

/// Runs `body` and returns the `LinearOperatorError` it throws, recording an issue when it
/// returns normally or throws something else.
func caughtOperatorError(
  _ comment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) -> LinearOperatorError? {
  do {
    try body()
    Issue.record("\(comment): expected a LinearOperatorError, nothing was thrown", sourceLocation: sourceLocation)
  } catch let error as LinearOperatorError {
    return error
  } catch {
    Issue.record("\(comment): expected a LinearOperatorError, got \(error)", sourceLocation: sourceLocation)
  }
  return nil
}

/// A well-conditioned square matrix (eigenvalues 1…`condition` of an SPD matrix) with its
/// first row negated when `negative`, so that the sign of its determinant is known.
func conditioned<T: BLASScalar>(_ n: Int, negative: Bool = false, condition: Double = 10, seed: UInt64, _: T.Type = T.self) -> NDArray<T> {
  var a: NDArray<T> = RandomMatrices.spd(n, conditionNumber: condition, seed: seed)
  if negative { for j in 0..<n { a[0, j] = -a[0, j] } }
  return a
}
