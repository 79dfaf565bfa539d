import CurvatureNumerics

/// Hutchinson's estimate of the trace of a square operator.
///
/// With probes `z` satisfying `E[z zᵀ] = I`, `E[zᵀ A z] = tr(A)`; the estimate averages
/// `zᵢᵀ A zᵢ` over `matvecs` probes (Hutchinson 1989, "A stochastic estimator of the trace
/// of the influence matrix for Laplacian smoothing splines"; Girard 1989 for Gaussian
/// probes). With Rademacher probes the variance per probe is `2 (‖A‖_F² − Σ a_ii²)` for
/// symmetric `A`, so the error decays like `‖A‖_F / √m`.
///
/// ```swift
/// let estimate = try hutchinsonTrace(hessian, matvecs: 100, seed: 1)
/// print(estimate.value, "±", estimate.standardError ?? .nan)
/// ```
/// - Parameters:
///   - a: A square operator.
///   - matvecs: The number of probes (each one product with `A`), at least 1.
///   - distribution: The probe distribution (Rademacher by default).
///   - blockSize: Probes per batched product.
///   - seed: Seeds the probes: equal seeds, equal results (for any `blockSize`).
///   - onProgress: Called after each block (task `"Hutchinson"`, matvecs of `matvecs`).
/// - Returns: The estimate, its standard error and the per-probe samples `zᵢᵀ A zᵢ`.
/// - Throws: `LinearOperatorError.notSquare`; `SolverError.invalidArgument` for
///   `matvecs < 1` or `blockSize < 1`; `LinearOperatorError.nonFinite`; or what `A` throws.
/// - Complexity: `matvecs` products with `A`, in blocks of `blockSize`; `O(n · blockSize)`
///   memory.
public func hutchinsonTrace<A: LinearOperator>(
  _ a: A, matvecs: Int, distribution: ProbeDistribution = .rademacher, blockSize: Int = 32,
  seed: UInt64 = 0, onProgress: ProgressHandler? = nil
) throws -> StochasticEstimate {
  try validateEstimator(a, "hutchinsonTrace", matvecs: matvecs, minimum: 1, blockSize: blockSize)
  let n = a.rowCount
  var rng = RandomGenerator(seed: seed)
  var samples = [Double]()
  samples.reserveCapacity(matvecs)
  while samples.count < matvecs {
    let width = Swift.min(blockSize, matvecs - samples.count)
    let z: NDArray<A.Scalar> = distribution.probes(width, length: n, using: &rng)
    let az = try applyInBlocks(a, rows: z, blockSize: width)
    for j in 0..<width { samples.append(Double(z.dotRow(j, az, row: j))) }
    onProgress?(ProgressEvent(task: "Hutchinson", completed: samples.count, total: matvecs))
  }
  return StochasticEstimate(samples: samples, matvecs: matvecs)
}
