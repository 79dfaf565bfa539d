import Curvature
import CurvatureTestSupport
import Testing

/// The exact diagonals (BackPACK-style per-term gradient squares) against the diagonals of
/// the dense matrices built from the operators' products, which take a different path
/// (forward-mode J v, closed-form loss Hessian, reverse-mode Jᵀ u).
@Suite struct CurvatureDiagonalTests {
  static func problems() throws -> [(String, CurvatureProblem<Double>)] {
    var rng = RandomGenerator(seed: 11)
    let mlp = try Sequential<Double>(
      [Linear(inFeatures: 4, outFeatures: 5), Tanh(), Linear(inFeatures: 5, outFeatures: 3)], seed: 1)
    let x: NDArray<Double> = rng.normalArray(shape: [6, 4])
    let ce = try CurvatureProblem(
      model: mlp, loss: Loss(.crossEntropy), data: try ArrayDataset(inputs: x, targets: .classes([0, 2, 1, 1, 0, 2])),
      batchSize: 4)
    let bce = try CurvatureProblem(
      model: mlp, loss: Loss(.bceWithLogits, reduction: .sum),
      data: try ArrayDataset(inputs: x, targets: .values(rng.uniformArray(shape: [6, 3]))), batchSize: 6)
    let sequence = try Sequential<Double>(
      [Linear(inFeatures: 3, outFeatures: 4), Sigmoid(), Linear(inFeatures: 4, outFeatures: 2)], seed: 2)
    let mse = try CurvatureProblem(
      model: sequence, loss: Loss(.mse),
      data: try ArrayDataset(inputs: rng.normalArray(shape: [3, 5, 3]), targets: .values(rng.normalArray(shape: [3, 5, 2]))),
      batchSize: 2)
    let cnn = try Sequential<Double>(
      [try Conv2d(inChannels: 2, outChannels: 4, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), groups: 2), ReLU(),
       Flatten(), Linear(inFeatures: 4 * 3 * 3, outFeatures: 3)], seed: 3)
    let conv = try CurvatureProblem(
      model: cnn, loss: Loss(.crossEntropy),
      data: try ArrayDataset(inputs: rng.normalArray(shape: [4, 2, 5, 5]), targets: .classes([2, 0, 1, 2])), batchSize: 3)
    return [("mlp-ce", ce), ("mlp-bce-sum", bce), ("sequence-mse", mse), ("cnn-ce", conv)]
  }

  @Test func exactDiagonalsMatchDenseMatrices() throws {
    for (name, problem) in try Self.problems() {
      let ggn = GGNOperator(problem)
      assertClose(try ggn.diagonal(), try ggn.dense().diagonal(), rtol: 1e-10, atol: 1e-13, "GGN \(name)")
      let ef = EmpiricalFisherOperator(problem)
      assertClose(try ef.diagonal(), try ef.dense().diagonal(), rtol: 1e-10, atol: 1e-13, "EF \(name)")
      let mc = try MonteCarloFisherOperator(problem, mcSamples: 3, seed: 5)
      assertClose(try mc.diagonal(), try mc.dense().diagonal(), rtol: 1e-10, atol: 1e-13, "MC \(name)")
      let hessian = HessianOperator(problem)
      assertClose(try hessian.diagonal(), try hessian.dense().diagonal(), rtol: 1e-10, atol: 1e-13, "Hessian \(name)")
    }
  }

  @Test func functionModelsHaveNoExactGGNDiagonal() throws {
    let model = try FunctionModel<Double>(
      parameterSpecs: [ParameterSpec(name: "w", shape: [2, 3])], parameters: [NDArray(repeating: 0.1, shape: [2, 3])]
    ) { x, p in matmul(x, p[0], transposeB: true) }
    let problem = try CurvatureProblem(
      model: model, loss: Loss(.mse),
      data: try ArrayDataset(inputs: NDArray(repeating: 1, shape: [2, 3]), targets: .values(NDArray(zeros: [2, 2]))))
    #expect(throws: CurvatureError.self) { try GGNOperator(problem).diagonal() }
  }
}
