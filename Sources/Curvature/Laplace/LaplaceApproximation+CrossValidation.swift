import CurvatureNumerics
import CurvatureNN

extension LaplaceApproximation {
  /// Chooses a scalar prior precision by cross-validation (laplace-torch's
  /// `method="gridsearch"`): the grid value whose GLM predictive has the lowest negative
  /// log-likelihood on validation data — `−mean log p(y)` of the class probabilities by
  /// `link` (classification), or the Gaussian `N(y; f, diag(J Σ Jᵀ) + σ²)` per output
  /// (regression; laplace-torch's default MSE of the mean would not depend on the prior).
  /// The validation Jacobians are computed once.
  /// - Parameters:
  ///   - inputs: Validation inputs `[N, ...]`.
  ///   - targets: Their class indices (classification) or values `[N, C]` (regression).
  ///   - grid: Candidate prior precisions, all > 0 (default `10^t` for 100 `t` evenly in
  ///     [-4, 4], laplace-torch's).
  ///   - link: The link approximation for classification (default probit).
  /// - Returns: The chosen prior precision, which becomes the prior precision, and the
  ///   validation negative log-likelihood at each grid value.
  /// - Throws: `CurvatureError.invalidArgument` for an empty grid, a value ≤ 0, or targets
  ///   that do not fit; what the predictive throws.
  /// - Complexity: Validation Jacobians once, then one factorization and `N·C` covariance
  ///   products per grid value.
  @discardableResult
  public mutating func optimizePriorPrecision(
    validationInputs inputs: NDArray<Scalar>, targets: Targets<Scalar>, grid: [Scalar]? = nil,
    link: LinkApproximation = .probit
  ) throws -> (priorPrecision: Scalar, losses: [Scalar]) {
    let candidates = grid ?? (0..<100).map { Scalar.pow(10, -4 + 8 * Scalar($0) / 99) }
    guard !candidates.isEmpty else { throw CurvatureError.invalidArgument("the cross-validation grid of prior precisions is empty") }
    if let bad = candidates.first(where: { !($0 > 0 && $0.isFinite) }) {
      throw CurvatureError.invalidArgument("cross-validation prior precisions must be positive and finite, got \(bad)")
    }
    let n = inputs.rank >= 1 ? inputs.shape[0] : 0, c = outputCount
    switch (likelihood, targets) {
    case let (.classification, .classes(labels)):
      guard labels.count == n, labels.allSatisfy({ (0..<c).contains($0) }) else {
        throw CurvatureError.invalidArgument("validation targets need \(n) class indices in 0..<\(c)")
      }
    case let (.regression, .values(values)):
      guard values.shape == [n, c] else {
        throw CurvatureError.invalidArgument("validation targets need shape [\(n), \(c)], got \(values.shape)")
      }
    default:
      throw CurvatureError.invalidArgument("validation targets must be class indices for classification and values for regression")
    }
    let pieces = try testBatches(inputs).map { range, x in try outputsAndJacobians(x, range: range) }
    var losses = [Scalar]()
    for value in candidates {
      let posterior = try factor(priorPrecision: [value])
      var total: Scalar = 0, offset = 0
      for (f, jacobian) in pieces {
        let covariance = try functionalCovariance(jacobian, posterior: posterior)
        let b = f.shape[0]
        switch targets {
        case let .classes(labels):
          let p = try LaplaceApproximation.link(mean: f, covariance: covariance, link)
          for i in 0..<b { total -= Scalar.log(Swift.max(p[i, labels[offset + i]], Scalar.leastNormalMagnitude)) }
        case let .values(values):
          for i in 0..<b {
            for a in 0..<c {
              let variance = covariance[i, a, a] + sigmaNoise * sigmaNoise
              let r = values.scalars[(offset + i) * c + a] - f[i, a]
              total += (Scalar.log(2 * Scalar.pi * variance) + r * r / variance) / 2
            }
          }
        }
        offset += b
      }
      losses.append(total / Scalar(n))
    }
    let best = losses.indices.min { losses[$0] < losses[$1] }!
    priorPrecision = [candidates[best]]
    return (candidates[best], losses)
  }
}
