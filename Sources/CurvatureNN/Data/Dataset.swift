import Foundation
import CurvatureNumerics

/// One batch of a data set: inputs (batch axis first) and their targets.
public struct Batch<Scalar: BLASScalar>: Sendable {
  /// The inputs, `[B, ...]`.
  public var inputs: NDArray<Scalar>
  /// The targets of the same data points.
  public var targets: Targets<Scalar>
  /// The positions of these data points in the data set.
  public var range: Range<Int>
}

/// A data set that curvature operators read in batches.
///
/// Operators visit the data batch by batch, so memory holds one batch at a time: an
/// `ArrayDataset` keeps everything in memory; an `NPYDataset` reads the requested rows
/// from `.npy` files (or stored `.npz` members) on demand.
public protocol Dataset<Scalar>: Sendable {
  /// The element type of the inputs.
  associatedtype Scalar: BLASScalar
  /// The number of data points `N`.
  var count: Int { get }
  /// The shape of one input (without the batch axis).
  var inputShape: [Int] { get }
  /// The data points in `range`.
  /// - Throws: What reading them throws (I/O, malformed or non-finite data).
  func batch(_ range: Range<Int>) throws -> Batch<Scalar>
  /// Where the inputs and targets come from (file names), for error messages. Empty by
  /// default.
  var source: DataSource { get }
}

/// Where a data set's inputs and targets come from, e.g. their file names, so that errors
/// about the data can name them.
public struct DataSource: Sendable, Hashable {
  /// The inputs' origin, e.g. `X.npy` or `data.npz (member X.npy)`.
  public var inputs: String?
  /// The targets' origin, e.g. `y.npy`.
  public var targets: String?

  /// A description of the origin of inputs and targets (either may be unknown).
  public init(inputs: String? = nil, targets: String? = nil) {
    self.inputs = inputs
    self.targets = targets
  }
}

extension Dataset {
  public var source: DataSource { DataSource() }

  /// Consecutive ranges of at most `size` data points covering the set.
  /// - Precondition: `size > 0`.
  public func batchRanges(size: Int) -> [Range<Int>] {
    precondition(size > 0, "batchRanges(size:): the batch size must be positive, got \(size)")
    return stride(from: 0, to: count, by: size).map { $0..<Swift.min($0 + size, count) }
  }

  /// Every data point in one batch.
  public func all() throws -> Batch<Scalar> { try batch(0..<count) }
}

/// A data set held in memory.
public struct ArrayDataset<Scalar: BLASScalar>: Dataset {
  /// All inputs, `[N, ...]`.
  public let inputs: NDArray<Scalar>
  /// All targets.
  public let targets: Targets<Scalar>
  /// Where inputs and targets come from, named in errors about them.
  public let source: DataSource

  /// A data set from inputs and targets with the same number of data points.
  /// - Parameters:
  ///   - inputs: `[N, ...]`.
  ///   - targets: The targets of the `N` data points.
  ///   - source: Where they come from (e.g. file names), for error messages.
  /// - Throws: `DataError` when the counts differ, the inputs have no batch axis, or an
  ///   input is NaN or infinite.
  public init(inputs: NDArray<Scalar>, targets: Targets<Scalar>, source: DataSource = DataSource()) throws {
    guard inputs.rank >= 1 else { throw DataError("inputs need a batch axis, got shape \(inputs.shape)") }
    guard inputs.shape[0] == targets.count else {
      throw DataError("inputs hold \(inputs.shape[0]) data points but targets hold \(targets.count)")
    }
    if let bad = inputs.scalars.firstIndex(where: { !$0.isFinite }) {
      throw DataError("input element \(bad) (data point \(bad / Swift.max(1, inputs.count / inputs.shape[0]))) is \(inputs.scalars[bad])")
    }
    self.inputs = inputs
    self.targets = targets
    self.source = source
  }

  public var count: Int { inputs.shape[0] }
  public var inputShape: [Int] { Array(inputs.shape.dropFirst()) }

  public func batch(_ range: Range<Int>) throws -> Batch<Scalar> {
    guard range.lowerBound >= 0, range.upperBound <= count else {
      throw DataError("batch \(range) is outside the data set of \(count) points")
    }
    let row = inputs.count / Swift.max(count, 1)
    let x = NDArray(
      shape: [range.count] + inputShape,
      scalars: Array(inputs.scalars[(range.lowerBound * row)..<(range.upperBound * row)]))
    return Batch(inputs: x, targets: targets.slice(range), range: range)
  }
}

/// A data set read batch by batch from `.npy` files or `.npz` members, so memory holds one
/// batch rather than the whole set.
///
/// Class targets (cross-entropy) are read as integers; value targets (MSE, BCE) as floats.
/// Every batch is checked: inputs and value targets must be finite.
public struct NPYDataset<Scalar: BLASScalar>: Dataset {
  let inputReader: NPYFileReader
  let targetReader: NPYFileReader
  let classTargets: Bool

  /// A data set from an inputs file `X.npy` and a targets file `y.npy`.
  /// - Parameters:
  ///   - inputs: `[N, ...]`, any float or integer dtype.
  ///   - targets: `[N]` integer class indices when `classTargets`, else floats `[N, ...]`.
  ///   - classTargets: Whether the loss takes class indices (cross-entropy).
  /// - Throws: `FileFormatError` for malformed files, `DataError` when the counts differ.
  public init(inputs: URL, targets: URL, classTargets: Bool) throws {
    try self.init(
      inputReader: try NPYFileReader(contentsOf: inputs), targetReader: try NPYFileReader(contentsOf: targets),
      classTargets: classTargets)
  }

  /// A data set from the arrays `X` and `y` of an `.npz` archive.
  /// - Throws: `FileFormatError` for a missing member or malformed archive, `DataError`
  ///   when the counts differ.
  public init(archive: URL, classTargets: Bool) throws {
    let file = try NPZFile(contentsOf: archive)
    try self.init(
      inputReader: try file.reader(named: "X"), targetReader: try file.reader(named: "y"), classTargets: classTargets)
  }

  init(inputReader: NPYFileReader, targetReader: NPYFileReader, classTargets: Bool) throws {
    guard !inputReader.shape.isEmpty else {
      throw DataError("\(inputReader.source): inputs need a batch axis, got shape \(inputReader.shape)")
    }
    guard inputReader.rowCount == targetReader.rowCount else {
      throw DataError("\(inputReader.source) holds \(inputReader.rowCount) data points but \(targetReader.source) holds \(targetReader.rowCount)")
    }
    if classTargets && targetReader.shape.count != 1 {
      throw DataError("\(targetReader.source): class targets must have shape [N], got \(targetReader.shape)")
    }
    self.inputReader = inputReader
    self.targetReader = targetReader
    self.classTargets = classTargets
  }

  public var count: Int { inputReader.rowCount }
  public var inputShape: [Int] { inputReader.rowShape }
  /// The files (or archive members) read.
  public var source: DataSource { DataSource(inputs: inputReader.source, targets: targetReader.source) }

  public func batch(_ range: Range<Int>) throws -> Batch<Scalar> {
    guard range.lowerBound >= 0, range.upperBound <= count else {
      throw DataError("batch \(range) is outside the data set of \(count) points")
    }
    let x = try inputReader.rows(range, as: Scalar.self, requireFinite: true)
    let y: Targets<Scalar> = classTargets
      ? .classes(try targetReader.integerRows(range))
      : .values(try targetReader.rows(range, as: Scalar.self, requireFinite: true))
    return Batch(inputs: x, targets: y, range: range)
  }
}
