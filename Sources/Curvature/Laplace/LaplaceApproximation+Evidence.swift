import CurvatureNumerics

/// The Laplace approximation of the log marginal likelihood and its parts (laplace-torch's
/// `log_marginal_likelihood`, `log_likelihood`, `log_det_ratio`, `scatter`):
///
/// ```
/// log p(D) ≈ log p(D | θ*) − ½ (log det P − log det P₀ + θ*ᵀ P₀ θ*)
/// ```
public struct LaplaceEvidence<Scalar: BLASScalar>: Sendable, Hashable, Codable {
  /// The Laplace approximation of the log marginal likelihood.
  public var logMarginalLikelihood: Scalar
  /// `log p(D | θ*)`: `−Σ CE`, or `−½Σ(f − y)²/σ² − N·C·log(σ√(2π))`.
  public var logLikelihood: Scalar
  /// `log det P − log det P₀`.
  public var logDetRatio: Scalar
  /// `θ*ᵀ P₀ θ*` (the prior mean is zero).
  public var scatter: Scalar
}

extension LaplaceApproximation {
  /// The log marginal likelihood and its parts at a prior precision and σ (default the
  /// current ones).
  /// - Parameters:
  ///   - priorPrecision: One value, one per tensor or one per parameter (nil: current).
  ///   - sigmaNoise: σ for regression (nil: current).
  /// - Returns: The evidence and its parts.
  /// - Throws: `CurvatureError.invalidArgument` for invalid values; `.singular` when the
  ///   posterior precision is not positive definite.
  /// - Complexity: One factorization of the posterior precision (full: `O(P³)`; kron: the
  ///   eigenvalues only; lowrank: `O(P k²)`).
  public func logMarginalLikelihood(priorPrecision: [Scalar]? = nil, sigmaNoise: Scalar? = nil) throws -> LaplaceEvidence<Scalar> {
    let posterior = try factor(priorPrecision: priorPrecision, sigmaNoise: sigmaNoise)
    let prior = posterior.prior
    let logLikelihood = self.logLikelihood(scale: posterior.scale)
    let logDetRatio = Scalar(posterior.logDeterminant() - prior.reduce(0.0) { $0 + Double(Scalar.log($1)) })
    let scatter = zip(mean.scalars, prior).reduce(0) { $0 + $1.1 * $1.0 * $1.0 }
    return LaplaceEvidence(
      logMarginalLikelihood: logLikelihood - (logDetRatio + scatter) / 2, logLikelihood: logLikelihood,
      logDetRatio: logDetRatio, scatter: scatter)
  }

  /// `log p(D | θ*)` for the likelihood scale `1/σ²`.
  func logLikelihood(scale: Scalar) -> Scalar {
    switch likelihood {
    case .classification: return -summedLoss
    case .regression:
      let sigma = 1 / scale.squareRoot()
      return -scale * summedLoss - Scalar(dataCount * outputCount) * Scalar.log(sigma * (2 * Scalar.pi).squareRoot())
    }
  }

  /// The gradient of the log marginal likelihood with respect to the log prior precision
  /// (shaped like it: one entry per prior value) and, for regression, log σ:
  ///
  /// ```
  /// ∂/∂log p₀ᵢ = −½ (p₀ᵢ Σᵢᵢ − 1 + p₀ᵢ θᵢ²)            (summed over a shared value)
  /// ∂/∂log σ  = 2·loss/σ² − N·C + P − Σᵢ p₀ᵢ Σᵢᵢ
  /// ```
  /// with `Σ = P⁻¹` and `loss = ½Σ(f − y)²` (with kron damping, the log-determinant's
  /// derivatives from the damped eigenvalues instead).
  /// - Returns: The two gradients (`sigmaNoise` 0 for classification).
  /// - Throws: As `logMarginalLikelihood`.
  /// - Complexity: The posterior variances (full: an `O(P³)` inverse).
  public func logMarginalLikelihoodGradient(
    priorPrecision: [Scalar]? = nil, sigmaNoise: Scalar? = nil
  ) throws -> (logPriorPrecision: [Scalar], logSigmaNoise: Scalar) {
    let values = priorPrecision ?? self.priorPrecision
    let posterior = try factor(priorPrecision: values, sigmaNoise: sigmaNoise)
    // ∂ log det P / ∂ log p₀ᵢ = p₀ᵢ Σᵢᵢ when P is linear in the prior (all but damped kron).
    let derivatives = try posterior.logDeterminantDerivatives()
    let prior = posterior.prior
    let perParameter = (0..<parameterCount).map { i -> Scalar in
      let theta = mean.scalars[i]
      let inner: Scalar = derivatives.prior[i] - 1 + prior[i] * theta * theta
      return -inner / 2
    }
    let gradient = reduceToPrior(perParameter, count: values.count)
    var sigmaGradient: Scalar = 0
    if likelihood == .regression {
      let fit: Scalar = 2 * posterior.scale * summedLoss - Scalar(dataCount * outputCount)
      sigmaGradient = fit - derivatives.logSigma / 2
    }
    return (gradient, sigmaGradient)
  }

  /// Sums per-parameter values over the parameters that share a prior value.
  func reduceToPrior(_ values: [Scalar], count: Int) -> [Scalar] {
    if count == parameterCount && count != tensorCount { return values }
    if count == 1 { return [values.reduce(0, +)] }
    var result = [Scalar](), offset = 0
    for spec in problem.selectedSpecs {
      result.append(values[offset..<(offset + spec.count)].reduce(0, +))
      offset += spec.count
    }
    return result
  }
}
