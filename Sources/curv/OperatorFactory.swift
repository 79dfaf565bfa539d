import Curvature
import Foundation

// Builds the curvature operators from `--operator` and its settings, in one place.

/// Which operator to build, and its settings.
struct OperatorChoice: Sendable {
  /// `--operator`.
  var kind: OperatorKind
  /// Sampled labels per term for fisher-mc.
  var mcSamples: Int = 1
  /// The sampling seed for fisher-mc.
  var seed: UInt64 = 0
  /// The settings of kfac and ekfac.
  var kfac = KFACOptions()
}

/// The curvature operator of `problem` chosen by `choice`.
/// - Throws: `CurvatureError` when the model does not support the operator (KFAC and EKFAC
///   need Linear/Conv2d layers) or for invalid options.
func makeOperator<T: BLASScalar>(_ choice: OperatorChoice, problem: CurvatureProblem<T>) throws -> any LinearOperator<T> {
  switch choice.kind {
  case .hessian: return HessianOperator(problem)
  case .ggn: return GGNOperator(problem)
  case .ef: return EmpiricalFisherOperator(problem)
  case .fisherMC: return try MonteCarloFisherOperator(problem, mcSamples: choice.mcSamples, seed: choice.seed)
  case .kfac:
    let kfac = try KFACOperator(problem, options: choice.kfac)
    if let note = kfac.otherParametersNote { printError("note: \(note)") }
    return kfac
  case .ekfac:
    // A graph may mix the positions (attention): with several loss terms per data point
    // (a loss per token) EKFAC takes one reverse pass per term position.
    var options = choice.kfac
    if problem.model is GraphModel<T> { options.termByTerm = true }
    let ekfac = try EKFACOperator(problem, options: options)
    if let note = ekfac.otherParametersNote { printError("note: \(note)") }
    return ekfac
  }
}

/// The dense matrix of `a` from products with blocks of identity columns (the library's
/// `dense(onProgress:)`), after checking that it fits in memory; the progress bar follows
/// the columns.
/// - Throws: `CLIError` when the matrix would not fit in memory; what the products throw.
func denseMatrix<T: BLASScalar>(
  _ a: any LinearOperator<T>, progress: ProgressBar? = nil, task: String = "dense"
) throws -> NDArray<T> {
  try requireDenseFits(a.columnCount)
  return try a.dense(task: task, onProgress: progress?.handler)
}

/// Requires that a P×P float64 matrix (and its working copy) fits in half of physical memory.
/// - Throws: `CLIError` giving the size needed.
func requireDenseFits(_ p: Int) throws {
  let bytes = Double(p) * Double(p) * 16
  let available = Double(ProcessInfo.processInfo.physicalMemory) / 2
  if bytes > available {
    throw CLIError(String(
      format: "the dense %d×%d matrix needs %.1f GB, more than half of this machine's memory (%.1f GB); use eigs, trace, diag or spectrum instead",
      p, p, bytes / 1e9, Double(ProcessInfo.processInfo.physicalMemory) / 1e9))
  }
}

/// The exact diagonal of `a`: the library's own (closed forms, per-term gradients, the
/// backpropagated Hessian diagonal with unit products where it has no rule) or, where the library has none for this
/// operator, its products with blocks of 32 unit vectors (`diagonalByUnitProducts`).
/// - Returns: The diagonal, and the number of products spent on it when unit products were
///   used (nil when the library's own method was).
/// - Throws: What the products throw.
/// - Complexity: `P` products in the fallback.
func exactDiagonal<T: BLASScalar>(
  _ a: any LinearOperator<T>, progress: ProgressBar? = nil, task: String = "diagonal"
) throws -> (diagonal: NDArray<T>, products: Int?) {
  do {
    return (try a.diagonal(), nil)
  } catch CurvatureError.unsupported {
    return (try a.diagonalByUnitProducts(task: task, onProgress: progress?.handler), a.columnCount)
  }
}
