import CurvatureNumerics

/// Hutchinson-type estimate of the diagonal of a square operator (Bekas, Kokiopoulou &
/// Saad 2007, "An estimator for the diagonal of a matrix", Appl. Numer. Math. 57).
///
/// `diag(A) ≈ (Σᵢ zᵢ ⊙ A zᵢ) ⊘ (Σᵢ zᵢ ⊙ zᵢ)`. For Rademacher probes the denominator is the
/// probe count and every term is unbiased, with variance `Σ_{k≠j} a_jk²` in entry `j`;
/// for Gaussian probes the ratio is consistent but only asymptotically unbiased.
///
/// - Parameters:
///   - a: A square operator.
///   - matvecs: The number of probes, at least 1.
///   - distribution: Rademacher (default) or Gaussian probes.
///   - blockSize: Probes per batched product.
///   - seed: Seeds the probes: equal seeds, equal results.
///   - onProgress: Called after each block (task `"Hutchinson diagonal"`).
/// - Returns: The diagonal estimate and the standard error of each entry (from the
///   per-probe terms `zᵢ ⊙ Azᵢ − d ⊙ zᵢ ⊙ zᵢ`, exact for Rademacher probes).
/// - Throws: `LinearOperatorError.notSquare`; `SolverError.invalidArgument` for
///   `matvecs < 1` or `blockSize < 1`; `LinearOperatorError.nonFinite`; or what `A` throws.
/// - Complexity: `matvecs` products with `A`; `O(n)` extra memory per probe in a block.
public func hutchinsonDiagonal<A: LinearOperator>(
  _ a: A, matvecs: Int, distribution: ProbeDistribution = .rademacher, blockSize: Int = 32,
  seed: UInt64 = 0, onProgress: ProgressHandler? = nil
) throws -> DiagonalEstimate<A.Scalar> {
  try validateEstimator(a, "hutchinsonDiagonal", matvecs: matvecs, minimum: 1, blockSize: blockSize)
  let n = a.rowCount
  var rng = RandomGenerator(seed: seed)
  // Running sums of z⊙Az, z⊙z and the second moments for the error.
  var numerator = [Double](repeating: 0, count: n), denominator = numerator
  var products = [[Double]]()  // per probe: (z⊙Az, z⊙z) interleaved, for the error
  var done = 0
  while done < matvecs {
    let width = Swift.min(blockSize, matvecs - done)
    let z: NDArray<A.Scalar> = distribution.probes(width, length: n, using: &rng)
    let az = try applyInBlocks(a, rows: z, blockSize: width)
    let (zs, azs) = (z.scalars, az.scalars)
    for j in 0..<width {
      var row = [Double](repeating: 0, count: 2 * n)
      for i in 0..<n {
        let zi = Double(zs[j * n + i])
        let term = zi * Double(azs[j * n + i])
        numerator[i] += term
        denominator[i] += zi * zi
        row[2 * i] = term
        row[2 * i + 1] = zi * zi
      }
      products.append(row)
    }
    done += width
    onProgress?(ProgressEvent(task: "Hutchinson diagonal", completed: done, total: matvecs))
  }
  let estimate = (0..<n).map { denominator[$0] > 0 ? numerator[$0] / denominator[$0] : 0 }
  var standardError: NDArray<A.Scalar>? = nil
  if matvecs > 1 {
    let m = Double(matvecs)
    standardError = NDArray((0..<n).map { i -> A.Scalar in
      // Delta method for the ratio: residual terms (zᵢ⊙Azᵢ − d zᵢ⊙zᵢ) / mean(z⊙z).
      let meanSquare = denominator[i] / m
      var sum = 0.0
      for row in products {
        let e = (row[2 * i] - estimate[i] * row[2 * i + 1]) / meanSquare
        sum += e * e
      }
      return A.Scalar((sum / (m - 1) / m).squareRoot())
    })
  }
  return DiagonalEstimate(
    value: NDArray(estimate.map { A.Scalar($0) }), standardError: standardError, sampleCount: matvecs, matvecs: matvecs)
}
