import CurvatureNumerics

/// A randomized estimate of the squared Frobenius norm `‖A‖_F² = tr(AᵀA) = E‖Az‖²`.
///
/// Averages `‖A zᵢ‖²` over probes with `E[z zᵀ] = I` — Hutchinson's estimator applied to
/// `AᵀA` without forming it (one product with `A` per probe; Gudmundsson, Kenney & Laub
/// 1995, "Small-sample statistical estimates for matrix norms"). Works for rectangular
/// operators.
///
/// - Parameters:
///   - a: Any operator.
///   - matvecs: The number of probes, at least 1.
///   - distribution: The probe distribution (Rademacher by default).
///   - blockSize: Probes per batched product.
///   - seed: Seeds the probes: equal seeds, equal results.
///   - onProgress: Called after each block (task `"Frobenius norm"`).
/// - Returns: The estimate of `‖A‖_F²`, its standard error and the samples `‖Azᵢ‖²`.
/// - Throws: `SolverError.invalidArgument` for `matvecs < 1` or `blockSize < 1`;
///   `LinearOperatorError.nonFinite`; or what `A` throws.
/// - Complexity: `matvecs` products with `A`.
public func squaredFrobeniusNormEstimate<A: LinearOperator>(
  _ a: A, matvecs: Int, distribution: ProbeDistribution = .rademacher, blockSize: Int = 32,
  seed: UInt64 = 0, onProgress: ProgressHandler? = nil
) throws -> StochasticEstimate {
  try validateEstimator(a, "squaredFrobeniusNormEstimate", matvecs: matvecs, minimum: 1, blockSize: blockSize, square: false)
  var rng = RandomGenerator(seed: seed)
  var samples = [Double]()
  while samples.count < matvecs {
    let width = Swift.min(blockSize, matvecs - samples.count)
    let z: NDArray<A.Scalar> = distribution.probes(width, length: a.columnCount, using: &rng)
    let az = try applyInBlocks(a, rows: z, blockSize: width)
    for j in 0..<width {
      let norm = Double(az.normOfRow(j))
      samples.append(norm * norm)
    }
    onProgress?(ProgressEvent(task: "Frobenius norm", completed: samples.count, total: matvecs))
  }
  return StochasticEstimate(samples: samples, matvecs: matvecs)
}
