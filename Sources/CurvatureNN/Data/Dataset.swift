import Foundation
import CurvatureNumerics
import CurvatureAutodiff

/// One batch of a data set: inputs (batch axis first) and their targets.
///
/// A model with several inputs (a graph model taking token ids and a mask) gets its first
/// input in `inputs` and the others, in order, in `extraInputs`; `allInputs` lists them all.
public struct Batch<Scalar: BLASScalar>: Sendable {
  /// The (first) inputs, `[B, ...]`.
  public var inputs: NDArray<Scalar>
  /// The targets of the same data points.
  public var targets: Targets<Scalar>
  /// The positions of these data points in the data set.
  public var range: Range<Int>
  /// The model's further inputs, each `[B, ...]` (empty for a single-input model).
  public var extraInputs: [NDArray<Scalar>]

  /// A batch from its parts.
  /// - Parameters:
  ///   - inputs: The (first) inputs, `[B, ...]`.
  ///   - targets: The targets of the same data points.
  ///   - range: The positions of these data points in the data set.
  ///   - extraInputs: Further inputs, each `[B, ...]` (default none).
  public init(inputs: NDArray<Scalar>, targets: Targets<Scalar>, range: Range<Int>, extraInputs: [NDArray<Scalar>] = []) {
    self.inputs = inputs
    self.targets = targets
    self.range = range
    self.extraInputs = extraInputs
  }

  /// Every input: `inputs` followed by `extraInputs`.
  public var allInputs: [NDArray<Scalar>] { [inputs] + extraInputs }

  /// Every input as a constant tensor, for a model's forward pass.
  public var inputTensors: [Tensor<Scalar>] { allInputs.map { Tensor($0) } }
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
  /// All inputs, `[N, ...]` (the first input of a model with several).
  public let inputs: NDArray<Scalar>
  /// All targets.
  public let targets: Targets<Scalar>
  /// Where inputs and targets come from, named in errors about them.
  public let source: DataSource
  /// A multi-input model's further inputs, each `[N, ...]` (empty for one input).
  public let extraInputs: [NDArray<Scalar>]

  /// A data set from inputs and targets with the same number of data points.
  /// - Parameters:
  ///   - inputs: `[N, ...]`.
  ///   - targets: The targets of the `N` data points: `N` class indices, or `N·d1·…` for
  ///     per-position classes (`[N, d1, …]` row-major, cross-entropy on `[N, C, d1, …]`),
  ///     or values `[N, ...]`.
  ///   - source: Where they come from (e.g. file names), for error messages.
  ///   - extraInputs: Further inputs of a multi-input model, each `[N, ...]` (default none).
  /// - Throws: `DataError` when the counts differ, an input has no batch axis, or an
  ///   input is NaN or infinite.
  public init(
    inputs: NDArray<Scalar>, targets: Targets<Scalar>, source: DataSource = DataSource(),
    extraInputs: [NDArray<Scalar>] = []
  ) throws {
    for (k, x) in ([inputs] + extraInputs).enumerated() {
      let name = k == 0 ? "inputs" : "input \(k)"
      guard x.rank >= 1 else { throw DataError("\(name) need a batch axis, got shape \(x.shape)") }
      guard x.shape[0] == targets.count || ArrayDataset.positionsPerPoint(targets, points: x.shape[0]) != nil else {
        throw DataError("\(name) hold \(x.shape[0]) data points but targets hold \(targets.count)")
      }
      if let bad = x.scalars.firstIndex(where: { !$0.isFinite }) {
        throw DataError("\(k == 0 ? "input" : name) element \(bad) (data point \(bad / Swift.max(1, x.count / x.shape[0]))) is \(x.scalars[bad])")
      }
    }
    self.inputs = inputs
    self.targets = targets
    self.source = source
    self.extraInputs = extraInputs
  }

  public var count: Int { inputs.shape[0] }
  public var inputShape: [Int] { Array(inputs.shape.dropFirst()) }

  public func batch(_ range: Range<Int>) throws -> Batch<Scalar> {
    guard range.lowerBound >= 0, range.upperBound <= count else {
      throw DataError("batch \(range) is outside the data set of \(count) points")
    }
    func rows(_ array: NDArray<Scalar>) -> NDArray<Scalar> {
      let row = array.count / Swift.max(count, 1)
      return NDArray(
        shape: [range.count] + array.shape.dropFirst(),
        scalars: Array(array.scalars[(range.lowerBound * row)..<(range.upperBound * row)]))
    }
    var y = targets.slice(range)
    if case let .classes(classes) = targets, classes.count != count, let perPoint = ArrayDataset.positionsPerPoint(targets, points: count) {
      y = .classes(Array(classes[(range.lowerBound * perPoint)..<(range.upperBound * perPoint)]))
    }
    return Batch(inputs: rows(inputs), targets: y, range: range, extraInputs: extraInputs.map(rows))
  }

  /// For per-position class targets (`[N, d1, …]` flattened, cross-entropy on outputs
  /// `[N, C, d1, …]`), the positions per data point; nil unless `targets` are classes whose
  /// count is a multiple of `points` greater than it.
  static func positionsPerPoint(_ targets: Targets<Scalar>, points: Int) -> Int? {
    guard case let .classes(classes) = targets, points > 0, classes.count > points, classes.count % points == 0 else { return nil }
    return classes.count / points
  }
}

/// A data set read batch by batch from `.npy` files or `.npz` members, so memory holds one
/// batch rather than the whole set.
///
/// Class targets (cross-entropy) are read as integers; value targets (MSE, BCE) as floats.
/// Every batch is checked: inputs and value targets must be finite. Integer and boolean
/// inputs (token ids, masks) are converted exactly: in `Float`, a value of magnitude 2²⁴ or
/// more (which `Float` cannot hold exactly) is an error naming the file.
/// A model with several inputs reads one file per input, all with the same number of rows.
public struct NPYDataset<Scalar: BLASScalar>: Dataset {
  let inputReaders: [NPYFileReader]
  let targetReader: NPYFileReader
  let classTargets: Bool
  /// The shape of one data point's class targets: `[]` for one class per data point,
  /// `[d1, …]` for per-position classes (cross-entropy on outputs `[N, C, d1, …]`).
  let classTargetShape: [Int]

  /// A data set from an inputs file `X.npy` and a targets file `y.npy`.
  /// - Parameters:
  ///   - inputs: `[N, ...]`, any float or integer dtype.
  ///   - targets: `[N]` integer class indices when `classTargets`, else floats `[N, ...]`.
  ///   - classTargets: Whether the loss takes class indices (cross-entropy).
  /// - Throws: `FileFormatError` for malformed files, `DataError` when the counts differ.
  public init(inputs: URL, targets: URL, classTargets: Bool) throws {
    try self.init(inputs: [inputs], targets: targets, classTargets: classTargets)
  }

  /// A data set for a model with several inputs: one `.npy` file per input, in the
  /// model's order, and a targets file.
  /// - Parameters:
  ///   - inputs: At least one file, each `[N, ...]`, any float, integer or boolean dtype.
  ///   - targets: `[N]` integer class indices when `classTargets`, else floats `[N, ...]`.
  ///   - classTargets: Whether the loss takes class indices (cross-entropy).
  /// - Throws: `FileFormatError` for malformed files, `DataError` when no input is given or
  ///   the counts differ (naming the files).
  public init(inputs: [URL], targets: URL, classTargets: Bool) throws {
    guard !inputs.isEmpty else { throw DataError("no input files given") }
    try self.init(
      inputReaders: try inputs.map { try NPYFileReader(contentsOf: $0) }, targetReader: try NPYFileReader(contentsOf: targets),
      classTargets: classTargets)
  }

  /// A data set from the arrays `X` and `y` of an `.npz` archive.
  /// - Throws: `FileFormatError` for a missing member or malformed archive, `DataError`
  ///   when the counts differ.
  public init(archive: URL, classTargets: Bool) throws {
    let file = try NPZFile(contentsOf: archive)
    try self.init(
      inputReaders: [try file.reader(named: "X")], targetReader: try file.reader(named: "y"), classTargets: classTargets)
  }

  init(inputReaders: [NPYFileReader], targetReader: NPYFileReader, classTargets: Bool, classTargetShape: [Int] = []) throws {
    for inputReader in inputReaders {
      guard !inputReader.shape.isEmpty else {
        throw DataError("\(inputReader.source): inputs need a batch axis, got shape \(inputReader.shape)")
      }
      guard inputReader.rowCount == targetReader.rowCount else {
        throw DataError("\(inputReader.source) holds \(inputReader.rowCount) data points but \(targetReader.source) holds \(targetReader.rowCount)")
      }
    }
    if classTargets && classTargetShape.isEmpty && targetReader.shape.count != 1 {
      throw DataError("\(targetReader.source): class targets must have shape [N], got \(targetReader.shape)")
    }
    if classTargets && !classTargetShape.isEmpty && Array(targetReader.shape.dropFirst()) != classTargetShape {
      let expected = "[N, " + classTargetShape.map(String.init).joined(separator: ", ") + "]"
      throw DataError(
        "\(targetReader.source): per-position class targets must have shape \(expected) (one class per position of outputs [N, C, \(classTargetShape.map(String.init).joined(separator: ", "))]), got \(targetReader.shape)")
    }
    self.inputReaders = inputReaders
    self.targetReader = targetReader
    self.classTargets = classTargets
    self.classTargetShape = classTargetShape
  }

  var inputReader: NPYFileReader { inputReaders[0] }
  public var count: Int { inputReader.rowCount }
  public var inputShape: [Int] { inputReader.rowShape }
  /// The files (or archive members) read; several input files are listed comma-separated.
  public var source: DataSource {
    DataSource(inputs: inputReaders.map(\.source).joined(separator: ", "), targets: targetReader.source)
  }

  public func batch(_ range: Range<Int>) throws -> Batch<Scalar> {
    guard range.lowerBound >= 0, range.upperBound <= count else {
      throw DataError("batch \(range) is outside the data set of \(count) points")
    }
    let x = try inputReaders.map { try Self.inputRows($0, range) }
    let y: Targets<Scalar> = classTargets
      ? .classes(try targetReader.integerRows(range))
      : .values(try targetReader.rows(range, as: Scalar.self, requireFinite: true))
    return Batch(inputs: x[0], targets: y, range: range, extraInputs: Array(x.dropFirst()))
  }

  /// Rows of one input file: floats as stored (finite), integers and booleans exactly.
  /// - Throws: `FileFormatError` for non-finite floats, `DataError` naming the file and
  ///   element for an integer `Scalar` cannot hold exactly.
  static func inputRows(_ reader: NPYFileReader, _ range: Range<Int>) throws -> NDArray<Scalar> {
    switch reader.dtype {
    case .float16, .float32, .float64:
      return try reader.rows(range, as: Scalar.self, requireFinite: true)
    case .int64, .int32, .uint8, .bool:
      let values = try reader.integerRows(range)
      // Every integer of magnitude up to 2^(significand bits + 1) is exact; 2^24 in Float.
      let limit = 1 << (Scalar.significandBitCount + 1)
      let rowElements = reader.rowShape.reduce(1, *)
      if let bad = values.firstIndex(where: { $0 >= limit || $0 <= -limit }) {
        throw DataError(
          "\(reader.source): element \(range.lowerBound * rowElements + bad) (data point \(range.lowerBound + bad / Swift.max(rowElements, 1))) is \(values[bad]), which \(Scalar.dtypeName) cannot hold exactly (integer inputs such as token ids must be below \(limit) in magnitude; use float64)")
      }
      return NDArray(shape: [range.count] + reader.rowShape, scalars: values.map { Scalar($0) })
    }
  }
}
