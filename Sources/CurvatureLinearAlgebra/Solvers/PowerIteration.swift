import CurvatureNumerics

/// Settings of power iteration.
public struct PowerIterationOptions: Sendable {
  /// The number `k` of eigenpairs of largest magnitude wanted.
  public var count: Int = 1
  /// A pair is converged when `‖Bv − λv‖ ≤ tolerance · |λ|` for the deflated operator `B`.
  public var tolerance: Double = 1e-8
  /// The iteration limit per eigenpair.
  public var maxIterations: Int = 1000
  /// Seeds the start vectors: equal seeds, equal results.
  public var seed: UInt64 = 0

  /// Settings for `count` pairs.
  public init(count: Int = 1, tolerance: Double = 1e-8, maxIterations: Int = 1000, seed: UInt64 = 0) {
    self.count = count
    self.tolerance = tolerance
    self.maxIterations = maxIterations
    self.seed = seed
  }
}

/// The `k` eigenpairs of largest magnitude of a symmetric operator by power iteration
/// with Hotelling deflation: the simple baseline for `lanczosEigenpairs`.
///
/// For each pair in turn, iterates `v ← Bv / ‖Bv‖` on the deflated operator
/// `B = A − Σ_j λ_j u_j u_jᵀ` (Hotelling 1933, "Analysis of a complex of statistical
/// variables into principal components"), which moves the pairs already found to the
/// eigenvalue 0, and takes the Rayleigh quotient `λ = vᵀBv`. Convergence is linear with
/// ratio `|λ_{i+1} / λ_i|`, and eigenvalues of equal magnitude and opposite sign do not
/// converge at all; the errors of earlier pairs carry over to later ones. Lanczos reaches
/// the same pairs with far fewer products.
///
/// - Parameters:
///   - a: A symmetric operator.
///   - options: Number of pairs, tolerance, iteration limit, seed.
///   - onProgress: Called after each pair (task `"Power iteration"`, pairs of `count`,
///     the pair's relative residual as `metric`).
/// - Returns: Eigenvalues by descending `|λ|`, eigenvectors `[n, k]`, residual norms (for
///   the deflated operator), matvecs, total iterations, and whether every pair converged.
/// - Throws: `LinearOperatorError.notSquare`; `SolverError.invalidArgument` for a
///   non-symmetric operator or `count` outside `1...n`; `SolverError.nonFinite`; or what
///   the operator throws.
/// - Complexity: One product with `A` per iteration, plus `O(n k)` for the deflation.
public func powerIteration<A: LinearOperator>(
  _ a: A, options: PowerIterationOptions = PowerIterationOptions(), onProgress: ProgressHandler? = nil
) throws -> EigenpairResult<A.Scalar> {
  typealias T = A.Scalar
  try a.requireSquare("powerIteration")
  guard a.isSymmetric else {
    throw SolverError.invalidArgument("powerIteration needs a symmetric operator; this \(a.rowCount)×\(a.columnCount) operator reports isSymmetric == false")
  }
  let n = a.rowCount, k = options.count
  guard k >= 1 && k <= n else {
    throw SolverError.invalidArgument("powerIteration: count \(k) must be in 1...\(n)")
  }
  var rng = RandomGenerator(seed: options.seed)
  var vectors = NDArray<T>(zeros: [k, n])
  var values = [Double](), residuals = [Double]()
  var matvecs = 0, iterations = 0
  var allConverged = true
  for pair in 0..<k {
    var v: NDArray<T> = rng.normalArray(shape: [n])
    v.scale(by: 1 / v.norm())
    var lambda = 0.0, residual = Double.infinity
    var converged = false
    for _ in 0..<options.maxIterations {
      // w = B v = A v − Σ λ_j u_j (u_jᵀ v)
      var w = try a.apply(v)
      matvecs += 1
      iterations += 1
      guard w.isFinite else { throw SolverError.nonFinite(iteration: iterations) }
      for j in 0..<pair {
        let projection = Double(vectors.dotRow(j, v.reshaped([1, n]), row: 0))
        w.add(vectors.selectingRows([j]).reshaped([n]), scaledBy: T(-values[j] * projection))
      }
      lambda = Double(v.dot(w))
      var r = w
      r.add(v, scaledBy: T(-lambda))
      residual = Double(r.norm())
      if residual <= options.tolerance * Swift.abs(lambda) || residual == 0 {
        converged = true
        break
      }
      let norm = w.norm()
      guard norm > 0 else { break }
      v = w
      v.scale(by: 1 / norm)
    }
    if !converged { allConverged = false }
    vectors.copyRow(pair, from: v.reshaped([1, n]), row: 0)
    values.append(lambda)
    residuals.append(residual)
    onProgress?(ProgressEvent(task: "Power iteration", completed: pair + 1, total: k, metric: residual / Swift.max(Swift.abs(lambda), .leastNormalMagnitude)))
  }
  let order = EigenvalueSelection.largestMagnitude.ranking(values)
  return EigenpairResult(
    eigenvalues: NDArray(order.map { T(values[$0]) }), eigenvectors: vectors.selectingRows(order).transposed(),
    residualNorms: order.map { residuals[$0] }, matvecs: matvecs, iterations: iterations, converged: allConverged)
}
