import CurvatureNumerics

/// The posterior precision `P = s·H + diag(d)` (`s = 1/σ²` for regression, 1 for
/// classification) factorized once for its log-determinant, covariance products, variances
/// and samples, in the form each structure allows without forming `P⁻¹`:
///
/// - full: Cholesky `P = LLᵀ` (and, for samples, `P⁻¹ᐟ²` by eigendecomposition);
/// - diag: elementwise;
/// - kron: per group `Q (s·Λ_B⊗Λ_A + δ)^e Qᵀ` with `Q = Q_B ⊗ Q_A`, as laplace-torch's
///   `KronDecomposed` (with `damping`, `(√s·Λ_B + √δ)⊗(√s·Λ_A + √δ)` instead); ekfac the
///   same with the corrected eigenvalues;
/// - lowrank: `P = D^{1/2}(I + W Wᵀ)D^{1/2}` with `W = D^{-1/2} U (sΛ)^{1/2}`, the matrix
///   determinant lemma and Woodbury's identity on the `k × k` capacitance `I + WᵀW`.
struct LaplacePosteriorFactor<Scalar: BLASScalar> {
  let curvature: LaplaceCurvature<Scalar>
  /// The prior precision per parameter.
  let prior: [Scalar]
  /// The likelihood scale `1/σ²`.
  let scale: Scalar
  /// For laplace-torch's kron damping, `√f` of the likelihood factor `f` (see
  /// `LaplaceKroneckerGroup.posteriorEigenvalues`); nil without damping.
  let dampingSplit: Scalar?
  private var cholesky: NDArray<Scalar>? = nil
  private var lowRankW: NDArray<Scalar>? = nil
  private var capacitance: NDArray<Scalar>? = nil

  /// - Throws: `CurvatureError.singular` when the posterior precision is not positive
  ///   definite (e.g. a zero prior precision on a direction without curvature).
  init(curvature: LaplaceCurvature<Scalar>, prior: [Scalar], scale: Scalar, dampingSplit: Scalar? = nil) throws {
    self.curvature = curvature
    self.prior = prior
    self.scale = scale
    self.dampingSplit = dampingSplit
    switch curvature {
    case let .full(h):
      var p = h * scale
      for i in 0..<prior.count { p[i, i] += prior[i] }
      do { cholesky = try p.cholesky() } catch {
        throw CurvatureError.singular("the posterior precision (GGN/σ² + prior precision) is not positive definite (\(error)); increase the prior precision")
      }
      // A pivot at rounding level of the largest diagonal entry: numerically singular,
      // its log-determinant and inverse are noise.
      let pivots = cholesky!.diagonal().scalars.map { $0 * $0 }
      let largest = (0..<prior.count).reduce(Scalar(0)) { Swift.max($0, p[$1, $1]) }
      if let i = pivots.firstIndex(where: { !($0 > Scalar.ulpOfOne * largest) }) {
        throw CurvatureError.singular("the posterior precision is numerically singular (Cholesky pivot \(i) is \(pivots[i]) against a largest diagonal entry \(largest)); increase the prior precision")
      }
    case let .diag(h):
      let largest = (0..<prior.count).reduce(Scalar(0)) { Swift.max($0, scale * h.scalars[$1] + prior[$1]) }
      if let i = (0..<prior.count).first(where: { !(scale * h.scalars[$0] + prior[$0] > Scalar.ulpOfOne * largest) }) {
        throw CurvatureError.singular("the posterior precision is not positive at parameter \(i) (\(scale * h.scalars[i] + prior[i])); increase the prior precision")
      }
    case let .kron(groups):
      for (g, group) in groups.enumerated() {
        let values = group.posteriorEigenvalues(scale: scale, delta: prior[group.offset], split: dampingSplit)
        let largest = values.reduce(Scalar(0)) { Swift.max($0, $1) }
        if let bad = values.first(where: { !($0 > Scalar.ulpOfOne * largest) }) {
          throw CurvatureError.singular("the posterior precision of Kronecker group \(g) has the eigenvalue \(bad), not positive against the largest \(largest); increase the prior precision")
        }
      }
    case let .lowRank(vectors, values):
      guard prior.allSatisfy({ $0 > 0 }) else {
        throw CurvatureError.singular("a low-rank Laplace approximation needs a positive prior precision on every parameter")
      }
      let (n, k) = (vectors.shape[0], vectors.shape[1])
      var w = vectors
      for i in 0..<n {
        for j in 0..<k { w.scalars[i * k + j] *= (Swift.max(values.scalars[j], 0) * scale).squareRoot() / prior[i].squareRoot() }
      }
      var c = matmul(w, w, transposeA: true)
      for j in 0..<k { c[j, j] += 1 }
      lowRankW = w
      do { capacitance = try c.cholesky() } catch {
        throw CurvatureError.singular("the low-rank capacitance matrix is not positive definite (\(error))")
      }
    }
  }

  /// `log det P`, accumulated in Double: the log-determinant ratio is the difference of two
  /// sums over all parameters, which a Float sum over many parameters cannot resolve
  /// (the reference MLP's, P = 269,322, lost a sixth of its value).
  func logDeterminant() -> Double {
    func logSum(_ values: [Scalar]) -> Double { values.reduce(0.0) { $0 + Double(Scalar.log($1)) } }
    switch curvature {
    case .full:
      return 2 * logSum(cholesky!.diagonal().scalars)
    case let .diag(h):
      return logSum((0..<prior.count).map { scale * h.scalars[$0] + prior[$0] })
    case let .kron(groups):
      return groups.reduce(0.0) { sum, group in
        sum + logSum(group.posteriorEigenvalues(scale: scale, delta: prior[group.offset], split: dampingSplit))
      }
    case .lowRank:
      return logSum(prior) + 2 * logSum(capacitance!.diagonal().scalars)
    }
  }

  /// `P^e X` for `X` `[P, k]` with `e = -1` (the covariance) or `-½` (a symmetric square
  /// root of the covariance; for full and lowrank a square root `S` with `S Sᵀ = P⁻¹`).
  func applyPower(_ x: NDArray<Scalar>, exponent: Scalar) throws -> NDArray<Scalar> {
    let k = x.shape[1]
    switch curvature {
    case let .full(h):
      if exponent == -1 { return try cholesky!.choleskySolve(x) }
      var p = h * scale
      for i in 0..<prior.count { p[i, i] += prior[i] }
      let (values, vectors) = try p.symmetricEigen()
      var y = matmul(vectors, x, transposeA: true)
      for i in 0..<values.count {
        let f = Scalar.pow(values.scalars[i], exponent)
        for j in 0..<k { y.scalars[i * k + j] *= f }
      }
      return matmul(vectors, y)
    case let .diag(h):
      var y = x
      for i in 0..<prior.count {
        let f = Scalar.pow(scale * h.scalars[i] + prior[i], exponent)
        for j in 0..<k { y.scalars[i * k + j] *= f }
      }
      return y
    case let .kron(groups):
      var y = x
      for group in groups {
        let eigen = group.posteriorEigenvalues(scale: scale, delta: prior[group.offset], split: dampingSplit).map { Scalar.pow($0, exponent) }
        let (r, c) = (group.rows, group.columns)
        for j in 0..<k {
          var v = NDArray<Scalar>(zeros: [r, c])
          for i in 0..<(r * c) { v.scalars[i] = x.scalars[(group.offset + i) * k + j] }
          var t = matmul(group.leftVectors, v, transposeA: true)
          if let q = group.rightVectors { t = matmul(t, q) }
          for i in 0..<(r * c) { t.scalars[i] *= eigen[i] }
          t = matmul(group.leftVectors, t)
          if let q = group.rightVectors { t = matmul(t, q, transposeB: true) }
          for i in 0..<(r * c) { y.scalars[(group.offset + i) * k + j] = t.scalars[i] }
        }
      }
      return y
    case .lowRank:
      let w = lowRankW!
      let n = prior.count
      // P^{-1} = D^{-1/2}(I + WWᵀ)^{-1}D^{-1/2}; its square root D^{-1/2}(I + WWᵀ)^{-1/2}.
      var y = x
      if exponent == -1 {
        for i in 0..<n {
          let f = 1 / prior[i].squareRoot()
          for j in 0..<k { y.scalars[i * k + j] *= f }
        }
        let correction = matmul(w, try capacitance!.choleskySolve(matmul(w, y, transposeA: true)))
        y.add(correction, scaledBy: -1)
      } else {
        // (I + WWᵀ)^{-1/2} = I + W Q diag(c) Qᵀ Wᵀ with WᵀW = Q diag(s) Qᵀ and
        // c = ((1 + s)^{-1/2} − 1)/s, written stably at s = 0 (as laplace-torch).
        let (s, q) = try matmul(w, w, transposeA: true).symmetricEigen()
        let wq = matmul(w, q)
        var t = matmul(wq, y, transposeA: true)
        for a in 0..<s.count {
          let root = (1 + Swift.max(s.scalars[a], 0)).squareRoot()
          let c = -1 / (root * (1 + root))
          for j in 0..<k { t.scalars[a * k + j] *= c }
        }
        y.add(matmul(wq, t))
      }
      for i in 0..<n {
        let f = 1 / prior[i].squareRoot()
        for j in 0..<k { y.scalars[i * k + j] *= f }
      }
      return y
    }
  }

  /// The posterior variances `diag(P⁻¹)`.
  func covarianceDiagonal() throws -> [Scalar] {
    switch curvature {
    case .full:
      return try cholesky!.choleskySolve(.identity(prior.count)).diagonal().scalars
    case let .diag(h):
      return (0..<prior.count).map { 1 / (scale * h.scalars[$0] + prior[$0]) }
    case let .kron(groups):
      var result = [Scalar](repeating: 0, count: prior.count)
      for group in groups {
        let (r, c) = (group.rows, group.columns)
        let inverse = group.posteriorEigenvalues(scale: scale, delta: prior[group.offset], split: dampingSplit).map { 1 / $0 }
        // Σ_ii = Σ_ab Q_B[o,a]² Q_A[j,b]² / (s l_a l_b + δ) for i = (o, j).
        let qb = group.leftVectors.scalars.map { $0 * $0 }
        let qa = group.rightVectors?.scalars.map { $0 * $0 } ?? [1]
        let m = NDArray(shape: [r, c], scalars: inverse)
        var t = matmul(NDArray(shape: [r, r], scalars: qb), m)
        t = matmul(t, NDArray(shape: [c, c], scalars: qa), transposeB: true)
        for i in 0..<(r * c) { result[group.offset + i] = t.scalars[i] }
      }
      return result
    case .lowRank:
      let w = lowRankW!
      let k = w.shape[1]
      let solved = try capacitance!.choleskySolve(w.transposed())     // [k, P]
      return (0..<prior.count).map { i in
        var dot: Scalar = 0
        for a in 0..<k { dot += w.scalars[i * k + a] * solved.scalars[a * prior.count + i] }
        return (1 - dot) / prior[i]
      }
    }
  }

  /// `∂ log det P / ∂ log p₀ᵢ` per parameter (`p₀ᵢ Σᵢᵢ` for a precision linear in the
  /// prior) and `∂ log det P / ∂ log σ` (`−2·tr(sHΣ) = −2(P − Σᵢ p₀ᵢ Σᵢᵢ)`); damped kron
  /// weight groups by their eigenvalues.
  func logDeterminantDerivatives() throws -> (prior: [Scalar], logSigma: Scalar) {
    var prior = zip(try covarianceDiagonal(), self.prior).map { $0 * $1 }
    var logSigma = -2 * (Scalar(prior.count) - prior.reduce(0, +))
    if let split = dampingSplit, case let .kron(groups) = curvature {
      for group in groups where group.rightValues != nil && group.corrected == nil {
        let range = group.offset..<(group.offset + group.dimension)
        let undamped = prior[range].reduce(0, +)
        let (d, s) = group.dampedLogDerivatives(scale: scale, delta: self.prior[group.offset], split: split)
        prior.replaceSubrange(range, with: d)
        // Replace the group's share −2(n_g − Σ p₀Σ) of the linear case.
        logSigma += 2 * (Scalar(group.dimension) - undamped) + s.reduce(0, +)
      }
    }
    return (prior, logSigma)
  }
}
