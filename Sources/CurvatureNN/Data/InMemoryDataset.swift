import Synchronization
import CurvatureNumerics

/// A data set that keeps the batches it has read in memory, within a byte budget, so that
/// a second pass over the data neither reads, decodes nor checks them again.
///
/// Curvature operators visit the data once per product; for a data set read from files
/// (`NPYDataset`), reading, decoding and checking the same rows on every product costs as
/// much as the product itself on small networks. This wrapper asks its base data set for a
/// batch the first time it is requested and returns the stored batch afterwards. Batches
/// that would take the stored bytes beyond `budget` are not stored: beyond the budget the
/// data are streamed from the base set as before.
///
/// The first read of every batch goes to the base set, so errors about the data (a NaN in
/// a file, a count mismatch) are thrown exactly as the base set throws them, when the
/// batch is first requested. Wrap only data sets whose batches are deterministic (files);
/// a data set that returns different data on every request (random augmentation) would be
/// frozen at its first pass.
///
/// ```swift
/// let files = try NPYDataset<Float>(inputs: x, targets: y, classTargets: true)
/// let data = InMemoryDataset(files, budget: 1 << 30)   // at most 1 GiB held
/// ```
public struct InMemoryDataset<Scalar: BLASScalar>: Dataset {
  /// The data set the batches are read from the first time.
  public let base: any Dataset<Scalar>
  /// The most bytes of batch data (inputs and targets) held in memory.
  public let budget: Int
  let store: BatchStore<Scalar>

  /// Wraps a data set.
  /// - Parameters:
  ///   - base: The data set to read from (its batches must be deterministic).
  ///   - budget: The most bytes of inputs and targets to hold; a negative budget holds
  ///     nothing.
  public init(_ base: any Dataset<Scalar>, budget: Int) {
    self.base = base
    self.budget = Swift.max(0, budget)
    self.store = BatchStore()
  }

  public var count: Int { base.count }
  public var inputShape: [Int] { base.inputShape }
  public var source: DataSource { base.source }

  /// The batch of data points `range`: held in memory after the first request when it fits
  /// in the budget.
  /// - Throws: What the base data set throws on the first request of `range`.
  public func batch(_ range: Range<Int>) throws -> Batch<Scalar> {
    if let held = store.batch(range) { return held }
    let batch = try base.batch(range)
    store.hold(batch, for: range, budget: budget)
    return batch
  }

  /// The bytes of inputs and targets held now.
  public var heldBytes: Int { store.bytes }

  /// The bytes a batch holds: its inputs and targets.
  static func bytes(of batch: Batch<Scalar>) -> Int {
    let inputs = batch.allInputs.reduce(0) { $0 + $1.count } * MemoryLayout<Scalar>.stride
    switch batch.targets {
    case let .classes(classes): return inputs + classes.count * MemoryLayout<Int>.stride
    case let .values(values): return inputs + values.count * MemoryLayout<Scalar>.stride
    }
  }
}

/// The held batches of an `InMemoryDataset`, shared by its copies.
final class BatchStore<Scalar: BLASScalar>: Sendable {
  private struct State {
    var batches: [Range<Int>: Batch<Scalar>] = [:]
    var bytes = 0
  }
  private let state = Mutex(State())

  init() {}

  func batch(_ range: Range<Int>) -> Batch<Scalar>? {
    state.withLock { $0.batches[range] }
  }

  func hold(_ batch: Batch<Scalar>, for range: Range<Int>, budget: Int) {
    let size = InMemoryDataset<Scalar>.bytes(of: batch)
    state.withLock { state in
      guard state.batches[range] == nil, size <= budget - state.bytes else { return }
      state.batches[range] = batch
      state.bytes += size
    }
  }

  var bytes: Int { state.withLock { $0.bytes } }
}
