import Curvature
import CurvatureTestSupport
import Testing

/// Levinson-Durbin against dense LAPACK: solves, log-determinants, the Gohberg-Semencul
/// inverse, and the positive-definiteness check.
@Suite struct LevinsonDurbinTests {
  /// A symmetric positive definite Toeplitz column: the Kac-Murdock-Szegő matrix plus a
  /// random, diagonally dominated perturbation.
  static func spdColumn(_ n: Int, seed: UInt64) -> [Double] {
    let noise = ToeplitzTesting.randomValues(n, seed: seed)
    return (0..<n).map { (k: Int) -> Double in
      let decay: Double = Double.pow(0.6, Double(k))
      let perturbation: Double = 0.1 * noise[k] / Double(1 + k * k)
      return decay + perturbation + (k == 0 ? 0.5 : 0)
    }
  }

  @Test(arguments: [1, 2, 7, 16, 33]) func solveAndLogDeterminantMatchDense(n: Int) throws {
    try check(Double.self, n)
    try check(Float.self, n)
    func check<T: BLASScalar & TestTolerance>(_: T.Type, _ n: Int) throws {
      let column = LevinsonDurbinTests.spdColumn(n, seed: UInt64(n)).map { T($0) }
      let levinson = try LevinsonDurbin(column: column)
      let dense = ToeplitzTesting.denseToeplitz(column: column, row: column)
      var rng = RandomGenerator(seed: 4)
      let b: NDArray<T> = rng.normalArray(shape: [n])
      let block: NDArray<T> = rng.normalArray(shape: [n, 3])
      let rtol = T.testRelativeTolerance * 100
      assertClose(try levinson.solve(b), try dense.solve(b), rtol: rtol, atol: rtol, "Levinson x, n=\(n)")
      assertClose(try levinson.solve(block), try dense.solve(block), rtol: rtol, atol: rtol, "Levinson X, n=\(n)")
      let (sign, logMagnitude) = try dense.signAndLogDeterminant()
      #expect(sign == 1)
      assertClose(levinson.logDeterminant, logMagnitude, rtol: rtol, atol: rtol, "log det, n=\(n)")
      #expect(levinson.reflectionCoefficients.count == n - 1)
      #expect(levinson.reflectionCoefficients.allSatisfy { Swift.abs($0) < 1 })
      // The operator's log-determinant goes through Levinson, its inverse through Gohberg-Semencul.
      let t = try ToeplitzOperator(symmetric: column)
      assertClose(try t.logDeterminant().logMagnitude, logMagnitude, rtol: rtol, atol: rtol)
      let inverse = try t.inverse()
      #expect(inverse is ToeplitzInverseOperator<T>)
      assertClose(try inverse.apply(block), try dense.solve(block), rtol: rtol * 10, atol: rtol * 10, "Gohberg-Semencul, n=\(n)")
      assertClose(try inverse.logDeterminant().logMagnitude, -logMagnitude, rtol: rtol, atol: rtol)
    }
  }

  @Test func kacMurdockSzegoReflectionCoefficients() throws {
    // An AR(1) covariance: κ₁ = −ρ, all higher reflection coefficients vanish, and
    // det T = (1 − ρ²)^{n−1}.
    let rho = 0.8, n = 12
    let levinson = try LevinsonDurbin(column: (0..<n).map { Double.pow(rho, Double($0)) })
    assertClose(levinson.reflectionCoefficients[0], -rho, rtol: 1e-14)
    #expect(levinson.reflectionCoefficients.dropFirst().allSatisfy { Swift.abs($0) < 1e-14 })
    assertClose(levinson.logDeterminant, Double(n - 1) * Double.log(1 - rho * rho), rtol: 1e-13)
  }

  @Test func rejectsIndefiniteAndBadInput() throws {
    // [1, 2] has eigenvalues 3 and −1: κ₁ = −2.
    #expect(throws: ToeplitzError.self) { try LevinsonDurbin<Double>(column: [1, 2]) }
    #expect(throws: ToeplitzError.notPositiveDefinite("t₀ = -1.0 ≤ 0 (the diagonal of a positive definite matrix is positive)")) {
      try LevinsonDurbin<Double>(column: [-1, 0])
    }
    #expect(throws: ToeplitzError.self) { try LevinsonDurbin<Double>(column: []) }
    #expect(throws: ToeplitzError.self) { try LevinsonDurbin<Double>(column: [1, .infinity]) }
    let levinson = try LevinsonDurbin<Double>(column: [2, 1])
    #expect(throws: LinearOperatorError.self) { try levinson.solve(NDArray([1, 2, 3])) }
    #expect(throws: ToeplitzError.self) { try levinson.solve(NDArray([1, .nan])) }
    // An indefinite symmetric Toeplitz matrix still has a (dense) log-determinant.
    let indefinite = try ToeplitzOperator<Double>(symmetric: [1, 2])
    let (sign, logMagnitude) = try indefinite.logDeterminant()
    #expect(sign == -1)
    assertClose(logMagnitude, Double.log(3), rtol: 1e-14)
  }
}
