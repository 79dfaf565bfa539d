import Curvature
import Testing

/// The snippet of the documentation's landing page (Curvature.md).
@Suite struct LandingPageTests {
  @Test func landingPageExample() throws {
    var rng = RandomGenerator(seed: 0)
    let x: NDArray<Double> = rng.normalArray(shape: [256, 4])
    let y = (0..<256).map { i in x[i, 0] + x[i, 1] > 0 ? 1 : 0 }
    let model = try Sequential<Double>([Linear(inFeatures: 4, outFeatures: 16), Tanh(),
                                        Linear(inFeatures: 16, outFeatures: 2)], seed: 1)
    let problem = try CurvatureProblem(model: model, loss: Loss(.crossEntropy),
                                       data: try ArrayDataset(inputs: x, targets: .classes(y)),
                                       batchSize: 64)

    let ggn = GGNOperator(problem)
    // The page writes eigsh(ggn, k: 5, which: .largest) (wip-api).
    let top = try lanczosEigenpairs(ggn, options: LanczosOptions(count: 5, which: .largest))
    let trace = try hutchPlusPlusTrace(ggn, matvecs: 300, seed: 7)
    let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))
    let rhs: NDArray<Double> = rng.normalArray(shape: [problem.dimension])
    let solution = try conjugateGradient(ggn.damped(by: 1e-3), rhs,
                                         preconditioner: try kfac.inverse(damping: 1e-3))

    let dense = try ggn.dense()
    let exact = try dense.symmetricEigenvalues().scalars.sorted(by: >).prefix(5)
    for (a, e) in zip(top.eigenvalues.scalars, exact) { #expect(abs(a - e) <= 1e-8 * exact.first!) }
    #expect(abs(trace.value - dense.trace()) <= 4 * (trace.standardError ?? 0) + 1e-9 * dense.trace())
    #expect(solution.outcome == .converged)
    let damped = dense + 1e-3 * NDArray.identity(problem.dimension)
    #expect((matvec(damped, solution.solution) - rhs).norm() <= 1e-5 * rhs.norm())
  }
}
