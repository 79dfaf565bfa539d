import Curvature
import CurvatureTestSupport
import Foundation
import Testing

private typealias Support = LayersTestSupport

/// Every case of `Fixtures/Layers` (scripts/fixtures/make_layer_fixtures.py): each layer
/// and loss, both reductions, Linear on rank-3 and rank-4 inputs, convolutions with stride,
/// padding, dilation, groups and without bias.
private let referenceCases = [
  "mlp_tanh_ce_mean", "mlp_tanh_ce_sum",
  "mlp_activations_mse_mean", "mlp_activations_mse_sum",
  "mlp_bce_mean", "mlp_bce_sum",
  "sequence_linear_mse_mean", "sequence_linear_mse_sum",
  "cnn_ce_mean", "cnn_ce_sum",
  "conv_nobias_linear4d_bce_mean", "conv_nobias_linear4d_bce_sum",
  "depthwise_conv_mse_mean", "depthwise_conv_mse_sum",
  "saturated_activations_mse_mean",
]

/// The case's output, loss and gradients computed by Curvature in `T`, and PyTorch's
/// (float64, converted to `T`).
private struct ReferenceComparison<T: BLASScalar> {
  var names: [String]
  var output: NDArray<T>
  var loss: T
  var gradients: [NDArray<T>]
  var expectedOutput: NDArray<T>
  var expectedLoss: T
  var expectedGradients: [NDArray<T>]
  var expectedGradientKeys: Set<String>
  var model: Sequential<T>
  var inputs: NDArray<T>
}

private func compute<T: BLASScalar>(_ name: String, as _: T.Type) throws -> ReferenceComparison<T> {
  let directory = Support.layerCase(name)
  let file = try ModelFile<T>(
    description: directory.appendingPathComponent("model.json"),
    weights: directory.appendingPathComponent("weights.safetensors"))
  let data = try NPYDataset<T>(
    inputs: directory.appendingPathComponent("X.npy"), targets: directory.appendingPathComponent("y.npy"),
    classTargets: file.loss.kind == .crossEntropy)
  let batch = try data.all()
  let model = file.model, loss = file.loss
  let outputShape = try model.outputShape(for: batch.inputs.shape)
  try loss.validate(outputShape: outputShape, targets: batch.targets)
  let input = Tensor(batch.inputs)
  var output: NDArray<T>? = nil
  let (value, gradients) = valueAndGradient(at: model.parameterTensors) { parameters in
    let y = model(input, parameters: parameters)
    output = y.value
    return loss(y, batch.targets)
  }
  let expected = try SafetensorsFile(contentsOf: directory.appendingPathComponent("expected.safetensors"))
  let expectedLoss = try expected.array(named: "loss", as: T.self)
  #expect(expectedLoss.shape == [1])
  #expect(outputShape == output?.shape)
  return ReferenceComparison(
    names: model.parameterNames, output: output ?? NDArray(zeros: [0]), loss: value.scalar,
    gradients: gradients.map(\.value), expectedOutput: try expected.array(named: "output", as: T.self),
    expectedLoss: expectedLoss.scalars[0],
    expectedGradients: try model.parameterNames.map { try expected.array(named: "grad.\($0)", as: T.self) },
    expectedGradientKeys: Set(expected.names.filter { $0.hasPrefix("grad.") }), model: model,
    inputs: batch.inputs)
}

private func check<T: BLASScalar>(_ c: ReferenceComparison<T>, rtol: T, atolFactor: T, _ name: String) {
  // Entries that cancel to (near) zero get an absolute tolerance relative to the block's scale.
  assertClose(c.output, c.expectedOutput, rtol: rtol, atol: atolFactor * Support.maxMagnitude(c.expectedOutput), "\(name) output")
  assertClose(c.loss, c.expectedLoss, rtol: rtol, "\(name) loss")
  #expect(c.expectedGradientKeys == Set(c.names.map { "grad.\($0)" }), "\(name): parameter names differ from PyTorch's")
  for (blockName, (actual, expected)) in zip(c.names, zip(c.gradients, c.expectedGradients)) {
    assertClose(actual, expected, rtol: rtol, atol: atolFactor * Support.maxMagnitude(expected), "\(name) grad.\(blockName)")
  }
}

@Suite struct PyTorchReferenceTests {
  @Test func everyFixtureIsListed() throws {
    let found = try FileManager.default.contentsOfDirectory(atPath: Support.fixtures.appendingPathComponent("Layers").path)
      .filter { !$0.hasPrefix(".") }
    #expect(Set(found) == Set(referenceCases))
  }

  @Test(arguments: referenceCases)
  func double(_ name: String) throws {
    let c = try compute(name, as: Double.self)
    check(c, rtol: 1e-10, atolFactor: 1e-13, name)
    // The constant-path forward pass agrees with the differentiable one.
    #expect(Support.bitIdentical(c.model.predict(c.inputs), c.output), "\(name): predict differs from the recorded forward pass")
  }

  @Test(arguments: referenceCases)
  func float(_ name: String) throws {
    let c = try compute(name, as: Float.self)
    check(c, rtol: 1e-4, atolFactor: 1e-5, name)
  }

  /// The same data read whole with `NPYArray` (rather than `NPYDataset`) gives the same batch.
  @Test(arguments: ["mlp_tanh_ce_mean", "sequence_linear_mse_sum", "cnn_ce_sum"])
  func npyArrayLoadingMatchesDataset(_ name: String) throws {
    let directory = Support.layerCase(name)
    let classTargets = name.contains("_ce_")
    let dataset = try NPYDataset<Double>(
      inputs: directory.appendingPathComponent("X.npy"), targets: directory.appendingPathComponent("y.npy"),
      classTargets: classTargets)
    let batch = try dataset.all()
    let x = try NPYArray(contentsOf: directory.appendingPathComponent("X.npy")).floats(as: Double.self, requireFinite: true)
    let yFile = try NPYArray(contentsOf: directory.appendingPathComponent("y.npy"))
    let y: Targets<Double> = classTargets ? .classes(try yFile.integers()) : .values(try yFile.floats(as: Double.self))
    #expect(Support.bitIdentical(batch.inputs, x))
    #expect(batch.targets == y)
    #expect(dataset.count == x.shape[0] && dataset.inputShape == Array(x.shape.dropFirst()))
  }

  /// The same model and data under the other reduction: PyTorch's mean loss times the
  /// normalization (data points for cross-entropy, all elements for MSE and BCE) is the
  /// summed loss, and the gradients scale alike.
  @Test(arguments: ["mlp_tanh_ce_mean", "mlp_bce_mean", "sequence_linear_mse_mean", "cnn_ce_mean"])
  func sumReductionIsMeanTimesNormalization(_ name: String) throws {
    let c = try compute(name, as: Double.self)
    let directory = Support.layerCase(name)
    let file = try ModelFile<Double>(
      description: directory.appendingPathComponent("model.json"),
      weights: directory.appendingPathComponent("weights.safetensors"))
    let batch = try NPYDataset<Double>(
      inputs: directory.appendingPathComponent("X.npy"), targets: directory.appendingPathComponent("y.npy"),
      classTargets: file.loss.kind == .crossEntropy).all()
    let n = file.loss.normalization(outputShape: c.output.shape)
    switch file.loss.kind {
    case .crossEntropy: #expect(n == c.output.count / c.output.shape.last!)
    case .mse, .bceWithLogits: #expect(n == c.output.count)
    }
    let summed = Loss<Double>(file.loss.kind, reduction: .sum)
    #expect(summed.normalization(outputShape: c.output.shape) == 1)
    let (value, gradients) = valueAndGradient(at: file.model.parameterTensors) { parameters in
      summed(file.model(Tensor(batch.inputs), parameters: parameters), batch.targets)
    }
    assertClose(value.scalar, c.expectedLoss * Double(n), rtol: 1e-10, "\(name) summed loss")
    for (actual, expected) in zip(gradients, c.expectedGradients) {
      assertClose(actual.value, expected * Double(n), rtol: 1e-10, atol: 1e-13 * Support.maxMagnitude(expected) * Double(n))
    }
  }

  /// Softplus follows PyTorch's threshold: above 20 it is the identity, with derivative 1
  /// and second derivative 0; at and below 20 the smooth function.
  @Test func softplusFollowsPyTorchThreshold() {
    let points: [Double] = [-800, -30, -1, 0, 3, 19.5, 20, 20.000001, 25, 50, 1e10]
    let x = Tensor(NDArray(points))
    let layer = Softplus<Double>()
    let value = layer(x, parameters: []).value
    let (_, gradient) = valueAndGradient(at: x) { layer($0, parameters: []).sum() }
    let curvature = hessianVectorProduct(at: [x], along: [Tensor(NDArray(repeating: 1, shape: [points.count]))]) {
      layer($0[0], parameters: []).sum()
    }[0].value
    for (i, p) in points.enumerated() {
      let sigmoid = 1 / (1 + exp(-p))
      if p > 20 {
        #expect(value.scalars[i] == p, "softplus(\(p))")
        #expect(gradient.value.scalars[i] == 1, "softplus'(\(p))")
        #expect(curvature.scalars[i] == 0, "softplus''(\(p))")
      } else {
        assertClose(value.scalars[i], log1p(exp(p)), rtol: 1e-14, "softplus(\(p))")
        assertClose(gradient.value.scalars[i], sigmoid, rtol: 1e-14, "softplus'(\(p))")
        assertClose(curvature.scalars[i], sigmoid * (1 - sigmoid), rtol: 1e-12, atol: 1e-300, "softplus''(\(p))")
      }
    }
    // Float uses the same threshold.
    let single = Softplus<Float>()(Tensor(NDArray<Float>([19, 21])), parameters: []).value
    #expect(single.scalars[1] == 21)
    assertClose(single.scalars[0], log1p(exp(Float(19))), rtol: 1e-6)
  }
}
