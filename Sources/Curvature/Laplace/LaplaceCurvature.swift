import CurvatureNumerics

/// One Kronecker group of a `kron` Laplace approximation: a weight block `B ⊗ A` (both
/// factors eigendecomposed) or a separate bias block `B`, with the parameter tensor it
/// covers. Eigenvalues ascend; eigenvectors are the columns. An `ekfac` group keeps the
/// eigenbases and replaces the products of the factors' eigenvalues by `corrected`.
struct LaplaceKroneckerGroup<Scalar: BLASScalar>: Sendable {
  /// The position of the parameter tensor among the problem's selected blocks.
  var tensor: Int
  /// Offset of the tensor in the flat parameter vector.
  var offset: Int
  /// `B`'s (output-gradient covariance, scaled to the summed log-likelihood) eigenpairs.
  var leftValues: NDArray<Scalar>
  var leftVectors: NDArray<Scalar>
  /// `A`'s (input covariance) eigenpairs; nil for a bias block.
  var rightValues: NDArray<Scalar>?
  var rightVectors: NDArray<Scalar>?
  /// EKFAC's corrected eigenvalues `[rows·columns]` (scaled to the summed
  /// log-likelihood); nil for KFAC. The factor eigenvalues are then unused (zero).
  var corrected: NDArray<Scalar>? = nil

  var rows: Int { leftVectors.shape[0] }
  var columns: Int { rightVectors?.shape[0] ?? 1 }
  var dimension: Int { rows * columns }

  /// The eigenvalues of the group's curvature, row-major `[rows, columns]`: `l_B ⊗ l_A`,
  /// or EKFAC's corrected ones.
  var eigenvalues: [Scalar] {
    if let corrected { return corrected.scalars }
    guard let right = rightValues else { return leftValues.scalars }
    return leftValues.scalars.flatMap { l in right.scalars.map { l * $0 } }
  }

  /// The eigenvalues of the group's posterior precision for the likelihood scale `s` and
  /// the prior precision `δ`: `s·l + δ`, or with laplace-torch's damping, for a weight
  /// group of KFAC, `(√s·l_B' + √δ)(√s·l_A' + √δ)` with the factors as laplace-torch holds
  /// them (`l_B' = l_B/√f`, `l_A' = √f·l_A`; `f` is `split²`, laplace-torch's likelihood
  /// factor spread evenly over the two factors).
  /// - Parameter split: `√f` when damped, nil for no damping.
  func posteriorEigenvalues(scale: Scalar, delta: Scalar, split: Scalar?) -> [Scalar] {
    guard let split, corrected == nil, let right = rightValues else { return eigenvalues.map { scale * $0 + delta } }
    let root = scale.squareRoot(), shift = delta.squareRoot()
    let a = right.scalars.map { root * split * $0 + shift }
    return leftValues.scalars.flatMap { l in
      let b = root * l / split + shift
      return a.map { b * $0 }
    }
  }

  /// `∂/∂log δ` and `∂/∂log σ` of `log` of each posterior eigenvalue (damped weight
  /// groups; see `posteriorEigenvalues`).
  func dampedLogDerivatives(scale: Scalar, delta: Scalar, split: Scalar) -> (prior: [Scalar], logSigma: [Scalar]) {
    let root = scale.squareRoot(), shift = delta.squareRoot()
    let a = rightValues!.scalars.map { root * split * $0 }
    var prior = [Scalar](), sigma = [Scalar]()
    for l in leftValues.scalars {
      let b = root * l / split
      for x in a {
        // log((b + √δ)(x + √δ)): d/dlog δ = (√δ/2)(1/(b + √δ) + 1/(x + √δ)); with √s ∝ 1/σ,
        // d/dlog σ = −b/(b + √δ) − x/(x + √δ).
        prior.append(shift / 2 * (1 / (b + shift) + 1 / (x + shift)))
        sigma.append(-b / (b + shift) - x / (x + shift))
      }
    }
    return (prior, sigma)
  }
}

/// The log-likelihood curvature `H` (GGN of the summed log-likelihood, with σ = 1 for
/// regression; the posterior precision is `H/σ² + diag(prior)`).
enum LaplaceCurvature<Scalar: BLASScalar>: Sendable {
  case full(NDArray<Scalar>)
  case diag(NDArray<Scalar>)
  case kron([LaplaceKroneckerGroup<Scalar>])
  case lowRank(vectors: NDArray<Scalar>, values: NDArray<Scalar>)
}
