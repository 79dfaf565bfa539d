import CurvatureNumerics

/// The targets of a data set or batch.
public enum Targets<Scalar: BLASScalar>: Sendable, Equatable {
  /// Class indices for cross-entropy: one per output row (outputs `[N, ..., C]` take
  /// `N·…` indices, row-major).
  case classes([Int])
  /// Values shaped like the outputs, for MSE and BCE.
  case values(NDArray<Scalar>)

  /// The number of data points (the leading extent).
  public var count: Int {
    switch self {
    case let .classes(c): return c.count
    case let .values(v): return v.shape.first ?? 1
    }
  }

  /// The targets of data points `range` (leading axis).
  public func slice(_ range: Range<Int>) -> Targets {
    switch self {
    case let .classes(c): return .classes(Array(c[range]))
    case let .values(v):
      let row = v.count / Swift.max(v.shape[0], 1)
      return .values(NDArray(
        shape: [range.count] + v.shape.dropFirst(),
        scalars: Array(v.scalars[(range.lowerBound * row)..<(range.upperBound * row)])))
    }
  }
}

