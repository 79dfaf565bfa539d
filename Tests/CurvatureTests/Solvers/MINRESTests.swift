import Curvature
import CurvatureTestSupport
import Testing

/// A symmetric indefinite matrix with eigenvalues ±[1, 10] (half of each sign).
func indefiniteMatrix(_ n: Int, seed: UInt64) -> NDArray<Double> {
  let values = (0..<n).map { i -> Double in
    let magnitude = Double.pow(10, Double(i / 2) / Double(Swift.max(1, n / 2 - 1)))
    return i % 2 == 0 ? magnitude : -magnitude
  }
  return RandomMatrices.symmetric(eigenvalues: values, seed: seed)
}

@Suite struct MINRESTests {
  @Test func solvesIndefiniteSystemWithOneRightHandSide() throws {
    let a = indefiniteMatrix(80, seed: 11)
    var rng = RandomGenerator(seed: 12)
    let b: NDArray<Double> = rng.normalArray(shape: [80])
    let result = try minres(DenseOperator(a), b, options: .init(relativeTolerance: 1e-12))
    #expect(result.outcome == .converged)
    #expect(result.solution.shape == [80])
    assertClose(result.solution, try a.solve(b), rtol: 1e-9, atol: 1e-10)
    // The history starts at the initial guess (relative residual 1) and ends below tolerance.
    #expect(result.residualHistory.first == 1)
    #expect(result.relativeResidual <= 1e-12)
    #expect(result.residualHistory.count == result.iterations + 1)
    // The recurrence-updated residual matches the true one.
    let trueResidual = (b - (try DenseOperator(a).apply(result.solution))).norm() / b.norm()
    #expect(trueResidual < 1e-11)
  }

  @Test func solvesSeveralRightHandSidesAtOnce() throws {
    let a = indefiniteMatrix(60, seed: 13)
    var rng = RandomGenerator(seed: 14)
    let b: NDArray<Double> = rng.normalArray(shape: [60, 4])
    var calls = 0
    let result = try minres(DenseOperator(a), b, options: .init(relativeTolerance: 1e-11)) { event in
      calls += 1
      #expect(event.task == "MINRES")
      #expect(event.completed == calls)
    }
    #expect(result.outcome == .converged)
    #expect(calls == result.iterations)
    assertClose(result.solution, try a.solve(b), rtol: 1e-8, atol: 1e-9)
    // Each column agrees with its own single-column solve.
    let single = try minres(DenseOperator(a), b.transposed().selectingRow(2), options: .init(relativeTolerance: 1e-11))
    assertClose(result.solution.transposed().selectingRow(2), single.solution, rtol: 1e-8, atol: 1e-9)
  }

  @Test func preconditionedAndShiftedAndWarmStarted() throws {
    // Badly scaled indefinite matrix: D S D with D spanning three orders of magnitude.
    let n = 60
    let s = indefiniteMatrix(n, seed: 15)
    let d = NDArray<Double>((0..<n).map { Double.pow(10, 1.5 * Double($0) / Double(n - 1)) })
    let scaled = NDArray.binary(.multiply, NDArray.binary(.multiply, s, d.reshaped([n, 1])), d.reshaped([1, n]))
    let a = 0.5 * (scaled + scaled.transposed())
    var rng = RandomGenerator(seed: 16)
    let b: NDArray<Double> = rng.normalArray(shape: [n, 2])
    let plain = try minres(DenseOperator(a), b, options: .init(relativeTolerance: 1e-10, maxIterations: 2000))
    let jacobi = DiagonalOperator(d.map(.square).map(.reciprocal))
    let pre = try minres(DenseOperator(a), b, preconditioner: jacobi, options: .init(relativeTolerance: 1e-10, maxIterations: 2000))
    #expect(plain.outcome == .converged)
    #expect(pre.outcome == .converged)
    #expect(pre.iterations < plain.iterations)
    assertClose(pre.solution, try a.solve(b), rtol: 1e-7, atol: 1e-8)

    // (A − σI) x = b with σ inside the spectrum.
    let shifted = try minres(DenseOperator(s), b, options: .init(relativeTolerance: 1e-11, shift: 0.5))
    #expect(shifted.outcome == .converged)
    assertClose(shifted.solution, try (s - 0.5 * NDArray<Double>.identity(n)).solve(b), rtol: 1e-8, atol: 1e-9)

    // Starting at the solution converges at once.
    let exact = try s.solve(b)
    let warm = try minres(DenseOperator(s), b, initialGuess: exact, options: .init(relativeTolerance: 1e-8))
    #expect(warm.iterations == 0)
    #expect(warm.outcome == .converged)
  }

  @Test func reportsNonConvergenceAndInconsistency() throws {
    let a = indefiniteMatrix(50, seed: 17)
    var rng = RandomGenerator(seed: 18)
    let b: NDArray<Double> = rng.normalArray(shape: [50])
    let short = try minres(DenseOperator(a), b, options: .init(relativeTolerance: 1e-12, maxIterations: 5))
    #expect(short.outcome == .maxIterationsReached)
    #expect(short.iterations == 5)
    #expect(throws: SolverError.notConverged(iterations: 5, relativeResidual: short.relativeResidual)) {
      try short.requireConverged()
    }

    // Singular A (two zero eigenvalues), b with a null-space component: least squares.
    var values = [Double]()
    for i in 0..<40 { values.append(i % 2 == 0 ? Double(1 + i) : Double(-1 - i)) }
    values[3] = 0
    values[7] = 0
    let singular: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: values, seed: 19)
    let c: NDArray<Double> = rng.normalArray(shape: [40])
    let ls = try minres(DenseOperator(singular), c, options: .init(relativeTolerance: 1e-10, maxIterations: 500))
    guard case .inconsistent(_, let column) = ls.outcome else {
      Issue.record("expected .inconsistent, got \(ls.outcome)")
      return
    }
    #expect(column == 0)
    #expect(throws: SolverError.self) { try ls.requireConverged() }
    // The least-squares residual is the null-space part of c: Aᵀ r ≈ 0, and x stays bounded.
    let r = c - (try DenseOperator(singular).apply(ls.solution))
    #expect(matvec(singular, r).norm() < 1e-6 * singular.norm() * r.norm())
    #expect(ls.solution.norm() < 10 * c.norm())
    #expect(abs(r.norm() / c.norm() - ls.relativeResidual) < 1e-8)
    // A consistent right-hand side (in the range) converges.
    let inRange = matvec(singular, c)
    let consistent = try minres(DenseOperator(singular), inRange, options: .init(relativeTolerance: 1e-10, maxIterations: 500))
    #expect(consistent.outcome == .converged)
  }

  @Test func floatSystem() throws {
    let a = indefiniteMatrix(40, seed: 22).converted(to: Float.self)
    var rng = RandomGenerator(seed: 23)
    let b: NDArray<Float> = rng.normalArray(shape: [40, 2])
    let result = try minres(DenseOperator(a), b, options: .init(relativeTolerance: 1e-5))
    #expect(result.outcome == .converged)
    let exact = try a.converted(to: Double.self).solve(b.converted(to: Double.self))
    assertClose(result.solution.converted(to: Double.self), exact, rtol: 1e-3, atol: 1e-4)
  }

  @Test func rejectsBadInput() throws {
    let a = indefiniteMatrix(10, seed: 20)
    #expect(throws: LinearOperatorError.self) { try minres(DenseOperator(a), NDArray<Double>(zeros: [9])) }
    #expect(throws: LinearOperatorError.self) {
      try minres(DenseOperator(NDArray<Double>(zeros: [3, 4])), NDArray<Double>(zeros: [4]))
    }
    var rng = RandomGenerator(seed: 21)
    let nonSymmetric = DenseOperator<Double>(rng.normalArray(shape: [10, 10]))
    #expect(throws: SolverError.self) { try minres(nonSymmetric, NDArray<Double>(zeros: [10])) }
    // An indefinite "preconditioner" breaks the M-inner product.
    let result = try minres(DenseOperator(a), NDArray<Double>(repeating: 1, shape: [10]), preconditioner: DenseOperator(a))
    guard case .breakdown = result.outcome else {
      Issue.record("expected .breakdown, got \(result.outcome)")
      return
    }
    // b = 0 converges immediately to x = 0.
    let zero = try minres(DenseOperator(a), NDArray<Double>(zeros: [10]))
    #expect(zero.outcome == .converged && zero.iterations == 0)
  }
}

extension NDArray {
  /// Row `i` of a matrix, as a vector.
  func selectingRow(_ i: Int) -> NDArray {
    NDArray(Array(scalars[(i * shape[1])..<((i + 1) * shape[1])]))
  }
}
