import Curvature
import Testing

/// The snippets of the article "Curvature of a model" (CurvatureOfAModel.md).
@Suite struct CurvatureOfAModelArticleTests {
  /// The article's set-up: a 3-5-2 tanh classifier on 32 points.
  static func makeProblem(batchSize: Int = 8) throws -> CurvatureProblem<Double> {
    var rng = RandomGenerator(seed: 0)
    let x: NDArray<Double> = rng.normalArray(shape: [32, 3])
    let y = (0..<32).map { i in x[i, 0] - x[i, 2] > 0 ? 1 : 0 }
    let model = try Sequential<Double>([Linear(inFeatures: 3, outFeatures: 5), Tanh(),
                                        Linear(inFeatures: 5, outFeatures: 2)], seed: 1)
    return try CurvatureProblem(model: model, loss: Loss(.crossEntropy),
                                data: try ArrayDataset(inputs: x, targets: .classes(y)),
                                batchSize: batchSize)
  }

  @Test func operatorsOfAModel() throws {
    let problem = try Self.makeProblem()
    let hessian = HessianOperator(problem)
    let ggn = GGNOperator(problem)
    let empiricalFisher = EmpiricalFisherOperator(problem)
    let fisher = try MonteCarloFisherOperator(problem, mcSamples: 4, seed: 0)

    var rng = RandomGenerator(seed: 1)
    let v: NDArray<Double> = rng.normalArray(shape: [problem.dimension])
    let hv = try hessian.apply(v)                   // one Hessian-vector product
    let g = try ggn.dense()                         // P×P, by P products
    let diagonal = try ggn.diagonal()               // exact (BackPACK's DiagGGN)
    let (loss, gradient) = try problem.lossAndGradient()

    #expect(problem.dimension == 3 * 5 + 5 + 5 * 2 + 2)
    #expect(isClose(hv, matvec(try hessian.dense(), v), tolerance: 1e-10))
    #expect(isClose(g, g.transposed(), tolerance: 1e-14))
    #expect(isClose(diagonal, g.diagonal(), tolerance: 1e-10))
    #expect(loss > 0 && gradient.shape == [problem.dimension])
    // The GGN and the Fisher are positive semidefinite; their traces are positive.
    #expect(try empiricalFisher.trace() > 0)
    #expect(try fisher.trace() > 0)
    #expect(try g.symmetricEigenvalues().scalars.min()! > -1e-12)
  }

  @Test func theBatchSizeDoesNotChangeTheMatrix() throws {
    let small = try GGNOperator(Self.makeProblem(batchSize: 8)).dense()
    let whole = try GGNOperator(Self.makeProblem(batchSize: 32)).dense()
    #expect(isClose(small, whole, tolerance: 1e-12))
  }

  @Test func parametersByName() throws {
    let problem = try Self.makeProblem()
    let names = problem.selectedParameterNames      // ["0.weight", "0.bias", "2.weight", "2.bias"]
    let lastLayer = try problem.restricted(toParametersMatching: ["2.*"])
    let h22 = try HessianOperator(lastLayer).dense()         // 12×12
    let layerwise = try problem.blockDiagonal(.perLayer) { GGNOperator($0) }

    #expect(names == ["0.weight", "0.bias", "2.weight", "2.bias"])
    #expect(lastLayer.selectedParameterNames == ["2.weight", "2.bias"])
    // The restricted Hessian is the principal submatrix of the full one (the last 12 rows).
    let full = try HessianOperator(problem).principalSubmatrix(Array(20..<32)).dense()
    #expect(isClose(h22, full, tolerance: 1e-12))
    #expect(layerwise.rowCount == problem.dimension)
    let g = try GGNOperator(problem).dense(), blocks = try layerwise.dense()
    #expect(abs(blocks[25, 25] - g[25, 25]) <= 1e-12 * abs(g[25, 25]))
    #expect(blocks[0, 25] == 0)
  }
}
