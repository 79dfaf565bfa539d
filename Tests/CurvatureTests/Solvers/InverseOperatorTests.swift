import Curvature
import CurvatureTestSupport
import Testing

@Suite struct InverseOperatorTests {
  @Test func cgInverseMatchesDenseSolve() throws {
    let a: NDArray<Double> = RandomMatrices.spd(40, conditionNumber: 100, seed: 41)
    let inverse = CGInverseOperator(DenseOperator(a), options: .init(relativeTolerance: 1e-12))
    var rng = RandomGenerator(seed: 42)
    let b: NDArray<Double> = rng.normalArray(shape: [40, 3])
    assertClose(try inverse.apply(b), try a.solve(b), rtol: 1e-9, atol: 1e-11)
    let v: NDArray<Double> = rng.normalArray(shape: [40])
    assertClose(try inverse.apply(v), try a.solve(v), rtol: 1e-9, atol: 1e-11)
    assertClose(try inverse.applyTranspose(v), try a.solve(v), rtol: 1e-9, atol: 1e-11)
    #expect(inverse.isSymmetric)
    // Composes: A · A⁻¹ ≈ I on a vector, and its inverse is A again.
    assertClose(try (DenseOperator(a) * inverse).apply(v), v, rtol: 1e-9, atol: 1e-10)
    assertClose(try inverse.inverse().apply(v), matvec(a, v), rtol: 1e-14)
    // With a preconditioner too.
    let jacobi = DiagonalOperator(a.diagonal().map(.reciprocal))
    let preconditioned = CGInverseOperator(DenseOperator(a), preconditioner: jacobi, options: .init(relativeTolerance: 1e-12))
    assertClose(try preconditioned.apply(b), try a.solve(b), rtol: 1e-9, atol: 1e-11)
  }

  @Test func cgInverseThrowsWhenASolveFails() throws {
    let a: NDArray<Double> = RandomMatrices.spd(40, conditionNumber: 1000, seed: 43)
    let capped = CGInverseOperator(DenseOperator(a), options: .init(relativeTolerance: 1e-12, maxIterations: 3))
    let b = NDArray<Double>(repeating: 1, shape: [40])
    #expect(throws: SolverError.self) { try capped.apply(b) }
    do {
      _ = try capped.apply(b)
    } catch let error as SolverError {
      guard case .notConverged(let iterations, _) = error else {
        Issue.record("expected notConverged, got \(error)")
        return
      }
      #expect(iterations == 3)
    }
    let indefinite = CGInverseOperator(DenseOperator(indefiniteMatrix(20, seed: 44)))
    #expect(throws: SolverError.self) { try indefinite.apply(NDArray<Double>(repeating: 1, shape: [20])) }
  }

  @Test func neumannSeriesConvergesToTheInverse() throws {
    // Eigenvalues in [1, 10]; α = 1/10 gives ρ(I − αA) = 0.9, so 400 terms leave 0.9⁴⁰⁰.
    let values = (0..<30).map { 1 + 9 * Double($0) / 29 }
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: values, seed: 45)
    let neumann = NeumannInverseOperator(DenseOperator(a), scale: 0.1, terms: 400)
    var rng = RandomGenerator(seed: 46)
    let b: NDArray<Double> = rng.normalArray(shape: [30, 2])
    assertClose(try neumann.apply(b), try a.solve(b), rtol: 1e-10, atol: 1e-12)
    // Few terms: the truncation error is about ρ^K, and a single term is α·I.
    let few = NeumannInverseOperator(DenseOperator(a), scale: 0.1, terms: 20)
    let error = (try few.apply(b) - (try a.solve(b))).norm() / (try a.solve(b)).norm()
    #expect(error > 1e-3 && error < 0.5)
    assertClose(try NeumannInverseOperator(DenseOperator(a), scale: 0.1, terms: 1).apply(b), 0.1 * b, rtol: 1e-15)
  }

  @Test func neumannSeriesDetectsDivergenceAndNaN() throws {
    let values = (0..<30).map { 1 + 9 * Double($0) / 29 }
    let a: NDArray<Double> = RandomMatrices.symmetric(eigenvalues: values, seed: 47)
    let b = NDArray<Double>(repeating: 1, shape: [30])
    // α = 0.5: 1 − αλ reaches −4, so the terms grow.
    let diverging = NeumannInverseOperator(DenseOperator(a), scale: 0.5, terms: 100)
    #expect(throws: SolverError.self) { try diverging.apply(b) }
    do {
      _ = try diverging.apply(b)
    } catch let error as SolverError {
      guard case .diverged(let term, let growth) = error else {
        Issue.record("expected diverged, got \(error)")
        return
      }
      #expect(term < 10)
      #expect(growth > 1)
      #expect(error.description.contains("diverges"))
    }
    // A NaN in the operator.
    var broken = a
    broken[3, 4] = .nan
    broken[4, 3] = .nan
    #expect(throws: SolverError.nonFinite(iteration: 1)) {
      try NeumannInverseOperator(DenseOperator(broken, isSymmetric: true), scale: 0.1, terms: 10).apply(b)
    }
    // Non-symmetric operator with a large spectral radius.
    var rng = RandomGenerator(seed: 48)
    let g: NDArray<Double> = rng.normalArray(shape: [30, 30])
    #expect(throws: SolverError.self) { try NeumannInverseOperator(DenseOperator(g), scale: 1, terms: 200).apply(b) }
  }
}
