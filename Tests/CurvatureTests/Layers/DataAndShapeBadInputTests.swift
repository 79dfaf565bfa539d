import Curvature
import Foundation
import Testing

private typealias Support = LayersTestSupport

/// Targets and inputs that do not fit a loss or a model: one test per case.
@Suite struct LossTargetBadInputTests {
  private let crossEntropy = Loss<Double>(.crossEntropy, reduction: .mean)

  @Test func classIndexOutOfRange() {
    let error = Support.expectError(LossError.self, ["class index 3 at position 2", "out of range for 3 classes", "0..<3"]) {
      try crossEntropy.validate(outputShape: [4, 3], targets: .classes([0, 2, 3, 1]))
    }
    #expect(error == .classOutOfRange(position: 2, value: 3, classCount: 3))
    Support.expectError(LossError.self, ["class index -1 at position 0"]) {
      try crossEntropy.validate(outputShape: [2, 3], targets: .classes([-1, 0]))
    }
  }

  @Test func classIndexOutOfRangeThroughTheTrainingLoop() throws {
    let data = try ArrayDataset<Double>(
      inputs: NDArray(shape: [6, 2], scalars: (0..<12).map { Double($0) / 12 }), targets: .classes([0, 1, 1, 0, 2, 1]))
    var model = try Sequential<Double>([Linear(inFeatures: 2, outFeatures: 2)], seed: 0)
    let original = model.parameters
    var optimizer = SGD<Double>(learningRate: 0.1)
    // Batch size 4: the bad label is in the second batch; its position counts over the set.
    let error = Support.expectError(
      TrainingError.self, ["training targets", "class index 2 at position 4", "out of range for 2 classes"]
    ) {
      try train(&model, loss: crossEntropy, data: data, optimizer: &optimizer, epochs: 2, batchSize: 4, seed: 0)
    }
    #expect(error == .invalidTargets(.classOutOfRange(position: 4, value: 2, classCount: 2)))
    #expect(model.parameters == original, "no step may run before the targets are validated")
  }

  @Test func bceTargetOutsideUnitInterval() {
    let bce = Loss<Double>(.bceWithLogits, reduction: .sum)
    let error = Support.expectError(LossError.self, ["BCE target 1.5 at position 3", "outside [0, 1]"]) {
      try bce.validate(outputShape: [2, 2], targets: .values(NDArray(shape: [2, 2], scalars: [0, 1, 0.5, 1.5])))
    }
    #expect(error == .targetOutOfRange(position: 3, value: 1.5))
    Support.expectError(LossError.self, ["BCE target -0.25"]) {
      try bce.validate(outputShape: [1, 2], targets: .values(NDArray(shape: [1, 2], scalars: [-0.25, 0])))
    }
    // The bounds themselves are fine, and MSE takes any finite value.
    #expect(throws: Never.self) {
      try bce.validate(outputShape: [1, 2], targets: .values(NDArray(shape: [1, 2], scalars: [0, 1])))
      try Loss<Double>(.mse).validate(outputShape: [1, 2], targets: .values(NDArray(shape: [1, 2], scalars: [-5, 7])))
    }
  }

  @Test func bceTargetOutOfRangeThroughTheTrainingLoop() throws {
    let targets = NDArray<Double>(shape: [5, 1], scalars: [0, 1, 1, 0, 2])
    let data = try ArrayDataset<Double>(inputs: NDArray(zeros: [5, 3]), targets: .values(targets))
    var model = try Sequential<Double>([Linear(inFeatures: 3, outFeatures: 1)], seed: 0)
    var optimizer = Adam<Double>()
    let error = Support.expectError(TrainingError.self, ["BCE target 2.0 at position 4"]) {
      try train(&model, loss: Loss(.bceWithLogits), data: data, optimizer: &optimizer, epochs: 1, batchSize: 2, seed: 0)
    }
    #expect(error == .invalidTargets(.targetOutOfRange(position: 4, value: 2)))
  }

  @Test func wrongTargetKind() {
    Support.expectError(LossError.self, ["cross-entropy needs integer class targets"]) {
      try crossEntropy.validate(outputShape: [2, 3], targets: .values(NDArray(zeros: [2, 3])))
    }
    Support.expectError(LossError.self, ["mse needs floating-point targets", "got class indices"]) {
      try Loss<Double>(.mse).validate(outputShape: [2, 1], targets: .classes([0, 1]))
    }
    Support.expectError(LossError.self, ["bce_with_logits needs floating-point targets"]) {
      try Loss<Double>(.bceWithLogits).validate(outputShape: [2, 1], targets: .classes([0, 1]))
    }
  }

  @Test func targetShapeMismatch() {
    Support.expectError(LossError.self, ["mse: targets of shape [2, 3]", "outputs [2, 1]"]) {
      try Loss<Double>(.mse).validate(outputShape: [2, 1], targets: .values(NDArray(zeros: [2, 3])))
    }
    Support.expectError(LossError.self, ["cross-entropy: 3 class targets", "[2, 4]", "needs 2"]) {
      try crossEntropy.validate(outputShape: [2, 4], targets: .classes([0, 1, 2]))
    }
    Support.expectError(LossError.self, ["cross-entropy needs outputs [N, C]"]) {
      try crossEntropy.validate(outputShape: [4], targets: .classes([0, 1, 2, 3]))
    }
  }

  @Test func nonFiniteTarget() {
    Support.expectError(LossError.self, ["target at position 1 is NaN or infinite"]) {
      try Loss<Double>(.mse).validate(outputShape: [3], targets: .values(NDArray([0, .nan, 1])))
    }
  }
}

/// Data sets whose inputs or counts are bad.
@Suite struct DatasetBadInputTests {
  @Test func nanInInputsOfAnArrayDataset() {
    let inputs = NDArray<Double>(shape: [3, 2], scalars: [0, 1, 2, .nan, 4, 5])
    let error = Support.expectError(DataError.self, ["input element 3", "data point 1", "nan"]) {
      _ = try ArrayDataset(inputs: inputs, targets: .classes([0, 1, 0]))
    }
    #expect(error != nil)
    Support.expectError(DataError.self, ["input element 0", "inf"]) {
      _ = try ArrayDataset(inputs: NDArray<Float>([.infinity]), targets: .classes([0]))
    }
  }

  @Test func nanInInputsOfAnNPYDatasetBatch() throws {
    try Support.withScratchDirectory { directory in
      let x = directory.appendingPathComponent("X_nan.npy"), y = directory.appendingPathComponent("y.npy")
      try NPYArray(NDArray<Double>(shape: [4, 2], scalars: [0, 1, 2, 3, 4, .nan, 6, 7])).write(to: x)
      try NPYArray(integers: [0, 1, 0, 1]).write(to: y)
      let data = try NPYDataset<Float>(inputs: x, targets: y, classTargets: true)
      // Batches without the bad value read fine; the one holding it names file and element.
      _ = try data.batch(0..<2)
      Support.expectError(FileFormatError.self, [x.path, "non-finite value", "flat index 5", "[2, 1]"]) {
        _ = try data.batch(2..<4)
      }
      // And through the training loop, before any step.
      var model = try Sequential<Float>([Linear(inFeatures: 2, outFeatures: 2)], seed: 0)
      let original = model.parameters
      var optimizer = SGD<Float>(learningRate: 0.1)
      Support.expectError(FileFormatError.self, [x.path, "non-finite value"]) {
        try train(&model, loss: Loss(.crossEntropy), data: data, optimizer: &optimizer, epochs: 1, batchSize: 2, seed: 0)
      }
      #expect(model.parameters == original)
    }
  }

  @Test func nanInValueTargetsOfAnNPYDataset() throws {
    try Support.withScratchDirectory { directory in
      let x = directory.appendingPathComponent("X.npy"), y = directory.appendingPathComponent("y_inf.npy")
      try NPYArray(NDArray<Double>(zeros: [3, 2])).write(to: x)
      try NPYArray(NDArray<Double>(shape: [3, 1], scalars: [0, .infinity, 1])).write(to: y)
      let data = try NPYDataset<Double>(inputs: x, targets: y, classTargets: false)
      Support.expectError(FileFormatError.self, [y.path, "non-finite value", "flat index 1"]) {
        _ = try data.all()
      }
    }
  }

  @Test func countMismatchBetweenInputsAndTargets() throws {
    Support.expectError(DataError.self, ["inputs hold 4 data points but targets hold 3"]) {
      _ = try ArrayDataset<Double>(inputs: NDArray(zeros: [4, 2]), targets: .classes([0, 1, 0]))
    }
    Support.expectError(DataError.self, ["inputs hold 2 data points but targets hold 3"]) {
      _ = try ArrayDataset<Double>(inputs: NDArray(zeros: [2, 2]), targets: .values(NDArray(zeros: [3, 1])))
    }
    try Support.withScratchDirectory { directory in
      let x = directory.appendingPathComponent("X4.npy"), y = directory.appendingPathComponent("y3.npy")
      try NPYArray(NDArray<Double>(zeros: [4, 2])).write(to: x)
      try NPYArray(integers: [0, 1, 0]).write(to: y)
      Support.expectError(DataError.self, [x.path, "holds 4 data points", y.path, "holds 3"]) {
        _ = try NPYDataset<Double>(inputs: x, targets: y, classTargets: true)
      }
      let npz = directory.appendingPathComponent("mismatch.npz")
      try NPZFile.write([("X", NPYArray(NDArray<Double>(zeros: [4, 2]))), ("y", NPYArray(integers: [0, 1, 0]))], to: npz)
      Support.expectError(DataError.self, [npz.path, "holds 4 data points", "holds 3"]) {
        _ = try NPYDataset<Double>(archive: npz, classTargets: true)
      }
    }
  }

  @Test func classTargetsMustBeAVector() throws {
    try Support.withScratchDirectory { directory in
      let x = directory.appendingPathComponent("X.npy"), y = directory.appendingPathComponent("y2d.npy")
      try NPYArray(NDArray<Double>(zeros: [2, 2])).write(to: x)
      try NPYArray(integers: [0, 1], shape: [2, 1]).write(to: y)
      Support.expectError(DataError.self, [y.path, "class targets must have shape [N]", "[2, 1]"]) {
        _ = try NPYDataset<Double>(inputs: x, targets: y, classTargets: true)
      }
    }
  }

  @Test func fractionalClassTargets() throws {
    try Support.withScratchDirectory { directory in
      let x = directory.appendingPathComponent("X.npy"), y = directory.appendingPathComponent("y_float.npy")
      try NPYArray(NDArray<Double>(zeros: [2, 2])).write(to: x)
      try NPYArray(NDArray<Double>([1, 0.5])).write(to: y)
      let data = try NPYDataset<Double>(inputs: x, targets: y, classTargets: true)
      Support.expectError(FileFormatError.self, [y.path, "element 1"]) { _ = try data.all() }
    }
  }

  @Test func batchOutsideTheDataSet() throws {
    let data = try ArrayDataset<Double>(inputs: NDArray(zeros: [3, 1]), targets: .classes([0, 0, 0]))
    Support.expectError(DataError.self, ["batch 2..<5 is outside the data set of 3 points"]) {
      _ = try data.batch(2..<5)
    }
  }
}

/// Inputs and parameters that do not fit a `Sequential`.
@Suite struct SequentialBadInputTests {
  private func cnn() throws -> Sequential<Double> {
    try Sequential<Double>(
      [try Conv2d(inChannels: 2, outChannels: 4, kernelSize: (3, 3)), ReLU(), Flatten(),
       Linear(inFeatures: 60, outFeatures: 3)], seed: 0)
  }

  @Test func outputShapeNamesTheFirstLayerThatDoesNotFit() throws {
    let model = try cnn()
    // [1, 2, 6, 6] → conv [1, 4, 4, 4] → flatten [1, 64]: the Linear (layer 3) expects 60.
    let error = Support.expectError(ModelError.self, ["layer 3", "Linear(60 → 3)", "[N, ..., 60]", "[1, 64]"]) {
      _ = try model.outputShape(for: [1, 2, 6, 6])
    }
    #expect(error.map { !$0.description.contains("shape mismatch: layer 3: shape mismatch") } ?? true, "repeated prefix: \(String(describing: error))")
    Support.expectError(ModelError.self, ["layer 0", "Conv2d(2, 4", "[N, 2, H, W]", "[1, 3, 6, 6]"]) {
      _ = try model.outputShape(for: [1, 3, 6, 6])
    }
    Support.expectError(ModelError.self, ["layer 0", "smaller than the dilated kernel", "[5, 2, 2, 2]"]) {
      _ = try model.outputShape(for: [5, 2, 2, 2])
    }
    Support.expectError(ModelError.self, ["layer 0", "[N, 2, H, W]", "[2, 6, 6]"]) {
      _ = try model.outputShape(for: [2, 6, 6])
    }
    // The fitting size passes.
    #expect(try model.outputShape(for: [5, 2, 7, 5]) == [5, 3])
    let mlp = try Sequential<Double>([Linear(inFeatures: 4, outFeatures: 3), Tanh(), Linear(inFeatures: 3, outFeatures: 2)], seed: 0)
    Support.expectError(ModelError.self, ["layer 0", "[8, 5]"]) { _ = try mlp.outputShape(for: [8, 5]) }
    Support.expectError(ModelError.self, ["layer 0", "[4]"]) { _ = try mlp.outputShape(for: [4]) }
  }

  @Test func initRejectsParametersOfTheWrongShape() throws {
    let layers: [any Layer<Double>] = [Linear(inFeatures: 5, outFeatures: 7), Tanh(), Linear(inFeatures: 7, outFeatures: 3, bias: false)]
    let good: [NDArray<Double>] = [NDArray(zeros: [7, 5]), NDArray(zeros: [7]), NDArray(zeros: [3, 7])]
    #expect(throws: Never.self) { _ = try Sequential(layers, parameters: good) }
    let error = Support.expectError(ModelError.self, ["0.weight has shape [5, 7]", "the layer needs [7, 5]"]) {
      _ = try Sequential(layers, parameters: [NDArray(zeros: [5, 7]), good[1], good[2]])
    }
    #expect(error == .parameterMismatch("0.weight has shape [5, 7], the layer needs [7, 5]"))
    Support.expectError(ModelError.self, ["2.weight has shape [3, 8]", "[3, 7]"]) {
      _ = try Sequential(layers, parameters: [good[0], good[1], NDArray(zeros: [3, 8])])
    }
    Support.expectError(ModelError.self, ["the layers have 3 parameter blocks, 4 were given"]) {
      _ = try Sequential(layers, parameters: good + [NDArray(zeros: [3])])
    }
    Support.expectError(ModelError.self, ["the layers have 3 parameter blocks, 2 were given"]) {
      _ = try Sequential(layers, parameters: Array(good.prefix(2)))
    }
    var model = try Sequential(layers, parameters: good)
    Support.expectError(ModelError.self, ["0.bias has shape [1, 7]"]) {
      try model.setParameters([good[0], NDArray(zeros: [1, 7]), good[2]])
    }
    Support.expectError(ModelError.self, ["needs shape [63]", "[60]"]) {
      _ = try model.unflatten(NDArray(zeros: [60]))
    }
  }

  @Test func initRejectsLayersThatDoNotChain() {
    Support.expectError(ModelError.self, ["layer 2", "expects 6 input features", "layer 0 produces 7"]) {
      _ = try Sequential<Double>([Linear(inFeatures: 5, outFeatures: 7), ReLU(), Linear(inFeatures: 6, outFeatures: 3)], seed: 0)
    }
  }

  @Test func convRejectsChannelsNotDivisibleByGroups() {
    Support.expectError(ModelError.self, ["divisible by groups", "groups=3"]) {
      _ = try Conv2d<Double>(inChannels: 4, outChannels: 6, kernelSize: (3, 3), groups: 3)
    }
    Support.expectError(ModelError.self, ["sizes must be positive"]) {
      _ = try Conv2d<Double>(inChannels: 4, outChannels: 6, kernelSize: (0, 3))
    }
  }
}
