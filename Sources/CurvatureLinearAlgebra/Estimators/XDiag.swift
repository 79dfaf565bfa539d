import CurvatureNumerics

/// The XDiag estimate of the diagonal of a square operator: exchangeable leave-one-out
/// low-rank approximation plus Hutchinson diagonal estimation on the remainder.
///
/// With `m = ⌊matvecs/2⌋` Rademacher vectors `Ω`, `Y = AΩ = QR` and `Z = AᵀQ`, each
/// leave-one-out estimate is `diag(Q₍ᵢ₎Q₍ᵢ₎ᵀA) + ωᵢ ⊙ (I − Q₍ᵢ₎Q₍ᵢ₎ᵀ) A ωᵢ`, unbiased, and
/// XDiag averages them; all follow from `Q`, `Y`, `Z` and `R⁻ᵀ` (Epperly, Tropp & Webber
/// 2024, "XTrace: Making the Most of Every Sample in Stochastic Trace Estimation", SIAM J.
/// Matrix Anal. Appl. 45(1), §4; their `xdiag.m`). On operators whose mass sits in a
/// low-rank part, the error is far below Hutchinson's at equal products.
///
/// Rank deficiency: a singular `R` (an operator of rank below `m`, as curvature matrices
/// usually are) is handled as in `xTrace`: the leave-one-out bases come from the SVD of `R`
/// truncated at its numerical rank, with the pseudo-inverse in place of `R⁻¹` (see
/// `LeaveOneOutSketch`). Each leave-one-out estimate is still exact in its definition, and
/// for an operator of rank below `m` the estimate is its diagonal up to rounding (zeros for
/// the zero operator).
///
/// - Parameters:
///   - a: A square operator (`applyTranspose` is used for `Z`).
///   - matvecs: The budget; `m = ⌊matvecs/2⌋` products with `A` and `m` with `Aᵀ`,
///     `2 ≤ m ≤ n`.
///   - blockSize: Columns per batched product.
///   - seed: Seeds the test vectors: equal seeds, equal results.
///   - onProgress: Called after each block (task `"XDiag"`, matvecs of `2m`).
/// - Returns: The diagonal estimate and an error estimate per entry (`std/√m` of the
///   leave-one-out estimates).
/// - Throws: `LinearOperatorError.notSquare`; `SolverError.invalidArgument` for
///   `matvecs < 4`, `m > n` or `blockSize < 1`; `LinearOperatorError.nonFinite`;
///   `LAPACKError` if the SVD of `R` does not converge; or what `A` throws.
/// - Complexity: `2m` products; `O(n m² + m³)` flops; `O(n m)` memory.
public func xDiagonal<A: LinearOperator>(
  _ a: A, matvecs: Int, blockSize: Int = 32, seed: UInt64 = 0, onProgress: ProgressHandler? = nil
) throws -> DiagonalEstimate<A.Scalar> {
  typealias T = A.Scalar
  try validateEstimator(a, "xdiag", matvecs: matvecs, minimum: 4, blockSize: blockSize)
  let n = a.rowCount
  let m = matvecs / 2
  guard m <= n else {
    throw SolverError.invalidArgument("xdiag: \(m) test vectors exceed n = \(n); use at most \(2 * n) matvecs")
  }
  var rng = RandomGenerator(seed: seed)
  var used = 0
  func report(_ done: Int) {
    onProgress?(ProgressEvent(task: "XDiag", completed: used + done, total: 2 * m))
  }
  let omegaRows: NDArray<T> = ProbeDistribution.rademacher.probes(m, length: n, using: &rng)
  let yRows = try applyInBlocks(a, rows: omegaRows, blockSize: blockSize, progress: report)
  used += m
  let (l, qRows) = householderLQ(yRows)
  let rFull = l.transposed().converted(to: Double.self)
  let sketch = try rankDeficientLeaveOneOut(rFull, n: n, unitRoundoff: Double(T.ulpOfOne) / 2)
  let zFull = try applyInBlocks(a, rows: qRows, blockSize: blockSize, transpose: true, progress: report).converted(to: Double.self)
  let qFull = qRows.converted(to: Double.self), omega = omegaRows.converted(to: Double.self), y = yRows.converted(to: Double.self)
  // A rank-deficient sketch works in the basis Q̃ = Q Uₖ of range(Y), with the removed
  // directions s̃ (zero where leaving out a column removes none): see LeaveOneOutSketch.
  let (k, q, zRows, r, s) =
    if let sketch {
      (sketch.rank, matmul(sketch.basis, qFull), matmul(sketch.basis, zFull), sketch.r, sketch.directions)
    } else {
      (m, qFull, zFull, rFull, leaveOneOutDirections(rFull))
    }
  // Rows of (QS)ᵀ, (ZS)ᵀ and (QR)ᵀ (T = Zᵀ Ω = Qᵀ A Ω = R), and c_l = s_lᵀ r_l.
  let qs = matmul(s, q, transposeA: true)
  let zs = matmul(s, zRows, transposeA: true)
  let qt = matmul(r, q, transposeA: true)
  let c = (0..<m).map { l in (0..<k).reduce(0.0) { $0 + s.scalars[$1 * m + l] * r.scalars[$1 * m + l] } }
  // Leave-one-out estimate l at entry j:
  // diag(QQᵀA)_j − (Qs_l)_j (Zs_l)_j + ω_lj (y_lj − (QR)_lj + c_l (Qs_l)_j).
  var mean = [Double](repeating: 0, count: n), squares = mean
  var lowRank = [Double](repeating: 0, count: n)
  let (qv, zv, qsv, zsv, omegav, yv, qtv) = (q.scalars, zRows.scalars, qs.scalars, zs.scalars, omega.scalars, y.scalars, qt.scalars)
  for i in 0..<k { for j in 0..<n { lowRank[j] += qv[i * n + j] * zv[i * n + j] } }
  for l in 0..<m {
    for j in 0..<n {
      let t = l * n + j
      let e = lowRank[j] - qsv[t] * zsv[t] + omegav[t] * (yv[t] - qtv[t] + c[l] * qsv[t])
      mean[j] += e
      squares[j] += e * e
    }
  }
  let count = Double(m)
  let value = mean.map { T($0 / count) }
  let errors = (0..<n).map { j -> T in
    let average = mean[j] / count
    let variance = Swift.max(0, (squares[j] - count * average * average) / (count - 1))
    return T((variance / count).squareRoot())
  }
  return DiagonalEstimate(value: NDArray(value), standardError: NDArray(errors), sampleCount: m, matvecs: 2 * m)
}

/// The former name of `xDiagonal(_:matvecs:blockSize:seed:onProgress:)`.
@available(*, deprecated, renamed: "xDiagonal(_:matvecs:blockSize:seed:onProgress:)")
public func xdiag<A: LinearOperator>(
  _ a: A, matvecs: Int, blockSize: Int = 32, seed: UInt64 = 0, onProgress: ProgressHandler? = nil
) throws -> DiagonalEstimate<A.Scalar> {
  try xDiagonal(a, matvecs: matvecs, blockSize: blockSize, seed: seed, onProgress: onProgress)
}
