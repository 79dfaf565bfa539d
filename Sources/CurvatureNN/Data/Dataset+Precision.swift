import CurvatureNumerics

// Moving data between precisions: a Double data set read by a Float model (or the reverse)
// without rebuilding it. Conversion happens batch by batch, so a file-backed data set stays
// on disk.

extension Targets {
  /// The same targets in another precision: class indices unchanged, values converted.
  /// - Returns: The targets for `T`.
  public func converted<T: BLASScalar>(to _: T.Type = T.self) -> Targets<T> {
    switch self {
    case let .classes(classes): return .classes(classes)
    case let .values(values): return .values(values.converted(to: T.self))
    }
  }
}

/// A data set read in another precision: each batch of `base` with inputs and target values
/// converted (rounded to nearest, as `NDArray.converted(to:)`).
///
/// ```swift
/// let floatData = doubleData.converted(to: Float.self)   // a ConvertedDataset<Double, Float>
/// ```
public struct ConvertedDataset<BaseScalar: BLASScalar, Scalar: BLASScalar>: Dataset {
  /// The data set being converted.
  public let base: any Dataset<BaseScalar>

  /// `base` read as `Scalar`.
  /// - Parameter base: The data set in its own precision.
  public init(_ base: any Dataset<BaseScalar>) { self.base = base }

  public var count: Int { base.count }
  public var inputShape: [Int] { base.inputShape }
  public var source: DataSource { base.source }

  /// The data points in `range`, converted.
  /// - Throws: What reading them from `base` throws.
  /// - Complexity: `base`'s batch plus one conversion per element.
  public func batch(_ range: Range<Int>) throws -> Batch<Scalar> {
    let batch = try base.batch(range)
    return Batch(
      inputs: batch.inputs.converted(to: Scalar.self), targets: batch.targets.converted(to: Scalar.self),
      range: batch.range, extraInputs: batch.extraInputs.map { $0.converted(to: Scalar.self) })
  }
}

extension Dataset {
  /// This data set in another precision, converted batch by batch as it is read (nothing
  /// is copied now, so a file-backed set stays on disk).
  ///
  /// ```swift
  /// let data = try ArrayDataset<Double>(inputs: x, targets: .values(y))
  /// let floatData = data.converted(to: Float.self)
  /// ```
  /// - Returns: A `ConvertedDataset` reading this one.
  public func converted<T: BLASScalar>(to _: T.Type = T.self) -> ConvertedDataset<Scalar, T> {
    ConvertedDataset(self)
  }
}
