import CurvatureNumerics

// The short notation that users of scipy's `LinearOperator` (`A @ v`, `A(v)`, `-A`, `A.T`)
// and curvlinops expect. Each form is one of the checked calls (`apply(_:)`, `transposed()`,
// `ScaledOperator`, `SumOperator`), so shapes are checked and errors are the same.

extension LinearOperator {
  /// `A x` for a vector `[columnCount]` or a block of columns `[columnCount, k]`: the same
  /// as `apply(_:)` (scipy's `A(x)` / `A.matvec`).
  ///
  /// ```swift
  /// let hv = try hessian(v)              // = try hessian.apply(v) = try hessian * v
  /// ```
  /// - Parameter x: The vector or block of column vectors.
  /// - Returns: `[rowCount]` or `[rowCount, k]`.
  /// - Throws: `LinearOperatorError.shapeMismatch` for a wrong shape, or what the product throws.
  public func callAsFunction(_ x: NDArray<Scalar>) throws -> NDArray<Scalar> { try apply(x) }

  /// The transpose `Aᵀ` as an operator, as scipy's and NumPy's `.T`: the same as
  /// `transposed()` (no work until applied).
  public var T: TransposedOperator<Scalar> { transposed() }
}

/// The product of an operator with a vector `[columnCount]` or a block of columns
/// `[columnCount, k]` (scipy's `A @ x`): the same as `apply(_:)`.
///
/// ```swift
/// let ggn = GGNOperator(problem)
/// let gv = try ggn * v                   // v: [P]     → [P]
/// let gV = try ggn * block               // block: [P, k] → [P, k]
/// let composed = try (ggn * ggn.T) * v   // operator products compose first
/// ```
/// - Parameters:
///   - lhs: The operator.
///   - rhs: The vector or block of column vectors.
/// - Returns: `[rowCount]` or `[rowCount, k]`.
/// - Throws: `LinearOperatorError.shapeMismatch` for a wrong shape, or what the product throws.
public func * <A: LinearOperator>(lhs: A, rhs: NDArray<A.Scalar>) throws -> NDArray<A.Scalar> {
  try lhs.apply(rhs)
}

/// The negated operator `−A` (a `ScaledOperator` with factor −1).
public prefix func - <A: LinearOperator>(operand: A) -> ScaledOperator<A.Scalar> {
  ScaledOperator(operand, factor: -1)
}

/// The sum `Σ Aᵢ` of operators of one shape, given as existentials (which the generic `+`
/// cannot take as a function value, so `operators.reduce(…, +)` does not type-check).
///
/// ```swift
/// let parts: [any LinearOperator<Double>] = [ggn, DiagonalOperator(prior), kfac]
/// let total = try sum(parts)             // a SumOperator
/// ```
/// - Parameter operators: At least one operator; all of one shape.
/// - Returns: Their sum, as one `SumOperator`.
/// - Throws: `LinearOperatorError.invalidArgument` for an empty list,
///   `LinearOperatorError.incompatible` naming the first operator of another shape.
public func sum<S: BLASScalar>(_ operators: [any LinearOperator<S>]) throws -> SumOperator<S> {
  guard let first = operators.first else {
    throw LinearOperatorError.invalidArgument("sum of operators: the list is empty")
  }
  if let bad = operators.firstIndex(where: { $0.rowCount != first.rowCount || $0.columnCount != first.columnCount }) {
    throw LinearOperatorError.incompatible(
      "sum of operators: operator \(bad) is \(operators[bad].rowCount)×\(operators[bad].columnCount), operator 0 is \(first.rowCount)×\(first.columnCount)")
  }
  return SumOperator(operators)
}
