/// How far a long computation has come: one report, for drawing a progress bar.
///
/// Every iterative solver and randomized estimator in Curvature takes an optional
/// `onProgress: ProgressHandler` and calls it on the caller's thread after each unit of
/// work: an iteration of CG or MINRES, a filled Lanczos basis, a block of probes.
/// `completed` never decreases within a run and never exceeds `total`; runs that stop
/// early (convergence) simply end below `total`.
///
/// ```swift
/// let result = try minres(a, b) { event in
///   print("\(event.task): \(event.completed)/\(event.total)", event.metric ?? "")
/// }
/// ```
public struct ProgressEvent: Sendable, Hashable, CustomStringConvertible {
  /// The algorithm reporting, e.g. `"MINRES"`, `"Lanczos"`, `"Hutch++"`.
  public var task: String
  /// Units of work done so far (iterations, converged eigenpairs, matrix-vector products).
  public var completed: Int
  /// The budget of units (an iteration limit, the number of eigenpairs, a matvec budget).
  public var total: Int
  /// A figure of merit at this point, when the algorithm has one (a relative residual, the
  /// largest relative Ritz residual); nil otherwise.
  public var metric: Double?

  /// A report.
  public init(task: String, completed: Int, total: Int, metric: Double? = nil) {
    self.task = task
    self.completed = completed
    self.total = total
    self.metric = metric
  }

  /// `completed / total` clamped to [0, 1] (0 when `total` is 0).
  public var fractionCompleted: Double {
    total > 0 ? Swift.min(1, Swift.max(0, Double(completed) / Double(total))) : 0
  }

  /// The task, the progress and the metric, in one line.
  public var description: String {
    "\(task) \(completed)/\(total)" + (metric.map { " (\($0))" } ?? "")
  }
}

/// The callback through which solvers and estimators report progress; called
/// synchronously on the thread running the computation.
public typealias ProgressHandler = (ProgressEvent) -> Void
