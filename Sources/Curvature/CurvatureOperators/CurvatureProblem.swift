import CurvatureNumerics
import CurvatureAutodiff
import CurvatureNN
import CurvatureDistributed

/// The empirical risk whose curvature the operators represent:
///
/// ```
/// L(θ) = (1/R) Σ_t ℓ(f(x_n(t); θ), y_t)
/// ```
///
/// over every loss term `t` of the data set, with `R` = the number of terms for
/// cross-entropy with `mean`, the number of output elements for MSE/BCE with `mean` (as
/// PyTorch's losses), and 1 for `sum`. A cross-entropy term is a (data point, position)
/// pair of outputs `[N, C, d1, …]`; a target equal to the loss's `ignoreIndex` gives no
/// term, and `R` counts the terms left over the whole data set (as PyTorch's mean on the
/// whole set in one batch). The data are processed in batches, and every operator is
/// independent of the batch size.
///
/// ```swift
/// let problem = try CurvatureProblem(model: model, loss: loss, data: data, batchSize: 128)
/// let ggn = GGNOperator(problem)
/// let gv = try ggn.apply(v)                       // v: [P]
/// ```
///
/// Data-parallel (issue 18): given a communicator with several ranks (`mpiexec -n K`,
/// `DataParallel.communicator`), each rank reads only its shard of the data points
/// (`shard`, a `ShardPlan` range) and every operator, gradient and loss built on this
/// problem sums over its shard and adds the ranks' sums with one all-reduce per product
/// (see `CurvatureProblem+DataParallel.swift`). Everything else runs replicated: every
/// rank must make the same calls in the same order, and a rank that fails must stop the
/// others (`Communicator.abortingOnError`).
///
/// Both cores (issue 17): batches of a `Sequential` or `GraphModel` with at least 128
/// data points are split into a fixed set of row chunks that run concurrently (`threads`);
/// results do not depend on the thread count, bit for bit. Products of a `Sequential` of
/// Linear, activation and Flatten layers keep each chunk's forward pass for the next
/// product on the same data and weights (`cachesLinearizations`).
public struct CurvatureProblem<Scalar: BLASScalar>: Sendable {
  /// The network.
  public let model: any DifferentiableModel<Scalar>
  /// The loss and its reduction.
  public let loss: Loss<Scalar>
  /// The data set.
  public let data: any Dataset<Scalar>
  /// Data points per batch.
  public let batchSize: Int
  /// The parameter blocks the operators act on (indices into the model's blocks).
  public internal(set) var blocks: [Int]
  /// The shape of one data point's output.
  public let sampleOutputShape: [Int]
  /// The loss's total reduction factor `R` over the data set.
  public let reductionFactor: Int
  /// The loss terms that count over the data set: for cross-entropy, the class targets not
  /// equal to the loss's `ignoreIndex`; for MSE and BCE, the target elements.
  public let countedTerms: Int
  /// The ranks that share the data set (a `SingleProcessCommunicator` by default).
  public let communicator: any Communicator
  /// The data points this rank reads: all of them in a single process.
  public let shard: Range<Int>
  /// The threads a batch's row chunks run on (default nil: `NumericsBackend.threadCount`).
  ///
  /// Batches of a `Sequential` or `GraphModel` are split into row chunks of at least 64
  /// data points with one loss term each, or at least 512 loss terms for a loss per
  /// position (16 sequences of 32 tokens), one per processor of the machine at most (and
  /// at most 4); the split depends only on the batch's size, the terms per data point and
  /// the machine's processor count. The
  /// chunks run the pass (gradient, loss, or a curvature product) concurrently, each with
  /// one BLAS thread, and their results are added in chunk order. So every result has the
  /// same bits whatever this count (1, 2, 4, …) and from run to run; against the same data
  /// in batches too small to split, results differ only by the order of additions (as with
  /// another batch size).
  public var threads: Int? = nil

  /// Keep the forward pass of every batch (row chunk) of a `Sequential` of Linear,
  /// activation and Flatten layers across GGN, Fisher and Hessian products, within a
  /// quarter of the memory budget, so that further products on the same data skip the
  /// nonlinear forward pass (default true). A held pass is used only when the data points'
  /// inputs and the parameters are the same bits as when it was made, so products are the
  /// same bits with and without it; turn it off to free that memory.
  public var cachesLinearizations = true
  /// The held forward passes, shared by copies of this problem.
  let linearizations: LinearizationCache<Scalar>

  /// The bytes of layer values and derivatives the problem holds for further products
  /// (see `cachesLinearizations`).
  public var cachedLinearizationBytes: Int { linearizations.bytes }

  /// Sets up a curvature problem and checks it.
  /// - Parameters:
  ///   - model: The network (its current parameters are the point of evaluation).
  ///   - loss: The loss.
  ///   - data: The data set.
  ///   - batchSize: Data points per batch (default: the whole set, at most 1024).
  ///   - blocks: Parameter blocks to act on, by index (default: all). The operators'
  ///     dimension is the total size of these blocks.
  ///   - checkDeterminism: Run two passes over the data and require that they agree
  ///     (default true, as curvlinops).
  ///   - memoryBudget: Bytes one batch's passes may use (default:
  ///     `MemoryBudget.defaultBytes`, a fraction of the memory available to the process).
  ///     A `Sequential` model is checked against it before anything is allocated. Data read
  ///     from files (`NPYDataset`) are held in memory after their first pass, decoded and
  ///     checked once (`InMemoryDataset`), up to half of this budget; beyond it they are
  ///     read again on every pass. The forward passes held for further products
  ///     (`cachesLinearizations`) take at most a quarter of it.
  ///   - communicator: The ranks sharing the data set (default: this process alone, no
  ///     MPI). With several ranks, each reads only its shard of the data points and every
  ///     call below is collective: every rank makes it, in the same order.
  /// - Throws: `CurvatureError` for an empty data set, a model without parameters, bad
  ///   batch size or block indices, targets that do not fit the loss, non-finite values
  ///   (naming the pass), non-determinism, or cross-entropy with `mean` whose targets are
  ///   all `ignoreIndex`, or fewer data points than ranks; `ModelError` when the data do not fit the
  ///   model; `ResourceError.memory` naming the layer whose activations or unfolded
  ///   patches would not fit in the budget.
  public init(
    model: any DifferentiableModel<Scalar>, loss: Loss<Scalar>, data: any Dataset<Scalar>,
    batchSize: Int? = nil, blocks: [Int]? = nil, checkDeterminism: Bool = true, memoryBudget: Int? = nil,
    communicator: any Communicator = SingleProcessCommunicator()
  ) throws {
    guard data.count > 0 else { throw CurvatureError.invalidArgument("the data set is empty") }
    guard data.count >= communicator.size else {
      throw CurvatureError.invalidArgument(
        "the data set has \(data.count) data points, fewer than the \(communicator.size) ranks sharing it; run on at most \(data.count) ranks")
    }
    let shard = try communicator.shard(of: data.count)
    let size = batchSize ?? Swift.min(data.count, 1024)
    guard size > 0 else { throw CurvatureError.invalidArgument("batch size must be positive, got \(size)") }
    guard !model.parameterSpecs.isEmpty else {
      throw CurvatureError.invalidArgument("the model has no parameters (none of its layers has a weight or bias), so it has no curvature")
    }
    let selected = blocks ?? Array(model.parameterSpecs.indices)
    guard !selected.isEmpty else { throw CurvatureError.invalidArgument("no parameter blocks selected") }
    for index in selected where !model.parameterSpecs.indices.contains(index) {
      throw CurvatureError.invalidArgument("parameter block \(index) does not exist (the model has \(model.parameterSpecs.count) blocks)")
    }
    guard Set(selected).count == selected.count else {
      throw CurvatureError.invalidArgument("parameter blocks \(selected) list a block more than once")
    }
    let budget = memoryBudget ?? MemoryBudget.defaultBytes
    if let sequential = model as? Sequential<Scalar> {
      _ = try sequential.outputShape(for: [1] + data.inputShape)
      try sequential.checkMemory(
        inputShape: data.inputShape, batchSize: Swift.min(size, data.count), budget: budget)
    }
    // Files are read, decoded and checked once; a user's data set may be random (augmented),
    // which holding it would hide from the determinism check, so only files are held.
    let held: any Dataset<Scalar> = data is NPYDataset<Scalar> ? InMemoryDataset(data, budget: budget / 2) : data
    // The first point of this rank's shard (point 0 in a single process).
    let first = try data.batch(shard.lowerBound..<(shard.lowerBound + 1))
    try model.checkInputs(first.allInputs)
    let output = AutodiffMode.withoutRecording { model(first.inputTensors, parameters: model.parameters.map { Tensor($0) }) }
    self.model = model
    self.loss = loss
    self.data = held
    self.batchSize = size
    self.blocks = selected.sorted()
    self.sampleOutputShape = Array(output.shape.dropFirst())
    self.communicator = communicator
    self.shard = shard
    self.linearizations = LinearizationCache(budget: budget / 4)
    (self.countedTerms, self.reductionFactor) = try CurvatureProblem.countTerms(
      loss: loss, data: held, batchSize: size, sampleOutputShape: sampleOutputShape, shard: shard, communicator: communicator)
    if checkDeterminism { try self.checkDeterminism() }
  }

  /// The loss terms that count and `R`; cross-entropy reads the targets once to count those
  /// not equal to `ignoreIndex`, over the whole data set, so that `R` does not depend on
  /// the batching.
  /// - Throws: What reading the data throws; `CurvatureError.invalidData` when every target
  ///   of a cross-entropy with `mean` is ignored (its mean would divide by zero).
  static func countTerms(
    loss: Loss<Scalar>, data: any Dataset<Scalar>, batchSize: Int, sampleOutputShape: [Int],
    shard: Range<Int>, communicator: any Communicator
  ) throws -> (counted: Int, reductionFactor: Int) {
    let all = loss.reductionFactor(count: data.count, sampleOutputShape: sampleOutputShape)
    guard loss.kind == .crossEntropy else { return (data.count * sampleOutputShape.reduce(1, *), all) }
    var counted = 0
    for range in batchRanges(of: shard, size: batchSize) {
      counted += loss.countedTerms(try data.batch(range).targets)
    }
    if communicator.size > 1 {
      // Counts are integers far below 2^53: their sum in float64 is exact.
      counted = Int(try communicator.allReduceSum(Double(counted)))
    }
    guard loss.reduction == .sum || counted > 0 else {
      throw CurvatureError.invalidData(
        "\(data.source.targets ?? "the targets"): every class target equals ignore_index \(loss.ignoreIndex), so the mean cross-entropy divides by zero")
    }
    return (counted, loss.reduction == .mean ? counted : 1)
  }

  /// The operators' dimension: the number of parameters in the selected blocks.
  public var dimension: Int { blocks.reduce(0) { $0 + model.parameterSpecs[$1].count } }

  /// The selected blocks' specs.
  public var selectedSpecs: [ParameterSpec] { blocks.map { model.parameterSpecs[$0] } }

  /// A batch, checked against the loss; outputs are checked later for finiteness.
  /// - Throws: `CurvatureError.invalidData` naming the targets' source (file), the element
  ///   and data point in the whole data set, and what is wrong with it.
  func checkedBatch(_ range: Range<Int>) throws -> Batch<Scalar> {
    let batch = try data.batch(range)
    do {
      try model.checkInputs(batch.allInputs)
    } catch let error as DataError {
      throw CurvatureError.invalidData("\(data.source.inputs ?? "inputs"), data points \(range): \(error)")
    }
    do {
      try loss.validate(outputShape: [batch.inputs.shape[0]] + sampleOutputShape, targets: batch.targets)
    } catch {
      throw CurvatureError.invalidData(targetError(error, batch))
    }
    return batch
  }

  /// The parameter tensors with the selected blocks set up by `prepare` (given the block's
  /// position among the selected ones and its value), the others constant.
  func parameterTensors(_ prepare: (_ selectedIndex: Int, _ value: NDArray<Scalar>) -> Tensor<Scalar>) -> [Tensor<Scalar>] {
    var position = [Int: Int]()
    for (i, block) in blocks.enumerated() { position[block] = i }
    return model.parameters.enumerated().map { index, value in
      position[index].map { prepare($0, value) } ?? Tensor(value)
    }
  }

  /// Splits a column `[dimension]` into the selected blocks' shapes.
  func splitColumn(_ column: NDArray<Scalar>) -> [NDArray<Scalar>] {
    var offset = 0
    return selectedSpecs.map { spec in
      defer { offset += spec.count }
      return NDArray(shape: spec.shape, scalars: Array(column.scalars[offset..<(offset + spec.count)]))
    }
  }

  /// Concatenates per-block results into one column.
  func joinColumn(_ parts: [NDArray<Scalar>]) -> [Scalar] {
    // One allocation and a bulk copy per part (`flatMap` grows the array as it goes).
    var column = [Scalar]()
    column.reserveCapacity(parts.reduce(0) { $0 + $1.count })
    for part in parts { column.append(contentsOf: part.scalars) }
    return column
  }

  /// The data index of every loss term of a batch (terms of a data point are consecutive).
  func termDataIndices(_ range: Range<Int>) -> [Int] {
    let perPoint = termsPerDataPoint
    return range.flatMap { Array(repeating: $0, count: perPoint) }
  }

  /// Loss value and gradient over the data set, for the determinism check and for users.
  /// - Returns: `L(θ)` and `∇L` over the selected blocks, flattened.
  /// - Throws: `CurvatureError` for invalid data or non-finite values.
  public func lossAndGradient() throws -> (loss: Scalar, gradient: NDArray<Scalar>) {
    var total: Scalar = 0
    var gradient = NDArray<Scalar>(zeros: [dimension])
    for range in localBatchRanges {
      let batch = try checkedBatch(range)
      // Row chunks in parallel, added in chunk order (`CurvatureProblem+RowChunks.swift`).
      let parts = rowChunks(of: batch)
      let results = try inParallel(parts.count, threads: chunkThreads) { try lossAndGradient(of: parts[$0]) }
      var value = results[0].loss
      var column = NDArray(results[0].gradient)
      for part in results.dropFirst() {
        value += part.loss
        column.add(NDArray(part.gradient))
      }
      if parts.count > 1 {
        guard value.isFinite else {
          throw CurvatureError.nonFinite(
            "loss and gradient, the loss of data points \(range) is \(value) although the network outputs are finite (the loss terms overflow)")
        }
        try requireFiniteColumn(column.scalars, "loss and gradient, gradient for data points \(range)")
      }
      total += value
      gradient.add(column)
    }
    if communicator.size > 1 {
      // Gradient and loss in one all-reduce.
      var sums = gradient.scalars + [total]
      try communicator.allReduceSum(&sums)
      total = sums.removeLast()
      gradient = NDArray(sums)
    }
    guard total.isFinite else {
      throw CurvatureError.nonFinite("loss and gradient, the loss summed over the batches is \(total) (it overflows)")
    }
    try requireFiniteColumn(gradient.scalars, "loss and gradient, gradient summed over the batches (it overflows)")
    return (total, gradient)
  }

  /// The loss (scaled by `1/R`) and gradient of one batch or row chunk.
  private func lossAndGradient(of batch: Batch<Scalar>) throws -> (loss: Scalar, gradient: [Scalar]) {
    let range = batch.range
    let inputs = parameterTensors { _, value in Tensor(value).requiringGradient() }
    let selected = blocks.map { inputs[$0] }
    let output = model(batch.inputTensors, parameters: inputs)
    try requireFiniteOutputs(output.value, batch, stage: "loss and gradient")
    let value = loss.summedTerms(output, batch.targets) * (1 / Scalar(reductionFactor))
    guard value.scalar.isFinite else {
      throw CurvatureError.nonFinite(
        "loss and gradient, the loss of data points \(range) is \(value.scalar) although the network outputs are finite (the loss terms overflow)")
    }
    let grads = gradients(of: [value], seeds: [Tensor(scalar: 1)], wrt: selected)
    let column = joinColumn(grads.map { $0.value })
    try requireFiniteColumn(column, "loss and gradient, gradient for data points \(range)")
    return (value.scalar, column)
  }

  /// Runs two passes over the data and checks that loss and gradient agree exactly.
  ///
  /// Non-finite values (an overflow) are reported as such by `lossAndGradient` before the
  /// passes are compared, so NaN ≠ NaN is never mistaken for non-determinism.
  /// - Throws: `CurvatureError.nonFinite` naming the pass and entry of a NaN or infinity;
  ///   `CurvatureError.nonDeterministic` naming the quantity that differed (and for the
  ///   gradient, the first entry).
  public func checkDeterminism() throws {
    let first = try lossAndGradient(), second = try lossAndGradient()
    guard first.loss == second.loss else {
      throw CurvatureError.nonDeterministic("the loss differs between two passes over the data (\(first.loss) vs \(second.loss)): the data set or model is not deterministic")
    }
    if let entry = first.gradient.scalars.indices.first(where: { first.gradient.scalars[$0] != second.gradient.scalars[$0] }) {
      throw CurvatureError.nonDeterministic(
        "the gradient differs between two passes over the data (first at entry \(entry), \(parameterEntry(entry)): \(first.gradient.scalars[entry]) vs \(second.gradient.scalars[entry])): the data set or model is not deterministic")
    }
  }
}

func requireFinite<T: BLASScalar>(_ x: NDArray<T>, _ what: @autoclosure () -> String) throws {
  if let bad = firstNonFinite(x.scalars) {
    throw CurvatureError.nonFinite("\(what()) hold \(x.scalars[bad]) at element \(bad)")
  }
}
