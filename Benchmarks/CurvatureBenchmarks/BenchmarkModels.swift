// The two reference problems every curvature benchmark runs on (from the autodiff issue):
//   MLP: 784-256-256-10, tanh, cross-entropy, batch 512.
//   CNN: 3×32×32 → conv 3→16 k3 pad 1 → ReLU → conv 16→32 k3 stride 2 pad 1 → ReLU →
//        flatten → linear → 10, cross-entropy, batch 128.

import Curvature

/// A model, its loss and one batch of synthetic data.
struct BenchmarkProblem<T: BLASScalar> {
  let name: String
  let model: Sequential<T>
  let loss: Loss<T>
  let inputs: NDArray<T>
  let targets: Targets<T>

  /// `loss(model(inputs; parameters), targets)` as a tensor function of the parameters.
  func objective(_ parameters: [Tensor<T>]) -> Tensor<T> {
    loss(model(Tensor(inputs), parameters: parameters), targets)
  }

  /// The network output as a tensor function of the parameters.
  func output(_ parameters: [Tensor<T>]) -> Tensor<T> {
    model(Tensor(inputs), parameters: parameters)
  }

  /// A random direction in parameter space, one block per parameter.
  func direction(seed: UInt64) -> [Tensor<T>] {
    var rng = RandomGenerator(seed: seed)
    return model.parameterSpecs.map { Tensor(rng.normalArray(shape: $0.shape, T.self)) }
  }
}

func benchmarkMLP<T: BLASScalar>(_: T.Type, batch: Int = 512) -> BenchmarkProblem<T> {
  // The layer list is fixed and valid; a failure here is a programming error.
  let model = try! Sequential<T>(
    [Linear<T>(inFeatures: 784, outFeatures: 256), Tanh<T>(), Linear<T>(inFeatures: 256, outFeatures: 256),
     Tanh<T>(), Linear<T>(inFeatures: 256, outFeatures: 10)], seed: 1)
  var rng = RandomGenerator(seed: 2)
  let x: NDArray<T> = rng.normalArray(shape: [batch, 784])
  let y = (0..<batch).map { _ in rng.integer(below: 10) }
  return BenchmarkProblem(name: "mlp", model: model, loss: Loss(.crossEntropy), inputs: x, targets: .classes(y))
}

func benchmarkCNN<T: BLASScalar>(_: T.Type, batch: Int = 128) -> BenchmarkProblem<T> {
  let model = try! Sequential<T>(
    [try! Conv2d<T>(inChannels: 3, outChannels: 16, kernelSize: (3, 3), padding: (1, 1)), ReLU<T>(),
     try! Conv2d<T>(inChannels: 16, outChannels: 32, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1)),
     ReLU<T>(), Flatten<T>(), Linear<T>(inFeatures: 32 * 16 * 16, outFeatures: 10)], seed: 1)
  var rng = RandomGenerator(seed: 3)
  let x: NDArray<T> = rng.normalArray(shape: [batch, 3, 32, 32])
  let y = (0..<batch).map { _ in rng.integer(below: 10) }
  return BenchmarkProblem(name: "cnn", model: model, loss: Loss(.crossEntropy), inputs: x, targets: .classes(y))
}
