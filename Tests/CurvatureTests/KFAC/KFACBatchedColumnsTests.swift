import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// KFAC factor builds with a batch's factor columns backpropagated together (the loss
/// Hessian's C square-root columns, the M sampled gradients, the observed gradient, as an
/// extra batch axis; `KFACOptions.batchedColumns`, the default) against one reverse pass
/// per column through the recorded graph (`batchedColumns: false`): Sequentials with
/// Linear, Conv2d (grouped, strided), Flatten and elementwise layers, every Fisher type,
/// expand and reduce, separate and joint bias, in Double and Float; a graph model, which
/// keeps the column loop, equal to the batched Sequential of the same layers; the same
/// bits from run to run.
@Suite struct KFACBatchedColumnsTests {
  static let names = [
    "mlp_tanh_cross_entropy_mean", "mlp_sigmoid_mse_sum", "mlp_relu_bce_with_logits_mean", "sequence_mse_mean",
    "cnn_cross_entropy_mean", "deep_gelu_softplus", "cnn_groups_tanh",
  ]

  /// Every Fisher type (mc with 3 samples), both approximations, separate and joint bias.
  static var allOptions: [KFACOptions] {
    FisherType.allCases.flatMap { fisherType in
      KFACApproximation.allCases.flatMap { approximation in
        [false, true].map { joint in
          KFACOptions(fisherType: fisherType, mcSamples: fisherType == .mc ? 3 : 1, seed: 11, approximation: approximation, jointBias: joint)
        }
      }
    }
  }

  /// The factors with the columns batched and looped; A must be the same bits (the same
  /// forward values), B equal up to `rtol` (the columns are summed in another order).
  static func expectBatchedEqualsLooped<T: BLASScalar>(
    _ problem: CurvatureProblem<T>, _ options: KFACOptions, rtol: Double, atolFactor: Double, _ label: String
  ) throws {
    var looped = options
    looped.batchedColumns = false
    let a = try KFACOperator(problem, options: options).computeFactors()
    let b = try KFACOperator(problem, options: looped).computeFactors()
    #expect(a.count == b.count && a.map(\.layer) == b.map(\.layer), "\(label)")
    for (x, y) in zip(a, b) {
      #expect(x.inputCovariance == y.inputCovariance, "\(label) layer \(x.layer): A differs")
      #expect(x.gradientCovariance.shape == y.gradientCovariance.shape, "\(label) layer \(x.layer)")
      expectClose(
        x.gradientCovariance.converted(to: Double.self), y.gradientCovariance.converted(to: Double.self), rtol: rtol,
        atolFactor: atolFactor, "\(label) layer \(x.layer) B")
    }
  }

  @Test(arguments: names)
  func batchedEqualsLoopedInDouble(_ name: String) throws {
    let problem = try ColumnBatchTests.namedCase(name).problem(batchSize: 3)
    for options in Self.allOptions {
      try Self.expectBatchedEqualsLooped(
        problem, options, rtol: 1e-12, atolFactor: 1e-14,
        "\(name) \(options.fisherType) \(options.approximation) joint=\(options.jointBias)")
    }
  }

  @Test(arguments: names)
  func batchedEqualsLoopedInFloat(_ name: String) throws {
    let problem = try ColumnBatchTests.namedCase(name).problemInFloat(batchSize: 3)
    for options in Self.allOptions {
      try Self.expectBatchedEqualsLooped(
        problem, options, rtol: 1e-4, atolFactor: 1e-5,
        "\(name) Float \(options.fisherType) \(options.approximation) joint=\(options.jointBias)")
    }
  }

  /// The batched path takes the columns in chunks and the batches in order: the same bits
  /// from run to run, for every Fisher type (mc: the same samples).
  @Test func batchedBuildIsDeterministic() throws {
    for name in ["cnn_groups_tanh", "mlp_tanh_cross_entropy_mean"] {
      let problem = try ColumnBatchTests.namedCase(name).problem(batchSize: 2)
      for options in Self.allOptions {
        let first = try KFACOperator(problem, options: options).computeFactors()
        #expect(try KFACOperator(problem, options: options).computeFactors() == first, "\(name) \(options.fisherType)")
      }
    }
  }

  /// A graph model (which backpropagates column by column) gets the batched Sequential's
  /// factors for the same layers, and `batchedColumns` does not change its bits.
  @Test func graphModelEqualsBatchedSequential() throws {
    typealias G = GraphSupport
    let sequential = try Sequential<Double>(
      [Linear(inFeatures: 3, outFeatures: 4), Tanh(), Linear(inFeatures: 4, outFeatures: 3)], seed: 6)
    let text = G.document(
      inputs: [G.value("x", [-1, 3])],
      parameters: [G.value("a.weight", [4, 3]), G.value("a.bias", [4]), G.value("b.weight", [3, 4]), G.value("b.bias", [3])],
      nodes: [
        G.node("a", "linear", ["x", "a.weight", "a.bias"], [-1, 4]), G.node("t", "tanh", ["a"], [-1, 4]),
        G.node("b", "linear", ["t", "b.weight", "b.bias"], [-1, 3]),
      ], output: "b", loss: #"{"type": "cross_entropy", "reduction": "mean"}"#)
    var graph = try G.graph(text, as: Double.self)
    try graph.setParameters(sequential.parameters)
    var rng = RandomGenerator(seed: 3, stream: 2)
    let data = try ArrayDataset<Double>(inputs: rng.normalArray(shape: [7, 3]), targets: .classes([0, 2, 1, 1, 0, 2, 2]))
    let loss = Loss<Double>(.crossEntropy)
    let p1 = try CurvatureProblem(model: sequential, loss: loss, data: data, batchSize: 4, checkDeterminism: false)
    let p2 = try CurvatureProblem(model: graph, loss: loss, data: data, batchSize: 4, checkDeterminism: false)
    for options in Self.allOptions {
      var looped = options
      looped.batchedColumns = false
      let label = "\(options.fisherType) \(options.approximation) joint=\(options.jointBias)"
      let a = try KFACOperator(p1, options: options).computeFactors()
      let b = try KFACOperator(p2, options: options).computeFactors()
      #expect(try KFACOperator(p2, options: looped).computeFactors() == b, "\(label): graph bits")
      for (x, y) in zip(a, b) {
        expectClose(y.inputCovariance!, x.inputCovariance!, rtol: 1e-13, "\(label) A")
        expectClose(y.gradientCovariance, x.gradientCovariance, rtol: 1e-12, atolFactor: 1e-14, "\(label) B")
      }
    }
  }

  /// The option is not coded: options encoded before it existed decode (it defaults to on).
  @Test func optionIsNotPartOfTheCoding() throws {
    var options = KFACOptions(fisherType: .type2)
    options.batchedColumns = false
    let data = try JSONEncoder().encode(options)
    let text = String(decoding: data, as: UTF8.self)
    #expect(!text.contains("batchedColumns"), "\(text)")
    let decoded = try JSONDecoder().decode(KFACOptions.self, from: data)
    #expect(decoded.batchedColumns && decoded.fisherType == .type2)
  }
}
