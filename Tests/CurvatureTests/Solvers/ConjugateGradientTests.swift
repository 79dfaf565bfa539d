import Curvature
import CurvatureTestSupport
import Testing

/// `diag(d) + B` with `d` spanning six orders of magnitude and `|B_ij| ≤ min(d_i, d_j)/(2n)`:
/// symmetric, strictly diagonally dominant (so SPD), condition number about 10⁶, while
/// Jacobi scaling leaves eigenvalues in [1/2, 3/2].
func illConditionedDiagonallyDominant(_ n: Int, seed: UInt64) -> NDArray<Double> {
  var rng = RandomGenerator(seed: seed)
  let d = (0..<n).map { Double.pow(10, 6 * Double($0) / Double(n - 1)) }
  var a = NDArray<Double>(zeros: [n, n])
  for i in 0..<n {
    a[i, i] = d[i]
    for j in 0..<i {
      let entry = (rng.uniform() * 2 - 1) * Swift.min(d[i], d[j]) / Double(2 * n)
      a[i, j] = entry
      a[j, i] = entry
    }
  }
  return a
}

@Suite struct ConjugateGradientTests {
  @Test func jacobiPreconditionerCutsIterationsWithSeveralRightHandSides() throws {
    let n = 120
    let a = illConditionedDiagonallyDominant(n, seed: 31)
    var rng = RandomGenerator(seed: 32)
    let b: NDArray<Double> = rng.normalArray(shape: [n, 3])
    let options = ConjugateGradientOptions(relativeTolerance: 1e-10, maxIterations: 5000)
    let plain = try conjugateGradient(DenseOperator(a), b, options: options)
    let jacobi = DiagonalOperator(a.diagonal().map(.reciprocal))
    var events = [ProgressEvent]()
    let pcg = try conjugateGradient(DenseOperator(a), b, preconditioner: jacobi, options: options, onProgress: { events.append($0) })
    #expect(plain.outcome == .converged)
    #expect(pcg.outcome == .converged)
    // Condition number 10⁶ against about 3: the preconditioner must cut iterations by far.
    #expect(pcg.iterations * 5 < plain.iterations, "PCG \(pcg.iterations) vs CG \(plain.iterations) iterations")
    let exact = try a.solve(b)
    assertClose(pcg.solution, exact, rtol: 1e-7, atol: 1e-12)
    assertClose(plain.solution, exact, rtol: 1e-5, atol: 1e-10)
    #expect(events.count == pcg.iterations)
    #expect(events.last?.task == "CG")
    #expect(events.last?.metric == pcg.relativeResidual)
    #expect(events.map(\.completed) == Array(1...pcg.iterations))
  }

  @Test func progressCallbacksAgree() throws {
    let a: NDArray<Double> = RandomMatrices.spd(20, conditionNumber: 10, seed: 33)
    var legacy = [Double]()
    var uniform = [Double]()
    _ = try conjugateGradient(
      DenseOperator(a), NDArray<Double>(repeating: 1, shape: [20]),
      progress: { _, residual in legacy.append(residual) }, onProgress: { uniform.append($0.metric ?? -1) })
    #expect(!legacy.isEmpty)
    #expect(legacy == uniform)
  }
}
