import Curvature
import CurvatureTestSupport
import Testing

/// scipy-style notation for operators: `G * v`, `G(v)`, `-G`, `G.T`, `G * H` and sums of
/// existential operators (issue 19).
@Suite struct OperatorNotationTests {
  func products<T: APITestScalar>(_: T.Type) throws {
    let a: NDArray<T> = RandomMatrices.gaussian(5, 3, seed: 1)
    let b: NDArray<T> = RandomMatrices.gaussian(3, 4, seed: 2)
    let g = DenseOperator(a), h = DenseOperator(b)
    let v: NDArray<T> = RandomMatrices.gaussian(3, 1, seed: 3).reshaped([3])
    let block: NDArray<T> = RandomMatrices.gaussian(3, 2, seed: 4)
    // `*` and calling are `apply`, for a vector and for a block of columns.
    #expect(try g * v == (try g.apply(v)))
    #expect(try g * block == (try g.apply(block)))
    #expect(try g(v) == (try g.apply(v)))
    #expect(try g(block) == (try g.apply(block)))
    #expect(try (g * v).shape == [5])
    #expect(try (g * block).shape == [5, 2])
    // The same through an existential, as a user holds mixed operators.
    let erased: any LinearOperator<T> = g
    let erasedProduct: NDArray<T> = try erased * v
    #expect(erasedProduct == (try g.apply(v)))
    #expect(try erased(block) == (try g.apply(block)))
    // −G, Gᵀ, G H.
    assertClose(try (-g).dense(), a * -1, rtol: 0)
    #expect(try g.T.dense() == a.transposed())
    #expect(try g.T.dense() == (try g.transposed().dense()))
    #expect(try erased.T * (try g * v) == (try g.applyTranspose(try g.apply(v))))
    let w: NDArray<T> = RandomMatrices.gaussian(4, 1, seed: 5).reshaped([4])
    assertClose(try (g * h) * w, try g(try h(w)), rtol: T.testRelativeTolerance)
    // A wrong length is a thrown shape error, as `apply`.
    #expect(throws: LinearOperatorError.self) { try g * w }
    #expect(throws: LinearOperatorError.self) { try g(w) }
  }

  @Test func applyingWithOperators() throws {
    try products(Float.self)
    try products(Double.self)
  }

  func sums<T: APITestScalar>(_: T.Type) throws {
    let a: NDArray<T> = RandomMatrices.spd(4, seed: 6)
    let d: NDArray<T> = RandomMatrices.gaussian(4, 1, seed: 7).reshaped([4])
    let parts: [any LinearOperator<T>] = [DenseOperator(a), DiagonalOperator(d), IdentityOperator(size: 4)]
    let total = try sum(parts)
    var expected = a
    for i in 0..<4 { expected[i, i] += d[i] + 1 }
    assertClose(try total.dense(), expected, rtol: T.testRelativeTolerance)
    #expect(total.isSymmetric)
    #expect(throws: LinearOperatorError.self) { try sum([any LinearOperator<T>]()) }
    #expect(throws: LinearOperatorError.self) { try sum(parts + [IdentityOperator<T>(size: 3)]) }
  }

  @Test func summingExistentialOperators() throws {
    try sums(Float.self)
    try sums(Double.self)
  }

  @Test func curvatureOperatorsTakeTheNotation() throws {
    let problem = try APICases.problem(Double.self)
    let ggn = GGNOperator(problem)
    let v: NDArray<Double> = RandomMatrices.gaussian(problem.dimension, 2, seed: 8)
    #expect(try ggn * v == (try ggn.apply(v)))
    let damped = try sum([ggn, ScaledOperator(IdentityOperator<Double>(size: problem.dimension), factor: 0.5)])
    assertClose(try damped * v, try ggn.apply(v) + v * 0.5, rtol: 1e-12)
    assertClose(try (-ggn) * v, try ggn.apply(v) * -1, rtol: 0)
  }
}
