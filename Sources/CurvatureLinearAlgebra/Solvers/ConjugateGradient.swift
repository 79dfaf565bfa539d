import CurvatureNumerics

/// How a Krylov solver run ended.
public enum SolverOutcome<Scalar: BLASScalar>: Sendable, Equatable {
  /// Every column reached the tolerance.
  case converged
  /// The iteration limit came first.
  case maxIterationsReached
  /// A search direction had non-positive curvature `pᵀAp` (the operator, or the
  /// preconditioner, is not positive definite), at 1-based `iteration`, in `column`.
  case breakdown(iteration: Int, column: Int, curvature: Scalar)
  /// A NaN or infinity appeared (non-finite operator output or input).
  case nonFinite(iteration: Int)
  /// MINRES: the system is singular and has no solution (the right-hand side of `column`
  /// has a component in the null space); the iterate is a least-squares solution, found
  /// at 1-based `iteration`, whose residual cannot reach the tolerance.
  case inconsistent(iteration: Int, column: Int)
}

/// Stopping rules of conjugate gradients.
public struct ConjugateGradientOptions: Sendable {
  /// Stop a column when `‖b − Ax‖ ≤ max(relativeTolerance · ‖b‖, absoluteTolerance)`.
  public var relativeTolerance: Double = 1e-6
  /// See `relativeTolerance`.
  public var absoluteTolerance: Double = 0
  /// The iteration limit; nil means `max(10, 2n)`.
  public var maxIterations: Int? = nil

  /// Stopping rules with the given tolerances.
  public init(relativeTolerance: Double = 1e-6, absoluteTolerance: Double = 0, maxIterations: Int? = nil) {
    self.relativeTolerance = relativeTolerance
    self.absoluteTolerance = absoluteTolerance
    self.maxIterations = maxIterations
  }
}

/// The result of a conjugate gradient solve.
public typealias ConjugateGradientResult<Scalar: BLASScalar> = KrylovSolverResult<Scalar>

/// Solves `A X = B` for symmetric positive definite `A` by (preconditioned) conjugate
/// gradients, all right-hand sides at once (Hestenes & Stiefel 1952).
///
/// Each column runs its own recurrence, but every iteration applies the operator (and the
/// preconditioner) to all active columns in one batched product. A column stops when its
/// residual meets the tolerance; a non-positive curvature `pᵀAp` stops the run with
/// `.breakdown`, reporting the iteration and the curvature found.
///
/// ```swift
/// let result = try conjugateGradient(ggn.damped(by: 1e-3), b, preconditioner: kfacInverse)
/// let x = try result.requireConverged()
/// ```
/// - Parameters:
///   - a: A symmetric positive definite operator.
///   - b: The right-hand side, `[n]` or `[n, k]`.
///   - initialGuess: `x₀`, shaped like `b` (zeros by default).
///   - preconditioner: `M ≈ A⁻¹`, symmetric positive definite, applied to residuals.
///   - options: Tolerances and iteration limit.
///   - progress: Called after each iteration with the iteration and relative residual.
///   - onProgress: Called after each iteration with a `ProgressEvent` (task `"CG"`,
///     iterations of the limit, the largest relative residual as `metric`).
/// - Returns: The solution, iteration count, outcome and residual history.
/// - Throws: `LinearOperatorError` for mismatched shapes, or what the operators throw.
/// - Complexity: One product with `A` and one with `M` per iteration.
public func conjugateGradient<A: LinearOperator>(
  _ a: A, _ b: NDArray<A.Scalar>, initialGuess: NDArray<A.Scalar>? = nil,
  preconditioner: (any LinearOperator<A.Scalar>)? = nil,
  options: ConjugateGradientOptions = ConjugateGradientOptions(),
  progress: ((_ iteration: Int, _ relativeResidual: Double) -> Void)? = nil,
  onProgress: ProgressHandler? = nil
) throws -> ConjugateGradientResult<A.Scalar> {
  typealias T = A.Scalar
  try a.requireSquare("conjugateGradient")
  try a.checkOperand(b, length: a.columnCount, operation: "conjugateGradient right-hand side")
  if let m = preconditioner {
    guard m.rowCount == a.rowCount && m.columnCount == a.columnCount else {
      throw LinearOperatorError.incompatible("preconditioner is \(m.rowCount)×\(m.columnCount), operator \(a.rowCount)×\(a.columnCount)")
    }
  }
  let n = a.rowCount
  let k = b.rank == 1 ? 1 : b.shape[1]
  let bm = b.reshaped([n, k])
  if let guess = initialGuess, guess.shape != b.shape {
    throw LinearOperatorError.shapeMismatch(operation: "conjugateGradient initial guess", expected: "\(b.shape)", actual: guess.shape)
  }
  var x = initialGuess?.reshaped([n, k]) ?? NDArray<T>(zeros: [n, k])
  guard bm.isFinite && x.isFinite else {
    throw LinearOperatorError.nonFinite("right-hand side or initial guess of conjugateGradient")
  }
  let maxIterations = options.maxIterations ?? Swift.max(10, 2 * n)
  let bNorms = columnNorms(bm)
  let thresholds = bNorms.map { Swift.max(options.relativeTolerance * $0, options.absoluteTolerance) }

  var r = initialGuess == nil ? bm : bm - (try a.apply(x))
  var residuals = columnNorms(r)
  func relative(_ norms: [Double]) -> Double {
    zip(norms, bNorms).map { $1 > 0 ? $0 / $1 : $0 }.max() ?? 0
  }
  var history = [relative(residuals)]
  var active = (0..<k).filter { residuals[$0] > thresholds[$0] }
  if active.isEmpty {
    return ConjugateGradientResult(solution: x.reshaped(b.shape), iterations: 0, outcome: .converged, residualHistory: history)
  }
  var z = try preconditioner?.apply(r) ?? r
  var p = z
  var rz = columnDots(r, z)
  var iteration = 0
  var outcome: SolverOutcome<T> = .maxIterationsReached

  while iteration < maxIterations {
    iteration += 1
    // Products only for the active columns.
    let pActive = selectColumns(p, active)
    let apActive = try a.apply(pActive)
    let curvatures = columnDots(pActive, apActive)
    for (slot, column) in active.enumerated() {
      let curvature = curvatures[slot]
      if !curvature.isFinite || !rz[column].isFinite {
        outcome = .nonFinite(iteration: iteration)
        break
      }
      if curvature <= 0 {
        outcome = .breakdown(iteration: iteration, column: column, curvature: T(curvature))
        break
      }
      let alpha = T(rz[column] / curvature)
      for i in 0..<n {
        x.scalars[i * k + column] += alpha * pActive.scalars[i * active.count + slot]
        r.scalars[i * k + column] -= alpha * apActive.scalars[i * active.count + slot]
      }
    }
    if case .breakdown = outcome { break }
    if case .nonFinite = outcome { break }
    residuals = columnNorms(r)
    history.append(relative(residuals))
    progress?(iteration, history.last!)
    onProgress?(ProgressEvent(task: "CG", completed: iteration, total: maxIterations, metric: history.last!))
    active = active.filter { residuals[$0] > thresholds[$0] }
    if active.isEmpty {
      outcome = .converged
      break
    }
    z = try preconditioner?.apply(r) ?? r
    let rzNew = columnDots(r, z)
    for column in active {
      let beta = T(rzNew[column] / rz[column])
      for i in 0..<n { p.scalars[i * k + column] = z.scalars[i * k + column] + beta * p.scalars[i * k + column] }
    }
    rz = rzNew
  }
  return ConjugateGradientResult(solution: x.reshaped(b.shape), iterations: iteration, outcome: outcome, residualHistory: history)
}

/// The Euclidean norm of each column of an `[n, k]` array, accumulated in Double.
func columnNorms<T: BLASScalar>(_ x: NDArray<T>) -> [Double] {
  columnDots(x, x).map { $0.squareRoot() }
}

/// `xⱼᵀyⱼ` for each column of two `[n, k]` arrays, accumulated in Double.
func columnDots<T: BLASScalar>(_ x: NDArray<T>, _ y: NDArray<T>) -> [Double] {
  let k = x.shape[1], n = x.shape[0]
  var result = [Double](repeating: 0, count: k)
  x.withUnsafeBufferPointer { px in
    y.withUnsafeBufferPointer { py in
      for j in 0..<k {
        // Strided BLAS dot in the scalar type; converted once per column.
        result[j] = Double(T.dot(
          count: n, x: UnsafeBufferPointer(rebasing: px[j...]), strideX: k,
          y: UnsafeBufferPointer(rebasing: py[j...]), strideY: k))
      }
    }
  }
  return result
}

/// The listed columns of an `[n, k]` array, as `[n, columns.count]`.
func selectColumns<T: BLASScalar>(_ x: NDArray<T>, _ columns: [Int]) -> NDArray<T> {
  let (n, k) = (x.shape[0], x.shape[1])
  if columns.count == k { return x }
  var indices = [Int]()
  indices.reserveCapacity(n * columns.count)
  for i in 0..<n { for j in columns { indices.append(i * k + j) } }
  return x.gathered(indices, shape: [n, columns.count])
}
