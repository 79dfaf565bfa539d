import Curvature
import CurvatureTestSupport
import Testing

/// Data sets and curvature problems move between Double and Float (issue 19).
@Suite struct PrecisionConversionTests {
  @Test func datasetsConvertBatchByBatch() throws {
    let data = try APICases.data(Double.self)
    let float = data.converted(to: Float.self)
    #expect(float.count == data.count && float.inputShape == data.inputShape)
    let batch = try float.batch(2..<5), original = try data.batch(2..<5)
    #expect(batch.inputs == original.inputs.converted(to: Float.self))
    #expect(batch.targets == original.targets.converted(to: Float.self))
    #expect(batch.range == 2..<5)
    // Class targets stay indices; Float → Double is exact.
    let classes = try ArrayDataset<Float>(inputs: NDArray(shape: [3, 2], scalars: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), targets: .classes([2, 0, 1]))
    let double = classes.converted(to: Double.self)
    #expect(try double.all().targets == .classes([2, 0, 1]))
    #expect(try double.all().inputs.converted(to: Float.self) == classes.inputs)
  }

  @Test func problemsConvertBetweenPrecisions() throws {
    let problem = try APICases.problem(Double.self)
    let restricted = try problem.restricted(toParametersMatching: ["2.*"])
    let float = try restricted.converted(to: Float.self)
    #expect(float.blocks == restricted.blocks && float.batchSize == restricted.batchSize)
    #expect(float.loss.kind == .mse && float.dimension == 10)
    let ggn64 = try GGNOperator(restricted).dense()
    let ggn32 = try GGNOperator(float).dense()
    assertClose(ggn32.converted(to: Double.self), ggn64, rtol: 1e-5, atol: 1e-6)
    // And back: the parameters round-trip exactly (Float → Double is exact).
    let back = try float.converted(to: Double.self)
    #expect(back.model.parameters == float.model.parameters.map { $0.converted(to: Double.self) })
    assertClose(try GGNOperator(back).dense(), ggn32.converted(to: Double.self), rtol: 1e-5, atol: 1e-6)
  }

  @Test func closureModelsDoNotConvert() throws {
    let sequential = try APICases.sequential(Double.self)
    let problem = try CurvatureProblem(model: try APICases.function(sequential), loss: Loss(.mse), data: try APICases.data(Double.self))
    do {
      _ = try problem.converted(to: Float.self)
      Issue.record("a FunctionModel has no other precision")
    } catch let error as CurvatureError {
      #expect("\(error)".contains("build the model again for Float"))
    }
  }
}
