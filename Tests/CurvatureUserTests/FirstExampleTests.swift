import Curvature
import Testing

/// The first example of the README, verbatim, continued by its short forms (verbatim), as
/// one program; and the landing page of the documentation (Curvature.md), which shows the
/// same example with `eigsh` for the top eigenpairs (its one line of its own runs here
/// too). Each snippet is tested once, here, as a user's package would run it, so the
/// documentation cannot go stale.
@Suite struct FirstExampleTests {
  @Test func readmeAndLandingPageExamplesRun() throws {
    // The README's first example (the landing page's differs in one line, below).
    // A small classifier and a data set.
    var rng = RandomGenerator(seed: 0)
    let x: NDArray<Double> = rng.normalArray(shape: [256, 4])
    let y = (0..<256).map { i in x[i, 0] + x[i, 1] > 0 ? 1 : 0 }
    let model = try Sequential<Double>([Linear(inFeatures: 4, outFeatures: 16), Tanh(),
                                        Linear(inFeatures: 16, outFeatures: 2)], seed: 1)
    let problem = try CurvatureProblem(model: model, loss: Loss(.crossEntropy),
                                       data: try ArrayDataset(inputs: x, targets: .classes(y)),
                                       batchSize: 64)

    let ggn = GGNOperator(problem)                       // P×P, never formed
    let top = try lanczosEigenpairs(ggn, options: LanczosOptions(count: 5))
    let trace = try hutchPlusPlusTrace(ggn, matvecs: 300, seed: 7)
    let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))
    let rhs: NDArray<Double> = rng.normalArray(shape: [problem.dimension])
    let solution = try conjugateGradient(ggn.damped(by: 1e-3), rhs,
                                         preconditioner: try kfac.inverse(damping: 1e-3))

    // The landing page's top eigenpairs (`let top = …` there).
    let landingTop = try eigsh(ggn, k: 5, which: .largest)             // top eigenpairs by Lanczos

    // The README's short forms, verbatim.
    let v: NDArray<Double> = rng.normalArray(shape: [problem.dimension])
    let gv = try ggn * v                                  // = try ggn(v) = try ggn.apply(v); v: [P] or [P, k]
    let difference = try sum([ggn, -kfac])                // a sum of [any LinearOperator<Double>]
    let top3 = try eigsh(ggn, k: 3, which: .largest)      // scipy's eigsh; residualNorms are the true ‖Av − λv‖
    let lastWeight = try problem.parameterRange(named: "2.weight")   // its slice of every P-vector
    let lastLayer = try ggn.principalSubmatrix(parametersMatching: ["2.*"])
    let eager = try KFACOperator(problem, eager: true)    // factors built here
    let inFloat = try problem.converted(to: Float.self)   // the same problem in Float

    // What the first example claims, checked.
    let dense = try ggn.dense()
    let descending = try dense.symmetricEigenvalues().scalars.sorted(by: >)
    let exact = descending.prefix(5)
    for (a, b) in zip(top.eigenvalues.scalars, exact) { #expect(abs(a - b) <= 1e-8 * abs(b) + 1e-12) }
    #expect(abs(trace.value - dense.trace()) <= 4 * (trace.standardError ?? 0) + 1e-9 * dense.trace())
    #expect(solution.outcome == .converged)
    let damped = dense + 1e-3 * NDArray.identity(problem.dimension)
    #expect((matvec(damped, solution.solution) - rhs).norm() <= 1e-5 * rhs.norm())

    // The landing page's.
    for (a, e) in zip(landingTop.eigenvalues.scalars, exact) { #expect(abs(a - e) <= 1e-8 * exact.first!) }

    // The short forms'.
    #expect(gv == (try ggn.apply(v)))
    let kfacDense = try kfac.dense()
    let expectedDifference = dense - kfacDense
    let differenceDense = try difference.dense()
    #expect(differenceDense.shape == expectedDifference.shape)
    for (a, e) in zip(differenceDense.scalars, expectedDifference.scalars) {
      #expect(abs(a - e) <= 1e-14 + 1e-12 * abs(e))
    }
    for (a, b) in zip(top3.eigenvalues.scalars, descending.prefix(3)) { #expect(abs(a - b) <= 1e-8 * abs(b) + 1e-12) }
    #expect(top3.residualNorms.allSatisfy { $0 > 0 && $0 < 1e-6 })
    #expect(lastWeight == (4 * 16 + 16)..<(4 * 16 + 16 + 32))
    #expect(lastLayer.rowCount == 34)
    #expect(try eager.dense() == (try KFACOperator(problem).dense()))
    #expect(inFloat.dimension == problem.dimension)
  }
}
