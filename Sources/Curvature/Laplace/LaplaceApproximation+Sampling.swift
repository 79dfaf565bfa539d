import CurvatureNumerics

extension LaplaceApproximation {
  /// Draws parameters from the posterior `N(θ*, P⁻¹)`, seeded: `θ* + S z` with `z`
  /// standard normal and `S Sᵀ = P⁻¹` from the structure's factorization (full: `P^{-1/2}`
  /// by eigendecomposition; diag: elementwise; kron: `Q (sΛ + δ)^{-1/2} Qᵀ` per group from
  /// the eigendecomposed factors; lowrank: laplace-torch's stable Woodbury square root).
  /// - Parameters:
  ///   - count: Samples, at least 1.
  ///   - seed: The random seed; the same seed gives the same samples.
  /// - Returns: `[count, P]`, one sample per row.
  /// - Throws: `CurvatureError.invalidArgument` for `count < 1`; `.singular` for a
  ///   posterior precision that is not positive definite.
  /// - Complexity: One factorization plus `count` square-root products.
  public func samples(count: Int, seed: UInt64) throws -> NDArray<Scalar> {
    guard count >= 1 else { throw CurvatureError.invalidArgument("the number of posterior samples must be at least 1, got \(count)") }
    var generator = RandomGenerator(seed: seed)
    let p = parameterCount
    let z = generator.normalArray(shape: [p, count], Scalar.self)
    let x = try factor().applyPower(z, exponent: -0.5)
    var result = NDArray<Scalar>(zeros: [count, p])
    for s in 0..<count {
      for i in 0..<p { result.scalars[s * p + i] = mean.scalars[i] + x.scalars[i * count + s] }
    }
    return result
  }

  /// The posterior covariance `P⁻¹` as a dense matrix (for small models and tests).
  /// - Throws: `CurvatureError.singular` for a singular posterior precision.
  /// - Complexity: `O(P³)` memory `O(P²)`.
  public func posteriorCovariance() throws -> NDArray<Scalar> {
    try factor().applyPower(.identity(parameterCount), exponent: -1)
  }

  /// The posterior variances `diag(P⁻¹)`, `[P]`, without forming `P⁻¹` for diag, kron and
  /// lowrank.
  /// - Throws: `CurvatureError.singular` for a singular posterior precision.
  public func posteriorVariance() throws -> NDArray<Scalar> {
    NDArray(try factor().covarianceDiagonal())
  }
}
