import CurvatureNumerics

/// The result of a Krylov solve (`conjugateGradient`, `minres`).
public struct KrylovSolverResult<Scalar: BLASScalar>: Sendable {
  /// The approximate solution, shaped like the right-hand side.
  public var solution: NDArray<Scalar>
  /// Iterations performed (each one operator product on the active columns).
  public var iterations: Int
  /// How the run ended.
  public var outcome: SolverOutcome<Scalar>
  /// `max_j ‖b_j − A x_j‖ / ‖b_j‖` after each iteration, starting with the initial guess.
  /// (MINRES updates residuals by recurrence, without extra products; they track the true
  /// residual to rounding.)
  public var residualHistory: [Double]
  /// The final relative residual (the last entry of `residualHistory`).
  public var relativeResidual: Double { residualHistory.last ?? 0 }

  /// The solution, or a `SolverError` describing why there is none within tolerance.
  public func requireConverged() throws(SolverError) -> NDArray<Scalar> {
    switch outcome {
    case .converged: return solution
    case .maxIterationsReached: throw .notConverged(iterations: iterations, relativeResidual: relativeResidual)
    case let .breakdown(iteration, column, curvature): throw .breakdown(iteration: iteration, column: column, curvature: Double(curvature))
    case let .nonFinite(iteration): throw .nonFinite(iteration: iteration)
    case let .inconsistent(iteration, column): throw .inconsistent(iteration: iteration, column: column, relativeResidual: relativeResidual)
    }
  }
}
