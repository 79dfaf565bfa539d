import Curvature
import CurvatureTestSupport
import Testing

@Suite struct ConjugateGradientSmokeTests {
  @Test func solvesSPDSystemWithSeveralRightHandSides() throws {
    let a: NDArray<Double> = RandomMatrices.spd(30, conditionNumber: 50, seed: 1)
    var rng = RandomGenerator(seed: 2)
    let b: NDArray<Double> = rng.normalArray(shape: [30, 3])
    let result = try conjugateGradient(DenseOperator(a), b, options: .init(relativeTolerance: 1e-12))
    #expect(result.outcome == .converged)
    assertClose(result.solution, try a.solve(b), rtol: 1e-9, atol: 1e-10)
    let pre = try DiagonalOperator(a.diagonal()).inverse()
    let pcg = try conjugateGradient(DenseOperator(a), b.reshaped([90]).gathered(Array(0..<30).map { $0 * 3 }, shape: [30]), preconditioner: pre, options: .init(relativeTolerance: 1e-12))
    #expect(pcg.outcome == .converged)
  }

  @Test func reportsBreakdownOnIndefiniteOperator() throws {
    // On -I the first curvature is pᵀAp = -‖b‖² = -14.
    let negative = try conjugateGradient(DenseOperator(-1 * NDArray<Double>.identity(3)), NDArray([1, 2, 3]))
    #expect(negative.outcome == .breakdown(iteration: 1, column: 0, curvature: -14))
    #expect(throws: SolverError.self) { try negative.requireConverged() }
  }
}
