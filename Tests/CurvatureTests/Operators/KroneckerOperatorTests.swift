import Curvature
import CurvatureTestSupport
import Testing

/// Kronecker products of operators against `NDArray`'s `kronecker(_:_:)` of dense factors.
@Suite struct KroneckerOperatorTests {
  @Test func referenceKroneckerFollowsTheRowMajorBlockConvention() {
    // The reference itself: [[1, 2], [3, 4]] ⊗ [[0, 5], [6, 7]] is the block matrix [a_ij B].
    let a = NDArray<Double>(rows: [[1, 2], [3, 4]])
    let b = NDArray<Double>(rows: [[0, 5], [6, 7]])
    let expected = NDArray<Double>(rows: [
      [0, 5, 0, 10],
      [6, 7, 12, 14],
      [0, 15, 0, 20],
      [18, 21, 24, 28],
    ])
    #expect(kronecker(a, b) == expected)
  }

  func vecTrick<T: OperatorTestScalar>(_: T.Type) throws {
    // (A ⊗ B) vec(X) = vec(A X Bᵀ) with row-major vec, for rectangular A, B.
    let a: NDArray<T> = RandomMatrices.gaussian(2, 3, seed: 1)
    let b: NDArray<T> = RandomMatrices.gaussian(4, 5, seed: 2)
    let x: NDArray<T> = RandomMatrices.gaussian(3, 5, seed: 3)
    let op = kronecker(DenseOperator(a), DenseOperator(b))
    let expected = naiveProduct(naiveProduct(a, x), naiveTranspose(b)).flattened()
    expectClose(try op.apply(x.flattened()), expected, "[\(T.dtypeName)] (A ⊗ B) vec X = vec(A X Bᵀ)")
  }

  @Test func applyIsTheRowMajorVecTrick() throws {
    try vecTrick(Float.self)
    try vecTrick(Double.self)
  }

  func twoFactors<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = RandomMatrices.gaussian(3, 3, seed: 4)
    let b: NDArray<T> = RandomMatrices.gaussian(4, 4, seed: 5)
    try expectMatchesReference(kronecker(DenseOperator(a), DenseOperator(b)), kronecker(a, b), "A ⊗ B (3×3, 4×4)")

    let tall: NDArray<T> = RandomMatrices.gaussian(2, 3, seed: 6)
    let wide: NDArray<T> = RandomMatrices.gaussian(4, 2, seed: 7)
    try expectMatchesReference(KroneckerOperator(DenseOperator(tall), DenseOperator(wide)), kronecker(tall, wide), "A ⊗ B (2×3, 4×2)", columns: 5)
    try expectMatchesReference(KroneckerOperator(DenseOperator(wide), DenseOperator(tall)), kronecker(wide, tall), "B ⊗ A (4×2, 2×3)")

    // Structured factors: diagonal ⊗ identity ⊗ ... mixed with dense.
    let d = NDArray<T>([2, -1, 0.5])
    try expectMatchesReference(
      kronecker(DiagonalOperator(d), DenseOperator(wide)), kronecker(d.diagonalMatrix(), wide), "diag ⊗ B")
    try expectMatchesReference(
      kronecker(DenseOperator(tall), IdentityOperator<T>(size: 3)), kronecker(tall, .identity(3)), "A ⊗ I₃")
  }

  @Test func twoFactorsMatchDenseKronecker() throws {
    try twoFactors(Float.self)
    try twoFactors(Double.self)
  }

  func threeFactors<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = RandomMatrices.gaussian(2, 3, seed: 8)
    let b: NDArray<T> = RandomMatrices.gaussian(3, 2, seed: 9)
    let c: NDArray<T> = RandomMatrices.gaussian(2, 4, seed: 10)
    let reference = referenceKronecker([a, b, c])
    let op = KroneckerOperator([DenseOperator(a), DenseOperator(b), DenseOperator(c)])
    #expect(op.factors.count == 3)
    try expectMatchesReference(op, reference, "A ⊗ B ⊗ C (2×3, 3×2, 2×4)", columns: 4)

    // Built two at a time, the nested product is flattened to three factors.
    let nested = kronecker(kronecker(DenseOperator(a), DenseOperator(b)), DenseOperator(c))
    #expect(nested.factors.count == 3)
    try expectMatchesReference(nested, reference, "(A ⊗ B) ⊗ C")
    let rightNested = kronecker(DenseOperator(a), kronecker(DenseOperator(b), DenseOperator(c)))
    try expectMatchesReference(rightNested, reference, "A ⊗ (B ⊗ C)")

    // 1×1 factors scale and may sit anywhere; a scalar factor of −1.5 in the middle.
    let scalar = NDArray<T>(rows: [[-1.5]])
    let one = NDArray<T>(rows: [[2]])
    try expectMatchesReference(
      KroneckerOperator([DenseOperator(a), DenseOperator(scalar), DenseOperator(c)]),
      referenceKronecker([a, scalar, c]), "A ⊗ [−1.5] ⊗ C")
    try expectMatchesReference(
      KroneckerOperator([DenseOperator(one), DenseOperator(b), DenseOperator(scalar)]),
      referenceKronecker([one, b, scalar]), "[2] ⊗ B ⊗ [−1.5]")
    try expectMatchesReference(
      KroneckerOperator([DenseOperator(one), DenseOperator(scalar)]), referenceKronecker([one, scalar]), "[2] ⊗ [−1.5]")
    try expectMatchesReference(KroneckerOperator([DenseOperator(b)]), b, "single factor B")

    // Four factors with a column vector and a row vector.
    let column: NDArray<T> = RandomMatrices.gaussian(3, 1, seed: 11)
    let row: NDArray<T> = RandomMatrices.gaussian(1, 2, seed: 12)
    try expectMatchesReference(
      KroneckerOperator([DenseOperator(column), DenseOperator(b), DenseOperator(row), DiagonalOperator(NDArray<T>([1, -2]))]),
      referenceKronecker([column, b, row, NDArray<T>(rows: [[1, 0], [0, -2]])]), "col ⊗ B ⊗ row ⊗ diag")
  }

  @Test func threeAndMoreFactorsMatchDenseKronecker() throws {
    try threeFactors(Float.self)
    try threeFactors(Double.self)
  }

  func large<T: OperatorTestScalar>(_: T.Type) throws {
    // An 8000×8000 product (512 MB as dense Doubles) applied without forming it, checked
    // against A X (B ⊗ C)ᵀ with X = the input as [20, 400] and B ⊗ C formed (400×400).
    let a: NDArray<T> = RandomMatrices.gaussian(20, 20, seed: 23)
    let b: NDArray<T> = RandomMatrices.gaussian(20, 20, seed: 24)
    let c: NDArray<T> = RandomMatrices.gaussian(20, 20, seed: 25)
    let op = KroneckerOperator([DenseOperator(a), DenseOperator(b), DenseOperator(c)])
    var rng = RandomGenerator(seed: 26)
    let x: NDArray<T> = rng.normalArray(shape: [8000, 2])
    let y = try op.apply(x)
    let bc = kronecker(b, c)
    for column in 0..<2 {
      // The reference products use BLAS here: the loops would take seconds in debug builds.
      let slice = x.gathered((0..<8000).map { $0 * 2 + column }, shape: [20, 400])
      let expected = matmul(matmul(a, slice), bc, transposeB: true).flattened()
      let actual = y.gathered((0..<8000).map { $0 * 2 + column }, shape: [8000])
      expectClose(actual, expected, slack: 100, "[\(T.dtypeName)] column \(column) of (A ⊗ B ⊗ C) X, 8000×8000")
    }
  }

  @Test func largeProductAppliesWithoutFormingTheMatrix() throws {
    try large(Float.self)
    try large(Double.self)
  }

  func transpose<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = RandomMatrices.gaussian(2, 3, seed: 13)
    let s: NDArray<T> = RandomMatrices.spd(2, seed: 14)
    let c: NDArray<T> = RandomMatrices.gaussian(3, 4, seed: 15)
    let op = KroneckerOperator([DenseOperator(a), DenseOperator(s), DenseOperator(c)])
    let transposed: KroneckerOperator<T> = op.transposed()
    #expect(transposed.factors.count == 3)
    #expect(transposed.rowCount == 24 && transposed.columnCount == 12)
    try expectMatchesReference(transposed, naiveTranspose(referenceKronecker([a, s, c])), "(A ⊗ S ⊗ C)ᵀ")
    try expectMatchesReference(TransposedOperator(op), naiveTranspose(referenceKronecker([a, s, c])), "TransposedOperator(A ⊗ S ⊗ C)")
    #expect(!op.isSymmetric)
    let s2: NDArray<T> = RandomMatrices.spd(3, seed: 16)
    #expect(kronecker(DenseOperator(s), DenseOperator(s2)).isSymmetric)
  }

  @Test func transposeIsTheKroneckerProductOfTransposes() throws {
    try transpose(Float.self)
    try transpose(Double.self)
  }

  func structure<T: OperatorTestScalar>(_: T.Type) throws {
    // det A < 0 (3×3), det B < 0 (2×2): sign = (−1)² · (−1)³ = −1.
    let a: NDArray<T> = conditioned(3, negative: true, seed: 17)
    let b: NDArray<T> = conditioned(2, negative: true, seed: 18)
    let ab = kronecker(DenseOperator(a), DenseOperator(b))
    try expectStructureMatchesReference(ab, kronecker(a, b), "A ⊗ B", slack: 100)
    #expect(try ab.logDeterminant().sign == -1)
    #expect(try ab.inverse() is KroneckerOperator<T>)

    // B ⊗ B with det B < 0 (2×2): sign (−1)² · (−1)² = +1.
    let bb = kronecker(DenseOperator(b), DenseOperator(b))
    try expectStructureMatchesReference(bb, kronecker(b, b), "B ⊗ B", slack: 100)
    #expect(try bb.logDeterminant().sign == 1)

    // Three factors with a negative 1×1 factor: [−0.5] ⊗ A ⊗ D, n = 6; multiplicities
    // 6 (even), 2 (even), 3 (odd) and det D < 0, so the sign is −1.
    let d = NDArray<T>([1.5, -2])
    let three = KroneckerOperator([DenseOperator(NDArray<T>(rows: [[-0.5]])), DenseOperator(a), DiagonalOperator(d)])
    let threeReference = referenceKronecker([NDArray<T>(rows: [[-0.5]]), a, d.diagonalMatrix()])
    try expectStructureMatchesReference(three, threeReference, "[−0.5] ⊗ A ⊗ D", slack: 100)
    #expect(try three.logDeterminant().sign == -1)
    #expect(try three.inverse() is KroneckerOperator<T>)

    // A 1×1 negative factor with odd multiplicity: [−3] ⊗ A (n = 3) flips det A's sign to +.
    let flipped = KroneckerOperator([DenseOperator(NDArray<T>(rows: [[-3]])), DenseOperator(a)])
    try expectStructureMatchesReference(flipped, referenceKronecker([NDArray<T>(rows: [[-3]]), a]), "[−3] ⊗ A", slack: 100)
    #expect(try flipped.logDeterminant().sign == 1)
  }

  @Test func structuralQueriesComeFromTheFactors() throws {
    try structure(Float.self)
    try structure(Double.self)
  }

  func rectangularStructure<T: OperatorTestScalar>(_: T.Type) throws {
    // A square product of rectangular factors (2×3 ⊗ 3×2 = 6×6) has rank ≤ 4: singular.
    let a: NDArray<T> = RandomMatrices.gaussian(2, 3, seed: 19)
    let b: NDArray<T> = RandomMatrices.gaussian(3, 2, seed: 20)
    let op = kronecker(DenseOperator(a), DenseOperator(b))
    let reference = kronecker(a, b)
    let diagonal = NDArray<T>(shape: [6]) { reference[$0[0], $0[0]] }
    expectClose(try op.diagonal(), diagonal, "[\(T.dtypeName)] diagonal of 2×3 ⊗ 3×2")
    expectClose(try op.trace(), diagonal.scalars.reduce(0, +), "[\(T.dtypeName)] trace of 2×3 ⊗ 3×2")
    expectClose(try op.frobeniusNorm(), reference.norm(), "[\(T.dtypeName)] Frobenius norm of 2×3 ⊗ 3×2")
    let (sign, logMagnitude) = try op.logDeterminant()
    #expect(sign == 0 && logMagnitude == -.infinity)
    let error = caughtOperatorError("inverse of 2×3 ⊗ 3×2") { _ = try op.inverse() }
    guard case .singular? = error else {
      Issue.record("expected .singular, got \(String(describing: error))")
      return
    }

    // Non-square products: the diagonal has min(rows, columns) entries.
    let c: NDArray<T> = RandomMatrices.gaussian(3, 4, seed: 21)
    let wide = KroneckerOperator([DenseOperator(a), DenseOperator(c), DenseOperator(b)])
    let wideReference = referenceKronecker([a, c, b])
    expectClose(try wide.diagonal(), NDArray(shape: [18]) { wideReference[$0[0], $0[0]] }, "[\(T.dtypeName)] diagonal of 2×3 ⊗ 3×4 ⊗ 3×2")
    expectClose(try wide.frobeniusNorm(), wideReference.norm(), "[\(T.dtypeName)] Frobenius norm of 2×3 ⊗ 3×4 ⊗ 3×2")
  }

  @Test func rectangularFactorsGiveDiagonalTraceAndSingularity() throws {
    try rectangularStructure(Float.self)
    try rectangularStructure(Double.self)
  }

  func singularFactor<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = conditioned(2, seed: 22)
    let op = kronecker(DenseOperator(a), DiagonalOperator(NDArray<T>([1, 0, 2])))
    let error = caughtOperatorError("inverse with a singular diagonal factor") { _ = try op.inverse() }
    guard case .singular? = error else {
      Issue.record("expected .singular, got \(String(describing: error))")
      return
    }
    let (sign, logMagnitude) = try op.logDeterminant()
    #expect(sign == 0 && logMagnitude == -.infinity)
  }

  @Test func singularFactorMakesTheProductSingular() throws {
    try singularFactor(Float.self)
    try singularFactor(Double.self)
  }
}
