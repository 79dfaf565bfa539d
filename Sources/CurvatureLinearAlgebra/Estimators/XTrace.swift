import CurvatureNumerics

/// The XTrace estimate of the trace of a square operator: the exchangeable, leave-one-out
/// symmetrization of Hutch++.
///
/// With `m = ⌊matvecs/2⌋` test vectors `Ω = [ω₁ … ω_m]` and `Y = AΩ = QR`, each
/// leave-one-out estimate uses the basis `Q₍ᵢ₎` of all columns of `Y` but the `i`-th and
/// the `i`-th vector as the Hutchinson probe:
/// `tᵢ = tr(Q₍ᵢ₎ᵀ A Q₍ᵢ₎) + ωᵢᵀ (I − Q₍ᵢ₎Q₍ᵢ₎ᵀ) A (I − Q₍ᵢ₎Q₍ᵢ₎ᵀ) ωᵢ`, and the estimate is
/// their mean. All `m` of them follow from `Y`, `Z = AQ` and small `m×m` matrices, since
/// `Q₍ᵢ₎Q₍ᵢ₎ᵀ = QQᵀ − (Qsᵢ)(Qsᵢ)ᵀ` with `sᵢ` the normalized `i`-th column of `R⁻ᵀ`
/// (Epperly, Tropp & Webber 2024, "XTrace: Making the Most of Every Sample in Stochastic
/// Trace Estimation", SIAM J. Matrix Anal. Appl. 45(1); Algorithm 2 / their `xtrace.m`).
/// The *improved* variant rescales each test vector so that its part outside the other
/// vectors' range, `(I − Q₍ᵢ₎Q₍ᵢ₎ᵀ)ωᵢ`, has its expected squared norm `n − m + 1`; with
/// rotation-invariant vectors this keeps the estimate unbiased and lowers its variance.
/// The error estimate is the paper's `std(tᵢ)/√m`.
///
/// Rank deficiency: curvature matrices are low rank (a GGN has rank at most N·C), so `AΩ`
/// is often singular. Then `R⁻¹` does not exist and the leave-one-out bases come from the
/// SVD of `R` truncated at its numerical rank `k` instead: `Q̃ = Q Uₖ` spans `range(AΩ)`, and
/// leaving out `ωᵢ` removes the direction given by the `i`-th column of the pseudo-inverse
/// `(Uₖᵀ R)⁺ᵀ` only if `ωᵢ` is needed for the rank (otherwise the others span it all). Each
/// `tᵢ` is still the paper's leave-one-out estimate, computed exactly, so the estimate stays
/// unbiased; the improved normalization uses `n − dim range(AΩ₍ᵢ₎)`. For an operator of
/// rank below `m` every leave-one-out basis spans the operator's range, and the estimate is
/// its trace up to rounding (the zero operator gives 0). A full-rank sketch takes the
/// nonsingular formulas above unchanged.
///
/// - Parameters:
///   - a: A square operator.
///   - matvecs: The budget; `m = ⌊matvecs/2⌋` test vectors, `2 ≤ m ≤ n`.
///   - distribution: The test vectors (uniform on the sphere by default).
///   - improved: Apply the paper's normalization; needs `.sphere` or `.gaussian`.
///   - blockSize: Columns per batched product.
///   - seed: Seeds the test vectors: equal seeds, equal results.
///   - onProgress: Called after each block (task `"XTrace"`, matvecs of `2m`).
/// - Returns: The estimate, its error estimate and the `m` leave-one-out estimates.
/// - Throws: `LinearOperatorError.notSquare`; `SolverError.invalidArgument` for
///   `matvecs < 4`, `m > n`, `blockSize < 1` or `improved` with Rademacher vectors;
///   `LinearOperatorError.nonFinite`; `LAPACKError` if the SVD of `R` (which finds its
///   numerical rank) does not converge; or what `A` throws.
/// - Complexity: `2m` products with `A`; `O(n m² + m³)` flops; `O(n m)` memory.
public func xTrace<A: LinearOperator>(
  _ a: A, matvecs: Int, distribution: ProbeDistribution = .sphere, improved: Bool = true,
  blockSize: Int = 32, seed: UInt64 = 0, onProgress: ProgressHandler? = nil
) throws -> StochasticEstimate {
  typealias T = A.Scalar
  try validateEstimator(a, "xtrace", matvecs: matvecs, minimum: 4, blockSize: blockSize)
  let n = a.rowCount
  let m = matvecs / 2
  guard m <= n else {
    throw SolverError.invalidArgument("xtrace: \(m) test vectors exceed n = \(n); use at most \(2 * n) matvecs")
  }
  if improved && distribution == .rademacher {
    throw SolverError.invalidArgument("xtrace: the improved normalization needs rotation-invariant test vectors (.sphere or .gaussian); pass improved: false for Rademacher vectors")
  }
  var rng = RandomGenerator(seed: seed)
  var used = 0
  func report(_ done: Int) {
    onProgress?(ProgressEvent(task: "XTrace", completed: used + done, total: 2 * m))
  }
  let omegaRows: NDArray<T> = distribution.probes(m, length: n, using: &rng)
  let yRows = try applyInBlocks(a, rows: omegaRows, blockSize: blockSize, progress: report)
  used += m
  let (l, qRows) = householderLQ(yRows)
  var omega = omegaRows.converted(to: Double.self)
  var y = yRows.converted(to: Double.self)
  var r = l.transposed().converted(to: Double.self)  // Y = Q R, R upper triangular
  let q = qRows.converted(to: Double.self)
  if let sketch = try rankDeficientLeaveOneOut(r, n: n, unitRoundoff: Double(T.ulpOfOne) / 2) {
    let z = try applyInBlocks(a, rows: qRows, blockSize: blockSize, progress: report).converted(to: Double.self)
    let samples = xtraceSamples(sketch, q: q, z: z, omega: omega, y: y, improved: improved)
    return StochasticEstimate(samples: samples, matvecs: 2 * m)
  }
  // W = Qᵀ Ω; S: normalized rows of R⁻¹ as columns (sᵢ ⟂ every column of R but the i-th).
  var w = matmul(q, omega, transposeB: true)
  let s = leaveOneOutDirections(r)
  if improved {
    for i in 0..<m {
      var wNorm2 = 0.0, sw = 0.0
      for j in 0..<m {
        let e = j * m + i
        wNorm2 += w.scalars[e] * w.scalars[e]
        sw += s.scalars[e] * w.scalars[e]
      }
      let omegaNorm2 = omega.normOfRow(i) * omega.normOfRow(i)
      let scale = (Double(n - m + 1) / (omegaNorm2 - wNorm2 + sw * sw)).squareRoot()
      omega.scaleRow(i, by: scale)
      y.scaleRow(i, by: scale)
      for j in 0..<m {
        r.scalars[j * m + i] *= scale
        w.scalars[j * m + i] *= scale
      }
    }
  }
  // Z = A Q, H = Qᵀ A Q, T = Zᵀ Ω.
  let z = try applyInBlocks(a, rows: qRows, blockSize: blockSize, progress: report).converted(to: Double.self)
  let h = matmul(q, z, transposeB: true)
  let t = matmul(z, omega, transposeB: true)
  let hw = matmul(h, w)
  let hs = matmul(h, s)
  let htw = matmul(h, w, transposeA: true)
  let traceH = h.trace()
  var samples = [Double]()
  let (sv, wv, hsv, rv, tv, hwv, htwv) = (s.scalars, w.scalars, hs.scalars, r.scalars, t.scalars, hw.scalars, htw.scalars)
  for i in 0..<m {
    var c = 0.0, sHs = 0.0, wr = 0.0, tw = 0.0, wHw = 0.0, sRminusHw = 0.0, tMinusHtwS = 0.0
    for j in 0..<m {
      let e = j * m + i
      c += sv[e] * wv[e]
      sHs += sv[e] * hsv[e]
      wr += wv[e] * rv[e]
      tw += tv[e] * wv[e]
      wHw += wv[e] * hwv[e]
      sRminusHw += sv[e] * (rv[e] - hwv[e])
      tMinusHtwS += (tv[e] - htwv[e]) * sv[e]
    }
    let omegaY = omega.dotRow(i, y, row: i)
    samples.append(traceH - sHs + omegaY - wr - tw + wHw + c * sRminusHw + c * c * sHs + tMinusHtwS * c)
  }
  return StochasticEstimate(samples: samples, matvecs: 2 * m)
}

/// The XTrace leave-one-out estimates from a rank-deficient sketch (see
/// `LeaveOneOutSketch`): with `Q̃ = Q Uₖ` and the leave-one-out projector
/// `Pᵢ = Q̃ (I − δᵢ s̃ᵢ s̃ᵢᵀ) Q̃ᵀ` (`δᵢ` whether leaving out `i` removes a direction),
/// `tᵢ = tr(Pᵢ A) + ωᵢᵀ (I − Pᵢ) A (I − Pᵢ) ωᵢ`, from the small matrices `H̃ = Q̃ᵀ A Q̃`,
/// `W̃ = Q̃ᵀ Ω`, `R̃ = Q̃ᵀ Y` and `T̃ = (A Q̃)ᵀ Ω`. The improved normalization gives
/// `(I − Pᵢ) ωᵢ` the squared norm `n − dim range(Y₍ᵢ₎)`, its expectation for Gaussian vectors.
/// `q`, `z`, `omega`, `y` hold `Q`, `A Q`, `Ω` and `Y` as rows.
func xtraceSamples(
  _ sketch: LeaveOneOutSketch, q: NDArray<Double>, z: NDArray<Double>, omega: NDArray<Double>,
  y: NDArray<Double>, improved: Bool
) -> [Double] {
  let (m, n, k) = (q.shape[0], q.shape[1], sketch.rank)
  var omega = omega, y = y, r = sketch.r
  var w = matmul(sketch.basis, matmul(q, omega, transposeB: true))
  let s = sketch.directions
  func column(_ x: NDArray<Double>, _ i: Int) -> [Double] { (0..<k).map { x.scalars[$0 * m + i] } }
  func dot(_ u: [Double], _ v: [Double]) -> Double { zip(u, v).reduce(0) { $0 + $1.0 * $1.1 } }
  if improved {
    for i in 0..<m {
      let wi = column(w, i)
      let removed = sketch.removes[i] ? dot(column(s, i), wi) : 0
      let outside = omega.normOfRow(i) * omega.normOfRow(i) - dot(wi, wi) + removed * removed
      let dimension = n - sketch.leaveOneOutDimension(i)
      // With the others spanning everything, (I − Pᵢ) ωᵢ = 0 and the scale does not matter.
      guard dimension > 0, outside > 0 else { continue }
      let scale = (Double(dimension) / outside).squareRoot()
      omega.scaleRow(i, by: scale)
      y.scaleRow(i, by: scale)
      for a in 0..<k {
        r.scalars[a * m + i] *= scale
        w.scalars[a * m + i] *= scale
      }
    }
  }
  // H̃ = Uₖᵀ (Qᵀ A Q) Uₖ and T̃ = Uₖᵀ (A Q)ᵀ Ω.
  let h = matmul(matmul(sketch.basis, matmul(q, z, transposeB: true)), sketch.basis, transposeB: true)
  let t = matmul(sketch.basis, matmul(z, omega, transposeB: true))
  let traceH = (0..<k).reduce(0.0) { $0 + h.scalars[$1 * k + $1] }
  func quadratic(_ u: [Double], _ v: [Double]) -> Double {
    var total = 0.0
    for a in 0..<k { for b in 0..<k { total += u[a] * h.scalars[a * k + b] * v[b] } }
    return total
  }
  return (0..<m).map { i in
    let wi = column(w, i)
    // g: the coordinates of Pᵢ ωᵢ in Q̃.
    var g = wi
    var lowRank = traceH
    if sketch.removes[i] {
      let si = column(s, i)
      let c = dot(si, wi)
      for a in 0..<k { g[a] -= c * si[a] }
      lowRank -= quadratic(si, si)
    }
    // (ωᵢ − Q̃g)ᵀ A (ωᵢ − Q̃g) = ωᵢᵀyᵢ − gᵀT̃ᵢ − gᵀR̃ᵢ + gᵀH̃g.
    let deflated = omega.dotRow(i, y, row: i) - dot(g, column(t, i)) - dot(g, column(r, i)) + quadratic(g, g)
    return lowRank + deflated
  }
}

/// The columns `sᵢ` of `R⁻ᵀ` normalized: `sᵢ` is orthogonal to every column of `R` but the
/// `i`-th, so `Q sᵢ` is the direction that leaving out the `i`-th sample removes.
func leaveOneOutDirections(_ r: NDArray<Double>) -> NDArray<Double> {
  let m = r.shape[0]
  let inverse = r.triangularSolve(.identity(m), triangle: .upper)
  // Rows of R⁻¹ normalized, then transposed into columns.
  var rows = inverse
  for i in 0..<m {
    let norm = rows.normOfRow(i)
    rows.scaleRow(i, by: 1 / norm)
  }
  return rows.transposed()
}

/// The former name of `xTrace(_:matvecs:distribution:improved:blockSize:seed:onProgress:)`.
@available(*, deprecated, renamed: "xTrace(_:matvecs:distribution:improved:blockSize:seed:onProgress:)")
public func xtrace<A: LinearOperator>(
  _ a: A, matvecs: Int, distribution: ProbeDistribution = .sphere, improved: Bool = true,
  blockSize: Int = 32, seed: UInt64 = 0, onProgress: ProgressHandler? = nil
) throws -> StochasticEstimate {
  try xTrace(
    a, matvecs: matvecs, distribution: distribution, improved: improved, blockSize: blockSize, seed: seed,
    onProgress: onProgress)
}
