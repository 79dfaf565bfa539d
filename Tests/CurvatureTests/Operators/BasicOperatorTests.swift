import Curvature
import CurvatureTestSupport
import Testing

/// The elementary operators and their compositions against dense matrices built with loops.
@Suite struct BasicOperatorTests {
  func denseRectangular<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = RandomMatrices.gaussian(4, 3, seed: 1)
    try expectMatchesReference(DenseOperator(a), a, "dense 4×3")
    let s: NDArray<T> = RandomMatrices.spd(5, seed: 2)
    #expect(DenseOperator(s).isSymmetric)
    #expect(!DenseOperator(a).isSymmetric)
    #expect(!DenseOperator(naiveProduct(s, conditioned(5, negative: true, seed: 3))).isSymmetric)
  }

  @Test func denseOperatorMatchesItsMatrix() throws {
    try denseRectangular(Float.self)
    try denseRectangular(Double.self)
  }

  func emptySides<T: OperatorTestScalar>(_: T.Type) throws {
    // Operators with no columns (or no rows) map everything to zero (or to nothing).
    let noColumns = NDArray<T>(zeros: [2, 0]), noRows = NDArray<T>(zeros: [0, 3])
    try expectMatchesReference(DenseOperator(noColumns), noColumns, "dense 2×0")
    try expectMatchesReference(DenseOperator(noRows), noRows, "dense 0×3")
    let s: NDArray<T> = RandomMatrices.gaussian(3, 2, seed: 19)
    try expectMatchesReference(DenseOperator(noColumns) * DenseOperator(noRows), NDArray(zeros: [2, 3]), "(2×0)(0×3)")
    try expectMatchesReference(kronecker(DenseOperator(noColumns), DenseOperator(s)), NDArray(zeros: [6, 0]), "(2×0) ⊗ (3×2)")
    try expectMatchesReference(kronecker(DenseOperator(s), DenseOperator(noRows)), NDArray(zeros: [0, 6]), "(3×2) ⊗ (0×3)")
  }

  @Test func operatorsWithAnEmptySideGiveZerosOrNothing() throws {
    try emptySides(Float.self)
    try emptySides(Double.self)
  }

  func identityAndDiagonal<T: OperatorTestScalar>(_: T.Type) throws {
    let identity = IdentityOperator<T>(size: 5)
    try expectMatchesReference(identity, NDArray(shape: [5, 5]) { $0[0] == $0[1] ? 1 : 0 }, "identity")
    #expect(try identity.trace() == 5)
    let (identitySign, identityLog) = try identity.logDeterminant()
    #expect(identitySign == 1 && identityLog == 0)
    expectClose(try identity.frobeniusNorm(), T(5).squareRoot(), "identity Frobenius")

    let entries = NDArray<T>([2, -0.5, 3, -4, 1.5])
    let diagonal = DiagonalOperator(entries)
    let reference = NDArray<T>(shape: [5, 5]) { $0[0] == $0[1] ? entries[$0[0]] : 0 }
    try expectMatchesReference(diagonal, reference, "diagonal")
    try expectStructureMatchesReference(diagonal, reference, "diagonal")
    #expect(try diagonal.logDeterminant().sign == 1, "two negative entries give a positive determinant")
    #expect(try DiagonalOperator(NDArray<T>([2, -1, 3])).logDeterminant().sign == -1)
    #expect(try diagonal.inverse() is DiagonalOperator<T>)
  }

  @Test func identityAndDiagonalMatchTheirMatrices() throws {
    try identityAndDiagonal(Float.self)
    try identityAndDiagonal(Double.self)
  }

  func sums<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = RandomMatrices.gaussian(4, 4, seed: 4)
    let b: NDArray<T> = RandomMatrices.spd(4, seed: 5)
    let d = NDArray<T>([1, -2, 3, 0.5])
    let dMatrix = NDArray<T>(shape: [4, 4]) { $0[0] == $0[1] ? d[$0[0]] : 0 }
    let sum = SumOperator([DenseOperator(a), DenseOperator(b), DiagonalOperator(d)], coefficients: [2, -1, 0.5])
    let reference = NDArray<T>(shape: [4, 4]) { 2 * a[$0[0], $0[1]] - b[$0[0], $0[1]] + 0.5 * dMatrix[$0[0], $0[1]] }
    try expectMatchesReference(sum, reference, "2A − B + D/2")
    expectClose(try sum.diagonal(), NDArray(shape: [4]) { reference[$0[0], $0[0]] }, "sum diagonal")
    expectClose(try sum.trace(), (0..<4).reduce(0) { $0 + reference[$1, $1] }, "sum trace")

    let damped = DenseOperator(b).damped(by: 0.25)
    let dampedReference = NDArray<T>(shape: [4, 4]) { b[$0[0], $0[1]] + ($0[0] == $0[1] ? 0.25 : 0) }
    try expectMatchesReference(damped, dampedReference, "B + δI")
    try expectStructureMatchesReference(damped, dampedReference, "B + δI")
    #expect(damped.isSymmetric)

    let rectangularA: NDArray<T> = RandomMatrices.gaussian(3, 5, seed: 6)
    let rectangularB: NDArray<T> = RandomMatrices.gaussian(3, 5, seed: 7)
    try expectMatchesReference(
      DenseOperator(rectangularA) - DenseOperator(rectangularB),
      NDArray(shape: [3, 5]) { rectangularA[$0[0], $0[1]] - rectangularB[$0[0], $0[1]] }, "A − B (3×5)")
    try expectMatchesReference(
      DenseOperator(rectangularA) + DenseOperator(rectangularB),
      NDArray(shape: [3, 5]) { rectangularA[$0[0], $0[1]] + rectangularB[$0[0], $0[1]] }, "A + B (3×5)")
  }

  @Test func sumsAndDampingMatchTheirMatrices() throws {
    try sums(Float.self)
    try sums(Double.self)
  }

  func scaled<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = conditioned(3, negative: true, seed: 8)
    let rectangular: NDArray<T> = RandomMatrices.gaussian(2, 5, seed: 9)
    try expectMatchesReference(-1.5 * DenseOperator(rectangular), NDArray(shape: [2, 5]) { -1.5 * rectangular[$0[0], $0[1]] }, "−1.5 R")
    try expectMatchesReference(DenseOperator(rectangular) * 3, NDArray(shape: [2, 5]) { 3 * rectangular[$0[0], $0[1]] }, "R · 3")
    // det(−2A) = (−2)³ det A: the sign flips twice (odd order, negative det) to +.
    let op = -2 * DenseOperator(a)
    let reference = NDArray<T>(shape: [3, 3]) { -2 * a[$0[0], $0[1]] }
    try expectMatchesReference(op, reference, "−2A")
    try expectStructureMatchesReference(op, reference, "−2A")
    #expect(try op.logDeterminant().sign == 1)
    #expect(try (2 * DenseOperator(a)).logDeterminant().sign == -1)
    #expect(try op.inverse() is ScaledOperator<T>)
  }

  @Test func scaledOperatorsMatchTheirMatrices() throws {
    try scaled(Float.self)
    try scaled(Double.self)
  }

  func products<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = RandomMatrices.gaussian(4, 3, seed: 10)
    let b: NDArray<T> = RandomMatrices.gaussian(3, 5, seed: 11)
    let c: NDArray<T> = RandomMatrices.gaussian(5, 2, seed: 12)
    let reference = naiveProduct(naiveProduct(a, b), c)
    try expectMatchesReference(ProductOperator([DenseOperator(a), DenseOperator(b), DenseOperator(c)]), reference, "A B C (4×3·3×5·5×2)")
    try expectMatchesReference(DenseOperator(a) * DenseOperator(b), naiveProduct(a, b), "A * B")

    // Square factors: logdet and inverse from the factors (signs −, + and − multiply to +).
    let p: NDArray<T> = conditioned(3, negative: true, seed: 13)
    let q: NDArray<T> = conditioned(3, seed: 14)
    let d = NDArray<T>([1.5, -2, 0.5])
    let square = ProductOperator([DenseOperator(p), DenseOperator(q), DiagonalOperator(d)])
    let squareReference = naiveProduct(naiveProduct(p, q), d.diagonalMatrix())
    try expectMatchesReference(square, squareReference, "P Q D")
    try expectStructureMatchesReference(square, squareReference, "P Q D", slack: 100)
    #expect(try square.logDeterminant().sign == 1)
    #expect(try square.inverse() is ProductOperator<T>)

    // A square product of rectangular factors (5×3 · 3×5... here 3×5 · 5×3) is generally invertible.
    let wide = ProductOperator([DenseOperator(b), DenseOperator(naiveTranspose(b))])
    let wideReference = naiveProduct(b, naiveTranspose(b))
    try expectStructureMatchesReference(wide, wideReference, "B Bᵀ", slack: 100)
  }

  @Test func productsOfRectangularFactorsMatchTheirMatrices() throws {
    try products(Float.self)
    try products(Double.self)
  }

  func rankDeficientProduct<T: OperatorTestScalar>(_: T.Type) throws {
    // A (4×2)(2×4) product has rank ≤ 2 < 4: it is singular whatever the entries.
    let tall: NDArray<T> = RandomMatrices.gaussian(4, 2, seed: 15)
    let op = ProductOperator([DenseOperator(tall), DenseOperator(naiveTranspose(tall))])
    let (sign, logMagnitude) = try op.logDeterminant()
    #expect(sign == 0 && logMagnitude == -.infinity, "[\(T.dtypeName)] rank-2 4×4 product: (\(sign), \(logMagnitude))")
    let error = caughtOperatorError("[\(T.dtypeName)] inverse of a rank-2 4×4 product") { _ = try op.inverse() }
    guard case .singular? = error else {
      Issue.record("[\(T.dtypeName)] expected .singular, got \(String(describing: error))")
      return
    }
  }

  @Test func rankDeficientProductOfRectangularFactorsIsSingular() throws {
    try rankDeficientProduct(Float.self)
    try rankDeficientProduct(Double.self)
  }

  func transposes<T: OperatorTestScalar>(_: T.Type) throws {
    let a: NDArray<T> = RandomMatrices.gaussian(4, 3, seed: 16)
    let b: NDArray<T> = RandomMatrices.gaussian(3, 5, seed: 17)
    try expectMatchesReference(DenseOperator(a).transposed(), naiveTranspose(a), "Aᵀ (3×4)")
    try expectMatchesReference((DenseOperator(a) * DenseOperator(b)).transposed(), naiveTranspose(naiveProduct(a, b)), "(A B)ᵀ")
    let p: NDArray<T> = conditioned(4, negative: true, seed: 18)
    let pt = naiveTranspose(naiveProduct(p, p.diagonal().diagonalMatrix()))
    let op = TransposedOperator(DenseOperator(p) * DiagonalOperator(p.diagonal()))
    try expectMatchesReference(op, pt, "(P D)ᵀ")
    try expectStructureMatchesReference(op, pt, "(P D)ᵀ", slack: 100)
  }

  @Test func transposesMatchTheirMatrices() throws {
    try transposes(Float.self)
    try transposes(Double.self)
  }
}
