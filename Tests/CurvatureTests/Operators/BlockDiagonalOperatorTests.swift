import Curvature
import CurvatureTestSupport
import Testing

/// Block-diagonal operators against matrices assembled entry by entry.
@Suite struct BlockDiagonalOperatorTests {
  func squareBlocks<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = conditioned(3, negative: true, seed: 1)
    let d = NDArray<T>([2, -0.5])
    let s: NDArray<T> = conditioned(4, seed: 2)
    let op = BlockDiagonalOperator([DenseOperator(a), DiagonalOperator(d), IdentityOperator<T>(size: 2), DenseOperator(s)])
    let reference = naiveBlockDiagonal([a, d.diagonalMatrix(), .identity(2), s])
    #expect(op.rowOffsets == [0, 3, 5, 7, 11] && op.columnOffsets == [0, 3, 5, 7, 11])
    try expectMatchesReference(op, reference, "diag(A, D, I, S)", columns: 4)
    // det A < 0 and det D < 0: the signs multiply to +1.
    try expectStructureMatchesReference(op, reference, "diag(A, D, I, S)", slack: 100)
    #expect(try op.logDeterminant().sign == 1)
    #expect(try BlockDiagonalOperator(DenseOperator(a), DenseOperator(s)).logDeterminant().sign == -1)
    #expect(try op.inverse() is BlockDiagonalOperator<T>)
    #expect(!op.isSymmetric)
    #expect(blockDiagonal(DenseOperator(s), DiagonalOperator(d)).isSymmetric)
  }

  @Test func squareBlocksMatchTheAssembledMatrix() throws {
    try squareBlocks(Float.self)
    try squareBlocks(Double.self)
  }

  func rectangularBlocks<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = RandomMatrices.gaussian(2, 3, seed: 3)
    let b: NDArray<T> = RandomMatrices.gaussian(4, 1, seed: 4)
    let c: NDArray<T> = RandomMatrices.gaussian(1, 2, seed: 5)
    let op = blockDiagonal([DenseOperator(a), DenseOperator(b), DenseOperator(c)])
    let reference = naiveBlockDiagonal([a, b, c])
    try expectMatchesReference(op, reference, "diag(2×3, 4×1, 1×2)", columns: 3)
    expectClose(try op.diagonal(), NDArray(shape: [6]) { reference[$0[0], $0[0]] }, "[\(T.dtypeName)] diagonal of diag(2×3, 4×1, 1×2)")
    expectClose(try op.frobeniusNorm(), reference.norm(), "[\(T.dtypeName)] Frobenius norm of diag(2×3, 4×1, 1×2)")

    // Blocks with an empty side: a 2×0 block adds zero rows, a 0×3 block zero columns.
    let empty = blockDiagonal([DenseOperator(a), DenseOperator(NDArray<T>(zeros: [2, 0])), DenseOperator(NDArray<T>(zeros: [0, 3])), DenseOperator(c)])
    try expectMatchesReference(empty, naiveBlockDiagonal([a, NDArray(zeros: [2, 0]), NDArray(zeros: [0, 3]), c]), "diag(2×3, 2×0, 0×3, 1×2)")

    let transposed: BlockDiagonalOperator<T> = op.transposed()
    #expect(transposed.blocks.count == 3)
    try expectMatchesReference(transposed, naiveTranspose(reference), "diag(2×3, 4×1, 1×2)ᵀ")
  }

  @Test func rectangularBlocksMatchTheAssembledMatrix() throws {
    try rectangularBlocks(Float.self)
    try rectangularBlocks(Double.self)
  }

  func squareWithRectangularBlocks<T: OperatorTestScalar>(_: T.Type) throws {
    // 2×3 and 3×2 blocks make a 5×5 operator whose second block straddles the diagonal;
    // its rank is at most 4, so it is singular.
    let a: NDArray<T> = RandomMatrices.gaussian(2, 3, seed: 6)
    let b: NDArray<T> = RandomMatrices.gaussian(3, 2, seed: 7)
    let op = BlockDiagonalOperator(DenseOperator(a), DenseOperator(b))
    let reference = naiveBlockDiagonal([a, b])
    let diagonal = NDArray<T>(shape: [5]) { reference[$0[0], $0[0]] }
    #expect(diagonal[2] == 0 && diagonal[3] != 0 && diagonal[4] != 0, "the diagonal misses (2, 2) and crosses block 2")
    expectClose(try op.diagonal(), diagonal, "[\(T.dtypeName)] diagonal")
    expectClose(try op.trace(), diagonal.scalars.reduce(0, +), "[\(T.dtypeName)] trace")
    let (sign, logMagnitude) = try op.logDeterminant()
    #expect(sign == 0 && logMagnitude == -.infinity)
    let error = caughtOperatorError("inverse of diag(2×3, 3×2)") { _ = try op.inverse() }
    guard case .singular? = error else {
      Issue.record("expected .singular, got \(String(describing: error))")
      return
    }
  }

  @Test func squareOperatorWithRectangularBlocks() throws {
    try squareWithRectangularBlocks(Float.self)
    try squareWithRectangularBlocks(Double.self)
  }

  func compositions<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = conditioned(2, seed: 8)
    let b: NDArray<T> = RandomMatrices.gaussian(3, 2, seed: 9)
    let k: NDArray<T> = conditioned(2, negative: true, seed: 10)
    // Nested block-diagonal operators are flattened; blocks may be any operator.
    let inner = blockDiagonal(DenseOperator(a), DenseOperator(b))
    let op = BlockDiagonalOperator([inner, kronecker(DenseOperator(k), DenseOperator(a)), 2 * DenseOperator(a)])
    #expect(op.blocks.count == 4)
    let reference = naiveBlockDiagonal([a, b, kronecker(k, a), NDArray(shape: [2, 2]) { 2 * a[$0[0], $0[1]] }])
    try expectMatchesReference(op, reference, "diag(A, B, K ⊗ A, 2A)")

    let repeated = DenseOperator(k).blockDiagonal(repeating: 3)
    let repeatedReference = naiveBlockDiagonal([k, k, k])
    try expectMatchesReference(repeated, repeatedReference, "diag(K, K, K)")
    try expectStructureMatchesReference(repeated, repeatedReference, "diag(K, K, K)", slack: 100)
    #expect(try repeated.logDeterminant().sign == -1)
  }

  @Test func nestedAndRepeatedBlocks() throws {
    try compositions(Float.self)
    try compositions(Double.self)
  }

  func singularBlock<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = conditioned(2, seed: 11)
    let op = BlockDiagonalOperator(DenseOperator(a), DiagonalOperator(NDArray<T>([3, 0])))
    let error = caughtOperatorError("inverse with a singular diagonal block") { _ = try op.inverse() }
    guard case .singular? = error else {
      Issue.record("expected .singular, got \(String(describing: error))")
      return
    }
    let (sign, logMagnitude) = try op.logDeterminant()
    #expect(sign == 0 && logMagnitude == -.infinity)
  }

  @Test func singularBlockMakesTheOperatorSingular() throws {
    try singularBlock(Float.self)
    try singularBlock(Double.self)
  }
}
