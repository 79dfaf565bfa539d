import CurvatureNumerics

/// Which end of the spectrum an eigensolver looks for.
public enum EigenvalueSelection: Sendable, Hashable, CaseIterable {
  /// The algebraically largest eigenvalues, returned in descending order.
  case largest
  /// The algebraically smallest eigenvalues, returned in ascending order.
  case smallest
  /// The eigenvalues of largest absolute value, returned by descending `|λ|`.
  case largestMagnitude

  /// Larger is more wanted.
  func score(_ value: Double) -> Double {
    switch self {
    case .largest: return value
    case .smallest: return -value
    case .largestMagnitude: return Swift.abs(value)
    }
  }

  /// Indices of `values` from most to least wanted (ties broken by value, then index, so
  /// the order is deterministic).
  func ranking(_ values: [Double]) -> [Int] {
    values.indices.sorted { i, j in
      let (si, sj) = (score(values[i]), score(values[j]))
      if si != sj { return si > sj }
      if values[i] != values[j] { return values[i] > values[j] }
      return i < j
    }
  }
}

/// Settings of the Lanczos eigensolver.
public struct LanczosOptions: Sendable {
  /// The number `k` of eigenpairs wanted.
  public var count: Int = 1
  /// Which eigenvalues.
  public var which: EigenvalueSelection = .largest
  /// A Ritz pair is converged when `‖Av − θv‖ ≤ tolerance · |θ|` (estimated by
  /// `|β_m s_m|`); eigenvalues are then accurate to about `tolerance` relative, or better.
  /// Residuals at the rounding level `10 ε ‖A‖` also count as converged, so eigenvalues at
  /// or near 0 converge.
  public var tolerance: Double = 1e-10
  /// The most basis vectors held at once (locked Ritz vectors included): the memory cap,
  /// `(maxBasisSize + 1) · n` scalars. At least `count + 2` (or `n`); nil means
  /// `min(n, max(2k + 1, k + 20))`.
  public var maxBasisSize: Int? = nil
  /// The most restarts (thick restarts and the random restarts of the multiplicity check)
  /// before giving up with `converged == false`.
  public var maxRestarts: Int = 200
  /// Seeds the start vector (and any random vector drawn later): equal seeds, equal results.
  public var seed: UInt64 = 0
  /// When `count ≥ n`, operators with `n ≤ denseFallbackLimit` are solved densely
  /// (`dense()` and LAPACK syevd, counted as `n` matvecs); larger ones throw. Set to 0 to
  /// never fall back.
  public var denseFallbackLimit: Int = 2000
  /// After all wanted pairs converge, restart once more from a random vector orthogonal to
  /// them and iterate until the best remaining Ritz value converges: a single Krylov space
  /// contains only one copy of a repeated eigenvalue (and resolves tight clusters poorly),
  /// so this catches further copies that belong among the wanted ones. Costs one more
  /// convergence (about 1.5–2× the products for small `count`, less for large); disable
  /// for speed when multiplicities are known not to matter.
  public var verifiesMultiplicity: Bool = true

  /// Settings for the `count` eigenpairs selected by `which`.
  public init(
    count: Int = 1, which: EigenvalueSelection = .largest, tolerance: Double = 1e-10,
    maxBasisSize: Int? = nil, maxRestarts: Int = 200, seed: UInt64 = 0,
    denseFallbackLimit: Int = 2000, verifiesMultiplicity: Bool = true
  ) {
    self.count = count
    self.which = which
    self.tolerance = tolerance
    self.maxBasisSize = maxBasisSize
    self.maxRestarts = maxRestarts
    self.seed = seed
    self.denseFallbackLimit = denseFallbackLimit
    self.verifiesMultiplicity = verifiesMultiplicity
  }
}

/// Eigenpairs computed by an iterative eigensolver.
public struct EigenpairResult<Scalar: BLASScalar>: Sendable {
  /// The eigenvalues `[k]`, in the order requested (see `EigenvalueSelection`).
  public var eigenvalues: NDArray<Scalar>
  /// The unit eigenvectors as columns, `[n, k]`, matching `eigenvalues`.
  public var eigenvectors: NDArray<Scalar>
  /// The residual norm `‖A v − λ v‖` of each pair. Lanczos (`lanczosEigenpairs`, `eigsh`)
  /// reports the true residual, recomputed after the iteration from one product with the
  /// returned eigenvectors (counted in `matvecs`; the dense fallback uses its matrix), in
  /// the operator's precision: it includes rounding, so it is about `ε ‖A‖` at best, never
  /// the far smaller Lanczos estimate `|β_m s_m|` that decides convergence. Power
  /// iteration reports the residual of each pair for the deflated operator it iterated on.
  public var residualNorms: [Double]
  /// Products with the operator, counted per vector.
  public var matvecs: Int
  /// Lanczos: restarts performed; power iteration: iterations over all pairs.
  public var iterations: Int
  /// Whether every pair met the tolerance.
  public var converged: Bool

  /// A result from its parts.
  public init(
    eigenvalues: NDArray<Scalar>, eigenvectors: NDArray<Scalar>, residualNorms: [Double],
    matvecs: Int, iterations: Int, converged: Bool
  ) {
    self.eigenvalues = eigenvalues
    self.eigenvectors = eigenvectors
    self.residualNorms = residualNorms
    self.matvecs = matvecs
    self.iterations = iterations
    self.converged = converged
  }
}

/// The `k` largest, smallest or largest-magnitude eigenpairs of a symmetric operator, by
/// the Lanczos method with full reorthogonalization, thick restart and locking.
///
/// Lanczos builds an orthonormal basis `V_m` of the Krylov space `K_m(A, v₀)` with
/// `A V_m = V_m T_m + β_m v_{m+1} e_mᵀ`, `T_m` tridiagonal; the eigenpairs `(θ, s)` of
/// `T_m` give Ritz pairs `(θ, V_m s)` with residual norm `|β_m s_m|`. Each new vector is
/// orthogonalized against the whole stored basis twice (classical Gram-Schmidt as gemv
/// pairs), so no spurious copies appear. When the basis reaches `maxBasisSize`, the
/// thick restart of Wu & Simon (2000, "Thick-restart Lanczos method for large symmetric
/// eigenvalue problems", SIAM J. Matrix Anal. Appl. 22(2)) keeps the most wanted Ritz
/// vectors and `v_{m+1}`: the projected matrix becomes arrowhead-plus-tridiagonal
/// `[diag(θ) σ; σᵀ α …]` with `σ_i = β_m s_{m,i}`, and the iteration continues from there
/// (its small eigenproblem then goes to dense syevd instead of stevd). Converged wanted
/// pairs are locked: kept aside, and every later vector is orthogonalized against them.
///
/// A breakdown `β ≈ 0` (an invariant subspace) continues with a random vector orthogonal
/// to the basis. Because one Krylov space holds only one copy of a repeated eigenvalue,
/// the solver finally restarts from a random vector orthogonal to the locked pairs and
/// checks that the best remaining eigenvalue does not belong among the wanted ones
/// (`verifiesMultiplicity`); further copies and cluster members are found that way.
///
/// ```swift
/// let top = try lanczosEigenpairs(hessian, options: .init(count: 10, which: .largest, seed: 1))
/// print(top.eigenvalues, top.converged)
/// ```
/// - Parameters:
///   - a: A symmetric operator (`isSymmetric` true).
///   - options: How many eigenpairs, which, tolerance, basis cap, restarts, seed.
///   - onProgress: Called after each filled basis (task `"Lanczos"`, converged wanted pairs
///     of `count`, the largest relative residual among the unconverged wanted as `metric`).
/// - Returns: Eigenvalues (ordered as requested), eigenvectors `[n, k]`, the true residual
///   norms `‖Av − λv‖` (recomputed, see `EigenpairResult.residualNorms`), matvec count
///   (the recomputation's `k` included), restarts and whether all converged.
/// - Throws: `LinearOperatorError.notSquare`; `SolverError.invalidArgument` for a
///   non-symmetric operator, `count < 1`, `count > n`, `count ≥ n` on an operator too
///   large for the dense fallback, a basis cap below `count + 2` (and below `n`), or a
///   non-positive tolerance; `SolverError.nonFinite` when the operator produces NaN or infinity;
///   `LAPACKError` from the small eigenproblems; or what the operator throws.
/// - Complexity: One product with `A` per basis vector; `O(n · m)` per vector for
///   reorthogonalization and `O(n m²)` per restart, with `m = maxBasisSize`; memory
///   `(m + 1) · n` scalars.
public func lanczosEigenpairs<A: LinearOperator>(
  _ a: A, options: LanczosOptions = LanczosOptions(), onProgress: ProgressHandler? = nil
) throws -> EigenpairResult<A.Scalar> {
  typealias T = A.Scalar
  try a.requireSquare("lanczosEigenpairs")
  guard a.isSymmetric else {
    throw SolverError.invalidArgument("lanczosEigenpairs needs a symmetric operator; this \(a.rowCount)×\(a.columnCount) operator reports isSymmetric == false")
  }
  let n = a.rowCount, k = options.count, which = options.which
  guard k >= 1 else { throw SolverError.invalidArgument("lanczosEigenpairs: count \(k) must be at least 1") }
  guard k <= n else {
    throw SolverError.invalidArgument("lanczosEigenpairs: \(k) eigenpairs asked of a \(n)×\(n) operator")
  }
  guard options.tolerance > 0 else {
    throw SolverError.invalidArgument("lanczosEigenpairs: tolerance \(options.tolerance) must be positive")
  }
  if k >= n {
    guard n <= options.denseFallbackLimit else {
      throw SolverError.invalidArgument("lanczosEigenpairs: \(k) eigenpairs of a \(n)×\(n) operator need the full spectrum, and n exceeds denseFallbackLimit \(options.denseFallbackLimit)")
    }
    return try denseEigenpairs(a, count: k, which: which)
  }
  let capacity = Swift.min(n, options.maxBasisSize ?? Swift.max(2 * k + 1, k + 20))
  guard capacity >= k + 2 || capacity == n else {
    throw SolverError.invalidArgument("lanczosEigenpairs: maxBasisSize \(capacity) must be at least count + 2 = \(k + 2) (or n)")
  }

  var solver = ThickRestartLanczos(operator: a, capacity: capacity, options: options)
  var result = try solver.run(onProgress: onProgress)
  // The estimate |β_m s_m| ignores rounding (it reaches 1e-57 where ‖Av − λv‖ is 1e-15):
  // report the residuals the returned pairs really have.
  let products = try a.apply(result.eigenvectors)
  result.matvecs += result.eigenvalues.count
  result.residualNorms = eigenpairResiduals(products, result.eigenvectors, result.eigenvalues)
  return result
}

/// The norms of the columns of `AV − V diag(λ)`, from `AV` `[n, k]`.
func eigenpairResiduals<T: BLASScalar>(_ products: NDArray<T>, _ vectors: NDArray<T>, _ values: NDArray<T>) -> [Double] {
  let (n, k) = (vectors.shape[0], vectors.shape[1])
  var sums = [Double](repeating: 0, count: k)
  for i in 0..<n {
    for j in 0..<k {
      let r = products.scalars[i * k + j] - values.scalars[j] * vectors.scalars[i * k + j]
      sums[j] += Double(r) * Double(r)
    }
  }
  return sums.map { $0.squareRoot() }
}

/// The wanted eigenpairs of `dense()` by LAPACK syevd.
func denseEigenpairs<A: LinearOperator>(_ a: A, count k: Int, which: EigenvalueSelection) throws -> EigenpairResult<A.Scalar> {
  let matrix = try a.dense()
  let (values, vectors) = try matrix.symmetricEigen()
  let n = a.rowCount
  let chosen = Array(which.ranking(values.scalars.map { Double($0) }).prefix(k))
  var eigenvectors = NDArray<A.Scalar>(zeros: [n, k])
  for (slot, index) in chosen.enumerated() {
    for i in 0..<n { eigenvectors.scalars[i * k + slot] = vectors.scalars[i * n + index] }
  }
  let eigenvalues = NDArray(chosen.map { values[$0] })
  return EigenpairResult(
    eigenvalues: eigenvalues, eigenvectors: eigenvectors,
    residualNorms: eigenpairResiduals(matmul(matrix, eigenvectors), eigenvectors, eigenvalues),
    matvecs: n, iterations: 0, converged: true)
}

/// The state of one thick-restart Lanczos run with locking.
struct ThickRestartLanczos<A: LinearOperator> {
  typealias T = A.Scalar
  let a: A
  let n: Int
  let k: Int
  let which: EigenvalueSelection
  let tolerance: Double
  let capacity: Int
  let maxRestarts: Int
  let verifies: Bool
  var rng: RandomGenerator

  /// Locked (converged, wanted) eigenvectors as rows `[k, n]`, the first `lockedCount`.
  var locked: NDArray<T>
  var lockedValues: [Double] = []
  var lockedResiduals: [Double] = []
  /// The active basis as rows `[capacity + 1, n]`.
  var basis: NDArray<T>
  /// The projected matrix of the active basis, row-major with stride `capacity`.
  var projected: [Double]
  /// Active vectors whose projected column is known (Ritz vectors kept at a restart).
  var kept = 0
  /// Whether `projected` has an arrowhead part (after a thick restart).
  var arrowhead = false
  var matvecs = 0
  var restarts = 0
  var normEstimate = 0.0
  /// The locked and active vectors span the whole space: every Ritz pair is exact.
  var exhausted = false
  /// Checking, from a random restart, that no further wanted eigenvalue hides in the
  /// complement of the locked vectors.
  var verifying = false
  /// The largest converged count reported so far (progress never goes back).
  var reported = 0

  init(operator a: A, capacity: Int, options: LanczosOptions) {
    self.a = a
    n = a.rowCount
    k = options.count
    which = options.which
    tolerance = options.tolerance
    self.capacity = capacity
    maxRestarts = options.maxRestarts
    verifies = options.verifiesMultiplicity
    rng = RandomGenerator(seed: options.seed)
    locked = NDArray(zeros: [k, n])
    basis = NDArray(zeros: [capacity + 1, n])
    projected = [Double](repeating: 0, count: capacity * capacity)
  }

  var lockedCount: Int { lockedValues.count }
  var eps: Double { Double(T.ulpOfOne) }

  func converged(_ residual: Double, _ value: Double) -> Bool {
    residual <= Swift.max(tolerance * Swift.abs(value), 10 * eps * normEstimate)
  }

  /// Writes a random unit vector orthogonal to the locked vectors and the first `count`
  /// active rows into active row `row`; false when they already span the space.
  mutating func randomDirection(into row: Int, orthogonalToActive count: Int) -> Bool {
    var w: NDArray<T> = rng.normalArray(shape: [n])
    let before = Double(w.norm())
    orthogonalize(&w, against: locked, count: lockedCount)
    orthogonalize(&w, against: basis, count: count)
    let after = Double(w.norm())
    guard after > eps.squareRoot() * before else { return false }
    w.scale(by: T(1 / after))
    basis.copyRow(row, from: w.reshaped([1, n]), row: 0)
    return true
  }

  /// Starts the active basis afresh from a random vector (orthogonal to the locked ones).
  mutating func restartRandomly() {
    kept = 0
    arrowhead = false
    for i in projected.indices { projected[i] = 0 }
    if !randomDirection(into: 0, orthogonalToActive: 0) { exhausted = true }
  }

  /// Extends the active basis from `kept` to the active capacity; returns its size `m`
  /// and the coupling `β_m` of the next vector (row `m`).
  mutating func extend() throws -> (size: Int, beta: Double) {
    let activeCapacity = Swift.min(capacity, n) - lockedCount
    var j = kept
    while true {
      var w = try a.apply(basis.selectingRows([j]).reshaped([n]))
      matvecs += 1
      guard w.isFinite else { throw SolverError.nonFinite(iteration: matvecs) }
      orthogonalize(&w, against: locked, count: lockedCount)
      let h = orthogonalize(&w, against: basis, count: j + 1)
      let alpha = h[j]
      projected[j * capacity + j] = alpha
      let beta = Double(w.norm())
      let previous = j > 0 ? Swift.abs(projected[j * capacity + j - 1]) : 0
      normEstimate = Swift.max(normEstimate, Swift.abs(alpha) + beta + previous)
      let invariant = beta <= 10 * eps * normEstimate
      if !invariant {
        w.scale(by: T(1 / beta))
        basis.copyRow(j + 1, from: w.reshaped([1, n]), row: 0)
      } else if lockedCount + j + 1 >= n || !randomDirection(into: j + 1, orthogonalToActive: j + 1) {
        // The locked and active vectors span everything: the Ritz pairs are exact.
        exhausted = true
        return (j + 1, 0)
      }
      let coupling = invariant ? 0 : beta
      if j + 1 == activeCapacity { return (j + 1, coupling) }
      projected[j * capacity + j + 1] = coupling
      projected[(j + 1) * capacity + j] = coupling
      j += 1
    }
  }

  /// Eigenpairs of the `m×m` projected matrix: ascending values, vectors as columns.
  func ritzPairs(_ m: Int) throws -> (values: [Double], vectors: NDArray<Double>) {
    if arrowhead {
      var t = NDArray<Double>(zeros: [m, m])
      for i in 0..<m { for j in 0..<m { t.scalars[i * m + j] = projected[i * capacity + j] } }
      let (values, vectors) = try t.symmetricEigen()
      return (values.scalars, vectors)
    }
    let diagonal = NDArray((0..<m).map { projected[$0 * capacity + $0] })
    let offDiagonal = NDArray((0..<Swift.max(0, m - 1)).map { projected[$0 * capacity + $0 + 1] })
    let (values, vectors) = try NDArray.tridiagonalEigen(diagonal: diagonal, offDiagonal: offDiagonal)
    return (values.scalars, vectors)
  }

  /// The Ritz vectors `V_m y_i` for the listed columns `i` of `y`, as rows.
  func ritzVectors(_ y: NDArray<Double>, columns: [Int], size m: Int) -> NDArray<T> {
    guard !columns.isEmpty else { return NDArray(zeros: [0, n]) }
    var coefficients = NDArray<T>(zeros: [columns.count, m])
    for (slot, column) in columns.enumerated() {
      for i in 0..<m { coefficients.scalars[slot * m + i] = T(y.scalars[i * m + column]) }
    }
    return matmul(coefficients, basis.leadingRows(m))
  }

  mutating func run(onProgress: ProgressHandler?) throws -> EigenpairResult<T> {
    restartRandomly()
    while true {
      let (m, beta) = try extend()
      let (theta, y) = try ritzPairs(m)
      let residuals = (0..<m).map { Swift.abs(beta * y[m - 1, $0]) }
      normEstimate = Swift.max(normEstimate, theta.map(Swift.abs).max() ?? 0, lockedValues.map(Swift.abs).max() ?? 0)
      let activeConverged = (0..<m).map { converged(residuals[$0], theta[$0]) }

      // The wanted set among locked and active candidates (locked first on ties).
      let candidates = lockedValues + theta
      let wanted = Array(which.ranking(candidates).prefix(k))
      let wantedActive = wanted.filter { $0 >= lockedCount }.map { $0 - lockedCount }
      var toLock = wantedActive.filter { activeConverged[$0] }
      let unconverged = wantedActive.filter { !activeConverged[$0] }
      report(onProgress, done: k - unconverged.count, worst: unconverged.map { residuals[$0] / Swift.max(Swift.abs(theta[$0]), normEstimate * eps) }.max())

      if exhausted {
        // Locked and active vectors span the space: every Ritz pair is an eigenpair.
        return finish(theta: theta, y: y, residuals: residuals, size: m)
      }
      if verifying {
        let best = which.ranking(theta).first!
        let kthLocked = which.ranking(lockedValues).prefix(k).last.map { lockedValues[$0] }
        let beats = kthLocked.map { which.score(theta[best]) > which.score($0) + slack($0) } ?? true
        if beats {
          verifying = false
        } else if activeConverged[best] {
          // The best eigenvalue outside the locked pairs is not wanted: done.
          return finish(theta: theta, y: y, residuals: residuals, size: m)
        } else {
          toLock = []
        }
      }
      if !verifying && unconverged.isEmpty {
        // Every wanted pair converges now: lock them and check the complement.
        lock(toLock, theta: theta, y: y, residuals: residuals, size: m)
        guard verifies else { return finish(theta: [], y: y, residuals: [], size: 0) }
        guard restarts < maxRestarts else { return finish(theta: [], y: y, residuals: [], size: 0) }
        restarts += 1
        verifying = true
        restartRandomly()
        if exhausted { return finish(theta: [], y: y, residuals: [], size: 0) }
        continue
      }
      guard restarts < maxRestarts else {
        return finish(theta: theta, y: y, residuals: residuals, size: m)
      }
      restarts += 1
      thickRestart(lock: verifying ? [] : toLock, theta: theta, y: y, residuals: residuals, beta: beta, size: m)
    }
  }

  /// How much better than the k-th locked value a candidate must be to count as missed.
  func slack(_ value: Double) -> Double {
    Swift.max(tolerance * Swift.abs(value), 10 * eps * normEstimate)
  }

  /// Moves the listed Ritz pairs into the locked set, keeping the best `k`.
  mutating func lock(_ indices: [Int], theta: [Double], y: NDArray<Double>, residuals: [Double], size m: Int) {
    guard !indices.isEmpty else { return }
    let vectors = ritzVectors(y, columns: indices, size: m)
    var rows = (0..<lockedCount).map { locked.selectingRows([$0]) }
    var values = lockedValues, norms = lockedResiduals
    for (slot, index) in indices.enumerated() {
      rows.append(vectors.selectingRows([slot]))
      values.append(theta[index])
      norms.append(residuals[index])
    }
    let best = Array(which.ranking(values).prefix(k))
    locked = NDArray(zeros: [k, n])
    for (slot, index) in best.enumerated() { locked.copyRow(slot, from: rows[index], row: 0) }
    lockedValues = best.map { values[$0] }
    lockedResiduals = best.map { norms[$0] }
  }

  /// Locks converged wanted pairs and restarts with the most wanted remaining Ritz vectors
  /// plus the residual direction (Wu & Simon's thick restart).
  mutating func thickRestart(lock toLock: [Int], theta: [Double], y: NDArray<Double>, residuals: [Double], beta: Double, size m: Int) {
    lock(toLock, theta: theta, y: y, residuals: residuals, size: m)
    let activeCapacity = Swift.min(capacity, n) - lockedCount
    let remaining = which.ranking(theta).filter { !toLock.contains($0) }
    let stillWanted = verifying ? 1 : Swift.max(1, k - lockedCount)
    let desired = stillWanted + Swift.max(0, activeCapacity - stillWanted) / 2
    let keep = Array(remaining.prefix(Swift.max(0, Swift.min(desired, activeCapacity - 2, m - 1))))
    let vectors = ritzVectors(y, columns: keep, size: m)
    // The continuation vector (row m) moves to row `keep.count`, after the kept vectors.
    let continuation = basis.selectingRows([m])
    for slot in keep.indices { basis.copyRow(slot, from: vectors, row: slot) }
    basis.copyRow(keep.count, from: continuation, row: 0)
    for i in projected.indices { projected[i] = 0 }
    for (slot, index) in keep.enumerated() {
      projected[slot * capacity + slot] = theta[index]
      let sigma = beta * y[m - 1, index]
      projected[slot * capacity + keep.count] = sigma
      projected[keep.count * capacity + slot] = sigma
    }
    kept = keep.count
    arrowhead = kept > 0
  }

  mutating func report(_ onProgress: ProgressHandler?, done: Int, worst: Double?) {
    reported = Swift.max(reported, Swift.min(k, done))
    onProgress?(ProgressEvent(task: "Lanczos", completed: reported, total: k, metric: worst))
  }

  /// The best `k` of the locked pairs and the given active Ritz pairs, in requested order;
  /// converged when every chosen pair meets the tolerance (locked ones do by construction).
  func finish(theta: [Double], y: NDArray<Double>, residuals: [Double], size m: Int) -> EigenpairResult<T> {
    let candidates = lockedValues + theta
    let chosen = Array(which.ranking(candidates).prefix(k))
    let activeChosen = chosen.filter { $0 >= lockedCount }.map { $0 - lockedCount }
    let activeVectors = ritzVectors(y, columns: activeChosen, size: m)
    var vectors = NDArray<T>(zeros: [n, chosen.count])
    var values = [T](), norms = [Double]()
    var isConverged = true
    for (slot, index) in chosen.enumerated() {
      let (source, row): (NDArray<T>, Int)
      if index < lockedCount {
        (source, row) = (locked, index)
        norms.append(lockedResiduals[index])
      } else {
        let active = index - lockedCount
        (source, row) = (activeVectors, activeChosen.firstIndex(of: active)!)
        norms.append(residuals[active])
        if !converged(residuals[active], theta[active]) { isConverged = false }
      }
      values.append(T(candidates[index]))
      for i in 0..<n { vectors.scalars[i * chosen.count + slot] = source.scalars[row * n + i] }
    }
    return EigenpairResult(
      eigenvalues: NDArray(values), eigenvectors: vectors, residualNorms: norms, matvecs: matvecs,
      iterations: restarts, converged: isConverged && chosen.count == k)
  }
}
