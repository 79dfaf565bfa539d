import Curvature
import CurvatureTestSupport
import Foundation
import Testing

/// The exact Hessian diagonal of graph models by second-order backpropagation (BackPACK's
/// DiagHessian: the loss Hessian's factor columns plus the residual columns of smooth
/// elementwise nodes), with unit products only for the blocks that a second-order term
/// without a rule touches: against curvlinops' dense Hessians (hessian.npy of
/// Fixtures/Graph) and the independent `DenseCurvature`, in Double (≤ 1e-10 of the largest
/// entry) and Float; and the plan, which says which blocks took which path.
@Suite struct GraphHessianDiagonalTests {
  /// Fixtures whose every block is backpropagated: no Hessian-vector product at all.
  static let fullyBackpropagated: Set<String> = [
    "avgpool1d_chunk", "avgpool_ceil", "cls_select_concat", "conv1d", "conv_groups", "leaky_softplus", "resnet_tiny",
    "rmsnorm_elu", "scalar_ops", "split_unsqueeze_expand",
  ]
  /// Fixtures where every block meets a softmax: unit products for all.
  static let allUnitProducts: Set<String> = ["masked_fill_matmul", "per_token_ce_ignore"]

  @Test(arguments: PerSampleSupport.graphNames)
  func hessianDiagonalMatchesCurvlinops(_ name: String) throws {
    let problem = try PerSampleSupport.graphProblem(name, as: Double.self, batchSize: 2)
    let folder = PerSampleSupport.graphDirectory.appendingPathComponent(name)
    let hessian = try NPYArray(contentsOf: folder.appendingPathComponent("hessian.npy")).floats(as: Double.self)
    let operator_ = HessianOperator(problem)
    let plan = operator_.diagonalPlan()
    let diagonal = try operator_.diagonal()
    GraphDiagonalTests.expectDiagonal(diagonal, hessian.diagonal(), tolerance: 1e-10, "\(name) Hessian diagonal vs curvlinops")
    #expect(plan.backpropagatedCount + plan.unitProductCount == problem.dimension, "\(name): \(plan)")
    #expect(Set(plan.backpropagatedBlocks).union(plan.unitProductBlocks) == Set(problem.blocks), "\(name): \(plan)")
    if Self.fullyBackpropagated.contains(name) {
      #expect(plan.unitProductBlocks.isEmpty && plan.reason == nil, "\(name): \(plan)")
      #expect(plan.description.contains("backpropagated (DiagHessian) for all \(problem.dimension) parameters"), "\(plan)")
    } else if Self.allUnitProducts.contains(name) {
      #expect(plan.backpropagatedBlocks.isEmpty && plan.description.contains("softmax"), "\(name): \(plan)")
    } else {
      // Attention and norms: both paths, the ruleless nodes named.
      #expect(!plan.backpropagatedBlocks.isEmpty && !plan.unitProductBlocks.isEmpty, "\(name): \(plan)")
      #expect(plan.reason?.contains("(attention)") == true, "\(name): \(plan)")
    }
    // Float: the same within single precision.
    let single = try PerSampleSupport.graphProblem(name, as: Float.self, batchSize: 2)
    GraphDiagonalTests.expectDiagonal(
      try HessianOperator(single).diagonal(), hessian.diagonal().converted(to: Float.self), tolerance: 2e-4,
      "\(name) Float Hessian diagonal")
  }

  /// nanoGPT: attention and every LayerNorm's input touch all blocks but the final norm's
  /// weight and bias (`lm_head` is tied to `wte`, which the embedding also reads); those two
  /// are backpropagated, the rest take unit products; a selection of blocks keeps the rule.
  @Test func nanoGPTSplitsAtRulelessNodes() throws {
    let problem = try PerSampleSupport.graphProblem("nanogpt", as: Double.self, batchSize: 2)
    let plan = HessianOperator(problem).diagonalPlan()
    let names = plan.backpropagatedBlocks.map { problem.model.parameterSpecs[$0].name }
    #expect(names == ["transformer.ln_f.weight", "transformer.ln_f.bias"], "\(plan)")
    #expect(plan.description.hasPrefix("Hessian diagonal: backpropagated (DiagHessian) for 8 parameters in 2 blocks, unit products for 212"))
    let last = problem.model.parameterSpecs.count - 1
    let selected = try problem.restricted(to: [0, last - 1, last].filter { $0 >= 0 })
    let hessian = HessianOperator(selected)
    GraphDiagonalTests.expectDiagonal(
      try hessian.diagonal(), try hessian.dense().diagonal(), tolerance: 1e-10, "nanogpt selected blocks")
  }

  /// The hand-written graphs against `DenseCurvature` (reverse mode one data point at a
  /// time, independent of the library's products): the tanh MLP (a residual node before the
  /// last layer), the residual block (tanh after the skip connection) and the transformer
  /// pieces (q kᵀ, softmax and the head tied to the token embedding touch every block: unit
  /// products for all).
  @Test(arguments: ["mlp", "residual", "transformer"])
  func handWrittenGraphsMatchDenseCurvature(_ name: String) throws {
    var rng = RandomGenerator(seed: 21)
    let model: GraphModel<Double>, loss: Loss<Double>, data: ArrayDataset<Double>
    switch name {
    case "mlp":
      let file = try GraphSupport.file(GraphSupport.mlp, as: Double.self, seed: 4)
      (model, loss) = (file.graph!, file.loss)
      data = try ArrayDataset(inputs: rng.normalArray(shape: [6, 5]), targets: .values(rng.normalArray(shape: [6, 3])))
    case "residual":
      let file = try GraphSupport.file(GraphSupport.residual, as: Double.self, seed: 6)
      (model, loss) = (file.graph!, file.loss)
      data = try ArrayDataset(inputs: rng.normalArray(shape: [7, 4]), targets: .classes((0..<7).map { _ in rng.integer(below: 3) }))
    default:
      let file = try GraphSupport.transformerModel(as: Double.self)
      (model, loss) = (file.graph!, file.loss)
      data = try GraphSupport.transformerData(n: 5)
    }
    let problem = try CurvatureProblem(model: model, loss: loss, data: data, batchSize: 3)
    let reference = DenseCurvature(model: model, loss: loss, data: data)
    let hessian = HessianOperator(problem)
    GraphDiagonalTests.expectDiagonal(try hessian.diagonal(), reference.hessian().diagonal(), tolerance: 1e-10, "\(name) vs dense")
    let plan = hessian.diagonalPlan()
    if name == "transformer" {
      #expect(plan.backpropagatedBlocks.isEmpty && plan.reason?.contains("'p' (softmax)") == true, "\(plan)")
    } else {
      #expect(plan.unitProductBlocks.isEmpty, "\(plan)")
    }
    // Float against the Double reference.
    let single = try CurvatureProblem(
      model: model.converted(to: Float.self), loss: Loss<Float>(loss.kind, reduction: loss.reduction),
      data: try ArrayDataset(inputs: data.inputs.converted(to: Float.self), targets: data.targets.converted(to: Float.self)),
      batchSize: 3)
    GraphDiagonalTests.expectDiagonal(
      try HessianOperator(single).diagonal(), reference.hessian().diagonal().converted(to: Float.self), tolerance: 2e-4,
      "\(name) Float vs dense")
  }
}
