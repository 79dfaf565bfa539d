import CurvatureNumerics

/// Validation helpers shared by the Toeplitz family: each throws a `ToeplitzError`
/// (`CurvatureError`) naming the offending input.
enum ToeplitzValidation {
  /// Throws `.nonFinite` naming the first NaN or infinity of `values`.
  static func requireFinite<T: BinaryFloatingPoint>(_ values: some Collection<T>, _ name: String) throws(ToeplitzError) {
    if let index = values.firstIndex(where: { !$0.isFinite }) {
      let position = values.distance(from: values.startIndex, to: index)
      throw .nonFinite("\(name)[\(position)] = \(values[index])")
    }
  }

  /// Throws `.lengthMismatch` unless `count ≥ 1`.
  static func requireNonEmpty(_ count: Int, _ name: String) throws(ToeplitzError) {
    if count < 1 { throw .lengthMismatch("\(name) is empty; a Toeplitz-family matrix needs at least one entry") }
  }

  /// Throws unless an array has the odd extent `2n − 1` along an axis, returning `n`.
  static func halfExtent(_ extent: Int, _ name: String) throws(ToeplitzError) -> Int {
    guard extent >= 1, extent % 2 == 1 else {
      throw .lengthMismatch("\(name) has extent \(extent); a generator needs an odd extent 2n − 1")
    }
    return (extent + 1) / 2
  }
}
