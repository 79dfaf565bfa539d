import CurvatureNumerics
import CurvatureAutodiff

/// Trains a network (any `TrainableModel`: `Sequential`, `GraphModel`, `FunctionModel`) by
/// minibatch gradient descent: each epoch visits the data set once
/// in a seeded random order, in minibatches of `batchSize` points (the last one may be
/// shorter), and applies one optimizer step per minibatch with the gradient of the
/// minibatch loss.
///
/// ```swift
/// var model = try Sequential<Float>([Linear(inFeatures: 2, outFeatures: 16), Tanh(),
///                                    Linear(inFeatures: 16, outFeatures: 2)], seed: 0)
/// var optimizer = Adam<Float>(learningRate: 1e-2)
/// let losses = try train(&model, loss: Loss(.crossEntropy), data: data, optimizer: &optimizer,
///                        epochs: 20, batchSize: 32, seed: 1) { epoch, loss in
///   print("epoch \(epoch): \(loss)")
/// }
/// ```
///
/// Training is deterministic: the same model, data, optimizer state and seed give
/// bit-identical parameters. Before any step, the inputs and targets are checked once,
/// batch by batch (inputs must fit the model — a `Sequential` checks shapes layer by layer,
/// other models through `checkInputs` and one data point's forward pass; targets must fit
/// the loss, as `Loss.validate` requires), so a bad data set fails before the model changes. Minibatches
/// are gathered point by point through `Dataset.batch`, so memory holds one minibatch, not
/// the data set.
///
/// - Parameters:
///   - model: The network, its parameters updated in place.
///   - loss: The loss and its reduction.
///   - data: The training set.
///   - optimizer: The optimizer; its state (momentum, moments) carries over between calls.
///   - epochs: The number of passes over the data (0 returns at once).
///   - batchSize: The minibatch size, positive.
///   - seed: Seeds the shuffling (`RandomGenerator.permutation`, one permutation per epoch).
///   - progress: Called after each epoch with the epoch number (from 1) and its mean loss.
/// - Returns: Per epoch, the mean of its minibatch losses (PyTorch's usual
///   `running_loss / len(loader)`), each computed before that minibatch's step.
/// - Throws: `TrainingError.invalidArgument` for a non-positive batch size, negative epochs
///   or an empty data set; `ModelError` when the inputs do not fit the model;
///   `TrainingError.invalidTargets` when targets do not fit the loss (wrong kind or shape,
///   class index out of range, BCE target outside [0, 1], non-finite values);
///   `TrainingError.nonFiniteLoss` when the loss diverges; what reading the data throws
///   (`DataError`, `FileFormatError`, e.g. for NaN inputs).
/// - Complexity: Per epoch, one forward and backward pass over the data set, plus one
///   optimizer step per minibatch.
@discardableResult
public func train<Model: TrainableModel>(
  _ model: inout Model, loss: Loss<Model.Scalar>, data: some Dataset<Model.Scalar>,
  optimizer: inout some Optimizer<Model.Scalar>, epochs: Int, batchSize: Int, seed: UInt64,
  progress: ((_ epoch: Int, _ loss: Model.Scalar) -> Void)? = nil
) throws -> [Model.Scalar] {
  try runTraining(
    &model, loss: loss, data: data, optimizer: &optimizer, epochs: epochs, batchSize: batchSize,
    order: .shuffled(seed: seed), progress: progress, observe: nil)
}

/// What the training loop hands an observer after each step, besides the model before it.
struct TrainingStepParts<T: BLASScalar> {
  var step: Int, epoch: Int, batchIndex: Int, indices: [Int], batch: Batch<T>, loss: T
  var gradients: [NDArray<T>], parametersAfter: [NDArray<T>], hyperparameters: OptimizerHyperparameters<T>
}

/// The training loop shared by `train(…seed:…)` and `train(…order:…observe:)`: checks, then
/// per epoch the order's permutation, one optimizer step per minibatch, and (when given) one
/// observation per step after the optimizer's update, with the model as it was before.
func runTraining<Model: TrainableModel, O: Optimizer<Model.Scalar>>(
  _ model: inout Model, loss: Loss<Model.Scalar>, data: some Dataset<Model.Scalar>, optimizer: inout O,
  epochs: Int, batchSize: Int, order: TrainingOrder,
  progress: ((_ epoch: Int, _ loss: Model.Scalar) -> Void)?,
  observe: ((_ before: Model, _ step: TrainingStepParts<Model.Scalar>) throws -> Void)?
) throws -> [Model.Scalar] {
  typealias T = Model.Scalar
  guard epochs >= 0 else { throw TrainingError.invalidArgument("training epochs must be non-negative, got \(epochs)") }
  guard batchSize > 0 else { throw TrainingError.invalidArgument("training batchSize must be positive, got \(batchSize)") }
  guard data.count > 0 else { throw TrainingError.invalidArgument("the training data set is empty") }
  guard epochs > 0 else { return [] }

  try validateTrainingData(model: model, loss: loss, data: data, batchSize: batchSize)

  var generator: RandomGenerator? = nil
  if case let .shuffled(seed) = order { generator = RandomGenerator(seed: seed) }
  var epochLosses = [T]()
  epochLosses.reserveCapacity(epochs)
  var globalStep = 0
  for epoch in 1...epochs {
    let order = generator?.permutation(data.count) ?? Array(0..<data.count)
    var total: T = 0
    var batches = 0
    for start in stride(from: 0, to: order.count, by: batchSize) {
      let indices = order[start..<min(start + batchSize, order.count)]
      let batch = try gatherBatch(data, indices: indices)
      let current = model
      let (value, gradients) = valueAndGradient(at: model.parameters.map { Tensor($0) }) { parameters in
        loss(current.forward(batch, parameters: parameters), batch.targets)
      }
      let lossValue = value.scalar
      guard lossValue.isFinite else {
        throw TrainingError.nonFiniteLoss(epoch: epoch, batch: batches, value: Double(lossValue))
      }
      var parameters = model.parameters
      let hyperparameters = optimizer.hyperparameters
      optimizer.step(&parameters, gradients: gradients.map(\.value))
      try model.setParameters(parameters)
      if let observe {
        try observe(current, TrainingStepParts(
          step: globalStep, epoch: epoch, batchIndex: batches, indices: Array(indices), batch: batch,
          loss: lossValue, gradients: gradients.map(\.value), parametersAfter: parameters,
          hyperparameters: hyperparameters))
      }
      total += lossValue
      batches += 1
      globalStep += 1
    }
    let mean = total / T(batches)
    epochLosses.append(mean)
    progress?(epoch, mean)
  }
  return epochLosses
}

/// Reads the data set once in consecutive batches and checks that the inputs fit the model
/// and the targets fit the loss; `LossError` positions are shifted to count over the set.
/// A `Sequential` computes each batch's output shape from its layers; other models check
/// their inputs and take the output shape of one data point's forward pass.
func validateTrainingData<Model: DifferentiableModel>(
  model: Model, loss: Loss<Model.Scalar>, data: some Dataset<Model.Scalar>, batchSize: Int
) throws {
  let sequential = model as? Sequential<Model.Scalar>
  var pointOutputShape: [Int]? = nil
  if sequential == nil {
    let first = try data.batch(0..<1)
    try model.checkInputs(first.allInputs)
    let parameters = model.parameters.map { Tensor($0) }
    pointOutputShape = Array(AutodiffMode.withoutRecording { model.forward(first, parameters: parameters) }.shape.dropFirst())
  }
  for range in data.batchRanges(size: batchSize) {
    let batch = try data.batch(range)
    let outputShape: [Int]
    if let sequential {
      outputShape = try sequential.outputShape(for: batch.inputs.shape)
    } else {
      try model.checkInputs(batch.allInputs)
      outputShape = [range.count] + pointOutputShape!
    }
    do {
      try loss.validate(outputShape: outputShape, targets: batch.targets)
    } catch {
      // Positions count classes (one per loss term) or target elements; both are a
      // whole number per data point.
      let rows = loss.termShape(outputShape)[0] / max(range.count, 1)
      let elements = outputShape.reduce(1, *) / max(range.count, 1)
      switch error {
      case let .classOutOfRange(position, value, classCount):
        throw TrainingError.invalidTargets(
          .classOutOfRange(position: range.lowerBound * rows + position, value: value, classCount: classCount))
      case let .targetOutOfRange(position, value):
        throw TrainingError.invalidTargets(.targetOutOfRange(position: range.lowerBound * elements + position, value: value))
      case let .nonFiniteTarget(position):
        throw TrainingError.invalidTargets(.nonFiniteTarget(position: range.lowerBound * elements + position))
      case .wrongTargetKind, .wrongShape, .invalidOption:
        throw TrainingError.invalidTargets(error)
      default:
        // Not about the targets (the loss's own checks): as it is.
        throw error
      }
    }
  }
}

/// The data points at `indices`, in that order: consecutive indices as one read, others
/// one by one into arrays reserved for the whole batch.
func gatherBatch<T: BLASScalar>(_ data: some Dataset<T>, indices: ArraySlice<Int>) throws -> Batch<T> {
  let count = indices.count
  if let first = indices.first, indices.elementsEqual(first..<(first + count)) {
    // In order (`--no-shuffle`, or one batch of the whole set in order): one read, no copy.
    let batch = try data.batch(first..<(first + count))
    return Batch(inputs: batch.inputs, targets: batch.targets, range: 0..<count, extraInputs: batch.extraInputs)
  }
  var inputs = [T]()
  var classes = [Int]()
  var values = [T]()
  var targetRowShape: [Int]? = nil
  var extras = [[T]](), extraShapes = [[Int]]()
  for index in indices {
    let point = try data.batch(index..<(index + 1))
    if inputs.isEmpty {
      // Sized from the first point, so appending never reallocates (and copies) the batch.
      inputs.reserveCapacity(point.inputs.count * count)
      switch point.targets {
      case let .classes(c): classes.reserveCapacity(c.count * count)
      case let .values(v): values.reserveCapacity(v.count * count)
      }
    }
    inputs += point.inputs.scalars
    if extras.isEmpty && !point.extraInputs.isEmpty {
      extras = point.extraInputs.map { extra in
        var scalars = [T]()
        scalars.reserveCapacity(extra.count * count)
        return scalars
      }
      extraShapes = point.extraInputs.map { Array($0.shape.dropFirst()) }
    }
    for (slot, extra) in point.extraInputs.enumerated() where slot < extras.count { extras[slot] += extra.scalars }
    switch point.targets {
    case let .classes(c): classes += c
    case let .values(v):
      values += v.scalars
      targetRowShape = Array(v.shape.dropFirst())
    }
  }
  let targets: Targets<T> = targetRowShape.map { .values(NDArray(shape: [count] + $0, scalars: values)) } ?? .classes(classes)
  // The points need not be consecutive in the data set: `range` numbers them in the batch.
  return Batch(
    inputs: NDArray(shape: [count] + data.inputShape, scalars: inputs), targets: targets, range: 0..<count,
    extraInputs: zip(extras, extraShapes).map { NDArray(shape: [count] + $1, scalars: $0) })
}

extension DifferentiableModel {
  /// The output for a batch: the one-tensor forward pass for a single-input model, all the
  /// batch's inputs otherwise.
  func forward(_ batch: Batch<Scalar>, parameters: [Tensor<Scalar>]) -> Tensor<Scalar> {
    inputCount == 1 ? self(Tensor(batch.inputs), parameters: parameters) : self(batch.inputTensors, parameters: parameters)
  }
}
