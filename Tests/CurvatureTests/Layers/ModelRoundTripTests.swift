import Curvature
import CurvatureTestSupport
import Foundation
import Testing

private typealias Support = LayersTestSupport

/// Reads `text` as a model.json (no weights).
private func parse<T: BLASScalar>(_ text: String, as _: T.Type = Double.self) throws -> ModelFile<T> {
  try ModelFile<T>(json: Data(text.utf8), path: "inline.json")
}

@Suite struct ModelRoundTripTests {
  /// Writing a model (description and weights) and reading it back gives the same layers,
  /// loss and bit-identical parameters, in both precisions.
  @Test(arguments: ["cnn_ce_sum", "mlp_activations_mse_mean", "conv_nobias_linear4d_bce_sum", "depthwise_conv_mse_mean"])
  func writeThenReadIsIdentical(_ name: String) throws {
    let directory = Support.layerCase(name)
    let original = try ModelFile<Double>(
      description: directory.appendingPathComponent("model.json"),
      weights: directory.appendingPathComponent("weights.safetensors"))
    try Support.withScratchDirectory { scratch in
      let json = scratch.appendingPathComponent("model.json"), weights = scratch.appendingPathComponent("w.safetensors")
      try original.write(description: json, weights: weights)
      let copy = try ModelFile<Double>(description: json, weights: weights)
      #expect(copy.loss == original.loss)
      #expect(copy.model.layers.count == original.model.layers.count)
      for (a, b) in zip(copy.model.layers, original.model.layers) {
        #expect(a.jsonObject == b.jsonObject)
        #expect(a.description == b.description)
      }
      #expect(copy.model.parameterNames == original.model.parameterNames)
      #expect(copy.model.parameters.count == original.model.parameters.count)
      for (a, b) in zip(copy.model.parameters, original.model.parameters) { #expect(Support.bitIdentical(a, b)) }
      // The written description is the fixture's (PyTorch's) description, field for field.
      let written = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? NSDictionary
      let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("model.json"))) as? NSDictionary
      #expect(written != nil && written == fixture)

      // Float: written as F32, read back to the same bits.
      let single = ModelFile<Float>(model: try original.model.converted(to: Float.self), loss: Loss(.mse, reduction: .sum))
      try single.write(description: json, weights: weights)
      let singleCopy = try ModelFile<Float>(description: json, weights: weights)
      #expect(singleCopy.loss == single.loss)
      for (a, b) in zip(singleCopy.model.parameters, single.model.parameters) { #expect(Support.bitIdentical(a, b)) }
      #expect(try SafetensorsFile(contentsOf: weights).tensors.allSatisfy { $0.dtype == "F32" })
    }
  }

  /// Without weights, the parameters are initialized from the seed, deterministically.
  @Test func seededInitializationWithoutWeights() throws {
    let text = #"{"layers": [{"type": "linear", "in_features": 3, "out_features": 4}], "loss": {"type": "mse"}}"#
    let a = try parse(text), b = try parse(text)
    let c = try ModelFile<Double>(json: Data(text.utf8), seed: 5)
    #expect(a.model.parameters == b.model.parameters)
    #expect(a.model.parameters != c.model.parameters)
    // PyTorch's bounds: |w|, |b| ≤ 1/√fan_in.
    #expect(a.model.parameters.allSatisfy { $0.scalars.allSatisfy { abs($0) <= 1 / 3.0.squareRoot() } })
  }

  /// Integers for the spatial pairs and omitted optional fields take PyTorch's defaults.
  @Test func intsAndOmittedFieldsTakePyTorchDefaults() throws {
    let file = try parse(#"""
      {"layers": [{"type": "conv2d", "in_channels": 2, "out_channels": 4, "kernel_size": 3},
                  {"type": "conv2d", "in_channels": 4, "out_channels": 6, "kernel_size": 2, "stride": 2,
                   "padding": 1, "dilation": 2, "groups": 2, "bias": false},
                  {"type": "flatten"}, {"type": "linear", "in_features": 1, "out_features": 5}],
       "loss": {"type": "cross_entropy"}}
      """#)
    let first = try #require(file.model.layers[0] as? Conv2d<Double>)
    #expect(first.kernelSize == (3, 3) && first.stride == (1, 1) && first.padding == (0, 0) && first.dilation == (1, 1))
    #expect(first.groups == 1 && first.hasBias)
    let second = try #require(file.model.layers[1] as? Conv2d<Double>)
    #expect(second.kernelSize == (2, 2) && second.stride == (2, 2) && second.padding == (1, 1) && second.dilation == (2, 2))
    #expect(second.groups == 2 && !second.hasBias)
    let linear = try #require(file.model.layers[3] as? Linear<Double>)
    #expect(linear.inFeatures == 1 && linear.outFeatures == 5 && linear.hasBias)
    #expect(file.loss == Loss(.crossEntropy, reduction: .mean))
    #expect(file.model.parameterNames == ["0.weight", "0.bias", "1.weight", "3.weight", "3.bias"])
    #expect(file.model.parameterSpecs.map(\.shape) == [[4, 2, 3, 3], [4], [6, 2, 2, 2], [5, 1], [5]])

    // The same model spelled out in full is the same model.
    let explicit = try parse(#"""
      {"layers": [{"type": "conv2d", "in_channels": 2, "out_channels": 4, "kernel_size": [3, 3], "stride": [1, 1],
                   "padding": [0, 0], "dilation": [1, 1], "groups": 1, "bias": true},
                  {"type": "conv2d", "in_channels": 4, "out_channels": 6, "kernel_size": [2, 2], "stride": [2, 2],
                   "padding": [1, 1], "dilation": [2, 2], "groups": 2, "bias": false},
                  {"type": "flatten"}, {"type": "linear", "in_features": 1, "out_features": 5, "bias": true}],
       "loss": {"type": "cross_entropy", "reduction": "mean"}}
      """#)
    #expect(zip(explicit.model.layers, file.model.layers).allSatisfy { $0.jsonObject == $1.jsonObject })
    #expect(explicit.model.parameters == file.model.parameters)
    // Integral floats are integers too.
    let floats = try parse(#"{"layers": [{"type": "linear", "in_features": 2.0, "out_features": 1e0}], "loss": {"type": "mse"}}"#)
    #expect((floats.model.layers[0] as? Linear<Double>)?.inFeatures == 2)
  }

  @Test func everyLayerTypeParses() throws {
    let file = try parse(#"""
      {"layers": [{"type": "linear", "in_features": 5, "out_features": 7, "bias": true}, {"type": "tanh"},
                  {"type": "relu"}, {"type": "sigmoid"}, {"type": "gelu"}, {"type": "softplus"}, {"type": "flatten"}],
       "loss": {"type": "bce_with_logits", "reduction": "sum"}}
      """#, as: Float.self)
    #expect(file.model.layers.map { $0.jsonObject["type"] } == ["linear", "tanh", "relu", "sigmoid", "gelu", "softplus", "flatten"].map { .string($0) })
    #expect(file.loss == Loss(.bceWithLogits, reduction: .sum))
  }

  @Test func flatParametersRoundTrip() throws {
    let directory = Support.layerCase("cnn_ce_mean")
    let model = try ModelFile<Double>(
      description: directory.appendingPathComponent("model.json"),
      weights: directory.appendingPathComponent("weights.safetensors")).model
    let flat = model.flatParameters()
    #expect(flat.shape == [model.parameterCount])
    #expect(model.parameterCount == model.parameterSpecs.reduce(0) { $0 + $1.count })
    // Blocks in order, each row-major.
    var offset = 0
    for (block, spec) in zip(model.parameters, model.parameterSpecs) {
      #expect(Array(flat.scalars[offset..<(offset + spec.count)]) == block.scalars, "\(spec.name)")
      offset += spec.count
    }
    let blocks = try model.unflatten(flat)
    #expect(blocks.count == model.parameters.count)
    for (a, b) in zip(blocks, model.parameters) { #expect(Support.bitIdentical(a, b)) }
    // A modified vector comes back modified, and setParameters takes it.
    var copy = model
    try copy.setParameters(try model.unflatten(flat * 2))
    #expect(Support.bitIdentical(copy.flatParameters(), flat * 2))
    Support.expectError(ModelError.self, ["flat parameter vector", "[\(model.parameterCount)]"]) {
      _ = try model.unflatten(NDArray(zeros: [1, model.parameterCount]))
    }
  }

  @Test func linearOnHigherRankInputsEqualsPerRowResult() throws {
    var generator = RandomGenerator(seed: 21)
    let layer = Linear<Double>(inFeatures: 4, outFeatures: 3)
    let weight: NDArray<Double> = generator.normalArray(shape: [3, 4]), bias: NDArray<Double> = generator.normalArray(shape: [3])
    for shape in [[2, 5, 4], [2, 3, 2, 4]] {
      let x: NDArray<Double> = generator.normalArray(shape: shape)
      let y = layer(Tensor(x), parameters: [Tensor(weight), Tensor(bias)]).value
      #expect(y.shape == Array(shape.dropLast()) + [3])
      #expect(try layer.outputShape(for: shape) == y.shape)
      let rows = x.count / 4
      for r in 0..<rows {
        let row = NDArray(shape: [1, 4], scalars: Array(x.scalars[(4 * r)..<(4 * r + 4)]))
        let expected = layer(Tensor(row), parameters: [Tensor(weight), Tensor(bias)]).value
        for o in 0..<3 {
          var manual = bias.scalars[o]
          for i in 0..<4 { manual += weight.scalars[4 * o + i] * row.scalars[i] }
          assertClose(y.scalars[3 * r + o], manual, rtol: 1e-13, atol: 1e-15)
          assertClose(y.scalars[3 * r + o], expected.scalars[o], rtol: 1e-13, atol: 1e-15)
        }
      }
      // Without bias as well.
      let noBias = Linear<Double>(inFeatures: 4, outFeatures: 3, bias: false)
      let z = noBias(Tensor(x), parameters: [Tensor(weight)]).value
      assertClose(z, y - NDArray(shape: y.shape) { bias.scalars[$0.last!] }, rtol: 1e-12, atol: 1e-14)
    }
  }

  @Test func convOutputShapeMatchesOutputShapeFor() throws {
    var generator = RandomGenerator(seed: 22)
    let configurations: [(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int, input: [Int])] = [
      ((3, 3), (1, 1), (0, 0), (1, 1), 1, [2, 2, 6, 6]),
      ((3, 3), (1, 1), (1, 1), (1, 1), 1, [1, 2, 5, 7]),
      ((3, 2), (2, 2), (1, 0), (1, 2), 2, [3, 2, 6, 6]),
      ((2, 3), (3, 1), (2, 1), (2, 1), 1, [1, 2, 7, 4]),
      ((1, 1), (2, 3), (0, 0), (1, 1), 2, [2, 2, 5, 8]),
      ((5, 5), (1, 1), (2, 2), (1, 1), 2, [1, 2, 3, 3]),
    ]
    for c in configurations {
      let conv = try Conv2d<Double>(
        inChannels: 2, outChannels: 4, kernelSize: c.kernel, stride: c.stride, padding: c.padding,
        dilation: c.dilation, groups: c.groups)
      let x: NDArray<Double> = generator.normalArray(shape: c.input)
      let parameters = conv.initialParameters(using: &generator).map { Tensor($0) }
      #expect(parameters.map(\.shape) == conv.parameterSpecs.map(\.shape))
      let y = conv(Tensor(x), parameters: parameters)
      #expect(try conv.outputShape(for: c.input) == y.shape, "\(conv)")
      let model = try Sequential<Double>([conv, Flatten()], parameters: parameters.map(\.value))
      #expect(try model.outputShape(for: c.input) == [c.input[0], y.count / c.input[0]])
      #expect(model.predict(x).shape == [c.input[0], y.count / c.input[0]])
    }
  }

  /// `converted(to:)` keeps layers and converts parameters.
  @Test func conversionBetweenPrecisions() throws {
    let directory = Support.layerCase("cnn_ce_mean")
    let model = try ModelFile<Double>(
      description: directory.appendingPathComponent("model.json"),
      weights: directory.appendingPathComponent("weights.safetensors")).model
    let single = try model.converted(to: Float.self)
    #expect(zip(single.layers, model.layers).allSatisfy { $0.jsonObject == $1.jsonObject })
    for (a, b) in zip(single.parameters, model.parameters) { #expect(a == b.converted(to: Float.self)) }
    let back = try single.converted(to: Double.self)
    #expect(back.parameterNames == model.parameterNames)
  }
}

@Suite struct SequentialObserverTests {
  /// The observer sees every layer's input and output in order, and what it returns
  /// replaces the output.
  @Test func observerTapsAndReplacesOutputs() throws {
    let model = try Sequential<Double>(
      [Linear(inFeatures: 3, outFeatures: 4), Tanh(), Linear(inFeatures: 4, outFeatures: 2)], seed: 4)
    var generator = RandomGenerator(seed: 8)
    let x: NDArray<Double> = generator.normalArray(shape: [5, 3])
    var seen = [(Int, [Int], [Int])]()
    let tapped = model(Tensor(x), parameters: model.parameterTensors) { index, input, output in
      seen.append((index, input.shape, output.shape))
      return output
    }
    #expect(seen.map(\.0) == [0, 1, 2])
    #expect(seen.map(\.1) == [[5, 3], [5, 4], [5, 4]])
    #expect(seen.map(\.2) == [[5, 4], [5, 4], [5, 2]])
    #expect(Support.bitIdentical(tapped.value, model.predict(x)))
    let doubled = model(Tensor(x), parameters: model.parameterTensors) { index, _, output in
      index == 2 ? output * 2 : output
    }
    #expect(Support.bitIdentical(doubled.value, model.predict(x) * 2))
  }
}
