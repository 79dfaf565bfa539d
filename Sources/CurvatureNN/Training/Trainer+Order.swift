import CurvatureNumerics

/// Trains any `TrainableModel` (`Sequential`, `GraphModel`, `FunctionModel`) as
/// `train(_:loss:data:optimizer:epochs:batchSize:seed:progress:)`, in a chosen data order,
/// and reports every step's minibatch loss.
///
/// With `order: .shuffled(seed:)` the parameters are bit-identical to the seeded `train`;
/// `.sequential` visits the data in their order in every epoch (PyTorch's
/// `DataLoader(shuffle=False)`). A model whose steps a `Cockpit` observes takes
/// `train(_:loss:data:optimizer:epochs:batchSize:order:progress:observe:)`.
///
/// ```swift
/// var adam = Adam<Float>(learningRate: 1e-3)
/// try train(&graph, loss: loss, data: data, optimizer: &adam, epochs: 3, batchSize: 32,
///           order: .sequential, stepLoss: { step, loss in print(step, loss) })
/// ```
/// - Parameters:
///   - model: The network, its parameters updated in place.
///   - loss: The loss and its reduction.
///   - data: The training set.
///   - optimizer: The optimizer; its state carries over between calls.
///   - epochs: The number of passes over the data (0 returns at once).
///   - batchSize: The minibatch size, positive.
///   - order: How each epoch orders the data.
///   - progress: Called after each epoch with the epoch number (from 1) and its mean loss.
///   - stepLoss: Called after each optimizer step with the step's index over the run (from
///     0) and its minibatch loss before the update; what it throws ends training and is
///     rethrown (the model keeps the parameters of the steps taken).
/// - Returns: Per epoch, the mean of its minibatch losses.
/// - Throws: As the seeded `train`, and what `stepLoss` throws.
/// - Complexity: As the seeded `train`.
@discardableResult
public func train<Model: TrainableModel>(
  _ model: inout Model, loss: Loss<Model.Scalar>, data: some Dataset<Model.Scalar>,
  optimizer: inout some Optimizer<Model.Scalar>, epochs: Int, batchSize: Int, order: TrainingOrder,
  progress: ((_ epoch: Int, _ loss: Model.Scalar) -> Void)? = nil,
  stepLoss: ((_ step: Int, _ loss: Model.Scalar) throws -> Void)? = nil
) throws -> [Model.Scalar] {
  guard let stepLoss else {
    return try runTraining(
      &model, loss: loss, data: data, optimizer: &optimizer, epochs: epochs, batchSize: batchSize, order: order,
      progress: progress, observe: nil)
  }
  return try withoutActuallyEscaping(stepLoss) { stepLoss in
    try runTraining(
      &model, loss: loss, data: data, optimizer: &optimizer, epochs: epochs, batchSize: batchSize, order: order,
      progress: progress, observe: { _, parts in try stepLoss(parts.step, parts.loss) })
  }
}
