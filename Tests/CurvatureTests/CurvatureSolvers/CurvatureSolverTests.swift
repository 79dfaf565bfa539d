import Curvature
import CurvatureTestSupport
import Testing

/// Solvers on curvature operators of a small trained-looking MLP: Lanczos against the dense
/// spectrum, PCG with the KFAC inverse against plain CG, block-diagonal approximations.
@Suite struct CurvatureSolverTests {
  static func problem(inputScaleSpread: Double = 1, activation: (any Layer<Double>)? = Tanh(), loss: Loss<Double> = Loss(.crossEntropy)) throws -> CurvatureProblem<Double> {
    var rng = RandomGenerator(seed: 21)
    let model = try Sequential<Double>(
      [Linear(inFeatures: 6, outFeatures: 8)] + (activation.map { [$0] } ?? []) + [Linear(inFeatures: 8, outFeatures: 4)], seed: 3)
    var x: NDArray<Double> = rng.normalArray(shape: [32, 6])
    // Input features on scales from 1/spread to spread (geometrically spaced).
    for i in 0..<32 { for j in 0..<6 { x[i, j] *= Double.pow(inputScaleSpread, (Double(j) - 2.5) / 2.5) } }
    let targets: Targets<Double> = loss.kind == .crossEntropy
      ? .classes((0..<32).map { _ in rng.integer(below: 4) }) : .values(rng.normalArray(shape: [32, 4]))
    return try CurvatureProblem(model: model, loss: loss, data: try ArrayDataset(inputs: x, targets: targets), batchSize: 10)
  }

  @Test func topFiveEigenvaluesMatchDenseSpectrum() throws {
    let problem = try Self.problem()
    for (name, op) in [("Hessian", HessianOperator(problem) as any LinearOperator<Double>), ("GGN", GGNOperator(problem))] {
      let dense = try op.dense()
      let exact = try dense.symmetricEigenvalues().scalars.reversed().prefix(5)
      let result = try lanczosEigenpairs(op, options: LanczosOptions(count: 5, which: .largest, tolerance: 1e-12, seed: 1))
      #expect(result.converged, "\(name): Lanczos did not converge")
      assertClose(result.eigenvalues, NDArray(Array(exact)), rtol: 1e-8, atol: 1e-12, "\(name) top-5 eigenvalues")
      // Eigenvectors: A v = λ v against the dense matrix.
      for j in 0..<5 {
        let v = NDArray((0..<dense.shape[0]).map { result.eigenvectors[$0, j] })
        assertClose(matvec(dense, v), result.eigenvalues.scalars[j] * v, rtol: 1e-6, atol: 1e-9, "\(name) eigenvector \(j)")
      }
    }
  }

  /// KFAC's input factor captures curvature that comes from badly scaled inputs, which is
  /// where it preconditions well. (On well-scaled problems with strong coupling between
  /// layers — e.g. a deep linear network, where KFAC equals the block-diagonal GGN — a
  /// block-diagonal preconditioner can need more iterations than none.)
  @Test(arguments: [
    ("tanh MLP, MSE, inputs on scales 1/30…30", try problem(inputScaleSpread: 30, loss: Loss(.mse))),
    ("last layer, CE, inputs on scales 1/30…30", try problem(inputScaleSpread: 30).restricted(to: [2, 3])),
  ])
  func kfacPreconditionerReducesConjugateGradientIterations(_ name: String, _ problem: CurvatureProblem<Double>) throws {
    let damping = 1e-3
    let ggn = GGNOperator(problem).damped(by: damping)
    var rng = RandomGenerator(seed: 5)
    let b: NDArray<Double> = rng.normalArray(shape: [problem.dimension])
    let options = ConjugateGradientOptions(relativeTolerance: 1e-8, maxIterations: 4000)
    let plain = try conjugateGradient(ggn, b, options: options)
    let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))
    let preconditioned = try conjugateGradient(ggn, b, preconditioner: try kfac.inverse(damping: damping), options: options)
    print("CG on the damped GGN, \(name) (P = \(problem.dimension), δ = \(damping)): plain \(plain.iterations) iterations, KFAC-preconditioned \(preconditioned.iterations)")
    #expect(plain.outcome == .converged)
    #expect(preconditioned.outcome == .converged)
    #expect(preconditioned.iterations < plain.iterations)
    let exact = try (try GGNOperator(problem).dense() + damping * NDArray<Double>.identity(problem.dimension)).solve(b)
    assertClose(preconditioned.solution, exact, rtol: 1e-5, atol: 1e-6)
  }

  @Test func blockDiagonalOptionKeepsTheDiagonalBlocks() throws {
    let problem = try Self.problem()
    let full = try GGNOperator(problem).dense()
    for (grouping, sizes) in [(ParameterGrouping.perLayer, [6 * 8 + 8, 8 * 4 + 4]), (.perParameter, [48, 8, 32, 4])] {
      let blockwise = try problem.blockDiagonal(grouping) { GGNOperator($0) }
      var expected = NDArray<Double>(zeros: full.shape)
      var start = 0
      for size in sizes {
        for i in start..<(start + size) { for j in start..<(start + size) { expected[i, j] = full[i, j] } }
        start += size
      }
      assertClose(try blockwise.dense(), expected, rtol: 1e-12, atol: 1e-15, "\(grouping)")
    }
    // A subset: the second layer only, as the principal submatrix.
    let subset = try GGNOperator(try problem.restricted(to: [2, 3])).dense()
    let indices = Array(56..<92)
    assertClose(subset, NDArray(shape: [36, 36]) { full[indices[$0[0]], indices[$0[1]]] }, rtol: 1e-12, atol: 1e-15)
  }
}
