import Curvature
import Testing

/// The snippets of the article "Your own model" (YourOwnModel.md).
@Suite struct FunctionModelArticleTests {
  @Test func aResidualNetworkAsAFunctionModel() throws {
    var rng = RandomGenerator(seed: 0)
    let x: NDArray<Double> = rng.normalArray(shape: [24, 4])
    let y = (0..<24).map { i in x[i, 1] > 0 ? 1 : 0 }

    // x + tanh(x W₁ᵀ), then a linear head: a residual block no Sequential can express.
    let model = try FunctionModel<Double>(
      parameterSpecs: [ParameterSpec(name: "block.weight", shape: [4, 4]),
                       ParameterSpec(name: "head.weight", shape: [2, 4]),
                       ParameterSpec(name: "head.bias", shape: [2])],
      parameters: [0.5 * rng.normalArray(shape: [4, 4]), rng.normalArray(shape: [2, 4]),
                   NDArray(zeros: [2])]
    ) { x, p in
      let hidden = x + matmul(x, p[0], transposeB: true).tanh()
      return matmul(hidden, p[1], transposeB: true) + p[2]
    }
    let problem = try CurvatureProblem(model: model, loss: Loss(.crossEntropy),
                                       data: try ArrayDataset(inputs: x, targets: .classes(y)))
    let hessian = HessianOperator(problem)
    let ggn = GGNOperator(problem)
    let top = try lanczosEigenpairs(hessian, options: LanczosOptions(count: 2, which: .largestMagnitude))
    let head = try problem.restricted(toParametersMatching: ["head.*"])
    // Diagonals by estimation (exact diagonals need a Sequential or a graph model); the
    // article writes xDiagonal (wip-api).
    let diagonal = try xDiagonal(ggn, matvecs: 2 * problem.dimension, seed: 0)

    let h = try hessian.dense()
    #expect(problem.dimension == 16 + 8 + 2)
    #expect(isClose(h, h.transposed(), tolerance: 1e-10))
    let exact = try h.symmetricEigenvalues().scalars.map(abs).max()!
    #expect(abs(abs(top.eigenvalues[0]) - exact) <= 1e-8 * exact)
    #expect(head.dimension == 10)
    #expect(isClose(diagonal.value, try ggn.dense().diagonal(), tolerance: 1e-8))
  }

  @Test func aFunctionModelEqualsTheSameSequential() throws {
    var rng = RandomGenerator(seed: 1)
    let x: NDArray<Double> = rng.normalArray(shape: [16, 3])
    let y = (0..<16).map { $0 % 2 }
    let sequential = try Sequential<Double>([Linear(inFeatures: 3, outFeatures: 4), Tanh(),
                                             Linear(inFeatures: 4, outFeatures: 2)], seed: 2)
    let function = try FunctionModel<Double>(
      parameterSpecs: sequential.parameterSpecs, parameters: sequential.parameters
    ) { x, p in
      let hidden = (matmul(x, p[0], transposeB: true) + p[1]).tanh()
      return matmul(hidden, p[2], transposeB: true) + p[3]
    }
    let data = try ArrayDataset(inputs: x, targets: .classes(y))
    let a = try CurvatureProblem(model: sequential, loss: Loss(.crossEntropy), data: data)
    let b = try CurvatureProblem(model: function, loss: Loss(.crossEntropy), data: data)
    #expect(isClose(try HessianOperator(b).dense(), try HessianOperator(a).dense(), tolerance: 1e-12))
    #expect(isClose(try GGNOperator(b).dense(), try GGNOperator(a).dense(), tolerance: 1e-12))
    // KFAC needs the layer structure: a FunctionModel is refused with a clear error.
    #expect(throws: CurvatureError.self) { _ = try KFACOperator(b) }
  }
}
