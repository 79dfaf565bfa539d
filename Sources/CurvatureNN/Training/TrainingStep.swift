import CurvatureNumerics
import CurvatureAutodiff

/// The order in which each training epoch visits the data set.
public enum TrainingOrder: Sendable, Hashable {
  /// A seeded random permutation per epoch (`RandomGenerator.permutation`), as `train(…seed:…)`.
  case shuffled(seed: UInt64)
  /// The data set's own order in every epoch (PyTorch's `DataLoader(shuffle=False)`), so a
  /// run can be replayed step by step elsewhere.
  case sequential
}

/// What one optimizer step of `train(_:loss:data:optimizer:epochs:batchSize:order:progress:observe:)`
/// saw and did: the minibatch, its loss and gradient at the parameters before the step, and
/// the parameters after it.
///
/// Observers such as `Cockpit` evaluate their instruments from it: `network` holds the
/// parameters at which `loss` and `gradients` were evaluated, so curvature and per-sample
/// gradients of the same minibatch follow from `network`, `lossFunction` and `batch`. Any
/// `TrainableModel` trains this way (`Sequential`, `GraphModel`, `FunctionModel`);
/// `model` is the network as a `Sequential`, kept from when only those reported steps.
public struct TrainingStep<Scalar: BLASScalar>: Sendable {
  /// The step's index over the whole run, from 0 (cockpit's `global_step`).
  public var step: Int
  /// The epoch, from 1.
  public var epoch: Int
  /// The minibatch's index within its epoch, from 0.
  public var batchIndex: Int
  /// The data set indices of the minibatch's points, in batch order.
  public var indices: [Int]
  /// The minibatch (its `range` numbers the points within the batch, `0..<count`).
  public var batch: Batch<Scalar>
  /// The minibatch loss at the parameters before the step.
  public var loss: Scalar
  /// The loss function and its reduction.
  public var lossFunction: Loss<Scalar>
  /// The network with the parameters before the step, whatever its kind.
  public var network: any TrainableModel<Scalar>
  /// The minibatch loss's gradient, one array per parameter block.
  public var gradients: [NDArray<Scalar>]
  /// The parameter blocks after the optimizer's update.
  public var parametersAfter: [NDArray<Scalar>]
  /// The optimizer's settings that applied to this step.
  public var hyperparameters: OptimizerHyperparameters<Scalar>

  /// A step record from its parts.
  /// - Parameters:
  ///   - step: The step's index over the run, from 0.
  ///   - epoch: The epoch, from 1.
  ///   - batchIndex: The minibatch's index within its epoch, from 0.
  ///   - indices: The data set indices of the minibatch's points.
  ///   - batch: The minibatch.
  ///   - loss: The minibatch loss before the step.
  ///   - lossFunction: The loss function.
  ///   - network: The network with the parameters before the step.
  ///   - gradients: The minibatch loss's gradient, one array per parameter block.
  ///   - parametersAfter: The parameter blocks after the update.
  ///   - hyperparameters: The optimizer's settings for this step.
  public init(
    step: Int, epoch: Int, batchIndex: Int, indices: [Int], batch: Batch<Scalar>, loss: Scalar,
    lossFunction: Loss<Scalar>, network: any TrainableModel<Scalar>, gradients: [NDArray<Scalar>],
    parametersAfter: [NDArray<Scalar>], hyperparameters: OptimizerHyperparameters<Scalar>
  ) {
    self.step = step
    self.epoch = epoch
    self.batchIndex = batchIndex
    self.indices = indices
    self.batch = batch
    self.loss = loss
    self.lossFunction = lossFunction
    self.network = network
    self.gradients = gradients
    self.parametersAfter = parametersAfter
    self.hyperparameters = hyperparameters
  }

  /// A step record of a `Sequential` network from its parts (as
  /// `init(step:epoch:batchIndex:indices:batch:loss:lossFunction:network:gradients:parametersAfter:hyperparameters:)`).
  /// - Parameters:
  ///   - step: The step's index over the run, from 0.
  ///   - epoch: The epoch, from 1.
  ///   - batchIndex: The minibatch's index within its epoch, from 0.
  ///   - indices: The data set indices of the minibatch's points.
  ///   - batch: The minibatch.
  ///   - loss: The minibatch loss before the step.
  ///   - lossFunction: The loss function.
  ///   - model: The network with the parameters before the step.
  ///   - gradients: The minibatch loss's gradient, one array per parameter block.
  ///   - parametersAfter: The parameter blocks after the update.
  ///   - hyperparameters: The optimizer's settings for this step.
  public init(
    step: Int, epoch: Int, batchIndex: Int, indices: [Int], batch: Batch<Scalar>, loss: Scalar,
    lossFunction: Loss<Scalar>, model: Sequential<Scalar>, gradients: [NDArray<Scalar>],
    parametersAfter: [NDArray<Scalar>], hyperparameters: OptimizerHyperparameters<Scalar>
  ) {
    self.init(
      step: step, epoch: epoch, batchIndex: batchIndex, indices: indices, batch: batch, loss: loss,
      lossFunction: lossFunction, network: model, gradients: gradients, parametersAfter: parametersAfter,
      hyperparameters: hyperparameters)
  }

  /// The network as a `Sequential`, nil when it is another model (read `network`).
  ///
  /// Kept so that code written when only a `Sequential` reported steps compiles: it reads
  /// the `Sequential` as before; setting it replaces `network` (nil leaves it as it is).
  @available(*, deprecated, message: "steps come from any TrainableModel: read `network`")
  public var model: Sequential<Scalar>! {
    get { network as? Sequential<Scalar> }
    set { if let newValue { network = newValue } }
  }

  /// The parameter blocks before the step (those of `network`).
  public var parametersBefore: [NDArray<Scalar>] { network.parameters }

  /// The number of data points in the minibatch.
  public var batchSize: Int { indices.count }
}

/// Trains a network (any `TrainableModel`: `Sequential`, `GraphModel`, `FunctionModel`) as
/// `train(_:loss:data:optimizer:epochs:batchSize:seed:progress:)` and
/// reports every optimizer step to `observe`, after the update: the minibatch, its loss
/// and gradient, the parameters before and after, and the optimizer's settings.
///
/// With `order: .shuffled(seed:)` the parameters are bit-identical to the seeded `train`;
/// `.sequential` visits the data in their order, as PyTorch's `DataLoader(shuffle=False)`,
/// which lets a run be replayed in another framework step by step.
///
/// ```swift
/// var cockpit = try Cockpit<Double>(preset: .economy)
/// try train(&model, loss: loss, data: data, optimizer: &sgd, epochs: 2, batchSize: 32,
///           order: .sequential) { step in try cockpit.observe(step) }
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
///   - observe: Called after each optimizer step; what it throws ends training and is
///     rethrown (the model keeps the parameters of the steps taken).
/// - Returns: Per epoch, the mean of its minibatch losses.
/// - Throws: As the seeded `train`, and what `observe` throws.
/// - Complexity: As the seeded `train`, plus the observer's cost per step.
@discardableResult
public func train<Model: TrainableModel>(
  _ model: inout Model, loss: Loss<Model.Scalar>, data: some Dataset<Model.Scalar>,
  optimizer: inout some Optimizer<Model.Scalar>, epochs: Int, batchSize: Int, order: TrainingOrder,
  progress: ((_ epoch: Int, _ loss: Model.Scalar) -> Void)? = nil,
  observe: (TrainingStep<Model.Scalar>) throws -> Void
) throws -> [Model.Scalar] {
  try withoutActuallyEscaping(observe) { observe in
    try runTraining(
      &model, loss: loss, data: data, optimizer: &optimizer, epochs: epochs, batchSize: batchSize,
      order: order, progress: progress,
      observe: { before, parts in
        try observe(TrainingStep(
          step: parts.step, epoch: parts.epoch, batchIndex: parts.batchIndex, indices: parts.indices,
          batch: parts.batch, loss: parts.loss, lossFunction: loss, network: before,
          gradients: parts.gradients, parametersAfter: parts.parametersAfter,
          hyperparameters: parts.hyperparameters))
      })
  }
}
