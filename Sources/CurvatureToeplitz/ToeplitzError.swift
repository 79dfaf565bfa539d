/// Why a Toeplitz-family operator, solver or preconditioner could not be built or applied.
///
/// Every case carries a message that names the offending input and its values, so that a
/// command-line tool can print the error as its one line of diagnostics.
public enum ToeplitzError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A size is zero or sizes do not fit together (column vs row, generator vs grid, ...).
  case lengthMismatch(String)
  /// The first column and the first row disagree on the diagonal entry `t₀`.
  case cornerMismatch(column: Double, row: Double)
  /// An input contains NaN or infinity.
  case nonFinite(String)
  /// The matrix (or an approximation that must be positive definite) is not.
  case notPositiveDefinite(String)
  /// A generating function (symbol) that must be positive is not.
  case symbolNotPositive(String)
  /// Any other invalid argument (an unsupported combination, a bad grid size, ...).
  case invalidArgument(String)

  public var description: String {
    switch self {
    case let .lengthMismatch(message): return "length mismatch: \(message)"
    case let .cornerMismatch(column, row):
      return "column[0] = \(column) differs from row[0] = \(row): both hold the diagonal entry t₀"
    case let .nonFinite(message): return "non-finite input: \(message)"
    case let .notPositiveDefinite(message): return "not positive definite: \(message)"
    case let .symbolNotPositive(message): return "symbol not positive: \(message)"
    case let .invalidArgument(message): return "invalid argument: \(message)"
    }
  }
}

// MARK: Validation helpers shared by the Toeplitz family

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
