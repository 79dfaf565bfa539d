import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// Per-sample gradients against BackPACK's BatchGrad, BatchL2Grad, SumGradSquared and
/// Variance (Fixtures/PerSample, from scripts/fixtures/make_persample_fixtures.py), for the
/// exported graph and the same network as a Sequential, in Double and Float.
@Suite struct PerSampleBackPACKTests {
  static let directory = PerSampleSupport.graphDirectory.deletingLastPathComponent().appendingPathComponent("PerSample")

  /// The fixture's network as a Sequential with the graph's parameters.
  static func sequential<T: BLASScalar>(_ name: String, _ graph: any DifferentiableModel<T>) throws -> Sequential<T> {
    let layers: [any Layer<T>]
    switch name {
    case "mlp_ce_mean": layers = [Linear(inFeatures: 4, outFeatures: 5), Tanh(), Linear(inFeatures: 5, outFeatures: 3)]
    case "mlp_mse_mean": layers = [Linear(inFeatures: 3, outFeatures: 4), Sigmoid(), Linear(inFeatures: 4, outFeatures: 2)]
    default:
      layers = [
        try Conv2d(inChannels: 2, outChannels: 4, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), groups: 2), ReLU(),
        Flatten(), Linear(inFeatures: 36, outFeatures: 3),
      ]
    }
    return try Sequential(layers, parameters: graph.parameters)
  }

  func check<T: BLASScalar>(_ name: String, as _: T.Type, rtol: T, atol: T) throws {
    let graphProblem = try PerSampleSupport.graphProblem(name, as: T.self, directory: Self.directory)
    let sequentialProblem = try CurvatureProblem(
      model: try Self.sequential(name, graphProblem.model), loss: graphProblem.loss, data: graphProblem.data, batchSize: 3)
    let npz = try NPZFile(contentsOf: Self.directory.appendingPathComponent(name).appendingPathComponent("backpack.npz"))
    func expected(_ key: String) throws -> NDArray<T> { try npz.array(named: key).floats(as: T.self) }
    // BackPACK's BatchL2Grad of a grouped convolution's weight (cnn_ce_sum, block 0) is not
    // the squared norm of its own BatchGrad rows (a BackPACK defect with groups > 1); there
    // the expected value is that norm.
    var l2 = try expected("batch_l2_grad")
    if name == "cnn_ce_sum" {
      let batchGrad = try expected("batch_grad")
      let (n, p, blocks) = (batchGrad.shape[0], batchGrad.shape[1], l2.shape[1])
      let width = graphProblem.model.parameterSpecs[0].count
      for i in 0..<n { l2.scalars[i * blocks] = (0..<width).reduce(T(0)) { $0 + batchGrad.scalars[i * p + $1] * batchGrad.scalars[i * p + $1] } }
    }
    for (kind, problem) in [("graph", graphProblem), ("sequential", sequentialProblem)] {
      let stats = try problem.perSampleGradientStatistics(individualGradients: true)
      assertClose(stats.individual!, try expected("batch_grad"), rtol: rtol, atol: atol, "\(name) \(kind) BatchGrad")
      assertClose(stats.squaredNorms, l2, rtol: rtol, atol: atol * atol, "\(name) \(kind) BatchL2Grad")
      assertClose(stats.sumOfSquares, try expected("sum_grad_squared"), rtol: rtol, atol: atol * atol, "\(name) \(kind) SumGradSquared")
      assertClose(stats.variance, try expected("variance"), rtol: rtol, atol: atol * atol, "\(name) \(kind) Variance")
    }
  }

  @Test(arguments: ["mlp_ce_mean", "mlp_mse_mean", "cnn_ce_sum"])
  func matchesBackPACK(_ name: String) throws {
    try check(name, as: Double.self, rtol: 1e-10, atol: 1e-12)
    try check(name, as: Float.self, rtol: 1e-4, atol: 1e-5)
  }
}
