import CurvatureNumerics

/// The targets of a data set or batch.
///
/// Integer targets with a shape: cross-entropy on outputs `[N, C]` takes `N` class indices
/// (targets `[N]`), and on outputs `[N, C, d1, …]` (PyTorch's class axis 1: per token, per
/// pixel) `N·d1·…` indices, row-major over the targets' shape `[N, d1, …]` (a NumPy
/// `y.reshape(-1)`); the shape is the outputs' without axis 1, checked by
/// `Loss.validate(outputShape:targets:)`. A data set holding per-position class targets
/// slices them with `slice(_:pointCount:)`.
public enum Targets<Scalar: BLASScalar>: Sendable, Equatable {
  /// Class indices for cross-entropy, row-major over `[N]` or `[N, d1, …]` (see above).
  case classes([Int])
  /// Values shaped like the outputs, for MSE and BCE.
  case values(NDArray<Scalar>)

  /// The number of data points (the leading extent) when class targets are `[N]`; for
  /// per-position class targets `[N, d1, …]`, the number of indices `N·d1·…`.
  public var count: Int {
    switch self {
    case let .classes(c): return c.count
    case let .values(v): return v.shape.first ?? 1
    }
  }

  /// The targets of data points `range` (leading axis), for class targets `[N]` and values.
  public func slice(_ range: Range<Int>) -> Targets {
    switch self {
    case let .classes(c): return .classes(Array(c[range]))
    case let .values(v):
      let row = v.count / Swift.max(v.shape[0], 1)
      return .values(NDArray(
        shape: [range.count] + v.shape.dropFirst(),
        scalars: Array(v.scalars[(range.lowerBound * row)..<((range.upperBound * row))])))
    }
  }

  /// The targets of data points `range` of a set of `pointCount` data points: class
  /// targets `[N, d1, …]` take the `d1·…` indices of each data point.
  /// - Parameters:
  ///   - range: Data points, within `0..<pointCount`.
  ///   - pointCount: `N`, which must divide the number of class indices.
  /// - Returns: The targets of those data points.
  public func slice(_ range: Range<Int>, pointCount: Int) -> Targets {
    switch self {
    case let .classes(c):
      let perPoint = c.count / Swift.max(pointCount, 1)
      return .classes(Array(c[(range.lowerBound * perPoint)..<(range.upperBound * perPoint)]))
    case .values:
      return slice(range)
    }
  }
}
