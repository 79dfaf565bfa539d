import CurvatureNumerics

/// The leave-one-out subspaces of a rank-deficient sketch `Y = AΩ = QR`, for XTrace and
/// XDiag.
///
/// XTrace and XDiag use, for each test vector `ωᵢ`, an orthonormal basis of the range of
/// the other columns `Y₍ᵢ₎`. With `R` nonsingular that basis is `Q` less one direction,
/// `Q R⁻ᵀeᵢ` normalized (Epperly, Tropp & Webber 2024, "XTrace: Making the Most of Every
/// Sample in Stochastic Trace Estimation", SIAM J. Matrix Anal. Appl. 45(1), §2.1). A
/// curvature matrix is low rank (a GGN has rank at most N·C), so `R` is often singular: then
/// `range(Y)` has dimension `k < m`, spanned by `Q̃ = Q Uₖ` from the SVD `R = U Σ Vᵀ` truncated
/// at the numerical rank, and `R̃ = Uₖᵀ R = Σₖ Vₖᵀ`. Leaving out column `i` either keeps
/// all of `range(Y)` (column `i` is a combination of the others, the generic case when the
/// operator's rank is below `m − 1`) or removes the single direction `Σₖ⁻¹ Vₖᵀ eᵢ`, the
/// `i`-th column of the pseudo-inverse `R̃⁺ᵀ` (column `i` is needed for the rank). The two
/// cases are told apart by the smallest singular value of `R̃₍ᵢ₎`, bounded above by the
/// Rayleigh quotient `‖vᵢ‖ νᵢ / ‖Σₖ⁻¹ vᵢ‖`, with `vᵢ = Vₖᵀ eᵢ` and `νᵢ` the norm of
/// `eᵢ`'s part in the null space of `R`; at full rank every direction is removed and the
/// formulas reduce to the paper's. With the leave-one-out projectors exact, each estimate
/// is the paper's unbiased leave-one-out estimate, and when the operator's rank is below
/// `m` every basis spans the operator's range, so the estimate is exact up to rounding.
struct LeaveOneOutSketch {
  /// The numerical rank `k` of `R`.
  let rank: Int
  /// `Uₖᵀ` `[k, m]`: its rows are an orthonormal basis of `range(R)` in `Q`'s coordinates.
  let basis: NDArray<Double>
  /// `R̃ = Uₖᵀ R` `[k, m]`.
  let r: NDArray<Double>
  /// `[k, m]`: column `i` is the unit direction `s̃ᵢ` (in `Q̃`'s coordinates) that leaving
  /// out column `i` removes from `range(Y)`, or zero when it removes none.
  let directions: NDArray<Double>
  /// Whether leaving out column `i` removes a direction, per column.
  let removes: [Bool]

  /// The dimension of the range of all columns but the `i`-th.
  func leaveOneOutDimension(_ i: Int) -> Int { rank - (removes[i] ? 1 : 0) }
}

/// The numerical rank of the triangular factor `r` `[m, m]` of a sketch of `n`-vectors
/// computed in a scalar type with unit roundoff `unitRoundoff`, and, when it is below `m`,
/// the leave-one-out subspaces of the sketch (`nil` at full rank: the nonsingular formulas
/// apply).
///
/// The tolerance, `10 (m + √n) ε σ₁`, covers the rounding of the products `AΩ` (sums of `n`
/// terms) and of the Householder factorization (`m` reflections) in the operator's scalar
/// type; singular values at or below it are treated as zero.
/// - Throws: `LAPACKError` if the SVD does not converge.
func rankDeficientLeaveOneOut(_ r: NDArray<Double>, n: Int, unitRoundoff: Double) throws -> LeaveOneOutSketch? {
  let m = r.shape[0]
  let (u, sigma, vt) = try r.svd()
  let largest = sigma.scalars.first ?? 0
  let tolerance = 10 * (Double(m) + Double(n).squareRoot()) * unitRoundoff * largest
  let k = largest > 0 ? sigma.scalars.prefix { $0 > tolerance }.count : 0
  if k == m { return nil }
  var basis = NDArray<Double>(zeros: [k, m])
  for a in 0..<k { for j in 0..<m { basis.scalars[a * m + j] = u.scalars[j * m + a] } }
  var reduced = NDArray<Double>(zeros: [k, m])
  for a in 0..<k { for i in 0..<m { reduced.scalars[a * m + i] = sigma.scalars[a] * vt.scalars[a * m + i] } }
  var directions = NDArray<Double>(zeros: [k, m])
  var removes = [Bool](repeating: false, count: m)
  for i in 0..<m {
    var vNorm2 = 0.0, nullNorm2 = 0.0, xNorm2 = 0.0
    for a in 0..<k {
      let v = vt.scalars[a * m + i]
      vNorm2 += v * v
      xNorm2 += (v / sigma.scalars[a]) * (v / sigma.scalars[a])
    }
    // The null-space part directly, not 1 − ‖vᵢ‖², which loses half the digits.
    for a in k..<m { nullNorm2 += vt.scalars[a * m + i] * vt.scalars[a * m + i] }
    // Column i of R̃ is zero: the others span all of range(Y).
    guard vNorm2 > 0 else { continue }
    let rayleigh = (vNorm2 * nullNorm2 / xNorm2).squareRoot()
    guard rayleigh <= tolerance else { continue }
    removes[i] = true
    let xNorm = xNorm2.squareRoot()
    for a in 0..<k { directions.scalars[a * m + i] = vt.scalars[a * m + i] / sigma.scalars[a] / xNorm }
  }
  return LeaveOneOutSketch(rank: k, basis: basis, r: reduced, directions: directions, removes: removes)
}
