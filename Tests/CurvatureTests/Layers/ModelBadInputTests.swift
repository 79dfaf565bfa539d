import Curvature
import Foundation
import Testing

private typealias Support = LayersTestSupport

private let validLoss = #""loss": {"type": "mse", "reduction": "mean"}"#

/// Writes `text` as `name` and expects reading it as `model.json` to throw a
/// `FileFormatError` naming the file and every fragment.
private func expectModelRejected(
  _ text: String, named name: String, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation
) throws {
  try Support.withScratchDirectory { directory in
    let url = try Support.write(text, named: name, in: directory)
    Support.expectError(FileFormatError.self, [url.path] + fragments, sourceLocation: sourceLocation) {
      _ = try ModelFile<Double>(description: url)
    }
  }
}

/// One test per way `model.json` can be wrong; each message names the file, the field and
/// the problem.
@Suite struct ModelJSONBadInputTests {
  @Test func unknownLayerType() throws {
    try expectModelRejected(
      #"{"layers": [{"type": "linear", "in_features": 2, "out_features": 2}, {"type": "dropout", "p": 0.5}], \#(validLoss)}"#,
      named: "dropout.json", "layers[1].type", "unknown layer type", "\"dropout\"", "relu")
  }

  @Test func layerWithoutType() throws {
    try expectModelRejected(
      #"{"layers": [{"in_features": 2, "out_features": 2}], \#(validLoss)}"#,
      named: "untyped.json", "layers[0].type", "missing field")
  }

  @Test func missingField() throws {
    try expectModelRejected(
      #"{"layers": [{"type": "linear", "in_features": 5}], \#(validLoss)}"#,
      named: "missing.json", "layers[0].out_features", "missing field", "a positive integer")
    try expectModelRejected(
      #"{"layers": [{"type": "conv2d", "in_channels": 1, "out_channels": 2}], \#(validLoss)}"#,
      named: "nokernel.json", "layers[0].kernel_size", "missing field")
  }

  @Test(arguments: [#""5""#, "2.5", "true", "0", "-3", "null", "[5]", "1e30"])
  func wrongFieldType(_ value: String) throws {
    try expectModelRejected(
      #"{"layers": [{"type": "linear", "in_features": \#(value), "out_features": 3}], \#(validLoss)}"#,
      named: "in_features.json", "layers[0].in_features", "not a valid integer", "an integer ≥ 1")
  }

  @Test func wrongBiasAndPairTypes() throws {
    try expectModelRejected(
      #"{"layers": [{"type": "linear", "in_features": 2, "out_features": 3, "bias": 1}], \#(validLoss)}"#,
      named: "bias.json", "layers[0].bias", "not a boolean", "true or false", "found 1")
    try expectModelRejected(
      #"{"layers": [{"type": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": [3, 3, 3]}], \#(validLoss)}"#,
      named: "kernel3.json", "layers[0].kernel_size", "wrong length", "[height, width]")
    try expectModelRejected(
      #"{"layers": [{"type": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": -1}], \#(validLoss)}"#,
      named: "padding.json", "layers[0].padding", "an integer ≥ 0", "-1")
    try expectModelRejected(
      #"{"layers": [{"type": "conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3, "stride": [1, 0]}], \#(validLoss)}"#,
      named: "stride.json", "layers[0].stride", "an integer ≥ 1", "0")
  }

  @Test func unknownField() throws {
    try expectModelRejected(
      #"{"layers": [{"type": "linear", "in_features": 2, "out_features": 2}, {"type": "relu", "inplace": true}], \#(validLoss)}"#,
      named: "inplace.json", "layers[1].inplace", "unknown field for a relu layer", "'inplace'")
    try expectModelRejected(
      #"{"layers": [{"type": "linear", "in_features": 2, "out_features": 2, "in_channels": 2}], \#(validLoss)}"#,
      named: "channels.json", "layers[0].in_channels", "unknown field for a linear layer", "in_features")
    try expectModelRejected(
      #"{"layers": [], \#(validLoss), "optimizer": "sgd"}"#,
      named: "toplevel.json", "field 'optimizer'", "unknown top-level field")
    try expectModelRejected(
      #"{"layers": [], "loss": {"type": "mse", "weight": 2}}"#,
      named: "lossfield.json", "loss.weight", "unknown field")
  }

  @Test func featuresDoNotChain() throws {
    try expectModelRejected(
      #"""
      {"layers": [{"type": "linear", "in_features": 5, "out_features": 7}, {"type": "tanh"},
                  {"type": "linear", "in_features": 6, "out_features": 3}], \#(validLoss)}
      """#,
      named: "chain.json", "field 'layers'", "layers do not fit together", "layer 2", "6 input features", "layer 0 produces 7")
    try expectModelRejected(
      #"""
      {"layers": [{"type": "conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": 3}, {"type": "relu"},
                  {"type": "conv2d", "in_channels": 3, "out_channels": 2, "kernel_size": 1}], \#(validLoss)}
      """#,
      named: "channels.json", "layers do not fit together", "layer 2", "3 input channels", "layer 0 produces 4")
  }

  @Test func convChannelsNotDivisibleByGroups() throws {
    try expectModelRejected(
      #"{"layers": [{"type": "conv2d", "in_channels": 4, "out_channels": 6, "kernel_size": 3, "groups": 4}], \#(validLoss)}"#,
      named: "groups.json", "layers[0].groups", "channels not divisible by groups", "in_channels 4", "out_channels 6", "found 4")
  }

  @Test func unknownLossTypeOrReduction() throws {
    try expectModelRejected(
      #"{"layers": [], "loss": {"type": "hinge", "reduction": "mean"}}"#,
      named: "hinge.json", "loss.type", "unknown loss type", "\"hinge\"", "cross_entropy, mse, bce_with_logits")
    try expectModelRejected(
      #"{"layers": [], "loss": {"type": "mse", "reduction": "none"}}"#,
      named: "none.json", "loss.reduction", "unknown reduction", "mean or sum", "\"none\"")
    try expectModelRejected(
      #"{"layers": [], "loss": {"reduction": "sum"}}"#,
      named: "losstype.json", "loss.type", "missing field")
    try expectModelRejected(
      #"{"layers": []}"#, named: "noloss.json", "field 'loss'", "missing field")
    try expectModelRejected(
      #"{"layers": [], "loss": "mse"}"#, named: "lossstring.json", "field 'loss'", "wrong type", "\"mse\"")
  }

  @Test func notJSON() throws {
    try expectModelRejected(#"{"layers": [{"type": "relu"}"#, named: "truncated.json", "not valid JSON")
    try expectModelRejected("layers: [relu]", named: "yaml.json", "not valid JSON")
  }

  @Test func notAnObject() throws {
    try expectModelRejected(#"[{"type": "relu"}]"#, named: "array.json", "document", "not a JSON object", "[an object]")
    try expectModelRejected(#"{"layers": {"type": "relu"}, \#(validLoss)}"#, named: "layersobject.json", "field 'layers'", "wrong type")
    try expectModelRejected(#"{"layers": [3], \#(validLoss)}"#, named: "layernumber.json", "layers[0]", "a layer must be an object", "3")
    try expectModelRejected(#"{\#(validLoss)}"#, named: "nolayers.json", "field 'layers'", "missing field")
  }

  @Test func unreadableFile() throws {
    try Support.withScratchDirectory { directory in
      let url = directory.appendingPathComponent("absent.json")
      Support.expectError(FileFormatError.self, [url.path, "cannot read the file"]) {
        _ = try ModelFile<Float>(description: url)
      }
    }
  }
}

/// A model.json for `Linear(5, 7) → Tanh → Linear(7, 3)` and its valid weights.
private let mlpJSON = #"""
  {"layers": [{"type": "linear", "in_features": 5, "out_features": 7, "bias": true}, {"type": "tanh"},
              {"type": "linear", "in_features": 7, "out_features": 3, "bias": true}],
   "loss": {"type": "cross_entropy", "reduction": "mean"}}
  """#

private func mlpWeights() -> [(name: String, array: NDArray<Double>)] {
  var generator = RandomGenerator(seed: 9)
  return [
    ("0.weight", generator.normalArray(shape: [7, 5])), ("0.bias", generator.normalArray(shape: [7])),
    ("2.weight", generator.normalArray(shape: [3, 7])), ("2.bias", generator.normalArray(shape: [3])),
  ]
}

/// Writes the MLP's model.json and `weights` as `name`, and expects loading to throw a
/// `FileFormatError` naming the weights file and every fragment.
private func expectWeightsRejected(
  _ weights: [(name: String, array: NDArray<Double>)], named name: String, _ fragments: String...,
  sourceLocation: SourceLocation = #_sourceLocation
) throws {
  try Support.withScratchDirectory { directory in
    let description = try Support.write(mlpJSON, named: "model.json", in: directory)
    let url = directory.appendingPathComponent(name)
    try SafetensorsFile.write(weights, to: url)
    Support.expectError(FileFormatError.self, [url.path] + fragments, sourceLocation: sourceLocation) {
      _ = try ModelFile<Double>(description: description, weights: url)
    }
  }
}

/// One test per way a weights file can fail to match its model.
@Suite struct WeightsBadInputTests {
  @Test func validWeightsLoad() throws {
    try Support.withScratchDirectory { directory in
      let description = try Support.write(mlpJSON, named: "model.json", in: directory)
      let url = directory.appendingPathComponent("weights.safetensors")
      // Written in a different order and as F32: keys, not order, decide; values convert.
      let weights = mlpWeights()
      // PyTorch's `save_model` adds `{"format": "pt"}` metadata, which is not a weight.
      try SafetensorsFile.write(
        weights.reversed().map { ($0.name, $0.array.converted(to: Float.self)) }, to: url, metadata: ["format": "pt"])
      let file = try ModelFile<Double>(description: description, weights: url)
      #expect(file.model.parameterNames == ["0.weight", "0.bias", "2.weight", "2.bias"])
      for (value, (_, expected)) in zip(file.model.parameters, weights) {
        #expect(value == expected.converted(to: Float.self).converted(to: Double.self))
      }
    }
  }

  @Test func keyMissing() throws {
    try expectWeightsRejected(
      Array(mlpWeights().filter { $0.name != "2.bias" }), named: "missing.safetensors",
      "tensor '2.bias'", "missing weight key", "[3]", "0.weight, 0.bias, 2.weight")
  }

  @Test func keyExtra() throws {
    try expectWeightsRejected(
      mlpWeights() + [("1.weight", NDArray(zeros: [7, 7]))], named: "extra.safetensors",
      "tensor '1.weight'", "extra weight key", "0.weight, 0.bias, 2.weight, 2.bias")
  }

  @Test func shapeDoesNotMatchTheLayer() throws {
    var weights = mlpWeights()
    weights[0].array = NDArray(zeros: [5, 7])  // transposed, as a user might save W
    try expectWeightsRejected(
      weights, named: "transposed.safetensors", "tensor '0.weight'", "weight shape does not match the layer",
      "expected [7, 5]", "found [5, 7]")
    weights = mlpWeights()
    weights[3].array = NDArray(zeros: [1, 3])
    try expectWeightsRejected(
      weights, named: "bias.safetensors", "tensor '2.bias'", "weight shape does not match the layer", "[3]", "[1, 3]")
  }

  @Test func nonFiniteWeight() throws {
    var weights = mlpWeights()
    var bad = weights[2].array.scalars
    bad[4] = .nan
    weights[2].array = NDArray(shape: [3, 7], scalars: bad)
    try expectWeightsRejected(weights, named: "nan.safetensors", "tensor '2.weight'", "non-finite value", "flat index 4")
    weights = mlpWeights()
    weights[1].array = NDArray(shape: [7], scalars: [0, 0, 0, 0, 0, 0, -.infinity])
    try expectWeightsRejected(weights, named: "inf.safetensors", "tensor '0.bias'", "non-finite value", "-inf")
  }

  @Test func doubleTooLargeForFloatIsNonFinite() throws {
    try Support.withScratchDirectory { directory in
      let description = try Support.write(mlpJSON, named: "model.json", in: directory)
      var weights = mlpWeights()
      weights[3].array = NDArray([1, 2, 1e300])
      let url = directory.appendingPathComponent("huge.safetensors")
      try SafetensorsFile.write(weights, to: url)
      _ = try ModelFile<Double>(description: description, weights: url)  // fine in Double
      Support.expectError(FileFormatError.self, [url.path, "tensor '2.bias'", "non-finite value"]) {
        _ = try ModelFile<Float>(description: description, weights: url)
      }
    }
  }
}

/// Layer sizes whose parameters cannot exist: an error naming the layer, not a crash.
@Suite struct ModelSizeBadInputTests {
  @Test func absurdLinearSize() throws {
    try expectModelRejected(
      #"{"layers": [{"type": "linear", "in_features": 100000000, "out_features": 100000000}], \#(validLoss)}"#,
      named: "huge_linear.json", "layers[0]", "model too large", "[100000000, 100000000]")
  }

  @Test func overflowingConvSize() throws {
    try expectModelRejected(
      #"""
      {"layers": [{"type": "conv2d", "in_channels": 100000000, "out_channels": 100000000,
                   "kernel_size": [100000000, 100000000]}], \#(validLoss)}
      """#,
      named: "huge_conv.json", "layers[0]", "model too large")
  }

  @Test func totalOverTheLimit() throws {
    // Each block fits; together they exceed 2³¹ − 1 parameters.
    let layer = #"{"type": "linear", "in_features": 40000, "out_features": 40000, "bias": false}"#
    try expectModelRejected(
      #"{"layers": [\#(layer), \#(layer)], \#(validLoss)}"#, named: "huge_total.json", "layers[1]", "model too large",
      "2147483647")
  }
}
