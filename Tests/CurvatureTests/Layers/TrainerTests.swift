import Curvature
import CurvatureTestSupport
import Foundation
import Testing

private typealias Support = LayersTestSupport

/// Two Gaussian blobs in the plane, centred at (±1.5, ±1.5), labelled 0 and 1: linearly
/// separable with a wide margin.
private func blobs(count: Int, seed: UInt64) throws -> ArrayDataset<Double> {
  var generator = RandomGenerator(seed: seed)
  var inputs = [Double](), labels = [Int]()
  for i in 0..<count {
    let label = i % 2
    let centre = label == 0 ? -1.5 : 1.5
    inputs += [centre + 0.5 * generator.normal(), centre + 0.5 * generator.normal()]
    labels.append(label)
  }
  return try ArrayDataset(inputs: NDArray(shape: [count, 2], scalars: inputs), targets: .classes(labels))
}

private func mlp(seed: UInt64 = 3) throws -> Sequential<Double> {
  try Sequential<Double>(
    [Linear(inFeatures: 2, outFeatures: 8), Tanh(), Linear(inFeatures: 8, outFeatures: 2)], seed: seed)
}

/// The loss of the whole data set (mean reduction).
private func fullLoss(_ model: Sequential<Double>, _ data: ArrayDataset<Double>, _ loss: Loss<Double>) throws -> Double {
  let batch = try data.all()
  return loss(Tensor(model.predict(batch.inputs)), batch.targets).scalar
}

@Suite struct TrainerTests {
  @Test func trainingDecreasesTheLoss() throws {
    let data = try blobs(count: 64, seed: 1)
    var model = try mlp()
    let loss = Loss<Double>(.crossEntropy, reduction: .mean)
    let before = try fullLoss(model, data, loss)
    var optimizer = Adam<Double>(learningRate: 0.05)
    var reported = [(Int, Double)]()
    let losses = try train(
      &model, loss: loss, data: data, optimizer: &optimizer, epochs: 15, batchSize: 16, seed: 7
    ) { epoch, value in reported.append((epoch, value)) }
    let after = try fullLoss(model, data, loss)
    #expect(losses.count == 15)
    #expect(reported.map(\.0) == Array(1...15))
    #expect(reported.map(\.1) == losses)
    #expect(losses.allSatisfy { $0.isFinite })
    #expect(after < 0.1 * before, "loss \(before) → \(after)")
    #expect(losses.last! < 0.2 * losses.first!, "epoch losses \(losses)")
    // Every data point is classified correctly.
    let logits = model.predict(data.inputs)
    guard case let .classes(labels) = data.targets else { Issue.record("class targets expected"); return }
    for (i, label) in labels.enumerated() {
      let predicted = logits.scalars[2 * i + 1] > logits.scalars[2 * i] ? 1 : 0
      #expect(predicted == label, "point \(i)")
    }
  }

  @Test func sgdWithMomentumTrainsAnMSERegression() throws {
    // y = 2x₀ − x₁ + 0.5, learnt by a linear layer with SGD, sum reduction, a short last batch.
    var generator = RandomGenerator(seed: 4)
    let x: NDArray<Double> = generator.normalArray(shape: [30, 2])
    var targets = [Double]()
    for i in 0..<30 {
      let x0 = x.scalars[2 * i], x1 = x.scalars[2 * i + 1]
      targets.append(2 * x0 - x1 + 0.5)
    }
    let y = NDArray(shape: [30, 1], scalars: targets)
    let data = try ArrayDataset(inputs: x, targets: .values(y))
    var model = try Sequential<Double>([Linear(inFeatures: 2, outFeatures: 1)], seed: 0)
    var optimizer = SGD<Double>(learningRate: 0.01, momentum: 0.9)
    let losses = try train(
      &model, loss: Loss(.mse, reduction: .sum), data: data, optimizer: &optimizer, epochs: 60,
      batchSize: 8, seed: 1)
    #expect(losses.last! < 1e-6 * losses.first!, "\(losses)")
    assertClose(model.parameters[0], NDArray(shape: [1, 2], scalars: [2, -1]), rtol: 1e-3, atol: 1e-3)
    assertClose(model.parameters[1], NDArray([0.5]), rtol: 1e-3, atol: 1e-3)
  }

  @Test func sameSeedGivesBitIdenticalParameters() throws {
    let data = try blobs(count: 24, seed: 2)
    func run(seed: UInt64) throws -> (Sequential<Double>, [Double]) {
      var model = try mlp()
      var optimizer = SGD<Double>(learningRate: 0.1, momentum: 0.9, weightDecay: 1e-3, nesterov: true)
      let losses = try train(
        &model, loss: Loss(.crossEntropy), data: data, optimizer: &optimizer, epochs: 3, batchSize: 5, seed: seed)
      return (model, losses)
    }
    let (a, lossesA) = try run(seed: 11)
    let (b, lossesB) = try run(seed: 11)
    let (c, _) = try run(seed: 12)
    #expect(lossesA == lossesB)
    for (x, y) in zip(a.parameters, b.parameters) { #expect(Support.bitIdentical(x, y)) }
    #expect(!zip(a.parameters, c.parameters).allSatisfy { Support.bitIdentical($0, $1) }, "a different seed must shuffle differently")
    let untrained = try mlp()
    #expect(a.parameters != untrained.parameters, "training must change the parameters")
  }

  @Test func zeroEpochsLeaveTheModelAlone() throws {
    let data = try blobs(count: 8, seed: 3)
    var model = try mlp()
    let original = model.parameters
    var optimizer = Adam<Double>()
    let losses = try train(&model, loss: Loss(.crossEntropy), data: data, optimizer: &optimizer, epochs: 0, batchSize: 4, seed: 0)
    #expect(losses.isEmpty)
    #expect(model.parameters == original)
  }

  @Test func invalidArgumentsAreThrown() throws {
    let data = try blobs(count: 8, seed: 3)
    var model = try mlp()
    var optimizer = Adam<Double>()
    Support.expectError(TrainingError.self, ["batchSize must be positive", "0"]) {
      try train(&model, loss: Loss(.crossEntropy), data: data, optimizer: &optimizer, epochs: 1, batchSize: 0, seed: 0)
    }
    Support.expectError(TrainingError.self, ["epochs must be non-negative", "-1"]) {
      try train(&model, loss: Loss(.crossEntropy), data: data, optimizer: &optimizer, epochs: -1, batchSize: 4, seed: 0)
    }
    let empty = try ArrayDataset<Double>(inputs: NDArray(zeros: [0, 2]), targets: .classes([]))
    Support.expectError(TrainingError.self, ["empty"]) {
      try train(&model, loss: Loss(.crossEntropy), data: empty, optimizer: &optimizer, epochs: 1, batchSize: 4, seed: 0)
    }
  }

  @Test func inputsThatDoNotFitTheModelAreThrownBeforeTraining() throws {
    let data = try ArrayDataset<Double>(inputs: NDArray(zeros: [4, 3]), targets: .classes([0, 1, 0, 1]))
    var model = try mlp()
    var optimizer = Adam<Double>()
    Support.expectError(ModelError.self, ["layer 0", "expects inputs [N, ..., 2]", "[4, 3]"]) {
      try train(&model, loss: Loss(.crossEntropy), data: data, optimizer: &optimizer, epochs: 1, batchSize: 4, seed: 0)
    }
  }

  @Test func divergenceIsThrownNotReturned() throws {
    let data = try blobs(count: 16, seed: 5)
    var model = try mlp()
    var optimizer = SGD<Double>(learningRate: 1e200)
    let error = Support.expectError(TrainingError.self, ["the loss of minibatch", "epoch 1"]) {
      try train(&model, loss: Loss(.mse), data: try ArrayDataset(
        inputs: data.inputs, targets: .values(NDArray(repeating: 1e200, shape: [16, 2]))),
        optimizer: &optimizer, epochs: 3, batchSize: 4, seed: 0)
    }
    if case let .nonFiniteLoss(epoch, _, value)? = error {
      #expect(epoch == 1 && !value.isFinite)
    }
    // Nothing non-finite reached the parameters.
    #expect(model.parameters.allSatisfy { $0.isFinite })
  }

  @Test func trainsFromAnNPYDataSetInFloat() throws {
    try Support.withScratchDirectory { directory in
      let data = try blobs(count: 32, seed: 6)
      let xURL = directory.appendingPathComponent("X.npy"), yURL = directory.appendingPathComponent("y.npy")
      try NPYArray(data.inputs.converted(to: Float.self)).write(to: xURL)
      guard case let .classes(labels) = data.targets else { return }
      try NPYArray(integers: labels).write(to: yURL)
      let files = try NPYDataset<Float>(inputs: xURL, targets: yURL, classTargets: true)
      var model = try Sequential<Float>(
        [Linear(inFeatures: 2, outFeatures: 4), ReLU(), Linear(inFeatures: 4, outFeatures: 2)], seed: 1)
      var optimizer = Adam<Float>.adamW(learningRate: 0.05)
      let losses = try train(&model, loss: Loss(.crossEntropy), data: files, optimizer: &optimizer, epochs: 10, batchSize: 8, seed: 2)
      #expect(losses.last! < 0.5 * losses.first!, "\(losses)")

      // In-memory and file-backed data train to the same bits.
      var memoryModel = try Sequential<Float>(
        [Linear(inFeatures: 2, outFeatures: 4), ReLU(), Linear(inFeatures: 4, outFeatures: 2)], seed: 1)
      var memoryOptimizer = Adam<Float>.adamW(learningRate: 0.05)
      let memory = try ArrayDataset(inputs: data.inputs.converted(to: Float.self), targets: .classes(labels))
      _ = try train(&memoryModel, loss: Loss(.crossEntropy), data: memory, optimizer: &memoryOptimizer, epochs: 10, batchSize: 8, seed: 2)
      for (x, y) in zip(model.parameters, memoryModel.parameters) { #expect(Support.bitIdentical(x, y)) }
    }
  }
}
