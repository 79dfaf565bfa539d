import Curvature
import CurvatureTestSupport
import Testing

/// The README's short forms, verbatim after the first example, so they cannot go stale.
@Suite struct ReadmeShortFormsTests {
  @Test func shortFormsRun() throws {
    // The first example (its set-up).
    var rng = RandomGenerator(seed: 0)
    let x: NDArray<Double> = rng.normalArray(shape: [256, 4])
    let y = (0..<256).map { i in x[i, 0] + x[i, 1] > 0 ? 1 : 0 }
    let model = try Sequential<Double>([Linear(inFeatures: 4, outFeatures: 16), Tanh(),
                                        Linear(inFeatures: 16, outFeatures: 2)], seed: 1)
    let problem = try CurvatureProblem(model: model, loss: Loss(.crossEntropy),
                                       data: try ArrayDataset(inputs: x, targets: .classes(y)),
                                       batchSize: 64)
    let ggn = GGNOperator(problem)
    let kfac = try KFACOperator(problem, options: KFACOptions(fisherType: .type2))

    // The short forms, verbatim.
    let v: NDArray<Double> = rng.normalArray(shape: [problem.dimension])
    let gv = try ggn * v                                  // = try ggn(v) = try ggn.apply(v); v: [P] or [P, k]
    let difference = try sum([ggn, -kfac])                // a sum of [any LinearOperator<Double>]
    let top3 = try eigsh(ggn, k: 3, which: .largest)      // scipy's eigsh; residualNorms are the true ‖Av − λv‖
    let lastWeight = try problem.parameterRange(named: "2.weight")   // its slice of every P-vector
    let lastLayer = try ggn.principalSubmatrix(parametersMatching: ["2.*"])
    let eager = try KFACOperator(problem, eager: true)    // factors built here
    let inFloat = try problem.converted(to: Float.self)   // the same problem in Float

    // What they claim, checked.
    #expect(gv == (try ggn.apply(v)))
    let dense = try ggn.dense(), kfacDense = try kfac.dense()
    assertClose(try difference.dense(), dense - kfacDense, rtol: 1e-12, atol: 1e-14)
    let exact = try dense.symmetricEigenvalues().scalars.reversed().prefix(3)
    for (a, b) in zip(top3.eigenvalues.scalars, exact) { #expect(abs(a - b) <= 1e-8 * abs(b) + 1e-12) }
    #expect(top3.residualNorms.allSatisfy { $0 > 0 && $0 < 1e-6 })
    #expect(lastWeight == (4 * 16 + 16)..<(4 * 16 + 16 + 32))
    #expect(lastLayer.rowCount == 34)
    #expect(try eager.dense() == (try KFACOperator(problem).dense()))
    #expect(inFloat.dimension == problem.dimension)
  }
}
