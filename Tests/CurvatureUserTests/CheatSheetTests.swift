import Curvature
import Testing

/// Every row of "Cheat sheet for scipy/curvlinops users" (CheatSheet.md), "our call"
/// column, on tiny data. Where the sheet writes a name of issue 19 that this branch does
/// not have yet (wip-api: `A * v`, `A.T`, `-A`, `eigsh`, `xTrace`, `xDiagonal`), the test
/// calls the equivalent existing name, noted beside it.
@Suite struct CheatSheetTests {
  @Test func scipyRows() throws {
    let m = NDArray<Double>(rows: [[4, 1, 0], [1, 3, 1], [0, 1, 2]])
    let a = DenseOperator(m)
    let d = DiagonalOperator(NDArray<Double>([1, 2, 3]))
    let identity = IdentityOperator<Double>(size: 3)
    let v = NDArray<Double>([1, -1, 2])
    let vs = NDArray<Double>(rows: [[1, 0], [0, 1], [1, 1]])

    let av = try a * v                                     // sheet: try A * v
    let aV = try a.apply(vs)
    let at = a.T                                           // sheet: A.T
    let atv = try a.applyTranspose(v)
    let combined = a + d - identity
    let product = a * d
    let scaled = 2.0 * a
    let negated = -a                                      // sheet: -A
    let total = SumOperator<Double>([a, d, identity])
    let dense = try a.dense()
    let largest = try eigsh(a, k: 2, which: .largest)    // sheet: eigsh
    let smallest = try lanczosEigenpairs(a, options: LanczosOptions(count: 1, which: .smallest))
    let tight = try lanczosEigenpairs(a, options: LanczosOptions(count: 2, tolerance: 1e-8, seed: 0))
    let cg = try conjugateGradient(a, v, preconditioner: d.inverse(),
                                   options: ConjugateGradientOptions(relativeTolerance: 1e-6))
    let shifted = try minres(a, v, options: MINRESOptions(shift: 0.5))
    let toeplitz = try ToeplitzOperator<Double>(column: [2, 1, 0.5], row: [2, -1, 0])
    let levinson = try LevinsonDurbin<Double>(column: [2, 1, 0.5]).solve(v)

    #expect(isClose(av, matvec(m, v), tolerance: 1e-14))
    #expect(isClose(aV, matmul(m, vs), tolerance: 1e-14))
    #expect(isClose(try at.apply(v), atv, tolerance: 1e-14))
    #expect(isClose(try combined.dense(), m + (try d.dense()) - NDArray.identity(3), tolerance: 1e-14))
    #expect(isClose(try product.dense(), matmul(m, try d.dense()), tolerance: 1e-14))
    #expect(isClose(try scaled.dense() + (try negated.dense()), m, tolerance: 1e-14))
    #expect(try total.trace() == m.trace() + 6 + 3)
    #expect(dense == m)
    let exact = try m.symmetricEigenvalues().scalars.sorted()
    #expect(abs(largest.eigenvalues[0] - exact[2]) <= 1e-10)
    #expect(abs(smallest.eigenvalues[0] - exact[0]) <= 1e-10)
    #expect(abs(tight.eigenvalues[1] - exact[1]) <= 1e-8)
    #expect((matvec(m, try cg.requireConverged()) - v).norm() <= 1e-6 * v.norm())
    #expect((matvec(m - 0.5 * NDArray.identity(3), try shifted.requireConverged()) - v).norm() <= 1e-6 * v.norm())   // (A − σI) x = b, as scipy
    #expect(try toeplitz.dense() == NDArray(rows: [[2, -1, 0], [1, 2, -1], [0.5, 1, 2]]))
    let symmetric = try ToeplitzOperator<Double>(symmetric: [2, 1, 0.5]).dense()
    #expect(isClose(matvec(symmetric, levinson), v, tolerance: 1e-12))
  }

  @Test func curvlinopsRows() throws {
    let problem = try CurvatureOfAModelArticleTests.makeProblem()
    let n = problem.dimension
    var rng = RandomGenerator(seed: 5)
    let v: NDArray<Double> = rng.normalArray(shape: [n])

    let hessian = HessianOperator(problem)
    let ggn = GGNOperator(problem)
    let ef = EmpiricalFisherOperator(problem)
    let mc = try MonteCarloFisherOperator(problem, mcSamples: 4, seed: 1)
    let jacobian = JacobianOperator(problem)
    let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))
    let reduced = try KFACOperator(problem, options: KFACOptions(approximation: .reduce, jointBias: true))
    let ekfac = try EKFACOperator(problem, options: KFACOptions(fisherType: .type2))
    let kfacInverse = try kfac.inverse(damping: 1e-3)
    let cgInverse = CGInverseOperator(ggn.damped(by: 1e-1))
    let lambdaMax = try lanczosEigenpairs(ggn).eigenvalues[0]
    let neumann = NeumannInverseOperator(ggn.damped(by: 1e-1), scale: 1 / (lambdaMax + 0.1), terms: 4000)
    let subset = try problem.restricted(toParametersMatching: ["2.*"])
    let batched = try CurvatureProblem(model: problem.model, loss: problem.loss, data: problem.data,
                                       batchSize: 5, checkDeterminism: true)
    let hv = try hessian * v                              // sheet: try A * v
    let traceH = try hutchinsonTrace(ggn, matvecs: 50, seed: 0)
    let tracePP = try hutchPlusPlusTrace(ggn, matvecs: 3 * n, seed: 0)
    let traceX = try xTrace(ggn, matvecs: 2 * n, seed: 0)           // sheet: xTrace
    let diagH = try hutchinsonDiagonal(ggn, matvecs: 50, seed: 0).value
    let diagX = try xDiagonal(ggn, matvecs: 2 * n, seed: 0).value        // sheet: xDiagonal
    let fro = try squaredFrobeniusNormEstimate(ggn, matvecs: 50, seed: 0)
    let quadrature = try stochasticLanczosQuadrature(ggn, options: SLQOptions(steps: 10, probes: 2))
    let density = quadrature.density()
    let logDensity = quadrature.logMagnitudeDensity()

    let g = try ggn.dense()
    #expect(isClose(hv, matvec(try hessian.dense(), v), tolerance: 1e-10))
    #expect(try ef.trace() > 0 && mc.trace() > 0)
    #expect(jacobian.rowCount == 32 * 2 && jacobian.columnCount == n)
    let j = try jacobian.dense()
    #expect(j.shape == [64, n])
    #expect(isClose(try jacobian.apply(v), matvec(j, v), tolerance: 1e-10))
    #expect(try kfac.trace() > 0 && reduced.trace() > 0 && ekfac.trace() > 0)
    let back = try kfacInverse.apply(try kfac.damped(by: 1e-3).apply(v))
    #expect(isClose(back, v, tolerance: 1e-8))
    let solved = try cgInverse.apply(v)
    #expect(isClose(matvec(try ggn.damped(by: 1e-1).dense(), solved), v, tolerance: 1e-4))
    #expect(isClose(try neumann.apply(v), solved, tolerance: 1e-3))
    #expect(subset.dimension == 12)
    #expect(isClose(try GGNOperator(batched).dense(), g, tolerance: 1e-12))
    #expect(traceH.value > 0 && fro.value > 0)
    #expect(abs(tracePP.value - g.trace()) <= 1e-8 * g.trace())
    #expect(abs(traceX.value - g.trace()) <= 1e-8 * g.trace())
    #expect(diagH.shape == [n])
    #expect(isClose(diagX, g.diagonal(), tolerance: 1e-8))
    #expect(density.grid.count == density.density.count && logDensity.grid.count > 0)
  }

  @Test func backpackAndPyHessianRows() throws {
    let problem = try CurvatureOfAModelArticleTests.makeProblem()
    let ggnDiagonal = try GGNOperator(problem).diagonal()
    let mcDiagonal = try MonteCarloFisherOperator(problem, mcSamples: 2).diagonal()
    let hessianDiagonal = try HessianOperator(problem).diagonal()
    let efDiagonal = try EmpiricalFisherOperator(problem).diagonal()
    let kfacMC = try KFACOperator(problem, options: KFACOptions(fisherType: .mc))
    let kflr = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))
    let top = try eigsh(HessianOperator(problem), k: 5, which: .largest)   // sheet: eigsh
    let trace = try hutchinsonTrace(HessianOperator(problem), matvecs: 100)
    let density = try stochasticLanczosQuadrature(HessianOperator(problem),
                                                  options: SLQOptions(steps: 20, probes: 1)).density()

    #expect(isClose(ggnDiagonal, try GGNOperator(problem).dense().diagonal(), tolerance: 1e-10))
    #expect(isClose(hessianDiagonal, try HessianOperator(problem).dense().diagonal(), tolerance: 1e-10))
    #expect(isClose(efDiagonal, try EmpiricalFisherOperator(problem).dense().diagonal(), tolerance: 1e-10))
    #expect(mcDiagonal.scalars.allSatisfy { $0 >= 0 })
    #expect(try kfacMC.trace() > 0 && kflr.trace() > 0)
    #expect(top.eigenvalues.count == 5)
    #expect(trace.matvecs == 100 && !density.grid.isEmpty)
  }
}
