/// Why a solve did not produce a solution within its tolerance.
public enum SolverError: Error, CustomStringConvertible, Equatable {
  /// The iteration limit came before the tolerance.
  case notConverged(iterations: Int, relativeResidual: Double)
  /// A quadratic form that must be positive was not: `pᵀAp` in CG (the operator is not
  /// positive definite) or `rᵀMr` (the preconditioner is not positive definite).
  case breakdown(iteration: Int, column: Int, curvature: Double)
  /// A NaN or infinity appeared at `iteration` (of a solver, or term of a series).
  case nonFinite(iteration: Int)
  /// An argument is out of its domain (a size, a count, a non-symmetric operator where a
  /// symmetric one is needed); the message says which and why.
  case invalidArgument(String)
  /// The system is singular and inconsistent: only a least-squares solution exists.
  case inconsistent(iteration: Int, column: Int, relativeResidual: Double)
  /// A series diverged: its terms grew (term `term` is `growth` times the previous one).
  case diverged(term: Int, growth: Double)

  /// The one-line message: the solver, what happened and where.
  public var description: String {
    switch self {
    case let .notConverged(iterations, residual):
      return "did not converge in \(iterations) iterations (relative residual \(residual))"
    case let .breakdown(iteration, column, curvature):
      return "breakdown at iteration \(iteration) (right-hand side \(column)): curvature \(curvature) ≤ 0 (pᵀAp in CG, rᵀMr with a preconditioner): the operator or the preconditioner is not positive definite"
    case let .nonFinite(iteration):
      return "NaN or infinity at iteration \(iteration)"
    case let .invalidArgument(message):
      return message
    case let .inconsistent(iteration, column, residual):
      return "the system is singular and inconsistent (right-hand side \(column) has a component in the null space): a least-squares solution with relative residual \(residual) was found at iteration \(iteration)"
    case let .diverged(term, growth):
      return "the series diverges: term \(term) is \(growth) times larger than the previous one"
    }
  }
}
