import Curvature
import CurvatureTestSupport
import Foundation
import Testing

private typealias Support = GraphSupport

/// Curvature operators of graph models against the independent dense matrices of
/// `DenseCurvature` (reverse-mode only, one data point at a time): in Double at rtol 1e-10
/// (matvec, matmat, adjoint and dense), and in Float against the Double matrices.
@Suite struct GraphCurvatureTests {
  /// The residual block with cross-entropy, and the transformer pieces (embeddings, an
  /// int64 buffer, attention as ops, a tied head) with cross-entropy on the last token.
  static func cases() throws -> [(name: String, model: GraphModel<Double>, loss: Loss<Double>, data: ArrayDataset<Double>)] {
    var rng = RandomGenerator(seed: 12)
    let residual = try Support.file(Support.residual, as: Double.self, seed: 6)
    let x: NDArray<Double> = rng.normalArray(shape: [7, 4])
    let residualData = try ArrayDataset(inputs: x, targets: .classes((0..<7).map { _ in rng.integer(below: 3) }))
    let transformer = try Support.transformerModel(as: Double.self)
    return [
      ("residual", residual.graph!, residual.loss, residualData),
      ("transformer", transformer.graph!, transformer.loss, try Support.transformerData(n: 5)),
    ]
  }

  @Test(arguments: ["residual", "transformer"])
  func operatorsMatchDenseReferences(_ name: String) throws {
    let c = try Self.cases().first { $0.name == name }!
    let problem = try CurvatureProblem(model: c.model, loss: c.loss, data: c.data, batchSize: 2)
    let reference = DenseCurvature(model: c.model, loss: c.loss, data: c.data)
    #expect(problem.dimension == reference.dimension && problem.reductionFactor == reference.reductionFactor)
    try expectMatches(GGNOperator(problem), reference.ggn, "\(name) GGN")
    try expectMatches(HessianOperator(problem), reference.hessian(), "\(name) Hessian")
    try expectMatches(EmpiricalFisherOperator(problem), reference.empiricalFisher, "\(name) EF")
    try expectMatches(JacobianOperator(problem), reference.jacobian, "\(name) Jacobian")
    let (_, gradient) = try problem.lossAndGradient()
    expectClose(gradient, NDArray(reference.riskGradient(at: reference.flatParameters)), rtol: 1e-10, "\(name) gradient")
  }

  /// The same graphs in Float: GGN and Hessian products (matvec and transpose) agree with
  /// the Double dense matrices.
  @Test(arguments: ["residual", "transformer"])
  func floatAgreesWithDouble(_ name: String) throws {
    let c = try Self.cases().first { $0.name == name }!
    let model = c.model.converted(to: Float.self)
    #expect(model.parameters == c.model.parameters.map { $0.converted(to: Float.self) })
    guard case let .classes(classes) = c.data.targets else { Issue.record("class targets"); return }
    let data = try ArrayDataset<Float>(inputs: c.data.inputs.converted(to: Float.self), targets: .classes(classes))
    let problem = try CurvatureProblem(model: model, loss: Loss<Float>(c.loss.kind, reduction: c.loss.reduction), data: data, batchSize: 2)
    let reference = DenseCurvature(model: c.model, loss: c.loss, data: c.data)
    var rng = RandomGenerator(seed: 4)
    let v: NDArray<Double> = rng.normalArray(shape: [problem.dimension])
    let vf = v.converted(to: Float.self)
    for (label, op, dense) in [
      ("GGN", GGNOperator(problem) as any LinearOperator<Float>, reference.ggn),
      ("Hessian", HessianOperator(problem) as any LinearOperator<Float>, reference.hessian()),
    ] {
      expectClose(try op.apply(vf).converted(to: Double.self), matmul(dense, v), rtol: 1e-4, atolFactor: 1e-5, "\(name) \(label) in Float")
      expectClose(
        try op.applyTranspose(vf).converted(to: Double.self), matmul(dense, v, transposeA: true), rtol: 1e-4, atolFactor: 1e-5,
        "\(name) \(label)ᵀ in Float")
    }
  }
}
