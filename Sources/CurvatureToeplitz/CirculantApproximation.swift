import ComplexModule
import CurvatureNumerics

/// A circulant approximation `C ≈ T` of a Toeplitz matrix, whose inverse preconditions `T`.
///
/// With `T = [t_{j−k}]` of order `n`, the first column `c` of `C` is:
///
/// - `strang` (Strang 1986): copy the central diagonals, `c_k = t_k` for `k < n/2`,
///   `c_k = t_{k−n}` for `k > n/2` (the average of both at `k = n/2`). Cheap and superlinear
///   for Wiener-class symbols, but indefinite when `f` is small.
/// - `tChan` (T. Chan 1988): the optimal circulant `argmin_C ‖C − T‖_F`,
///   `c_k = ((n − k) t_k + k t_{k−n}) / n`. Its eigenvalues are `f_jᴴ T f_j` for the Fourier
///   vectors `f_j`, so it is positive definite whenever `T` is.
/// - `rChan` (R. Chan 1989): `c_k = t_k + t_{k−n}`, the circulant of the symbol's
///   Dirichlet kernel sum.
/// - `superoptimal` (Tyrtyshnikov 1992): `argmin_C ‖I − C⁻¹T‖_F`, with eigenvalues
///   `λ_j(c(TTᵀ)) / conj λ_j(c(T))` where `c(·)` is T. Chan's projection. The diagonal sums
///   of `TTᵀ` that `c(TTᵀ)` needs come from weighted autocorrelations of the coefficients,
///   so it costs O(n log n) like the others (Chan, Jin & Yeung 1991).
///
/// For a symmetric positive definite `T` each preconditioner is symmetric; `strang` and
/// `rChan` can still be indefinite, which `CirculantOperator.preconditioner(for:_:)` checks.
/// The 2-level versions (`BCCBOperator(approximating:_:)`) apply the formulas level by level.
public enum CirculantApproximation: String, Sendable, Hashable, CaseIterable {
  /// Strang's circulant: the central diagonals (Strang 1986).
  case strang
  /// T. Chan's optimal circulant, `argmin ‖C − T‖_F` (T. Chan 1988).
  case tChan
  /// R. Chan's circulant, `c_k = t_k + t_{k−n}` (R. Chan 1989).
  case rChan
  /// Tyrtyshnikov's superoptimal circulant, `argmin ‖I − C⁻¹T‖_F` (Tyrtyshnikov 1992).
  case superoptimal

  /// The weights `(w_k, w_{k−n})` of `t_k` and `t_{k−n}` in `c_k`, `0 ≤ k < n`.
  func weights(_ k: Int, _ n: Int) -> (Double, Double) {
    switch self {
    case .strang:
      if 2 * k < n { return (1, 0) }
      return 2 * k == n ? (0.5, 0.5) : (0, 1)
    case .tChan, .superoptimal:
      return (Double(n - k) / Double(n), Double(k) / Double(n))
    case .rChan:
      return (1, k == 0 ? 0 : 1)
    }
  }
}

extension CirculantOperator {
  /// The circulant approximation of `kind` to a Toeplitz matrix.
  /// - Parameters:
  ///   - toeplitz: `T`, symmetric or not.
  ///   - kind: Which approximation (see `CirculantApproximation`).
  /// - Throws: `ToeplitzError.notPositiveDefinite` when the superoptimal formula divides by
  ///   a zero eigenvalue of T. Chan's circulant.
  /// - Complexity: O(n log n).
  public init(approximating toeplitz: ToeplitzOperator<Scalar>, _ kind: CirculantApproximation) throws(ToeplitzError) {
    let n = toeplitz.size
    let t = { (k: Int) -> Double in Double(toeplitz.coefficient(k)) }
    if kind == .superoptimal {
      self = try CirculantOperator.superoptimal(toeplitz)
      return
    }
    let column = (0..<n).map { k -> Scalar in
      let (w, wWrapped) = kind.weights(k, n)
      return Scalar(w * t(k) + wWrapped * t(k - n))
    }
    try self.init(column: column)
  }

  /// The preconditioner `C⁻¹` for `T`, with `C` the circulant approximation of `kind`.
  /// - Returns: `C⁻¹`, itself a circulant, to pass to `conjugateGradient(_:_:preconditioner:)`.
  /// - Throws: `ToeplitzError.notPositiveDefinite` when `T` is symmetric but `C` is not
  ///   positive definite (possible for `strang` and `rChan` when the symbol is small), naming
  ///   the smallest eigenvalue; `.invalidArgument` when `C` is singular.
  /// - Complexity: O(n log n).
  public static func preconditioner(for toeplitz: ToeplitzOperator<Scalar>, _ kind: CirculantApproximation) throws(ToeplitzError) -> CirculantOperator {
    let c = try CirculantOperator(approximating: toeplitz, kind)
    if toeplitz.isSymmetric && !(c.minimumEigenvalue > 0) {
      throw .notPositiveDefinite("the \(kind.rawValue) circulant has smallest eigenvalue \(c.minimumEigenvalue) ≤ 0, so it cannot precondition conjugate gradients")
    }
    do { return try c.inverted() } catch { throw .invalidArgument("the \(kind.rawValue) circulant is singular: \(error)") }
  }

  /// Tyrtyshnikov's superoptimal circulant, `λ_j = λ_j(c(TTᵀ)) / conj λ_j(c(T))`.
  static func superoptimal(_ toeplitz: ToeplitzOperator<Scalar>) throws(ToeplitzError) -> CirculantOperator {
    let n = toeplitz.size
    let column = toeplitz.column.map { Double($0) }
    var row = toeplitz.row.map { Double($0) }
    row[0] = 0
    // d_m = Σ_i (TTᵀ)_{i+m, i}, m = 0…n−1, from correlations of c = column and r = row
    // (r₀ = 0): d_m = (n − m)(A_c + A_r + (r ∗ c))(m) − B_c(m) − B_r(m) with
    // A_x(m) = Σ_w x_w x_{w+m}, B_x(m) = Σ_w w x_w x_{w+m}.
    let size = fftFriendlySize(atLeast: 2 * n)
    let plan = RealFFTPlan<Double>(shape: [size])
    func transform(_ x: [Double]) -> [Complex<Double>] {
      plan.forward(x + [Double](repeating: 0, count: size - x.count))
    }
    let (cHat, rHat) = (transform(column), transform(row))
    let (wcHat, wrHat) = (transform(column.indices.map { Double($0) * column[$0] }), transform(row.indices.map { Double($0) * row[$0] }))
    var combined = [Complex<Double>](repeating: .zero, count: size / 2 + 1)
    var weighted = combined
    for j in 0..<combined.count {
      combined[j] = cHat[j].conjugate * cHat[j] + rHat[j].conjugate * rHat[j] + rHat[j] * cHat[j]
      weighted[j] = wcHat[j].conjugate * cHat[j] + wrHat[j].conjugate * rHat[j]
    }
    let a = plan.inverse(combined), b = plan.inverse(weighted)
    let d = (0..<n).map { m in (Double(n - m) * a[m] - b[m]) / Double(size) }
    // T. Chan's circulant of TTᵀ: c_k = (d_k + d_{n−k}) / n; of T: the usual weights.
    let gram = (0..<n).map { k in (d[k] + (k == 0 ? 0 : d[n - k])) / Double(n) }
    let optimal = (0..<n).map { k in
      (Double(n - k) * Double(toeplitz.coefficient(k)) + Double(k) * Double(toeplitz.coefficient(k - n))) / Double(n)
    }
    let small = RealFFTPlan<Double>(shape: [n])
    let (gramEigenvalues, optimalEigenvalues) = (small.forward(gram), small.forward(optimal))
    var eigenvalues = [Complex<Scalar>]()
    for j in 0..<(n / 2 + 1) {
      let denominator = optimalEigenvalues[j].conjugate
      guard denominator.length > 0 else {
        throw .notPositiveDefinite("T. Chan's circulant has a zero eigenvalue (\(j)), so the superoptimal one is undefined")
      }
      let value = gramEigenvalues[j] / denominator
      eigenvalues.append(Complex(Scalar(value.real), Scalar(value.imaginary)))
    }
    // λ₀ and λ_{n/2} are real up to rounding; make them exactly real.
    eigenvalues[0] = Complex(eigenvalues[0].real, 0)
    if n % 2 == 0 { eigenvalues[n / 2] = Complex(eigenvalues[n / 2].real, 0) }
    return try CirculantOperator(eigenvalues: eigenvalues, size: n)
  }
}

extension BCCBOperator {
  /// The level-2 circulant (BCCB) approximation of a BTTB matrix: the 1-level formula of
  /// `kind` applied along both levels,
  /// `c_{p,q} = Σ_{a ∈ {p, p−n₁}} Σ_{b ∈ {q, q−n₂}} w₁(a) w₂(b) t_{a,b}`
  /// (T. Chan & Olkin 1994 for the optimal one).
  /// - Throws: `ToeplitzError.invalidArgument` for `.superoptimal` (1-level only).
  /// - Complexity: O(N log N).
  public init(approximating bttb: BTTBOperator<Scalar>, _ kind: CirculantApproximation) throws(ToeplitzError) {
    guard kind != .superoptimal else {
      throw .invalidArgument("the superoptimal circulant is implemented for 1-level Toeplitz matrices; use strang, tChan or rChan for BTTB")
    }
    let (n1, n2) = (bttb.blockCount, bttb.blockSize)
    let column = NDArray<Scalar>(shape: [n1, n2]) { i in
      let (p, q) = (i[0], i[1])
      let (u1, v1) = kind.weights(p, n1), (u2, v2) = kind.weights(q, n2)
      var sum = 0.0
      for (a, wa) in [(p, u1), (p - n1, v1)] where wa != 0 {
        for (b, wb) in [(q, u2), (q - n2, v2)] where wb != 0 { sum += wa * wb * Double(bttb.coefficient(a, b)) }
      }
      return Scalar(sum)
    }
    try self.init(column: column)
  }

  /// The preconditioner `C⁻¹` for a BTTB matrix, `C` its level-2 circulant approximation.
  /// - Returns: `C⁻¹`, itself a BCCB matrix.
  /// - Throws: `ToeplitzError.notPositiveDefinite` when the matrix is symmetric but `C` is
  ///   not positive definite; `.invalidArgument` for `.superoptimal` or a singular `C`.
  /// - Complexity: O(N log N).
  public static func preconditioner(for bttb: BTTBOperator<Scalar>, _ kind: CirculantApproximation) throws(ToeplitzError) -> BCCBOperator {
    let c = try BCCBOperator(approximating: bttb, kind)
    if bttb.isSymmetric && !(c.minimumEigenvalue > 0) {
      throw .notPositiveDefinite("the level-2 \(kind.rawValue) circulant has smallest eigenvalue \(c.minimumEigenvalue) ≤ 0, so it cannot precondition conjugate gradients")
    }
    do { return try c.inverted() } catch { throw .invalidArgument("the level-2 \(kind.rawValue) circulant is singular: \(error)") }
  }
}
