import Curvature
import Testing

/// The snippets of the article "Solvers and estimators" (SolversAndEstimators.md).
@Suite struct SolversArticleTests {
  @Test func solvesAndEigenvalues() throws {
    let problem = try CurvatureOfAModelArticleTests.makeProblem()
    let ggn = GGNOperator(problem)
    let hessian = HessianOperator(problem)
    var rng = RandomGenerator(seed: 3)
    let b: NDArray<Double> = rng.normalArray(shape: [problem.dimension])

    // Damped GGN solve by CG, preconditioned with KFAC's damped inverse.
    let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))
    let result = try conjugateGradient(ggn.damped(by: 1e-2), b,
                                       preconditioner: try kfac.inverse(damping: 1e-2),
                                       options: ConjugateGradientOptions(relativeTolerance: 1e-10))
    let x = try result.requireConverged()

    // The Hessian is indefinite: MINRES.
    let hx = try minres(hessian.damped(by: 1e-2), b,
                        options: MINRESOptions(relativeTolerance: 1e-10)).requireConverged()

    // The three largest GGN eigenvalues (the article also shows eigsh(ggn, k: 3), wip-api).
    let top = try lanczosEigenpairs(ggn, options: LanczosOptions(count: 3, which: .largest))

    let damped = try ggn.damped(by: 1e-2).dense()
    #expect((matvec(damped, x) - b).norm() <= 1e-8 * b.norm())
    let dampedHessian = try hessian.damped(by: 1e-2).dense()
    #expect((matvec(dampedHessian, hx) - b).norm() <= 1e-8 * b.norm())
    let exact = try ggn.dense().symmetricEigenvalues().scalars.sorted(by: >).prefix(3)
    for (a, e) in zip(top.eigenvalues.scalars, exact) { #expect(abs(a - e) <= 1e-8 * exact.first!) }
    #expect(top.eigenvectors.shape == [problem.dimension, 3])
  }

  @Test func estimatorsAreExactWithEnoughProducts() throws {
    let problem = try CurvatureOfAModelArticleTests.makeProblem()
    let ggn = GGNOperator(problem)
    let n = problem.dimension
    // The article writes xTrace and xDiagonal, the names of issue 19 (wip-api).
    let hutchinson = try hutchinsonTrace(ggn, matvecs: 200, seed: 0)
    let hutchPlusPlus = try hutchPlusPlusTrace(ggn, matvecs: 3 * n, seed: 0)
    let xTraceEstimate = try xTrace(ggn, matvecs: 2 * n, seed: 0)
    let diagonalEstimate = try hutchinsonDiagonal(ggn, matvecs: 200, seed: 0)
    let xDiagonalEstimate = try xDiagonal(ggn, matvecs: 2 * n, seed: 0)

    let trace = try ggn.trace(), diagonal = try ggn.diagonal()
    // Hutchinson is unbiased: within a few standard errors.
    #expect(abs(hutchinson.value - trace) <= 5 * (hutchinson.standardError ?? 0) + 1e-12)
    // With as many sketch vectors as the dimension, the sketching estimators are exact.
    #expect(abs(hutchPlusPlus.value - trace) <= 1e-8 * trace)
    #expect(abs(xTraceEstimate.value - trace) <= 1e-8 * trace)
    #expect(isClose(xDiagonalEstimate.value, diagonal, tolerance: 1e-8))
    #expect(diagonalEstimate.value.shape == [n])
  }

  @Test func spectralDensityAndLogDeterminant() throws {
    let problem = try CurvatureOfAModelArticleTests.makeProblem()
    let ggn = GGNOperator(problem)
    let quadrature = try stochasticLanczosQuadrature(ggn.damped(by: 1e-1),
                                                     options: SLQOptions(steps: 32, probes: 8))
    let density = quadrature.density()
    let logDeterminant = try quadrature.logDeterminant()

    let (_, exact) = try ggn.damped(by: 1e-1).dense().signAndLogDeterminant()
    // Full Lanczos (steps = P) integrates log exactly per probe; the probes' spread remains.
    #expect(abs(logDeterminant.value - exact) <= 5 * (logDeterminant.standardError ?? 0) + 1e-8 * abs(exact))
    #expect(abs(density.integrate { _ in 1 } - 1) <= 1e-2)
  }
}
