import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// Products with k columns (`A X`, X `[P, k]`), which carry the k tangents through one
/// forward (and reverse) pass per batch for Sequential models, against the same operator
/// applied column by column (one matvec per column) and against the dense references, in
/// Double and Float, for k = 1, 3 and 32; and the exact diagonals (the backpropagated
/// Hessian diagonal; graph models' diagonals) against the dense diagonals.
@Suite struct ColumnBatchTests {
  /// The cases of `CurvatureCases` plus deeper MLPs with GELU and Softplus, a CNN with a
  /// grouped convolution and Tanh, and a CNN whose convolution feeds a smooth activation.
  static func namedCase(_ name: String) throws -> CurvatureCase {
    var rng = RandomGenerator(seed: 31, stream: 7)
    switch name {
    case "deep_gelu_softplus":
      let model = try Sequential<Double>(
        [Linear(inFeatures: 3, outFeatures: 5), GELU(), Linear(inFeatures: 5, outFeatures: 4), Softplus(),
         Linear(inFeatures: 4, outFeatures: 3), Sigmoid(), Linear(inFeatures: 3, outFeatures: 3)], seed: 8)
      let x: NDArray<Double> = rng.normalArray(shape: [7, 3])
      let data = try ArrayDataset(inputs: x, targets: CurvatureCases.targets(.crossEntropy, outputShape: [7, 3], rng: &rng))
      return CurvatureCase(name: name, model: model, loss: Loss(.crossEntropy), data: data)
    case "cnn_groups_tanh":
      let model = try Sequential<Double>(
        [try Conv2d(inChannels: 2, outChannels: 4, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), groups: 2), Tanh(),
         try Conv2d(inChannels: 4, outChannels: 2, kernelSize: (2, 2)), Sigmoid(), Flatten(), Linear(inFeatures: 8, outFeatures: 3)],
        seed: 9)
      let x: NDArray<Double> = rng.normalArray(shape: [5, 2, 5, 5])
      let data = try ArrayDataset(inputs: x, targets: CurvatureCases.targets(.mse, outputShape: [5, 3], rng: &rng))
      return CurvatureCase(name: name, model: model, loss: Loss(.mse, reduction: .sum), data: data)
    default:
      return try CurvatureCases.named(name)
    }
  }

  static let names = [
    "mlp_tanh_cross_entropy_mean", "mlp_sigmoid_mse_sum", "mlp_relu_bce_with_logits_mean", "sequence_mse_mean",
    "sequence_bce_with_logits_mean", "cnn_cross_entropy_mean", "deep_gelu_softplus", "cnn_groups_tanh",
  ]

  /// `A X` column by column: one product with each column as a vector.
  static func columnLoop<T: BLASScalar>(_ op: any LinearOperator<T>, _ x: NDArray<T>) throws -> NDArray<T> {
    let (n, k) = (x.shape[0], x.shape[1])
    var result = NDArray<T>(zeros: [op.rowCount, k])
    for j in 0..<k {
      let column = NDArray(shape: [n], scalars: (0..<n).map { x.scalars[$0 * k + j] })
      let product = try op.apply(column)
      for i in 0..<op.rowCount { result.scalars[i * k + j] = product.scalars[i] }
    }
    return result
  }

  static func operators<T: BLASScalar>(_ problem: CurvatureProblem<T>) throws -> [(String, any LinearOperator<T>)] {
    [("GGN", GGNOperator(problem)), ("EF", EmpiricalFisherOperator(problem)), ("Hessian", HessianOperator(problem)),
     ("MC", try MonteCarloFisherOperator(problem, mcSamples: 2, seed: 5))]
  }

  @Test(arguments: names, [1, 3, 32])
  func matmatEqualsColumnLoopAndDense(_ name: String, _ k: Int) throws {
    let c = try Self.namedCase(name)
    let problem = try c.problem(batchSize: 4)
    let reference = c.reference()
    let x = CurvatureCases.randomMatrix(problem.dimension, k, seed: UInt64(k))
    let dense = ["GGN": reference.ggn, "EF": reference.empiricalFisher, "Hessian": reference.hessian()]
    for (label, op) in try Self.operators(problem) {
      let product = try op.apply(x)
      expectClose(product, try Self.columnLoop(op, x), rtol: 1e-11, "\(name) \(label) k = \(k) vs columns")
      if let matrix = dense[label] { expectClose(product, matmul(matrix, x), rtol: 1e-10, "\(name) \(label) k = \(k) vs dense") }
    }
  }

  @Test(arguments: names, [3, 32])
  func matmatEqualsColumnLoopInFloat(_ name: String, _ k: Int) throws {
    let c = try Self.namedCase(name)
    let problem = try c.problemInFloat(batchSize: 4)
    let x = CurvatureCases.randomMatrix(problem.dimension, k, seed: UInt64(k)).converted(to: Float.self)
    for (label, op) in try Self.operators(problem) {
      let product = try op.apply(x).converted(to: Double.self)
      let columns = try Self.columnLoop(op, x).converted(to: Double.self)
      expectClose(product, columns, rtol: 2e-4, atolFactor: 1e-5, "\(name) \(label) Float k = \(k)")
    }
  }

  /// The MC Fisher's samples do not depend on k: the same columns give the same matrix,
  /// and one operator applied twice gives the same bits.
  @Test func monteCarloFisherIsIndependentOfTheColumnCount() throws {
    let problem = try CurvatureCases.named("mlp_tanh_cross_entropy_mean").problem(batchSize: 4)
    let op = try MonteCarloFisherOperator(problem, mcSamples: 3, seed: 9)
    let x = CurvatureCases.randomMatrix(problem.dimension, 32, seed: 4)
    let all = try op.apply(x)
    #expect(try op.apply(x) == all)
    let first3 = NDArray(shape: [problem.dimension, 3], scalars: (0..<problem.dimension).flatMap { i in (0..<3).map { x.scalars[i * 32 + $0] } })
    let three = try op.apply(first3)
    let sliced = NDArray(shape: [problem.dimension, 3], scalars: (0..<problem.dimension).flatMap { i in (0..<3).map { all.scalars[i * 32 + $0] } })
    expectClose(sliced, three, rtol: 1e-12, "MC Fisher columns of k = 32 vs k = 3")
  }

  /// A subset of the blocks: tangents of the others are zero and their products absent.
  @Test func matmatOnSelectedBlocks() throws {
    let c = try Self.namedCase("deep_gelu_softplus")
    for blocks in [[2, 3], [5], [0, 6, 7]] {
      let problem = try c.problem(batchSize: 3, blocks: blocks)
      let reference = c.reference(blocks: blocks)
      let x = CurvatureCases.randomMatrix(problem.dimension, 5, seed: 2)
      expectClose(try GGNOperator(problem).apply(x), matmul(reference.ggn, x), rtol: 1e-10, "GGN blocks \(blocks)")
      expectClose(try HessianOperator(problem).apply(x), matmul(reference.hessian(), x), rtol: 1e-10, "Hessian blocks \(blocks)")
      assertClose(try HessianOperator(problem).diagonal(), reference.hessian().diagonal(), rtol: 1e-10, atol: 1e-13, "Hessian diagonal blocks \(blocks)")
    }
  }

  @Test(arguments: names)
  func backpropagatedHessianDiagonalMatchesDense(_ name: String) throws {
    let c = try Self.namedCase(name)
    let problem = try c.problem(batchSize: 3)
    assertClose(try HessianOperator(problem).diagonal(), c.reference().hessian().diagonal(), rtol: 1e-10, atol: 1e-13, "\(name)")
  }

  /// The exact diagonals of exported graph models against the diagonals of the dense
  /// matrices (curvlinops' GGN and Hessian, and the EF and MC Fisher from products).
  @Test(arguments: GraphExportedFixtureTests.names)
  func graphModelDiagonalsMatchDense(_ name: String) throws {
    let folder = GraphExportedFixtureTests.directory.appendingPathComponent(name)
    let file = try ModelFile<Double>(
      description: folder.appendingPathComponent("model.json"), weights: folder.appendingPathComponent("weights.safetensors"))
    let reference = try NPZFile(contentsOf: folder.appendingPathComponent("reference.npz"))
    var inputs = [NDArray<Double>]()
    while let reader = try? reference.reader(named: "input_\(inputs.count)") {
      inputs.append(try reader.readAll().floats(as: Double.self))
    }
    let targetArray = try reference.reader(named: "targets").readAll()
    let targets: Targets<Double> = file.loss.kind == .crossEntropy
      ? .classes(try targetArray.integers()) : .values(try targetArray.floats(as: Double.self))
    let data = try ArrayDataset(inputs: inputs[0], targets: targets, extraInputs: Array(inputs.dropFirst()))
    let problem = try CurvatureProblem(model: file.network, loss: file.loss, data: data)
    guard problem.dimension <= 250 else { return }
    let ggn = try NPYArray(contentsOf: folder.appendingPathComponent("ggn.npy")).floats(as: Double.self)
    let hessian = try NPYArray(contentsOf: folder.appendingPathComponent("hessian.npy")).floats(as: Double.self)
    let scale = Swift.max(CurvatureCases.maxMagnitude(ggn.diagonal()), CurvatureCases.maxMagnitude(hessian.diagonal()), 1e-300)
    assertClose(try GGNOperator(problem).diagonal(), ggn.diagonal(), rtol: 1e-10, atol: 1e-10 * scale, "\(name) GGN diagonal")
    assertClose(try HessianOperator(problem).diagonal(), hessian.diagonal(), rtol: 1e-10, atol: 1e-10 * scale, "\(name) Hessian diagonal")
    let ef = EmpiricalFisherOperator(problem)
    assertClose(try ef.diagonal(), try Self.columnLoop(ef, NDArray<Double>.identity(problem.dimension)).diagonal(), rtol: 1e-10, atol: 1e-13, "\(name) EF diagonal")
    let mc = try MonteCarloFisherOperator(problem, mcSamples: 2, seed: 3)
    assertClose(try mc.diagonal(), try Self.columnLoop(mc, NDArray<Double>.identity(problem.dimension)).diagonal(), rtol: 1e-10, atol: 1e-13, "\(name) MC diagonal")
    let x = CurvatureCases.randomMatrix(problem.dimension, 3, seed: 1)
    expectClose(try GGNOperator(problem).apply(x), matmul(ggn, x), rtol: 1e-9, atolFactor: 1e-10, "\(name) GGN matmat")
  }
}
