import CurvatureNumerics

/// Stopping rules of MINRES.
public struct MINRESOptions: Sendable {
  /// Stop a column when `‖b − (A − σI)x‖ ≤ max(relativeTolerance · ‖b‖, absoluteTolerance)`.
  public var relativeTolerance: Double = 1e-6
  /// See `relativeTolerance`.
  public var absoluteTolerance: Double = 0
  /// The iteration limit; nil means `max(10, 2n)`.
  public var maxIterations: Int? = nil
  /// Solve the shifted system `(A − shift · I) x = b` instead (no extra cost).
  public var shift: Double = 0
  /// Declare a column `.inconsistent` when the estimate of `‖Ar‖ / (‖A‖ ‖r‖)` falls below
  /// this while `‖r‖` is still above the tolerance: `r` then lies (numerically) in the
  /// null space, and `x` is a least-squares solution that cannot improve (iterating on
  /// would only let rounding errors grow `x` along the null space). Nil means `√ε` of the
  /// scalar type (about 1.5e-8 in Double), which a consistent system can trigger only when
  /// its condition number exceeds `1/√ε`.
  public var leastSquaresTolerance: Double? = nil

  /// Stopping rules with the given tolerances.
  public init(
    relativeTolerance: Double = 1e-6, absoluteTolerance: Double = 0, maxIterations: Int? = nil,
    shift: Double = 0, leastSquaresTolerance: Double? = nil
  ) {
    self.relativeTolerance = relativeTolerance
    self.absoluteTolerance = absoluteTolerance
    self.maxIterations = maxIterations
    self.shift = shift
    self.leastSquaresTolerance = leastSquaresTolerance
  }
}

/// The result of a MINRES solve.
public typealias MINRESResult<Scalar: BLASScalar> = KrylovSolverResult<Scalar>

/// Solves `A X = B` for symmetric, possibly indefinite or singular `A` by the minimum
/// residual method, all right-hand sides at once (Paige & Saunders 1975).
///
/// The Lanczos process builds an orthonormal basis `V_k` of the Krylov space
/// `K_k(A, b)` with `A V_k = V_{k+1} T̄_k`; MINRES picks `x_k = V_k y` minimizing
/// `‖β₁e₁ − T̄_k y‖`, i.e. `‖b − A x‖` over the Krylov space, through Givens rotations that
/// update `x_k` with three-term recurrences (no basis is stored). With a preconditioner
/// `M ≈ A⁻¹` (symmetric positive definite), the Lanczos process runs in the `M⁻¹` inner
/// product and minimizes `‖r‖_M`. The implementation follows Paige & Saunders' SYMMLQ/MINRES
/// reference code (as in SciPy), plus a recurrence for the true residual `r_k` used by the
/// stopping rule (as in CG: `‖r‖ ≤ rtol · ‖b‖`).
///
/// Each column runs its own recurrences, but every iteration applies the operator (and the
/// preconditioner) to all active columns in one batched product. A column whose residual
/// stalls because it lies in the null space of a singular `A` stops with `.inconsistent`.
///
/// ```swift
/// let result = try minres(hessian, gradient, options: .init(relativeTolerance: 1e-8))
/// let step = try result.requireConverged()
/// ```
/// - Parameters:
///   - a: A symmetric operator (`isSymmetric` must be true), possibly indefinite.
///   - b: The right-hand side, `[n]` or `[n, k]`.
///   - initialGuess: `x₀`, shaped like `b` (zeros by default).
///   - preconditioner: `M ≈ A⁻¹`, symmetric positive definite (e.g. `|diag A|⁻¹`).
///   - options: Tolerances, iteration limit and shift.
///   - onProgress: Called after each iteration (task `"MINRES"`, iterations of the limit,
///     the largest relative residual as `metric`).
/// - Returns: The solution, iteration count, outcome and residual history.
/// - Throws: `LinearOperatorError` for mismatched shapes or non-finite input,
///   `SolverError.invalidArgument` for a non-symmetric operator, or what the operators throw.
/// - Complexity: One product with `A` and one with `M` per iteration, plus O(n) work per
///   column; memory for about a dozen vectors per column.
public func minres<A: LinearOperator>(
  _ a: A, _ b: NDArray<A.Scalar>, initialGuess: NDArray<A.Scalar>? = nil,
  preconditioner: (any LinearOperator<A.Scalar>)? = nil,
  options: MINRESOptions = MINRESOptions(),
  onProgress: ProgressHandler? = nil
) throws -> MINRESResult<A.Scalar> {
  typealias T = A.Scalar
  try a.requireSquare("minres")
  guard a.isSymmetric else {
    throw SolverError.invalidArgument("minres needs a symmetric operator; this \(a.rowCount)×\(a.columnCount) operator reports isSymmetric == false")
  }
  try a.checkOperand(b, length: a.columnCount, operation: "minres right-hand side")
  if let m = preconditioner {
    guard m.rowCount == a.rowCount && m.columnCount == a.columnCount else {
      throw LinearOperatorError.incompatible("preconditioner is \(m.rowCount)×\(m.columnCount), operator \(a.rowCount)×\(a.columnCount)")
    }
  }
  if let guess = initialGuess, guess.shape != b.shape {
    throw LinearOperatorError.shapeMismatch(operation: "minres initial guess", expected: "\(b.shape)", actual: guess.shape)
  }
  let n = a.rowCount
  let k = b.rank == 1 ? 1 : b.shape[1]
  // Working vectors are rows: [k, n].
  let bRows = b.reshaped([n, k]).transposed()
  var x = initialGuess.map { $0.reshaped([n, k]).transposed() } ?? NDArray<T>(zeros: [k, n])
  guard bRows.isFinite && x.isFinite else {
    throw LinearOperatorError.nonFinite("right-hand side or initial guess of minres")
  }
  let maxIterations = options.maxIterations ?? Swift.max(10, 2 * n)
  let shift = T(options.shift)
  let eps = Double(T.ulpOfOne)
  let leastSquaresTolerance = options.leastSquaresTolerance ?? eps.squareRoot()
  let bNorms = (0..<k).map { Double(bRows.normOfRow($0)) }
  let thresholds = bNorms.map { Swift.max(options.relativeTolerance * $0, options.absoluteTolerance) }
  func relative(_ norms: [Double]) -> Double {
    zip(norms, bNorms).map { $1 > 0 ? $0 / $1 : $0 }.max() ?? 0
  }
  func shifted(_ rows: NDArray<T>) throws -> NDArray<T> {
    var product = try a.applyToRows(rows)
    if shift != 0 { product.add(rows, scaledBy: -shift) }
    return product
  }
  func applyPreconditioner(_ rows: NDArray<T>) throws -> NDArray<T> {
    guard let m = preconditioner else { return rows }
    return try m.applyToRows(rows)
  }
  func finish(_ iterations: Int, _ outcome: SolverOutcome<T>, _ history: [Double]) -> MINRESResult<T> {
    MINRESResult(solution: x.transposed().reshaped(b.shape), iterations: iterations, outcome: outcome, residualHistory: history)
  }

  // r1 = b − A x₀ (the true residual `res` starts there too), y = M r1, β₁ = √(r1ᵀ y).
  var r1 = initialGuess == nil ? bRows : bRows - (try shifted(x))
  var residual = r1
  var residualNorms = (0..<k).map { Double(residual.normOfRow($0)) }
  var history = [relative(residualNorms)]
  var y = try applyPreconditioner(r1)
  var r2 = r1
  var active = [Int]()
  var inconsistent: (iteration: Int, column: Int)? = nil
  // Per-column scalars of the recurrences (Paige & Saunders' names).
  var beta = [Double](repeating: 0, count: k), oldBeta = beta, dbar = beta, epsilon = beta
  var phiBar = beta, tnorm2 = beta
  var cs = [Double](repeating: -1, count: k), sn = beta
  for column in 0..<k {
    let beta1Squared = Double(r1.dotRow(column, y, row: column))
    guard beta1Squared.isFinite else { return finish(0, .nonFinite(iteration: 0), history) }
    if beta1Squared < 0 { return finish(0, .breakdown(iteration: 0, column: column, curvature: T(beta1Squared)), history) }
    beta[column] = beta1Squared.squareRoot()
    phiBar[column] = beta[column]
    if residualNorms[column] > thresholds[column] && beta[column] > 0 { active.append(column) }
  }
  if active.isEmpty { return finish(0, .converged, history) }

  var v = NDArray<T>(zeros: [k, n])
  var w = NDArray<T>(zeros: [k, n]), w1 = w, w2 = w
  var aw = w, aw1 = w, aw2 = w
  var iteration = 0
  while iteration < maxIterations {
    iteration += 1
    // v = y / β; then A v for all active columns in one product.
    for column in active {
      v.copyRow(column, from: y, row: column)
      v.scaleRow(column, by: T(1 / beta[column]))
    }
    let av = try shifted(v.selectingRows(active))
    var alpha = [Double](repeating: 0, count: k)
    for (slot, column) in active.enumerated() {
      y.copyRow(column, from: av, row: slot)
      if iteration >= 2 { y.addRow(column, r1, row: column, scaledBy: T(-beta[column] / oldBeta[column])) }
      alpha[column] = Double(v.dotRow(column, y, row: column))
      y.addRow(column, r2, row: column, scaledBy: T(-alpha[column] / beta[column]))
    }
    swap(&r1, &r2)
    for column in active { r2.copyRow(column, from: y, row: column) }
    if let m = preconditioner {
      let z = try m.applyToRows(r2.selectingRows(active))
      for (slot, column) in active.enumerated() { y.copyRow(column, from: z, row: slot) }
    }
    // The next rotation, and the three-term updates of w, Aw, x and the residual.
    swap(&w1, &w2)
    swap(&w2, &w)
    swap(&aw1, &aw2)
    swap(&aw2, &aw)
    var stillActive = [Int]()
    for (slot, column) in active.enumerated() {
      oldBeta[column] = beta[column]
      let betaSquared = Double(r2.dotRow(column, y, row: column))
      guard alpha[column].isFinite && betaSquared.isFinite else {
        return finish(iteration, .nonFinite(iteration: iteration), history)
      }
      if betaSquared < 0 {
        return finish(iteration, .breakdown(iteration: iteration, column: column, curvature: T(betaSquared)), history)
      }
      let betaNext = betaSquared.squareRoot()
      beta[column] = betaNext
      tnorm2[column] += alpha[column] * alpha[column] + oldBeta[column] * oldBeta[column] + betaSquared
      let oldEpsilon = epsilon[column]
      let delta = cs[column] * dbar[column] + sn[column] * alpha[column]
      let gammaBar = sn[column] * dbar[column] - cs[column] * alpha[column]
      epsilon[column] = sn[column] * betaNext
      dbar[column] = -cs[column] * betaNext
      let root = (gammaBar * gammaBar + dbar[column] * dbar[column]).squareRoot()
      let gamma = (gammaBar * gammaBar + betaNext * betaNext).squareRoot()
      let aNorm = tnorm2[column].squareRoot()
      if gamma <= eps * aNorm {
        // T̄_k is singular in its last direction: the minimum-residual iterate does not
        // change, and the residual lies in the null space.
        if residualNorms[column] > thresholds[column] && inconsistent == nil {
          inconsistent = (iteration, column)
        }
        continue
      }
      cs[column] = gammaBar / gamma
      sn[column] = betaNext / gamma
      let phi = cs[column] * phiBar[column]
      phiBar[column] = sn[column] * phiBar[column]
      // w = (v − ε w₁ − δ w₂) / γ, and the same recurrence for A w from A v.
      w.copyRow(column, from: v, row: column)
      w.addRow(column, w1, row: column, scaledBy: T(-oldEpsilon))
      w.addRow(column, w2, row: column, scaledBy: T(-delta))
      w.scaleRow(column, by: T(1 / gamma))
      aw.copyRow(column, from: av, row: slot)
      aw.addRow(column, aw1, row: column, scaledBy: T(-oldEpsilon))
      aw.addRow(column, aw2, row: column, scaledBy: T(-delta))
      aw.scaleRow(column, by: T(1 / gamma))
      x.addRow(column, w, row: column, scaledBy: T(phi))
      residual.addRow(column, aw, row: column, scaledBy: T(-phi))
      residualNorms[column] = Double(residual.normOfRow(column))
      if residualNorms[column] <= thresholds[column] { continue }
      // ‖A r‖ / (‖A‖ ‖r‖) ≈ root / ‖T_k‖_F; an invariant Krylov space (β ≈ 0) ends the
      // column as well: the residual cannot improve any further.
      if root <= leastSquaresTolerance * aNorm || betaNext <= eps * aNorm {
        if inconsistent == nil { inconsistent = (iteration, column) }
        continue
      }
      stillActive.append(column)
    }
    active = stillActive
    history.append(relative(residualNorms))
    onProgress?(ProgressEvent(task: "MINRES", completed: iteration, total: maxIterations, metric: history.last!))
    if active.isEmpty { break }
  }
  if !active.isEmpty { return finish(iteration, .maxIterationsReached, history) }
  if let (at, column) = inconsistent { return finish(iteration, .inconsistent(iteration: at, column: column), history) }
  return finish(iteration, .converged, history)
}
