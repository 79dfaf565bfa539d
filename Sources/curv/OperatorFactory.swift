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
  case .kfac: return try KFACOperator(problem, options: choice.kfac)
  case .ekfac: return try EKFACOperator(problem, options: choice.kfac)
  }
}

/// The operator `A + δI` (`A` itself for δ = 0).
func dampedOperator<T: BLASScalar>(_ a: any LinearOperator<T>, damping: Double) -> any LinearOperator<T> {
  damping == 0 ? a : a.damped(by: T(damping))
}

/// The dense matrix of `a` (plus `δI`), built from products with blocks of identity columns
/// so the progress bar can follow it.
/// - Throws: `CLIError` when the matrix would not fit in memory; what the products throw.
func denseMatrix<T: BLASScalar>(
  _ a: any LinearOperator<T>, damping: Double = 0, progress: ProgressBar? = nil, task: String = "dense"
) throws -> NDArray<T> {
  let n = a.columnCount
  try requireDenseFits(n)
  let block = 64
  var result = [T](repeating: 0, count: n * n)
  var start = 0
  progress?.update(task: task, completed: 0, total: n)
  while start < n {
    let width = Swift.min(block, n - start)
    var identity = [T](repeating: 0, count: n * width)
    for j in 0..<width { identity[(start + j) * width + j] = 1 }
    let columns = try a.apply(NDArray(shape: [n, width], scalars: identity)).scalars
    for i in 0..<n {
      for j in 0..<width { result[i * n + start + j] = columns[i * width + j] }
    }
    start += width
    progress?.update(task: task, completed: start, total: n)
  }
  if damping != 0 {
    let delta = T(damping)
    for i in 0..<n { result[i * n + i] += delta }
  }
  return NDArray(shape: [n, n], scalars: result)
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
