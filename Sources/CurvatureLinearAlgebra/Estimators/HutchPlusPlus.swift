import CurvatureNumerics

/// The Hutch++ estimate of the trace of a square operator: exact on a sketched dominant
/// subspace, Hutchinson on the rest.
///
/// Of a budget of `m` products, a third sketch the range, `Q = orth(A S)` for a random
/// `S` `[n, m/3]`; a third compute `tr(Qᵀ A Q)` exactly; the rest run Hutchinson's
/// estimator on the deflated operator `(I − QQᵀ) A (I − QQᵀ)` with probes
/// `(I − QQᵀ) G`. Unbiased for any square `A`; for symmetric positive semidefinite `A` it
/// reaches relative error `ε` with `O(1/ε)` products instead of Hutchinson's `O(1/ε²)`
/// (Meyer, Musco, Musco & Woodruff 2021, "Hutch++: Optimal Stochastic Trace Estimation",
/// SOSA; Algorithm 1). The orthonormal basis comes from a Householder factorization.
///
/// - Parameters:
///   - a: A square operator.
///   - matvecs: The budget `m ≥ 3`: `⌊m/3⌋` sketch columns (at most `n`), as many products
///     for `A Q`, and the remainder (at least `⌊m/3⌋`) Hutchinson probes.
///   - distribution: Distribution of the sketch `S` and the probes `G` (Rademacher).
///   - blockSize: Columns per batched product.
///   - seed: Seeds `S` and `G`: equal seeds, equal results.
///   - onProgress: Called after each block (task `"Hutch++"`, matvecs of `matvecs`).
/// - Returns: The estimate; `samples` are `tr(QᵀAQ) + gᵢᵀ A gᵢ` for the deflated probes,
///   so `standardError` is the error of the Hutchinson part.
/// - Throws: `LinearOperatorError.notSquare`; `SolverError.invalidArgument` for
///   `matvecs < 3` or `blockSize < 1`; `LinearOperatorError.nonFinite`; or what `A` throws.
/// - Complexity: `matvecs` products with `A`; `O(n m²)` for the factorization and
///   projections; `O(n m)` memory.
public func hutchPlusPlusTrace<A: LinearOperator>(
  _ a: A, matvecs: Int, distribution: ProbeDistribution = .rademacher, blockSize: Int = 32,
  seed: UInt64 = 0, onProgress: ProgressHandler? = nil
) throws -> StochasticEstimate {
  typealias T = A.Scalar
  try validateEstimator(a, "hutchPlusPlusTrace", matvecs: matvecs, minimum: 3, blockSize: blockSize)
  let n = a.rowCount
  let sketch = Swift.min(matvecs / 3, n)
  let probes = matvecs - 2 * sketch
  var rng = RandomGenerator(seed: seed)
  var used = 0
  func report(_ done: Int) {
    onProgress?(ProgressEvent(task: "Hutch++", completed: used + done, total: matvecs))
  }
  // Q: an orthonormal basis (rows) of the range of A S.
  let s: NDArray<T> = distribution.probes(sketch, length: n, using: &rng)
  let y = try applyInBlocks(a, rows: s, blockSize: blockSize, progress: report)
  used += sketch
  let q = householderLQ(y).q
  // tr(Qᵀ A Q) = Σ qᵢ · A qᵢ.
  let aq = try applyInBlocks(a, rows: q, blockSize: blockSize, progress: report)
  used += sketch
  var exact = 0.0
  for i in 0..<sketch { exact += Double(q.dotRow(i, aq, row: i)) }
  // Hutchinson on the complement: g ← g − Q (Qᵀ g).
  var g: NDArray<T> = distribution.probes(probes, length: n, using: &rng)
  g = g - matmul(matmul(g, q, transposeB: true), q)
  let ag = try applyInBlocks(a, rows: g, blockSize: blockSize, progress: report)
  let samples = (0..<probes).map { exact + Double(g.dotRow($0, ag, row: $0)) }
  return StochasticEstimate(samples: samples, matvecs: matvecs)
}
