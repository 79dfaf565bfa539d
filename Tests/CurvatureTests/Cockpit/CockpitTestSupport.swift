import Curvature
import CurvatureTestSupport

/// The training runs of the cockpit tests: three Gaussian blobs in 4 dimensions, the small
/// MLP that classifies them, and a run observed by a cockpit.
enum CockpitRun {
  /// `count` points of three classes (point i has class i mod 3), centred at −1, 0 and 1.
  static func blobs<T: BLASScalar>(_: T.Type, count: Int, seed: UInt64) throws -> ArrayDataset<T> {
    var generator = RandomGenerator(seed: seed)
    var inputs = [T](), labels = [Int]()
    for i in 0..<count {
      let label = i % 3
      inputs += (0..<4).map { _ in T(Double(label) - 1 + 0.7 * generator.normal()) }
      labels.append(label)
    }
    return try ArrayDataset(inputs: NDArray(shape: [count, 4], scalars: inputs), targets: .classes(labels))
  }

  /// `Linear(4, 6) – Sigmoid – Linear(6, 3)`, seeded.
  static func network<T: BLASScalar>(_: T.Type) throws -> Sequential<T> {
    try Sequential<T>([Linear(inFeatures: 4, outFeatures: 6), Sigmoid(), Linear(inFeatures: 6, outFeatures: 3)], seed: 5)
  }

  /// The records of `cockpit` observing the training of a copy of `model` (cross-entropy).
  static func records<Model: TrainableModel>(
    _ cockpit: Cockpit<Model.Scalar>, model: Model, data: some Dataset<Model.Scalar>, optimizer: some Optimizer<Model.Scalar>,
    epochs: Int = 1, batchSize: Int, order: TrainingOrder
  ) throws -> [CockpitRecord] {
    var cockpit = cockpit, model = model, optimizer = optimizer
    try train(&model, loss: Loss(.crossEntropy), data: data, optimizer: &optimizer, epochs: epochs, batchSize: batchSize, order: order) {
      try cockpit.observe($0)
    }
    return cockpit.records
  }
}
